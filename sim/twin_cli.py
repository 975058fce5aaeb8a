"""``tlive sim twin`` and ``tlive sim compare``: the SUMO digital twin for field engineers.

Registered onto ``sim.cli.sim_app`` when the simulator's command group exists;
otherwise this module creates the ``sim`` group itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sim.sumo_demand import LEVELS, PROFILES
from sim.twin import CONTROLLERS

console = Console()

NETWORK_HELP = (
    "grid:RxC (netgenerate), corridor:N (plain XML), bsd (real BSD City OSM), or a .net.xml"
)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} sim s"),
        TimeElapsedColumn(),
        console=console,
    )


def twin(
    network: str = typer.Option("grid:4x4", help=NETWORK_HELP),
    demand: str = typer.Option("medium", help=f"demand level: {', '.join(LEVELS)}"),
    profile: str = typer.Option("am", help=f"peak profile: {', '.join(PROFILES)}"),
    controller: str = typer.Option("adaptive", help=f"one of {', '.join(CONTROLLERS)}"),
    minutes: float = typer.Option(60.0, min=1.0, help="simulated minutes"),
    seed: int = typer.Option(42, help="demand and SUMO seed"),
    sublane: bool = typer.Option(True, help="SUMO sublane model (motorcycles filter)"),
    database_url: str = typer.Option(
        None, help="adaptive: store to use (default: database tlive_twin)"
    ),
    workdir: Path = typer.Option(None, help="where networks and outputs go"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Run the twin under one controller and print its figures."""
    from sim.twin import TwinConfig, run_twin

    if controller not in CONTROLLERS:
        raise typer.BadParameter(f"use one of {', '.join(CONTROLLERS)}", param_hint="--controller")
    cfg = TwinConfig(network=network, level=demand, profile=profile, minutes=minutes, seed=seed,
                     controller=controller, sublane=sublane, database_url=database_url,
                     workdir=workdir)
    with _progress() as prog:
        task = prog.add_task(f"{controller} on {network}", total=minutes * 60)
        res = run_twin(cfg, lambda s, t: prog.update(task, completed=s))
    if as_json:
        console.print_json(json.dumps(res.summary()))
        return
    t = Table(title=f"twin: {controller} on {res.network}, {demand} demand, {minutes:g} min")
    for k, v in res.summary().items():
        t.add_row(k, str(v))
    console.print(t)


def compare(
    network: str = typer.Option("corridor:6", help=NETWORK_HELP),
    demand: str = typer.Option("medium", help=f"demand level: {', '.join(LEVELS)}"),
    profile: str = typer.Option("am", help=f"peak profile: {', '.join(PROFILES)}"),
    controllers: str = typer.Option(",".join(CONTROLLERS), help="comma-separated controllers"),
    minutes: float = typer.Option(30.0, min=1.0, help="simulated minutes per controller"),
    seed: int = typer.Option(42, help="demand and SUMO seed (identical for every controller)"),
    sublane: bool = typer.Option(True, help="SUMO sublane model"),
    out: Path = typer.Option(Path("twin-report"), help="report folder (report.md, PNG plots)"),
    database_url: str = typer.Option(None, help="adaptive: store to use"),
    workdir: Path = typer.Option(None, help="where networks and outputs go"),
) -> None:
    """Run several controllers on identical demand and write a comparison report."""
    from sim.twin import TwinConfig
    from sim.twin_report import compare as run_compare
    from sim.twin_report import write_report

    names = [c.strip() for c in controllers.split(",") if c.strip()]
    bad = [c for c in names if c not in CONTROLLERS]
    if bad:
        raise typer.BadParameter(f"unknown {bad}: use {', '.join(CONTROLLERS)}",
                                 param_hint="--controllers")
    base = TwinConfig(network=network, level=demand, profile=profile, minutes=minutes, seed=seed,
                      sublane=sublane, database_url=database_url, workdir=workdir,
                      trace=network.startswith("corridor"))
    with _progress() as prog:
        tasks = {c: prog.add_task(c, total=minutes * 60) for c in names}
        results = run_compare(base, names, lambda c, s, t: prog.update(tasks[c], completed=s))
    title = f"{network}, {demand} demand ({profile} profile), {minutes:g} sim min, seed {seed}"
    rep = write_report(results, out, title)
    console.print(rep["table"], markup=False)
    console.print(f"report: {rep['report']}")


def register(app: typer.Typer) -> None:
    try:
        from sim.cli import sim_app  # the simulator's group (issue 4)
    except ImportError:
        sim_app = typer.Typer(help="Simulation: the SUMO digital twin.", no_args_is_help=True)
        app.add_typer(sim_app, name="sim")
    sim_app.command("twin")(twin)
    sim_app.command("compare")(compare)
