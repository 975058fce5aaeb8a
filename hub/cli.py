"""``tlive``: the hub's command line.

The root app lives here with the ``db`` commands; every other package adds its
own commands through a ``register(app)`` function in its ``cli`` module (listed
in :data:`PLUGINS`), so ``hub`` never imports the packages built on it.
Exit codes: 0 success, 1 runtime failure, 2 usage error (bad option or value).
"""

from __future__ import annotations

import importlib
import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from hub.settings import get_settings

PLUGINS = (
    "ingest.cli",
    "control.cli",
    "sim.cli",
    "control.service_cli",
    "sim.twin_cli",
    "traveler_info.cli",
    "parking.cli",
    "api.cli",
)

console = Console()
err = Console(stderr=True)

app = typer.Typer(
    name="tlive",
    help="Tangerang LIVE mobility hub: ingest, control, traveler information, simulation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database: migrations and store information.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` on stderr and return the Exit to raise."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@db_app.command("migrate")
def db_migrate(
    database_url: str = typer.Option(None, help="override TLIVE_DATABASE_URL"),
    create: bool = typer.Option(True, help="create the database if it does not exist"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Apply pending schema migrations (a no-op when up to date)."""
    import psycopg

    from hub.db import connect, ensure_database, migrate
    from hub.store import detect_store, ensure_partitions_ahead

    settings = get_settings()
    url = database_url or settings.database_url
    try:
        created = ensure_database(url) if create else False
        with connect(url) as conn:
            applied = migrate(conn)
            if detect_store(conn).backend == "native":
                conn.commit()
                ensure_partitions_ahead(conn, settings.partitions_ahead_days)
    except psycopg.OperationalError as exc:
        raise fail(f"cannot reach the database at {url}: {exc}") from None
    if as_json:
        print(json.dumps({"created_database": created, "applied": [m.version for m in applied]}))
        return
    if created:
        console.print(f"created database [bold]{url.rsplit('/', 1)[-1]}[/bold]")
    if not applied:
        console.print("schema is up to date")
    for m in applied:
        console.print(f"applied [bold]{m.version:04d}[/bold] {m.name}")


@db_app.command("info")
def db_info(
    database_url: str = typer.Option(None, help="override TLIVE_DATABASE_URL"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Say which store is in use (TimescaleDB or native partitioning) and why."""
    import psycopg

    from hub.db import applied_versions, connect, discover_migrations
    from hub.store import detect_store, existing_partition_days

    url = database_url or get_settings().database_url
    try:
        with connect(url) as conn:
            info = detect_store(conn)
            applied = applied_versions(conn)
            server = conn.execute("SHOW server_version").fetchone()
            days = (
                sorted(existing_partition_days(conn))
                if (applied and info.backend == "native")
                else []
            )
    except psycopg.OperationalError as exc:
        raise fail(f"cannot reach the database at {url}: {exc}") from None
    known = [m.version for m in discover_migrations()]
    pending = [v for v in known if v not in applied]
    data = info.as_dict() | {
        "server_version": server[0] if server else None,
        "migrations_applied": sorted(applied),
        "migrations_pending": pending,
        "partitions": [d.isoformat() for d in days],
    }
    if as_json:
        print(json.dumps(data))
        return
    t = Table(title="Tangerang LIVE store", show_header=False)
    t.add_row("PostgreSQL", str(data["server_version"]))
    t.add_row("backend", f"[bold]{info.backend}[/bold]")
    t.add_row("why", info.reason)
    if info.timescale_version:
        t.add_row("TimescaleDB", f"{info.timescale_version} ({info.license} license)")
    if info.backend == "native":
        t.add_row("partitioning", "native PARTITION BY RANGE (ts), one partition per UTC day")
        t.add_row("rollups", "tables maintained by the ingest service")
        t.add_row("retention", "the ingest service drops expired partitions")
    else:
        for feat in ("hypertables", "continuous_aggregates", "columnstore", "retention_policy"):
            t.add_row(feat.replace("_", " "), "yes" if getattr(info, feat) else "no (service-side)")
    t.add_row("migrations", f"{len(applied)} applied, {len(pending)} pending")
    if days:
        t.add_row("daily partitions", f"{days[0]} .. {days[-1]} ({len(days)})")
    for note in info.notes:
        t.add_row("note", note)
    console.print(t)


@db_app.command("maintain")
def db_maintain(
    database_url: str = typer.Option(None, help="override TLIVE_DATABASE_URL"),
    rollups_hours: float = typer.Option(
        3.0, help="recompute service-maintained rollups for this many past hours"
    ),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Housekeeping the ingest service also does: partitions ahead, retention, rollups."""
    from datetime import UTC, datetime, timedelta

    import psycopg

    from hub.db import connect
    from hub.store import detect_store, drop_expired, ensure_partitions_ahead, refresh_rollups

    settings = get_settings()
    url = database_url or settings.database_url
    try:
        with connect(url) as conn:
            info = detect_store(conn)
            conn.commit()
            created = (
                ensure_partitions_ahead(conn, settings.partitions_ahead_days)
                if info.backend == "native"
                else []
            )
            dropped = (
                drop_expired(conn, info, settings.retention_days) if info.service_retention else []
            )
            rolled = (
                refresh_rollups(conn, datetime.now(UTC) - timedelta(hours=rollups_hours))
                if info.service_rollups
                else 0
            )
    except psycopg.OperationalError as exc:
        raise fail(f"cannot reach the database at {url}: {exc}") from None
    result = {"partitions_created": created, "dropped": dropped, "rollup_rows": rolled}
    if as_json:
        print(json.dumps(result))
        return
    console.print(
        f"partitions created: {len(created)}, dropped by retention: {len(dropped)}, "
        f"rollup rows refreshed: {rolled}"
    )


@app.command("demo")
def demo(
    intersections: int = typer.Option(20, min=2, help="size of the synthetic city"),
    speedup: float = typer.Option(10.0, min=0.1, help="simulated seconds per wall second"),
    minutes: float = typer.Option(0.0, min=0.0, help="stop after this long (0: until Ctrl-C)"),
    seed: int = typer.Option(1, help="random seed of the city and its devices"),
    api_port: int = typer.Option(8000, help="port of the API and dashboard"),
    workdir: str = typer.Option("var/demo", help="where the city file and logs go"),
) -> None:
    """Run the city twin: synthetic devices -> MQTT -> ingest -> store -> control and API."""
    from pathlib import Path

    import psycopg

    from hub.demo import Demo
    from hub.logs import setup_logging

    settings = get_settings()
    setup_logging("WARNING")
    d = Demo(
        settings,
        Path(workdir),
        intersections=intersections,
        seed=seed,
        speedup=speedup,
        api_port=api_port,
        console=console,
    )
    try:
        code = d.run(minutes)
    except psycopg.OperationalError as exc:
        raise fail(f"cannot reach the database at {settings.database_url}: {exc}") from None
    raise typer.Exit(code)


def _load_plugins() -> None:
    for name in PLUGINS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that package has no commands yet
                continue
            raise
        mod.register(app)


_load_plugins()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
