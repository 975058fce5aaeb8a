"""Benchmark: the hub's adaptive loop against fixed, Webster and SUMO's own controllers.

``python -m bench.twin`` runs a 4x4 grid and a 6-signal corridor, each at three
demand levels (light, medium, near-saturated), motorcycles >= 60 % of vehicles,
the same seed for every controller, 30 simulated minutes each (``--minutes``),
with all five controllers, and every scenario once per seed (``--seeds``, default
three; every controller gets the same seeds); ``--jobs`` scenario/seed runs go in
parallel, each with its own database (SUMO's figures are in simulated time, so
parallel runs do not change them). The adaptive runs go through the
real broker, the real ingest and a fresh PostgreSQL database. It prints a table per
scenario and seed and, as the last line, one JSON object with each scenario's mean
time loss and waiting time per controller (averaged over the seeds) and the
summaries ``adaptive_vs_webster_timeloss`` and ``adaptive_vs_best_sumo_timeloss``
(per scenario the seed-averaged time loss of adaptive divided by that of the other
controller, "best SUMO" being the better of SUMO's actuated and delay-based
controllers in that scenario; then averaged over the scenarios). Targets: <= 0.75
and <= 0.95.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from hub.db import drop_database, ensure_database, with_database
from hub.settings import get_settings
from sim.twin import CONTROLLERS, TwinConfig, run_twin
from sim.twin_report import markdown_table

NETWORKS = ("grid:4x4", "corridor:6")
LEVELS = ("light", "medium", "near-saturated")


def run_task(net: str, level: str, seed: int, controllers: list[str], minutes: float,
             profile: str, work: str) -> list[Any]:
    """Every controller on one scenario and seed, in a worker with its own database."""
    db = with_database(get_settings().database_url, f"tlive_bench_twin_{uuid.uuid4().hex[:8]}")
    ensure_database(db)
    try:
        out = []
        for c in controllers:
            cfg = TwinConfig(network=net, level=level, profile=profile, minutes=minutes,
                             seed=seed, controller=c, workdir=Path(work), database_url=db)
            out.append(run_twin(cfg))
        return out
    finally:
        drop_database(db)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seeds", default="42,43,44", help="comma-separated demand/SUMO seeds")
    ap.add_argument("--networks", default=",".join(NETWORKS))
    ap.add_argument("--levels", default=",".join(LEVELS))
    ap.add_argument("--controllers", default=",".join(CONTROLLERS))
    ap.add_argument("--profile", default="am")
    ap.add_argument("--jobs", type=int, default=2,
                    help="scenario/seed runs in parallel (each with its own database)")
    args = ap.parse_args()
    controllers = args.controllers.split(",")
    seeds = [int(x) for x in args.seeds.split(",")]
    work = Path(tempfile.mkdtemp(prefix="tlive-bench-twin-"))
    tasks = [(net, level, seed) for net in args.networks.split(",")
             for level in args.levels.split(",") for seed in seeds]
    started = time.monotonic()
    done: dict[tuple[str, str, int], list[Any]] = {}
    try:
        with ProcessPoolExecutor(max_workers=max(1, args.jobs),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {
                pool.submit(run_task, net, level, seed, controllers, args.minutes,
                            args.profile, str(work / f"task{k}")): (net, level, seed)
                for k, (net, level, seed) in enumerate(tasks)
            }
            for fut in as_completed(futures):
                net, level, seed = futures[fut]
                results = fut.result()
                done[(net, level, seed)] = results
                for r in results:
                    print(f"  {net}/{level:16s} s{seed} {r.controller:17s} "
                          f"time loss {r.mean_time_loss_s:6.1f} s  "
                          f"waiting {r.mean_waiting_s:6.1f} s  ({r.wall_s:.1f} s wall)",
                          flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    scenarios: dict[str, dict[str, dict[str, Any]]] = {}
    for net in args.networks.split(","):
        for level in args.levels.split(","):
            name = f"{net}/{level}"
            per: dict[str, list[Any]] = {c: [] for c in controllers}
            for seed in seeds:
                results = done[(net, level, seed)]
                for r in results:
                    per[r.controller].append(r)
                print(f"\n{name}, {args.minutes:g} min, seed {seed}, "
                      f"motorcycles {results[0].mc_share:.0%}\n")
                print(markdown_table(results), flush=True)
            scenarios[name] = {c: _mean(rs) for c, rs in per.items()}
    out: dict[str, object] = {"minutes": args.minutes, "seeds": seeds,
                              "profile": args.profile, "scenarios": scenarios}
    if "adaptive" in controllers:
        vs_w, vs_s = [], []
        for sc in scenarios.values():
            a = sc["adaptive"]["time_loss_s"]
            if "webster" in sc:
                vs_w.append(a / sc["webster"]["time_loss_s"])
            sumo = [sc[c]["time_loss_s"] for c in ("sumo-actuated", "sumo-delay-based") if c in sc]
            if sumo:
                vs_s.append(a / min(sumo))
        if vs_w:
            out["adaptive_vs_webster_timeloss"] = round(sum(vs_w) / len(vs_w), 3)
        if vs_s:
            out["adaptive_vs_best_sumo_timeloss"] = round(sum(vs_s) / len(vs_s), 3)
    out["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(out))


def _mean(rs: list[Any]) -> dict[str, Any]:
    """Seed-averaged figures of one controller in one scenario."""
    n = len(rs)
    out: dict[str, Any] = {
        "time_loss_s": round(sum(r.mean_time_loss_s for r in rs) / n, 2),
        "waiting_s": round(sum(r.mean_waiting_s for r in rs) / n, 2),
        "stops": round(sum(r.mean_stops for r in rs) / n, 3),
        "throughput_veh_h": round(sum(r.throughput_veh_h for r in rs) / n, 1),
        "mc_share": round(sum(r.mc_share for r in rs) / n, 3),
        "time_loss_by_seed_s": [round(r.mean_time_loss_s, 2) for r in rs],
    }
    if rs[0].controller == "adaptive":
        out |= {"reports_incomplete": sum(r.reports_incomplete for r in rs),
                "plans_late": sum(r.plans_late for r in rs)}
    return out


if __name__ == "__main__":
    main()
