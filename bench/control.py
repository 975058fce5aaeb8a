"""Benchmark of the control core on a synthetic city.

    python -m bench.control [--intersections 10000] [--links 50000] [--probes 10000]

Timing: the whole pipeline of :func:`control.pipeline.plan_signals` (pcu
conversion, flow ratios, Webster cycle and splits with minimum greens, rounding,
capacity, HCM delay, LOS, MKJI queues and stops, validation) for every
intersection (2-8 phases, motorcycle-dominated counts), by its compiled kernel
(``--numpy``: by its NumPy path; the plans are the same). The kernel's first
call, which compiles it or loads it from numba's cache, is a warm-up and is
not timed.
Congestion: effective vehicle length from the class mix, detector speeds,
map matching of GPS probe points (against a grid index of the links built once
when the inventory loads, timed separately), per-link probe speeds, fusion,
smoothing, travel-time index, congestion level and jam factor, queue from
occupancy and the anomaly flag, for every link.
The scalar reference (control/_reference.py) runs the timing pipeline on a
subset of the same intersections, interleaved with the vectorized runs, and is
extrapolated to the whole city.

Prints a table, then as its last line one JSON object.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from control import _reference as ref
from control.congestion import (
    anomaly_flag,
    build_link_index,
    congestion_level,
    detector_speed_kmh,
    effective_vehicle_length_m,
    fuse_speeds,
    map_match,
    probe_link_speed,
    queue_from_occupancy,
    smooth_speed,
    travel_time_index,
)
from control.pcu import saturation_flow
from control.pipeline import plan_signals
from control.webster import pedestrian_green_s

TARGETS = {"timing_ms": 10.0, "congestion_ms": 50.0, "speedup": 100.0}


def synthetic_intersections(n: int, max_phases: int = 8, seed: int = 1) -> dict[str, Any]:
    """A city of ``n`` signalised intersections with 2..max_phases phases."""
    rng = np.random.default_rng(seed)
    p = max_phases
    n_phases = rng.integers(2, p + 1, n)
    mask = np.arange(p)[None, :] < n_phases[:, None]
    total = rng.uniform(300, 2200, (n, p))  # veh/h on the critical movement
    share_mc = rng.uniform(0.55, 0.8, (n, p))
    share_hv = rng.uniform(0.01, 0.06, (n, p))
    share_um = rng.uniform(0.0, 0.02, (n, p))
    share_lv = 1.0 - share_mc - share_hv - share_um
    counts = total[..., None] * np.stack([share_mc, share_lv, share_hv, share_um], axis=-1)
    counts = np.where(mask[..., None], counts, 0.0)
    width = rng.choice([3.5, 5.0, 7.0, 10.5], (n, p))
    sat = saturation_flow(width, rng.uniform(0.8, 1.0, (n, p)))
    intergreen = rng.choice([4.0, 5.0, 6.0], (n, p))
    ped = pedestrian_green_s(np.where(rng.random((n, p)) < 0.5, width + 2.0, 0.0))
    min_green = np.maximum(7.0, ped)
    opposed = rng.random((n, p)) < 0.3
    return dict(
        flow_veh_h=counts, saturation_pcu_h=sat, intergreen_s=intergreen, phase_mask=mask,
        min_green_s=min_green, opposed=opposed, entry_width_m=width,
        min_cycle_s=40.0, max_cycle_s=180.0,
    )


def synthetic_links(n_links: int, n_probes: int, seed: int = 2) -> dict[str, Any]:
    """Straight links scattered over a city-sized square, detector data and GPS probes."""
    rng = np.random.default_rng(seed)
    side = 40_000.0  # m
    a = rng.uniform(0, side, (n_links, 2))
    ang = rng.uniform(0, 2 * np.pi, n_links)
    length = rng.uniform(80, 600, n_links)
    b = a + np.c_[np.sin(ang), np.cos(ang)] * length[:, None]
    on = rng.integers(0, n_links, n_probes)
    t = rng.random(n_probes)
    p = a[on] + t[:, None] * (b[on] - a[on]) + rng.normal(0, 8.0, (n_probes, 2))
    heading = np.degrees(ang[on]) % 360.0 + rng.normal(0, 10.0, n_probes)
    mix = rng.dirichlet([7, 2.5, 0.4, 0.1], n_links) * rng.uniform(100, 1500, n_links)[:, None]
    free = rng.choice([30.0, 40.0, 50.0, 60.0], n_links)
    return dict(
        ax=a[:, 0], ay=a[:, 1], bx=b[:, 0], by=b[:, 1], length_m=length,
        px=p[:, 0], py=p[:, 1], heading=heading,
        probe_speed=rng.uniform(0, 60, n_probes), probe_age=rng.uniform(0, 600, n_probes),
        mix=mix, occupancy=rng.uniform(0.5, 60, n_links), free_flow=free,
        previous=free * rng.uniform(0.3, 1.0, n_links),
        hist_mean=free * 0.8, hist_std=free * 0.1,
    )


def congestion_step(d: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """One congestion update for every link."""
    n = d["ax"].shape[0]
    flow = d["mix"].sum(axis=-1)
    ell = effective_vehicle_length_m(d["mix"])
    v_det = detector_speed_kmh(flow, d["occupancy"], ell)
    idx, _, _ = map_match(d["px"], d["py"], d["index"], d["heading"])
    v_probe, n_probe, age_probe = probe_link_speed(idx, d["probe_speed"], d["probe_age"], n)
    speeds = np.stack([v_det, v_probe], axis=-1)
    samples = np.stack([flow / 12.0, n_probe], axis=-1)  # a 5-minute detector interval
    ages = np.stack([np.zeros(n), age_probe], axis=-1)
    fused = fuse_speeds(speeds, samples, ages)
    smooth = smooth_speed(d["previous"], fused, dt_s=60.0)
    tti = travel_time_index(smooth, d["free_flow"])
    level, jam = congestion_level(smooth, d["free_flow"])
    queue = queue_from_occupancy(d["occupancy"], ell, d["length_m"])
    flag, _ = anomaly_flag(smooth, d["hist_mean"], d["hist_std"])
    return tti, level, jam, queue, flag, idx


def keep_freed_memory() -> bool:
    """Tell glibc malloc to keep freed memory instead of returning it to the kernel.

    The core allocates and frees dozens of 0.6 MB temporaries per call; with the
    default (dynamic) thresholds glibc unmaps or trims them and the next call pays
    a page fault per 4 KiB page -- about half of the pipeline's time on this
    machine. Setting M_MMAP_THRESHOLD / M_TRIM_THRESHOLD / M_TOP_PAD (the same as
    the MALLOC_*_ environment variables) is the deployment setting recommended
    for the control service; ``--default-malloc`` measures without it.
    Returns False where mallopt is not available (not glibc).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    return bool(
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
        and libc.mallopt(m_trim_threshold, 512 * 1024 * 1024)
        and libc.mallopt(m_top_pad, 64 * 1024 * 1024)
    )


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def reference_rows(city: dict[str, Any], subset: int) -> list[tuple[Any, ...]]:
    """The first ``subset`` intersections as the scalar reference's Python lists."""
    mask = city["phase_mask"]
    rows = []
    for i in range(min(subset, mask.shape[0])):
        k = int(mask[i].sum())
        rows.append((
            city["flow_veh_h"][i, :k].tolist(), city["saturation_pcu_h"][i, :k].tolist(),
            city["intergreen_s"][i, :k].tolist(), city["min_green_s"][i, :k].tolist(),
            city["opposed"][i, :k].tolist(), city["entry_width_m"][i, :k].tolist(),
        ))
    return rows


def reference_once(rows: list[tuple[Any, ...]]) -> float:
    """Wall time [ms] of the scalar reference over ``rows``."""
    t0 = time.perf_counter()
    for counts, sat, ig, gmin, opp, width in rows:
        ref.plan_intersection(counts, sat, ig, gmin, opp, 40.0, 180.0, 1.0, width)
    return (time.perf_counter() - t0) * 1e3


def timing_and_reference(
    city: dict[str, Any], repeat: int, subset: int, compiled: bool = True
) -> tuple[float, float, int]:
    """Median pipeline time and median extrapolated reference time, measured interleaved.

    Alternating the two keeps the ratio honest when other processes load the machine.
    """
    rows = reference_rows(city, subset)
    n = city["phase_mask"].shape[0]
    plan_signals(**city, compiled=compiled)  # warm-up
    reference_once(rows[:10])
    vec, scalar = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        plan_signals(**city, compiled=compiled)
        vec.append((time.perf_counter() - t0) * 1e3)
        scalar.append(reference_once(rows) * n / len(rows))
    return statistics.median(vec), statistics.median(scalar), len(rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.control", description=__doc__.split("\n")[0])
    ap.add_argument("--intersections", type=int, default=10_000)
    ap.add_argument("--phases", type=int, default=8)
    ap.add_argument("--links", type=int, default=50_000)
    ap.add_argument("--probes", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--reference-subset", type=int, default=300,
                    help="intersections the scalar reference runs on per repeat (extrapolated)")
    ap.add_argument("--numpy", action="store_true",
                    help="time plan_signals' NumPy path instead of its compiled kernel")
    ap.add_argument(
        "--default-malloc", action="store_true",
        help="leave glibc malloc's thresholds alone (see keep_freed_memory)",
    )
    args = ap.parse_args(argv)
    tuned = False if args.default_malloc else keep_freed_memory()

    city = synthetic_intersections(args.intersections, args.phases)
    links = synthetic_links(args.links, args.probes)
    t0 = time.perf_counter()
    links["index"] = build_link_index(links["ax"], links["ay"], links["bx"], links["by"], 30.0)
    index_ms = (time.perf_counter() - t0) * 1e3  # once, when the link inventory loads
    plan = plan_signals(**city, compiled=not args.numpy)  # the first call compiles the kernel
    timing, ref_ms, subset = timing_and_reference(
        city, args.repeat, args.reference_subset, compiled=not args.numpy
    )
    congestion = median_ms(lambda: congestion_step(links), args.repeat)
    matched = float((congestion_step(links)[-1] >= 0).mean())
    result = {
        "intersections": args.intersections,
        "max_phases": args.phases,
        "links": args.links,
        "probe_points": args.probes,
        "timing_ms": round(timing, 3),
        "timing_path": "numpy" if args.numpy else "compiled",
        "congestion_ms": round(congestion, 3),
        "reference_timing_ms": round(ref_ms, 1),
        "reference_subset": subset,
        "speedup": round(ref_ms / timing, 1),
        "link_index_build_ms": round(index_ms, 1),
        "valid_plans": float(plan.valid.mean()),
        "probe_points_matched": matched,
        "repeat": args.repeat,
        "malloc": "keep_freed_memory" if tuned else "default",
        "load_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    rows = [
        ("intersections x max phases", f"{args.intersections:,} x {args.phases}"),
        ("timing pipeline (median)", f"{timing:.2f} ms  (target <= {TARGETS['timing_ms']:g}; "
         f"{'NumPy path' if args.numpy else 'compiled kernel'})"),
        ("links / probe points", f"{args.links:,} / {args.probes:,}"),
        ("congestion (median)", f"{congestion:.2f} ms  (target <= {TARGETS['congestion_ms']:g})"),
        ("link index (built once)", f"{index_ms:.1f} ms"),
        ("scalar reference (median)", f"{ref_ms:,.0f} ms  (x{args.intersections // subset} "
         f"from {subset} intersections, interleaved)"),
        ("speedup", f"{ref_ms / timing:,.0f}x  (target >= {TARGETS['speedup']:g})"),
        ("valid plans", f"{plan.valid.mean():.2%}"),
        ("probe points matched", f"{matched:.2%}"),
        ("malloc", "keeps freed memory" if tuned else "glibc defaults"),
        ("load average (1 min)", f"{os.getloadavg()[0]:.2f}"),
    ]
    width = max(len(k) for k, _ in rows)
    print("control core benchmark")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
