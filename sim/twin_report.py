"""Comparison reports of twin runs: a Markdown/JSON table and PNG plots."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sim.twin import TwinConfig, TwinResult, run_twin

TABLE_COLUMNS = (
    ("controller", "controller", "{}"),
    ("mean_time_loss_s", "time loss [s/veh]", "{:.1f}"),
    ("mean_waiting_s", "waiting [s/veh]", "{:.1f}"),
    ("mean_stops", "stops [/veh]", "{:.2f}"),
    ("throughput_veh_h", "throughput [veh/h]", "{:.0f}"),
    ("mean_queue_m", "mean queue [m/lane]", "{:.1f}"),
    ("max_queue_m", "max queue [m/lane]", "{:.1f}"),
    ("mc_share", "motorcycles", "{:.0%}"),
)


def compare(
    base: TwinConfig,
    controllers: Sequence[str],
    progress: Callable[[str, float, float], None] | None = None,
) -> list[TwinResult]:
    """Run every controller on identical demand (same network, demand file, seeds)."""
    results = []
    for c in controllers:
        cfg = replace(base, controller=c, trace=base.trace)
        cb = (lambda s, t, c=c: progress(c, s, t)) if progress else None
        results.append(run_twin(cfg, cb))
    return results


def markdown_table(results: Sequence[TwinResult]) -> str:
    head = "| " + " | ".join(h for _, h, _ in TABLE_COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|"
    rows = []
    for r in results:
        s = r.summary()
        rows.append("| " + " | ".join(f.format(s[k]) for k, _, f in TABLE_COLUMNS) + " |")
    return "\n".join([head, sep, *rows])


def plot_delay(results: Sequence[TwinResult], out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for r in results:
        if r.delay_by_minute:
            xs, ys = zip(*r.delay_by_minute, strict=True)
            ax.plot(xs, ys, label=r.controller, lw=1.6)
    ax.set_xlabel("simulated minute (trip arrival)")
    ax.set_ylabel("mean time loss of trips ending [s/veh]")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_time_space(
    results: Sequence[TwinResult], out: Path, window_s: float = 300.0
) -> Path | None:
    """Eastbound trajectories along the corridor with the signal state at each junction."""
    traced = [r for r in results if r.trace and r.trace["t"]]
    if not traced:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(len(traced), 1, figsize=(9, 2.6 * len(traced)), dpi=80,
                             squeeze=False, sharex=True)
    for ax, r in zip(axes[:, 0], traced, strict=True):
        tr = r.trace or {}
        t = np.asarray(tr["t"], dtype=float)
        x = np.asarray(tr["x"], dtype=float)
        vid = np.asarray(tr["vid"])
        t_end = t.max()
        t0 = max(0.0, t_end - window_s)
        sel = t >= t0
        for v in np.unique(vid[sel])[:400]:
            m = sel & (vid == v)
            ax.plot(t[m], x[m], lw=0.4, color="0.25")
        for xpos, states in tr["signals"].items():
            st = np.asarray(states)
            ts = np.arange(2, 2 * len(st) + 1, 2, dtype=float)
            keep = ts >= t0
            colors = np.where(np.isin(st[keep], ["G", "g"]), "tab:green",
                              np.where(np.isin(st[keep], ["y", "Y"]), "gold", "tab:red"))
            ax.scatter(ts[keep], np.full(keep.sum(), float(xpos)), c=colors, s=3, marker="s")
        ax.set_ylabel("distance [m]")
        ax.set_title(f"{r.controller}: eastbound trajectories, {r.network} ({r.level})")
    axes[-1, 0].set_xlabel("simulated time [s]")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def write_report(results: Sequence[TwinResult], out_dir: Path, title: str) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    delay = plot_delay(results, out_dir / "delay.png", title)
    ts = plot_time_space(results, out_dir / "time_space.png")
    table = markdown_table(results)
    md = [f"# {title}", "", table, "", f"![delay over time]({delay.name})"]
    if ts:
        md.append(f"![time-space diagram]({ts.name})")
    (out_dir / "report.md").write_text("\n".join(md) + "\n")
    data = {"title": title, "results": [r.summary() for r in results]}
    (out_dir / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    return {"table": table, "delay_png": str(delay), "time_space_png": str(ts) if ts else None,
            "report": str(out_dir / "report.md")}
