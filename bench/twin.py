"""Benchmark: the hub's adaptive loop against fixed, Webster and SUMO's own controllers.

``python -m bench.twin`` runs a 4x4 grid and a 6-signal corridor, each at three
demand levels (light, medium, near-saturated), motorcycles >= 60 % of vehicles,
the same seed for every controller, 30 simulated minutes each (``--minutes``),
with all five controllers; the adaptive runs go through the real broker, the real
ingest and a fresh PostgreSQL database. It prints a table per scenario and, as the
last line, one JSON object with each scenario's mean time loss and waiting time per
controller and the summaries ``adaptive_vs_webster_timeloss`` and
``adaptive_vs_best_sumo_timeloss`` (adaptive divided by the other, averaged over
scenarios). Targets: <= 0.75 and <= 0.95.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from hub.db import drop_database, ensure_database, with_database
from hub.settings import get_settings
from sim.twin import CONTROLLERS, TwinConfig, run_twin
from sim.twin_report import markdown_table

NETWORKS = ("grid:4x4", "corridor:6")
LEVELS = ("light", "medium", "near-saturated")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--networks", default=",".join(NETWORKS))
    ap.add_argument("--levels", default=",".join(LEVELS))
    ap.add_argument("--controllers", default=",".join(CONTROLLERS))
    ap.add_argument("--profile", default="am")
    args = ap.parse_args()
    controllers = args.controllers.split(",")
    work = Path(tempfile.mkdtemp(prefix="tlive-bench-twin-"))
    db = with_database(get_settings().database_url, f"tlive_bench_twin_{uuid.uuid4().hex[:8]}")
    ensure_database(db)
    scenarios: dict[str, dict[str, dict[str, float]]] = {}
    started = time.monotonic()
    try:
        for net in args.networks.split(","):
            for level in args.levels.split(","):
                name = f"{net}/{level}"
                results = []
                for c in controllers:
                    cfg = TwinConfig(network=net, level=level, profile=args.profile,
                                     minutes=args.minutes, seed=args.seed, controller=c,
                                     workdir=work, database_url=db)
                    r = run_twin(cfg)
                    results.append(r)
                    print(f"  {name:28s} {c:17s} time loss {r.mean_time_loss_s:6.1f} s  "
                          f"waiting {r.mean_waiting_s:6.1f} s  ({r.wall_s:.1f} s wall)",
                          flush=True)
                print(f"\n{name}, {args.minutes:g} min, seed {args.seed}, "
                      f"motorcycles {results[0].mc_share:.0%}\n")
                print(markdown_table(results), "\n", flush=True)
                scenarios[name] = {
                    r.controller: {
                        "time_loss_s": round(r.mean_time_loss_s, 2),
                        "waiting_s": round(r.mean_waiting_s, 2),
                        "stops": round(r.mean_stops, 3),
                        "throughput_veh_h": round(r.throughput_veh_h, 1),
                        "mc_share": round(r.mc_share, 3),
                    }
                    | ({"reports_incomplete": r.reports_incomplete, "plans_late": r.plans_late}
                       if r.controller == "adaptive" else {})
                    for r in results
                }
    finally:
        drop_database(db)
        shutil.rmtree(work, ignore_errors=True)
    out: dict[str, object] = {"minutes": args.minutes, "seed": args.seed,
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


if __name__ == "__main__":
    main()
