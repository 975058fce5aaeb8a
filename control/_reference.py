"""Scalar reference implementations of the control core.

Plain Python, one intersection / link / point at a time, written straight from
the equations in the docstrings of the vectorized functions. They are the
oracle of the property tests and the baseline of ``bench/control.py``; they are
not meant to be fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PCE_PROTECTED = (0.2, 1.0, 1.3, 0.5)
PCE_OPPOSED = (0.4, 1.0, 1.3, 1.0)
HCM = (10.0, 20.0, 35.0, 55.0, 80.0)


def pcu(counts: Sequence[float], opposed: bool = False,
        pce_protected: Sequence[float] = PCE_PROTECTED,
        pce_opposed: Sequence[float] = PCE_OPPOSED) -> float:
    e = pce_opposed if opposed else pce_protected
    return sum(c * k for c, k in zip(counts, e, strict=True))


def webster_cycle(
    ys: Sequence[float], lost_s: float, cmin: float, cmax: float
) -> tuple[float, bool]:
    """(cycle, oversaturated)."""
    big_y = sum(ys)
    if big_y >= 1.0:
        return cmax, True
    c0 = (1.5 * lost_s + 5.0) / (1.0 - big_y)
    return min(max(c0, cmin), cmax), False


def splits(ys: Sequence[float], cycle_s: float, intergreens: Sequence[float],
           min_greens: Sequence[float]) -> list[float]:
    """Proportional greens above the minimums (the fixed-point of the vectorized passes)."""
    n = len(ys)
    avail = cycle_s - sum(intergreens)
    big_y = sum(ys)
    weight = [y / big_y for y in ys] if big_y > 0 else [1.0] * n
    fixed = [False] * n
    green = [0.0] * n
    for _ in range(n + 1):
        free_w = sum(w for w, f in zip(weight, fixed, strict=True) if not f)
        rem = avail - sum(g for g, f in zip(min_greens, fixed, strict=True) if f)
        share = rem / free_w if free_w > 0 else 0.0
        green = [min_greens[i] if fixed[i] else weight[i] * share for i in range(n)]
        below = [not fixed[i] and green[i] < min_greens[i] for i in range(n)]
        if not any(below):
            break
        fixed = [f or b for f, b in zip(fixed, below, strict=True)]
    return green


def hcm_delay(v: float, c: float, g: float, cycle: float, t_h: float = 0.25,
              k: float = 0.5, i_f: float = 1.0) -> float:
    if not c > 0 or not 0 < g / cycle <= 1:
        return math.nan
    x = v / c
    gc = g / cycle
    d1 = 0.0 if gc >= 1 else 0.5 * cycle * (1 - gc) ** 2 / (1 - min(1.0, x) * gc)
    d2 = 900 * t_h * ((x - 1) + math.sqrt((x - 1) ** 2 + 8 * k * i_f * x / (c * t_h)))
    return d1 + d2


def los(delay: float, thresholds: Sequence[float] = HCM, x: float | None = None) -> int:
    if math.isnan(delay):
        return -1
    if x is not None and x > 1.0:
        return 5
    for i, bound in enumerate(thresholds):
        if delay <= bound:
            return i
    return 5


def mkji_queue(q: float, c: float, g: float, cycle: float) -> float:
    if not c > 0 or not 0 < g / cycle <= 1:
        return math.nan
    ds = q / c
    gr = g / cycle
    nq1 = 0.25 * c * ((ds - 1) + math.sqrt((ds - 1) ** 2 + 8 * (ds - 0.5) / c)) if ds > 0.5 else 0.0
    nq2 = 0.0 if gr >= 1 else cycle * (1 - gr) / (1 - gr * min(ds, 1.0)) * q / 3600
    return nq1 + nq2


def plan_intersection(
    counts: Sequence[Sequence[float]],
    saturation: Sequence[float],
    intergreens: Sequence[float],
    min_greens: Sequence[float],
    opposed: Sequence[bool] | None = None,
    cmin: float = 40.0,
    cmax: float = 180.0,
    resolution_s: float | None = 1.0,
    entry_width_m: Sequence[float] | None = None,
) -> dict[str, object]:
    """The whole timing pipeline of :func:`control.pipeline.plan_signals` for one intersection."""
    n = len(counts)
    opp = opposed or [False] * n
    q = [pcu(counts[i], opp[i]) for i in range(n)]
    ys = [q[i] / saturation[i] for i in range(n)]
    lost = sum(intergreens)
    cycle, over = webster_cycle(ys, lost, cmin, cmax)
    need = lost + sum(min_greens)
    cycle = max(cycle, need)
    green = splits(ys, cycle, intergreens, min_greens)
    if resolution_s is not None:
        r = resolution_s
        green = [max(round(g / r) * r, math.ceil(gm / r - 1e-9) * r)
                 for g, gm in zip(green, min_greens, strict=True)]
        cycle = sum(green) + lost
        short = math.ceil(max(cmin - cycle, 0.0) / r - 1e-9) * r
        if short > 0:
            slack = [g - gm for g, gm in zip(green, min_greens, strict=True)]
            j = slack.index(max(slack))
            green[j] += short
            cycle += short
        cap = cmax if need <= cmax else math.inf
        excess = math.ceil(max(cycle - cap, 0.0) / r - 1e-9) * r
        while excess > 0:
            slack = [g - gm for g, gm in zip(green, min_greens, strict=True)]
            j = slack.index(max(slack))
            trim = min(excess, math.floor(max(slack[j], 0.0) / r + 1e-9) * r)
            if trim <= 0:
                break
            green[j] -= trim
            cycle -= trim
            excess -= trim
    cap = [saturation[i] * green[i] / cycle for i in range(n)]
    x = [q[i] / cap[i] if cap[i] > 0 else (0.0 if q[i] == 0 else math.nan) for i in range(n)]
    delay = [hcm_delay(q[i], cap[i], green[i], cycle) for i in range(n)]
    los_ = [los(delay[i], HCM, x[i]) for i in range(n)]
    queue = [mkji_queue(q[i], cap[i], green[i], cycle) for i in range(n)]
    stops = [0.9 * queue[i] / (q[i] * cycle) * 3600 if q[i] > 0 else math.nan for i in range(n)]
    queue_m = [queue[i] * 20.0 / entry_width_m[i] if entry_width_m else math.nan
               for i in range(n)]
    tot = sum(q)
    d_int = sum(d * qq for d, qq in zip(delay, q, strict=True)) / tot if tot > 0 else math.nan
    valid = (
        all(g >= gm - 1e-6 for g, gm in zip(green, min_greens, strict=True))
        and abs(sum(green) + lost - cycle) <= 1e-6
        and cmin - 1e-6 <= cycle <= max(cmax, need) + 1e-6
        and need <= cmax + 1e-6
        and all(math.isfinite(g) for g in green)
    )
    return {
        "stops_per_pcu": stops, "queue_m": queue_m, "valid": valid,
        "intersection_los": los(d_int),
        "cycle_s": cycle, "green_s": green, "flow_pcu_h": q, "flow_ratio": ys,
        "capacity_pcu_h": cap, "degree_of_saturation": x, "delay_s": delay, "los": los_,
        "queue_pcu": queue, "intersection_delay_s": d_int, "oversaturated": over,
    }


def bandwidth(offsets: Sequence[float], greens: Sequence[float], arrivals: Sequence[float],
              cycle: float, step_s: float = 0.01) -> float:
    """Band by brute force: scan departures on a fine grid, longest run passing every green."""
    n_steps = int(round(cycle / step_s))
    ok = []
    for k in range(n_steps):
        tau = k * step_s
        ok.append(all(((tau + t - o) % cycle) < g for o, g, t in
                      zip(offsets, greens, arrivals, strict=True)))
    if all(ok):
        return min(greens)
    best = run = 0
    for flag in ok + ok:  # wrap around the cycle
        run = run + 1 if flag else 0
        best = max(best, run)
    return min(best, n_steps) * step_s


def detector_speed(q: float, occ: float, length_m: float) -> float:
    return q * length_m / (10 * occ) if occ > 0 else math.nan


def point_segment(px: float, py: float, ax: float, ay: float, bx: float, by: float
                  ) -> tuple[float, float]:
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    t = 0.0 if l2 == 0 else min(max(((px - ax) * dx + (py - ay) * dy) / l2, 0.0), 1.0)
    return math.hypot(px - ax - t * dx, py - ay - t * dy), t


def map_match_point(px: float, py: float, links: Sequence[tuple[float, float, float, float]],
                    max_d: float, heading: float | None = None, max_diff: float = 60.0
                    ) -> tuple[int, float]:
    best, best_d = -1, math.inf
    for j, (ax, ay, bx, by) in enumerate(links):
        d, _ = point_segment(px, py, ax, ay, bx, by)
        if d > max_d:
            continue
        if heading is not None and not math.isnan(heading):
            bearing = math.degrees(math.atan2(bx - ax, by - ay))
            if abs((heading - bearing + 180) % 360 - 180) > max_diff:
                continue
        if d < best_d:
            best, best_d = j, d
    return best, best_d


def fuse(speeds: Sequence[float], samples: Sequence[float], ages: Sequence[float],
         half_life_s: float = 300.0) -> float:
    num = den = 0.0
    for v, n, a in zip(speeds, samples, ages, strict=True):
        if math.isnan(v):
            continue
        w = n * 2 ** (-max(a, 0.0) / half_life_s)
        num += w * v
        den += w
    return num / den if den > 0 else math.nan
