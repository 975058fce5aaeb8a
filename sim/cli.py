"""``tlive inventory ...`` and ``tlive sim ...``: the city inventory and the synthetic city.

``sim_app`` is importable so other modules (the SUMO twin) can add commands to
the ``sim`` group: ``from sim.cli import sim_app; @sim_app.command("twin") ...``.
Heavy modules are imported inside the commands.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)

inventory_app = typer.Typer(
    help="The city inventory: validate, load into the store, export.", no_args_is_help=True
)
sim_app = typer.Typer(
    help="The synthetic city: generate inventories, run devices, replay, load tests.",
    no_args_is_help=True,
)

DB_OPT = typer.Option(None, "--database-url", help="override TLIVE_DATABASE_URL")


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _db_url(override: str | None) -> str:
    from hub.settings import get_settings

    return override or get_settings().database_url


def _read_inventory(path: Path) -> Any:
    from hub.inventory import InventoryError, load_inventory

    if not path.exists():
        raise _fail(f"no such file: {path}", 2)
    try:
        return load_inventory(path)
    except InventoryError as exc:
        err.print(f"[red]{path}: {len(exc.errors)} problem(s)[/red]", highlight=False)
        for e in exc.errors[:200]:
            err.print(f"  {e}", highlight=False, markup=False)
        raise typer.Exit(1) from None


# --------------------------------------------------------------------------- inventory


@inventory_app.command("validate")
def inventory_validate(file: Path = typer.Argument(..., help="inventory JSON file")) -> None:
    """Validate an inventory file (errors name the feature and the field)."""
    inv = _read_inventory(file)
    counts = ", ".join(f"{v} {k}" for k, v in inv.counts().items() if v)
    console.print(f"[green]valid[/green]: {inv.name} ({counts})", highlight=False)


@inventory_app.command("load")
def inventory_load(
    file: Path = typer.Argument(..., help="inventory JSON file"),
    database_url: str = DB_OPT,
    keep_others: bool = typer.Option(
        False, help="keep features of the store that the file does not list (default: prune)"
    ),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Validate FILE and load it into the store's inventory tables (idempotent)."""
    import psycopg

    from hub.db import connect, ensure_database, migrate
    from hub.inventory import save_to_store

    inv = _read_inventory(file)
    url = _db_url(database_url)
    try:
        ensure_database(url)
        with connect(url) as conn:
            migrate(conn)
            counts = save_to_store(conn, inv, prune=not keep_others)
    except psycopg.OperationalError as exc:
        raise _fail(f"cannot reach the database: {exc}") from None
    if as_json:
        print(json.dumps({"loaded": counts, "name": inv.name}))
        return
    console.print(
        f"loaded [bold]{inv.name}[/bold]: "
        + ", ".join(f"{v} {k}" for k, v in counts.items() if v),
        highlight=False,
    )


@inventory_app.command("export")
def inventory_export(
    out: Path = typer.Option(None, "--out", "-o", help="write here instead of stdout"),
    database_url: str = DB_OPT,
) -> None:
    """Write the store's inventory as JSON (loading it back changes nothing)."""
    import psycopg

    from hub.db import connect
    from hub.inventory import dump_inventory, read_from_store

    try:
        with connect(_db_url(database_url)) as conn:
            inv = read_from_store(conn)
    except psycopg.OperationalError as exc:
        raise _fail(f"cannot reach the database: {exc}") from None
    except psycopg.errors.UndefinedTable:
        raise _fail("the inventory tables are missing: run `tlive db migrate`") from None
    text = dump_inventory(inv)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        err.print(f"wrote {out} ({len(text):,} bytes)", highlight=False)


@inventory_app.command("schema")
def inventory_schema(
    out: Path = typer.Option(None, "--out", "-o", help="write here instead of stdout"),
) -> None:
    """Print the inventory's JSON Schema (committed as hub/schemas/inventory.schema.json)."""
    from hub.inventory import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)


# --------------------------------------------------------------------------- sim city


@sim_app.command("city")
def sim_city(
    intersections: int = typer.Option(300, "--intersections", "-n", min=2, max=20000),
    seed: int = typer.Option(0, "--seed", "-s"),
    out: Path = typer.Option(None, "--out", "-o", help="write here instead of stdout"),
    load: bool = typer.Option(False, "--load", help="also load it into the store"),
    from_osm: Path = typer.Option(
        None, "--from-osm", help="build the inventory of a real corridor from this OSM extract "
        "(.osm or .osm.gz) instead, e.g. ../shared/data/tangerang-bsd-osm/osm_bbox.osm.xml.gz"
    ),
    database_url: str = DB_OPT,
) -> None:
    """Generate a plausible Kota Tangerang inventory with N signalised intersections
    (or, with --from-osm, the inventory of a real corridor)."""
    from hub.inventory import dump_inventory
    from sim.city import generate_city

    if from_osm is not None:
        from sim.osm import inventory_from_osm

        if not from_osm.exists():
            raise _fail(f"no such file: {from_osm}", 2)
        inv = inventory_from_osm(from_osm)
    else:
        inv = generate_city(intersections, seed)
    text = dump_inventory(inv)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        counts = ", ".join(f"{v} {k}" for k, v in inv.counts().items() if v)
        err.print(f"wrote {out}: {counts}", highlight=False)
    if load:
        from hub.db import connect, ensure_database, migrate
        from hub.inventory import save_to_store

        url = _db_url(database_url)
        ensure_database(url)
        with connect(url) as conn:
            migrate(conn)
            save_to_store(conn, inv)
        err.print("loaded into the store", highlight=False)


# --------------------------------------------------------------------------- sim devices


def _parse_time(value: str | None) -> float | None:
    if value is None:
        return None
    if value == "now":
        return time.time()
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"not an ISO 8601 time: {value!r} (e.g. 2026-11-28T06:00:00+07:00)", 2) \
            from None
    if dt.tzinfo is None:
        raise _fail(f"give a UTC offset: {value!r} (e.g. 2026-11-28T06:00:00+07:00)", 2)
    return dt.timestamp()


def _progress_printer(enabled: bool) -> tuple[Any, Any]:
    """A live one-line progress display on stderr (rich), and its closer."""
    if not enabled:
        return None, lambda: None
    from rich.live import Live
    from rich.text import Text

    live = Live(Text(""), console=err, refresh_per_second=4, transient=False)
    live.start()
    state = {"sent": 0, "t": time.perf_counter()}

    def show(rep: Any, wall_s: float, sim_now: float) -> None:
        now = time.perf_counter()
        inst = (rep.sent - state["sent"]) / max(now - state["t"], 1e-6)
        state.update(sent=rep.sent, t=now)
        sim_local = datetime.fromtimestamp(sim_now + 7 * 3600, UTC).strftime("%m-%d %H:%M:%S")
        fam = rep.by_family
        refused = sum(rep.refused.values())
        line = Text.assemble(
            ("sim ", "dim"), (f"{sim_local} WIB", "bold"),
            (f"  x{rep.sim_speedup:,.1f}", "cyan"),
            ("  sent ", "dim"), (f"{rep.sent:,}", "bold"),
            ("  rate ", "dim"), (f"{inst:,.0f}/s", "bold green"),
            (f" (avg {rep.msgs_per_s:,.0f}/s)", "dim"),
            ("  acked ", "dim"), f"{rep.acked:,}",
            ("  inflight ", "dim"), f"{rep.sent - rep.acked:,}",
            ("  refused ", "dim"), (f"{refused:,}", "bold red" if refused else ""),
            ("  | det ", "dim"), f"{fam.get('detectors', 0):,}",
            (" sig ", "dim"), f"{fam.get('signal', 0):,}",
            (" bay ", "dim"), f"{fam.get('parking', 0):,}",
            (" gps ", "dim"), f"{fam.get('fleet', 0):,}",
        )
        live.update(line)

    return show, live.stop


def _report(rep: Any, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    data = rep.as_dict() | (extra or {})
    if as_json:
        print(json.dumps(data))
        return
    refused = sum(rep.refused.values())
    console.print(
        f"published [bold]{rep.sent:,}[/bold] messages in {rep.wall_s:.1f} s: "
        f"[bold green]{rep.msgs_per_s:,.0f} msg/s[/bold green], "
        f"{rep.acked:,} acknowledged, "
        + (f"[bold red]{refused:,} refused[/bold red] {rep.refused}" if refused else "0 refused")
        + (f", errors {rep.errors}" if rep.errors else ""),
        highlight=False,
    )
    if rep.sim_end_s:
        a = datetime.fromtimestamp(rep.sim_start_s, UTC).isoformat(timespec="seconds")
        b = datetime.fromtimestamp(rep.sim_end_s, UTC).isoformat(timespec="seconds")
        console.print(f"simulated {a} .. {b} (x{rep.sim_speedup:,.1f}); by family {rep.by_family}",
                      highlight=False)


def _store_inventory() -> Any:
    import psycopg

    from hub.db import connect
    from hub.inventory import read_from_store

    try:
        with connect(_db_url(None)) as conn:
            inv = read_from_store(conn)
    except psycopg.OperationalError as exc:
        raise _fail(f"cannot reach the database: {exc}") from None
    except psycopg.errors.UndefinedTable:
        raise _fail("no inventory in the store: run `tlive inventory load FILE`") from None
    if not inv.intersections and not inv.lots and not inv.routes:
        raise _fail("the store's inventory is empty: run `tlive inventory load FILE` or give -i")
    return inv


def _run_devices(
    inventory: Path | None,
    *,
    speedup: float,
    rate: float | None,
    duration: float | None,
    count: int | None,
    start: str | None,
    seed: int,
    detector_interval: int,
    heartbeat: float,
    gps_interval: float,
    families: str,
    mqtt_url: str | None,
    topic_root: str | None,
    client_id: str,
    progress: bool | None,
    as_json: bool,
) -> None:
    from hub.settings import MqttEndpoint, get_settings
    from sim.engine import FAMILIES, DeviceEngine, EngineConfig
    from sim.publish import Publisher, run

    settings = get_settings()
    inv = _read_inventory(inventory) if inventory is not None else _store_inventory()
    fams = tuple(f.strip() for f in families.split(",") if f.strip())
    bad = set(fams) - set(FAMILIES)
    if bad:
        raise _fail(f"--families: unknown {sorted(bad)}; choose from {','.join(FAMILIES)}", 2)
    try:
        ep = MqttEndpoint(mqtt_url or settings.mqtt_url)
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    root = topic_root or settings.mqtt_topic_root
    start_s = _parse_time(start)
    if start_s is None:
        # accelerated or load runs start in the past so their timestamps never pass now
        now = time.time()
        if rate is None and speedup == 1.0:
            start_s = now
        elif duration is not None and rate is None and speedup > 0:
            start_s = now - duration * speedup
        else:
            start_s = now - 86400.0
    cfg = EngineConfig(
        seed=seed, root=root, detector_interval_s=detector_interval, heartbeat_s=heartbeat,
        gps_interval_s=gps_interval, families=fams,
    )
    engine = DeviceEngine(inv, start_s, cfg)
    pub = Publisher(ep.host, ep.port, client_id=client_id, protocol=settings.mqtt_protocol,
                    username=ep.username, password=ep.password)
    try:
        pub.connect()
    except (OSError, ConnectionError) as exc:
        raise _fail(f"cannot reach the broker at {ep.host}:{ep.port}: {exc}") from None
    import gc

    gc.freeze()  # the city is built: keep the collector from rescanning it while publishing
    show_progress = sys.stderr.isatty() if progress is None else progress
    show, close = _progress_printer(show_progress and not as_json)
    rt = engine.real_time_rate()
    if not as_json:
        err.print(
            f"{inv.name}: {sum(rt.values()):,.0f} msg/s in real time "
            f"({', '.join(f'{k} {v:,.1f}' for k, v in rt.items())}); root '{root}'",
            highlight=False,
        )
    try:
        rep = run(engine.windows(), pub, speedup=speedup, rate=rate, max_messages=count,
                  max_wall_s=duration, progress=show)
    except KeyboardInterrupt:
        rep = None
    finally:
        close()
        pub.close()
    if rep is None:
        raise typer.Exit(130)
    _report(rep, as_json, {"real_time_msgs_per_s": sum(rt.values())})
    if rep.refused or rep.acked < rep.sent:
        raise typer.Exit(1)


@sim_app.command("devices")
def sim_devices(
    inventory: Path = typer.Option(
        None, "--inventory", "-i", help="inventory JSON file (default: the store's inventory)"
    ),
    speedup: float = typer.Option(1.0, help="simulated seconds per wall second (0: max)"),
    duration: float = typer.Option(None, help="stop after this many wall seconds"),
    count: int = typer.Option(None, help="stop after this many messages"),
    start: str = typer.Option(
        None, help="simulated start (ISO 8601 with offset, or 'now'); default: now in real "
        "time, else far enough back that timestamps never pass the wall clock"
    ),
    seed: int = typer.Option(0, help="random seed (same seed, same messages)"),
    detector_interval: int = typer.Option(60, help="ATCS reporting interval [s]"),
    heartbeat: float = typer.Option(300.0, help="bay sensor heartbeat interval [s]"),
    gps_interval: float = typer.Option(10.0, help="truck GPS fix interval while driving [s]"),
    families: str = typer.Option("detectors,signal,parking,gps", help="device families"),
    mqtt_url: str = typer.Option(None, help="override TLIVE_MQTT_URL"),
    topic_root: str = typer.Option(None, help="override TLIVE_MQTT_TOPIC_ROOT"),
    client_id: str = typer.Option("tlive-sim-devices", help="MQTT client id"),
    progress: bool = typer.Option(None, "--progress/--no-progress", help="live progress line"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Run every device of the inventory against the broker (QoS 1), paced by --speedup."""
    _run_devices(
        inventory, speedup=speedup, rate=None, duration=duration, count=count, start=start,
        seed=seed, detector_interval=detector_interval, heartbeat=heartbeat,
        gps_interval=gps_interval, families=families, mqtt_url=mqtt_url, topic_root=topic_root,
        client_id=client_id, progress=progress, as_json=as_json,
    )


@sim_app.command("load")
def sim_load(
    inventory: Path = typer.Option(
        None, "--inventory", "-i", help="inventory JSON file (default: the store's inventory)"
    ),
    rate: float = typer.Option(10000.0, help="target rate [msg/s]"),
    duration: float = typer.Option(30.0, help="wall seconds"),
    count: int = typer.Option(None, help="stop after this many messages"),
    start: str = typer.Option(None, help="simulated start (default: a day ago)"),
    seed: int = typer.Option(0),
    families: str = typer.Option("detectors,signal,parking,gps"),
    mqtt_url: str = typer.Option(None, help="override TLIVE_MQTT_URL"),
    topic_root: str = typer.Option(None, help="override TLIVE_MQTT_TOPIC_ROOT"),
    client_id: str = typer.Option("tlive-sim-load", help="MQTT client id"),
    progress: bool = typer.Option(None, "--progress/--no-progress"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Load mode: publish at a target rate and report the rate achieved and any refusal.

    Exits 1 if the broker refused or did not acknowledge any message.
    """
    _run_devices(
        inventory, speedup=0.0, rate=rate if rate > 0 else None, duration=duration, count=count,
        start=start, seed=seed, detector_interval=60, heartbeat=300.0, gps_interval=10.0,
        families=families, mqtt_url=mqtt_url, topic_root=topic_root, client_id=client_id,
        progress=progress, as_json=as_json,
    )


@sim_app.command("replay")
def sim_replay(
    from_: str = typer.Option(..., "--from", help="start (ISO 8601 with offset)"),
    to: str = typer.Option(..., "--to", help="end, exclusive (ISO 8601 with offset)"),
    speed: float = typer.Option(1.0, help="replay speed (x real time; 0: as fast as possible)"),
    retime: bool = typer.Option(
        False, help="stamp messages with the replay's wall-clock time (new rows) instead of "
        "their stored time (a re-delivery the store ignores)"
    ),
    families: str = typer.Option("detectors,signal,parking,gps"),
    database_url: str = DB_OPT,
    mqtt_url: str = typer.Option(None, help="override TLIVE_MQTT_URL"),
    topic_root: str = typer.Option(None, help="override TLIVE_MQTT_TOPIC_ROOT"),
    client_id: str = typer.Option("tlive-sim-replay", help="MQTT client id"),
    progress: bool = typer.Option(None, "--progress/--no-progress"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Republish stored messages of [--from, --to) in time order at --speed."""
    import psycopg

    from hub.settings import MqttEndpoint, get_settings
    from sim.publish import Publisher, run
    from sim.replay import stored_messages

    settings = get_settings()
    t0, t1 = _parse_time(from_), _parse_time(to)
    assert t0 is not None and t1 is not None
    if t1 <= t0:
        raise _fail("--to must be after --from", 2)
    if retime and speed <= 0:
        raise _fail("--retime needs a --speed above 0", 2)
    ep = MqttEndpoint(mqtt_url or settings.mqtt_url)
    root = topic_root or settings.mqtt_topic_root
    fams = tuple(f.strip() for f in families.split(",") if f.strip())
    pub = Publisher(ep.host, ep.port, client_id=client_id, protocol=settings.mqtt_protocol,
                    username=ep.username, password=ep.password)
    show, close = _progress_printer(
        (sys.stderr.isatty() if progress is None else progress) and not as_json
    )
    try:
        pub.connect()
        windows = stored_messages(
            _db_url(database_url), t0, t1, root=root, families=fams,
            retime_speed=speed if retime else None,
        )
        rep = run(windows, pub, speedup=speed, progress=show)
    except psycopg.OperationalError as exc:
        raise _fail(f"cannot reach the database: {exc}") from None
    except (OSError, ConnectionError) as exc:
        raise _fail(f"cannot reach the broker at {ep.host}:{ep.port}: {exc}") from None
    finally:
        close()
        pub.close()
    _report(rep, as_json)
    if rep.refused:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``inventory`` and ``sim`` command groups to ``tlive``."""
    import importlib

    for name in ("sim.twin_cli",):  # commands other modules add to the sim group
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    app.add_typer(inventory_app, name="inventory")
    app.add_typer(sim_app, name="sim")
