"""``tlive plan``: signal timing plans for the city's intersections from the command line.

Sources of the inventory and the counts::

    tlive plan city.json --counts counts.csv    # both from files, no database
    tlive plan city.json                        # inventory file, store's recent counts
    tlive plan --from-store                     # inventory and counts from the store

Exit codes: 0 plans computed (refused plans are reported, not an error),
1 runtime failure (database unreachable), 2 bad input (the message names the field).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def _parse_at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"--at: not an ISO 8601 time: {value!r} (e.g. 2026-11-28T07:30:00+07:00)", 2) \
            from None
    if at.tzinfo is None:
        raise _fail(f"--at: give a UTC offset: {value!r} (e.g. 2026-11-28T07:30:00+07:00)", 2)
    return at


def plan_rows(inputs: Any, plan: Any) -> list[dict[str, Any]]:
    """One JSON-ready dict per intersection."""
    from control.constraints import describe_reasons
    from control.delay import los_letters
    from control.webster import (
        FLAG_CYCLE_CLIPPED,
        FLAG_MIN_GREEN_INFEASIBLE,
        FLAG_NO_DEMAND,
        FLAG_OVERSATURATED,
    )

    names = {
        FLAG_OVERSATURATED: "oversaturated",
        FLAG_CYCLE_CLIPPED: "cycle_clipped",
        FLAG_MIN_GREEN_INFEASIBLE: "min_green_infeasible",
        FLAG_NO_DEMAND: "no_demand",
    }

    def num(x: float, nd: int = 1) -> float | None:
        return None if x != x else round(float(x), nd)  # NaN -> null

    rows = []
    for i, iid in enumerate(inputs.ids):
        k = int(inputs.phase_count[i])
        flags = int(plan.flags[i])
        x = plan.degree_of_saturation[i, :k]
        rows.append({
            "intersection_id": iid,
            "name": inputs.names[i],
            "valid": bool(plan.valid[i]),
            "reasons": describe_reasons(int(plan.reasons[i])),
            "flags": [v for b, v in names.items() if flags & b],
            "cycle_s": num(plan.cycle_s[i]),
            "current_cycle_s": num(inputs.current_cycle_s[i]),
            "flow_ratio_sum": num(plan.flow_ratio[i, :k].sum(), 3),
            "intersection_delay_s": num(plan.intersection_delay_s[i]),
            "los": str(los_letters(plan.intersection_los[i])),
            "detectors_counted": int(inputs.detectors_counted[i]),
            "detectors_total": int(inputs.detectors_total[i]),
            "phases": [
                {
                    "phase": j + 1,
                    "green_s": num(plan.green_s[i, j]),
                    "intergreen_s": num(plan.intergreen_s[i, j]),
                    "critical_approach": inputs.critical_approach[i][j],
                    "flow_pcu_h": num(plan.flow_pcu_h[i, j]),
                    "flow_ratio": num(plan.flow_ratio[i, j], 3),
                    "degree_of_saturation": num(x[j], 3),
                    "delay_s": num(plan.delay_s[i, j]),
                    "los": str(los_letters(plan.los[i, j])),
                    "queue_m": num(plan.queue_m[i, j]),
                }
                for j in range(k)
            ],
        })
    return rows


def _table(rows: list[dict[str, Any]], title: str) -> Table:
    t = Table(title=title)
    for col, just in (
        ("intersection", "left"), ("cycle s", "right"), ("greens s", "left"),
        ("Y", "right"), ("X max", "right"), ("delay s", "right"), ("LOS", "center"),
        ("detectors", "right"), ("plan", "left"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        xs = [p["degree_of_saturation"] for p in r["phases"]]
        xs = [x for x in xs if x is not None]
        status = "ok" if r["valid"] else "REFUSED: " + "; ".join(r["reasons"])
        if r["flags"]:
            status += " (" + ", ".join(r["flags"]) + ")"
        t.add_row(
            r["intersection_id"],
            f"{r['cycle_s']:g}",
            " ".join(f"{p['green_s']:g}" for p in r["phases"]),
            f"{r['flow_ratio_sum']:.2f}",
            f"{max(xs):.2f}" if xs else "-",
            "-" if r["intersection_delay_s"] is None else f"{r['intersection_delay_s']:.1f}",
            r["los"],
            f"{r['detectors_counted']}/{r['detectors_total']}",
            status,
        )
    return t


def register(app: typer.Typer) -> None:
    """Add ``tlive plan`` to the hub's CLI."""

    @app.command("plan")
    def plan(
        inventory: Path = typer.Argument(
            None, help="inventory JSON file (default with --from-store: the store's inventory)"
        ),
        counts: Path = typer.Option(
            None, "--counts",
            help="counts file (CSV or JSON: intersection_id, detector_id, mc, lv, hv, um, "
            "optional interval_s, default 3600); without it the store's recent counts are used",
        ),
        from_store: bool = typer.Option(
            False, "--from-store", help="read the inventory from the store as well"
        ),
        window_min: float = typer.Option(
            15.0, "--window-min", min=1.0, help="minutes of recent counts to use from the store"
        ),
        at: str = typer.Option(
            None, "--at", help="end of the count window, ISO 8601 with offset (default: now)"
        ),
        intersection: list[str] = typer.Option(
            None, "--intersection", "-i", help="plan only these intersection ids (repeatable)"
        ),
        min_cycle_s: float = typer.Option(40.0, "--min-cycle", min=10.0, help="[s]"),
        max_cycle_s: float = typer.Option(180.0, "--max-cycle", min=10.0, help="[s]"),
        resolution_s: float = typer.Option(
            1.0, "--resolution", min=0.1, help="controller time step [s]"
        ),
        los: str = typer.Option("hcm", "--los", help="LOS thresholds: hcm | id (PM 96/2015)"),
        database_url: str = typer.Option(
            None, "--database-url", help="override TLIVE_DATABASE_URL"
        ),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Compute Webster plans (PKJI pcu, HCM delay and LOS) for the intersections.

        Plans every signalised intersection of the inventory from detector counts
        (a file, or the store's last --window-min minutes) and prints cycle,
        greens, flow ratio, degree of saturation, delay and LOS, and whether each
        plan passes the validator (minimum greens, clearances, cycle bounds).
        """
        if los not in ("hcm", "id"):
            raise _fail(f"--los: expected 'hcm' or 'id', got {los!r}", 2)
        if min_cycle_s > max_cycle_s:
            raise _fail("--min-cycle: must not exceed --max-cycle", 2)
        if inventory is None and not from_store:
            raise _fail("give an inventory file, or --from-store to read it from the store", 2)
        if inventory is not None and from_store:
            raise _fail("give an inventory file or --from-store, not both", 2)

        from control.delay import LOS_THRESHOLDS_HCM_S, LOS_THRESHOLDS_ID_S
        from control.pipeline import plan_signals
        from control.planning import (
            CountsError,
            inputs_from_inventory,
            read_counts_file,
            read_store_counts,
        )
        from hub.inventory import InventoryError, load_inventory

        inv = None
        if inventory is not None:
            if not inventory.exists():
                raise _fail(f"inventory: no such file: {inventory}", 2)
            try:
                inv = load_inventory(inventory)
            except InventoryError as exc:
                raise _fail(f"inventory {inventory}: " + "; ".join(exc.errors[:20]), 2) from None
        count_map = None
        source = str(counts) if counts is not None else ""
        if counts is not None:
            try:
                count_map = read_counts_file(counts)
            except CountsError as exc:
                raise _fail(f"--counts: {exc}", 2) from None
        window_end = _parse_at(at)
        if inv is None or count_map is None:
            import psycopg

            from hub.db import connect
            from hub.inventory import read_from_store
            from hub.settings import get_settings

            url = database_url or get_settings().database_url
            try:
                with connect(url) as conn:
                    if inv is None:
                        inv = read_from_store(conn)
                    if count_map is None:
                        count_map, table = read_store_counts(
                            conn, window_end, timedelta(minutes=window_min)
                        )
                        source = (
                            f"{table}, {window_min:g} min to {window_end.isoformat()}"
                        )
            except psycopg.OperationalError as exc:
                raise _fail(f"cannot reach the database at {url}: {exc}") from None
            except psycopg.errors.UndefinedTable as exc:
                raise _fail(f"the store is not migrated (run tlive db migrate): {exc}") from None
        assert inv is not None and count_map is not None
        if not inv.intersections:
            raise _fail("inventory: no intersections to plan", 2)
        try:
            inputs = inputs_from_inventory(inv, count_map, intersection or None)
        except CountsError as exc:
            raise _fail(f"--intersection: {exc}", 2) from None
        result = plan_signals(
            **inputs.arrays(),
            min_cycle_s=min_cycle_s,
            max_cycle_s=max_cycle_s,
            resolution_s=resolution_s,
            los_thresholds_s=LOS_THRESHOLDS_ID_S if los == "id" else LOS_THRESHOLDS_HCM_S,
        )
        rows = plan_rows(inputs, result)
        if as_json:
            print(json.dumps({
                "counts_source": source,
                "los_thresholds": los,
                "intersections": rows,
            }))
            return
        out = Console()
        out.width = max(out.width, 140)  # the table is wide; do not fold ids when piped
        out.print(_table(rows, f"signal plans ({len(rows)} intersections; counts: {source})"))
        refused = sum(not r["valid"] for r in rows)
        no_counts = sum(r["detectors_counted"] == 0 for r in rows)
        if refused or no_counts:
            err.print(
                f"{refused} plan(s) refused by the validator; "
                f"{no_counts} intersection(s) without counts (planned at minimum demand)",
                highlight=False,
            )
