"""``tlive control ...``: the adaptive control service and the control room's overrides."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import typer
from rich.console import Console
from rich.table import Table

console = Console()
control_app = typer.Typer(
    help="Adaptive signal control: the loop service, overrides, audit.", no_args_is_help=True
)


@control_app.command("run")
def run(
    period_s: float = typer.Option(60.0, min=1.0, help="seconds between ticks of the loop"),
    once: bool = typer.Option(False, help="run one tick and exit"),
    window_s: float = typer.Option(120.0, min=1.0, help="use counts from this many seconds"),
    stale_after_s: float = typer.Option(150.0, min=1.0, help="fall back when counts are older"),
    queue_weight: float = typer.Option(1.0, min=0.0, help="weight of the queue term (0: off)"),
    max_green_factor: float = typer.Option(
        4.0, min=1.0, help="actuated plans: latest end of a green, x the planned green"
    ),
    link_y_on: float = typer.Option(
        0.30, min=0.0, help="link a corridor when its largest flow ratio Y reaches this"
    ),
    link_y_off: float = typer.Option(0.25, min=0.0, help="unlink a corridor below this Y"),
) -> None:
    """Run the adaptive loop: counts from the store -> plans published retained.

    Every PERIOD_S it reads recent counts, computes plans with the control core,
    applies the rate limits and validation, publishes changed plans and audits
    them. Stale or missing data, NaN or a failed validation fall back to the
    stored fixed plan with an alert; manual overrides win until they expire.
    Corridors in the control configuration are linked (common cycle, green-wave
    offsets, ``coordinated`` plans) while they are busy.
    """
    from control.loop import LoopParams
    from control.service import ControlService
    from hub.logs import setup_logging
    from hub.settings import get_settings

    settings = get_settings()
    setup_logging(settings.log_level)
    params = LoopParams(window_s=window_s, stale_after_s=stale_after_s, queue_weight=queue_weight,
                        max_green_factor=max_green_factor, link_y_on=link_y_on,
                        link_y_off=min(link_y_off, link_y_on))

    def report(res: object) -> None:
        pub = getattr(res, "published", [])
        console.log(f"tick: {len(getattr(res, 'decisions', {}))} intersections, "
                    f"{len(pub)} plans published")

    raise typer.Exit(ControlService(settings, params, period_s).run(once=once, on_tick=report))


@control_app.command("override")
def override(
    intersection_id: str = typer.Argument(..., help="intersection to override"),
    greens: str = typer.Option(..., help="green times per phase [s], comma-separated"),
    minutes: float = typer.Option(30.0, min=0.1, help="expires after this many minutes"),
    reason: str = typer.Option(..., help="why (kept in the audit)"),
    by: str = typer.Option("control-room", help="who sets it"),
) -> None:
    """Set a manual plan that wins over the loop until it expires."""
    from control.loop import add_override
    from hub.db import connect
    from hub.settings import get_settings

    g = [float(x) for x in greens.split(",")]
    with connect(get_settings().database_url) as conn:
        try:
            oid = add_override(conn, intersection_id, g, reason=reason, created_by=by,
                               expires_at=datetime.now(UTC) + timedelta(minutes=minutes))
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    console.print(f"override #{oid} on {intersection_id} for {minutes:g} min")


@control_app.command("cancel")
def cancel(override_id: int = typer.Argument(..., help="override id")) -> None:
    """Cancel a manual override (the loop takes over at its next tick)."""
    from control.loop import cancel_override
    from hub.db import connect
    from hub.settings import get_settings

    with connect(get_settings().database_url) as conn:
        ok = cancel_override(conn, override_id)
    if not ok:
        console.print(f"[red]error:[/red] no active override #{override_id}")
        raise typer.Exit(1)
    console.print(f"override #{override_id} cancelled")


@control_app.command("audit")
def audit(
    intersection_id: str = typer.Option(None, help="only this intersection"),
    limit: int = typer.Option(20, min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The latest plan changes with their reasons and inputs."""
    from hub.db import connect
    from hub.settings import get_settings

    with connect(get_settings().database_url) as conn:
        rows = conn.execute(
            """SELECT ts, intersection_id, seq, source, reason, inputs, plan->>'cycle_s'
               FROM signal_plan_audit WHERE %(i)s::text IS NULL OR intersection_id = %(i)s
               ORDER BY id DESC LIMIT %(n)s""",
            {"i": intersection_id, "n": limit},
        ).fetchall()
    if as_json:
        console.print_json(json.dumps([
            {"ts": r[0].isoformat(), "intersection_id": r[1], "seq": r[2], "source": r[3],
             "reason": r[4], "inputs": r[5], "cycle_s": float(r[6])} for r in rows
        ]))
        return
    t = Table(title="signal plan audit")
    for h in ("ts", "intersection", "seq", "source", "cycle [s]", "reason"):
        t.add_column(h)
    for r in rows:
        t.add_row(r[0].isoformat(timespec="seconds"), r[1], str(r[2]), r[3], r[6], r[4])
    console.print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(control_app, name="control")
