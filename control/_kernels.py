"""Compiled timing pipeline: :func:`control.pipeline.plan_signals` in one pass per intersection.

The NumPy pipeline streams the whole city through every step (some 150 passes
over (n_intersections, n_phases) arrays, each allocating a temporary); this
kernel runs the same steps for one intersection at a time, with its phases in
cache, and writes each result once. The equations, their order of operations,
the sums over phases (left to right, see :func:`control._arrays.rowsum`) and
the NaN handling are those of the NumPy path, step for step, so the two agree
to the last bit (tests/control/test_kernels.py). The element-wise steps run as
loops over the flat phase arrays that compile to SIMD instructions. About 3x
faster than the NumPy path on 10,000 intersections x 8 phases
(``python -m bench.control``: ~2.5 ms against ~7.8 ms).

One thread: a parallel version of an earlier kernel (numba ``prange``, or
chunks shared by two threads) took 1.7 ms instead of 3 ms at best on 2 cores,
but whenever other processes kept the cores busy it was slower than one
thread, up to 7x (a parallel step waits for its slowest thread). The kernel
releases the GIL, so a caller can still plan disjoint row ranges in threads.

Written in the subset of Python that numba compiles, with ``error_model="numpy"``
(IEEE division: x/0 is inf or NaN, as in NumPy) and without ``fastmath`` (no
reassociation, no fused multiply-add, NaN respected). Compiled on the first
call (a few seconds) and cached in ``__pycache__`` (numba falls back to a
per-user cache directory where that is not writable). When numba is missing,
:data:`HAVE_NUMBA` is False and :func:`control.pipeline.plan_signals` uses its
NumPy path.

Argument checks stay in :func:`control.pipeline.plan_signals`; the kernel only
reports, per intersection, which value check failed (``ERR_*`` bits), and the
caller then runs the NumPy path, which raises the documented ``ValueError``.
"""

from __future__ import annotations

import math

import numpy as np

from hub.jit import HAVE_NUMBA, njit  # noqa: F401  (HAVE_NUMBA: for callers)

#: Value checks the kernel reports per intersection (bit field).
ERR_FLOW_NEGATIVE = 1  #: a class count < 0
ERR_SATURATION = 2  #: saturation flow not > 0 on an existing phase
ERR_INTERGREEN_NEGATIVE = 4  #: an intergreen < 0 on an existing phase
ERR_MIN_GREEN_NEGATIVE = 8  #: a minimum green < 0 on an existing phase
ERR_WIDTH = 16  #: entry width not > 0 on an existing phase

# flag and reason bits (control.webster.FLAG_*, control.constraints.REASON_*),
# repeated here so the kernel module imports nothing from the package
_OVERSATURATED, _CYCLE_CLIPPED, _MIN_GREEN_INFEASIBLE, _NO_DEMAND = 1, 2, 4, 8
_R_MIN_GREEN, _R_CYCLE_SUM, _R_CYCLE_BOUNDS, _R_NOT_FINITE = 1, 2, 4, 8
_R_NEGATIVE, _R_INTERGREEN = 16, 32
_TOL_S = 1e-6  # validate_plan's tolerance [s]


@njit(cache=True, inline="always")
def _maximum(a: float, b: float) -> float:
    """``np.maximum`` of two floats: NaN when either is NaN."""
    if a != a or b != b:
        return a + b
    return a if a >= b else b


@njit(cache=True, inline="always")
def _minimum(a: float, b: float) -> float:
    """``np.minimum`` of two floats: NaN when either is NaN."""
    if a != a or b != b:
        return a + b
    return a if a <= b else b


@njit(cache=True, inline="always")
def _los_code(d: float, thresholds: np.ndarray, x: float) -> int:
    """LOS code of ``control.delay._los``: bounds below d, F when X > 1, -1 for NaN d."""
    if d != d:
        return -1
    code = 0
    for e in thresholds:
        code += d > e  # branch-free: delays are not predictable
    if x > 1.0 and code < 5:
        code = 5
    return code


@njit(cache=True, inline="always")
def _most_slack(green: np.ndarray, gmin: np.ndarray, m: np.ndarray, i: int, used: int) -> int:
    """``np.argmax(where(m, green - gmin, -inf))`` of row i (first maximum, NaN wins).

    ``used``: phases up to the last existing one (the padding after it is -inf).
    """
    best = 0
    best_v = -np.inf
    for j in range(used):
        v = green[i, j] - gmin[i, j] if m[i, j] else -np.inf  # gmin * 1.0 = gmin
        if v != v:
            return j
        if v > best_v:
            best, best_v = j, v
    return best


@njit(cache=True, nogil=True, error_model="numpy")
def _performance(
    q: np.ndarray,
    green: np.ndarray,
    saturation: np.ndarray,
    mask: np.ndarray,
    cycle: np.ndarray,
    kt: float,
    t900: float,
    e0: float,
    e1: float,
    e2: float,
    e3: float,
    e4: float,
    cap: np.ndarray,
    x: np.ndarray,
    delay: np.ndarray,
    nq: np.ndarray,
    stops: np.ndarray,
    los: np.ndarray,
) -> None:
    r"""Capacity, X, HCM delay, MKJI queue, stops and LOS of phases given as flat arrays.

    The equations and order of operations of ``control.delay._delay_queue_terms``
    and of :func:`control.pipeline.plan_signals` after it, branch-free so that
    the loop compiles to SIMD instructions: ``np.minimum`` / ``np.maximum`` as
    selects that keep NaN, padding (``mask`` False) NaN from the capacity on.
    ``cycle`` holds each phase's cycle [s]; ``kt`` is 8 k I / T, ``t900`` 900 T;
    ``e0..e4`` are the LOS bounds [s]. (The loop runs over ``range(len)``: a
    loop from a start that might be negative indexes with a wrap-around check
    and stays scalar.)
    """
    for e in range(q.shape[0]):
        cyc = cycle[e]
        qj = q[e]
        gc = green[e] / cyc
        cj = saturation[e] * gc
        cj += 0.0
        cj = cj if mask[e] else np.nan  # padding: every result NaN from here
        xj = qj / cj
        xm1 = xj - 1.0
        xm1_sq = xm1 * xm1
        xs = xj if xj <= 1.0 or xj != xj else 1.0  # np.minimum(X, 1)
        den = 1.0 - xs * gc  # 1 - min(X, 1) g/C, shared by d1 and NQ2
        one_gc = 1.0 - gc
        # d1 = 0.5 C (1 - g/C)^2 / den; d2 = 900 T [(X - 1) + sqrt((X - 1)^2 + 8 k I X / (c T))]
        d1 = one_gc * one_gc * (0.5 * cyc) / den
        d2 = (np.sqrt(xj / cj * kt + xm1_sq) + xm1) * t900
        # NQ1 = 0.25 c [(DS - 1) + sqrt((DS - 1)^2 + 8 (DS - 0.5) / c)] for DS > 0.5
        r1 = 8.0 / cj * (xj - 0.5) + xm1_sq
        r1 = r1 if r1 >= 0.0 or r1 != r1 else 0.0  # np.maximum(r1, 0)
        nq1 = (np.sqrt(r1) + xm1) * (0.25 * cj)
        nq1 *= 1.0 if xj > 0.5 else 0.0
        # NQ2 = c (1 - GR) / (1 - GR min(DS, 1)) Q / 3600
        nq2 = one_gc * cyc / den * (qj * (1.0 / 3600.0))
        stops[e] = 0.9 * 3600.0 * (nq1 + nq2) / (qj * cyc)  # before the never-red fix
        never = gc >= 1.0  # a single phase without intergreen: never red
        d1 = 0.0 if never else d1
        nq2 = 0.0 if never else nq2
        dj = d1 + d2
        cap[e] = cj
        x[e] = 0.0 if cj == 0.0 and qj == 0.0 else xj  # no capacity, no demand: X = 0
        delay[e] = dj
        nq[e] = nq1 + nq2
        code = (
            (1 if dj > e0 else 0) + (1 if dj > e1 else 0) + (1 if dj > e2 else 0)
            + (1 if dj > e3 else 0) + (1 if dj > e4 else 0)
        )
        code = 5 if xj > 1.0 else code  # X > 1 is F whatever the delay
        los[e] = -1 if dj != dj else code


OUTPUTS: tuple[tuple[str, str, bool], ...] = (
    # name, dtype, per phase (else per intersection): the order of ``out`` in plan_rows
    ("cycle_s", "float64", False),
    ("green_s", "float64", True),
    ("intergreen_s", "float64", True),
    ("flow_pcu_h", "float64", True),
    ("flow_ratio", "float64", True),
    ("capacity_pcu_h", "float64", True),
    ("degree_of_saturation", "float64", True),
    ("delay_s", "float64", True),
    ("los", "int8", True),
    ("queue_pcu", "float64", True),
    ("queue_m", "float64", True),
    ("stops_per_pcu", "float64", True),
    ("intersection_delay_s", "float64", False),
    ("intersection_los", "int8", False),
    ("flags", "uint8", False),
    ("valid", "bool", False),
    ("reasons", "uint8", False),
    ("errors", "uint8", False),
)


def allocate(n: int, p: int) -> tuple[np.ndarray, ...]:
    """Uninitialised output arrays of :func:`plan_rows` for n intersections of p phases.

    Views into two blocks (8-byte and 1-byte items) rather than 18 arrays: glibc
    serves one large block again from its heap after the first call, where it
    maps and unmaps separate 0.6 MB arrays on every call and pays a page fault
    for each 4 KiB page (about half the kernel's time with glibc's defaults).
    """
    sizes = [n * p if per_phase else n for _, _, per_phase in OUTPUTS]
    wide = [dtype == "float64" for _, dtype, _ in OUTPUTS]
    floats = np.empty(sum(k for k, w in zip(sizes, wide, strict=True) if w))
    small = np.empty(sum(k for k, w in zip(sizes, wide, strict=True) if not w), np.uint8)
    out = []
    at_f = at_s = 0
    for (_, dtype, per_phase), k, w in zip(OUTPUTS, sizes, wide, strict=True):
        shape = (n, p) if per_phase else (n,)
        if w:
            out.append(floats[at_f:at_f + k].reshape(shape))
            at_f += k
        else:
            out.append(small[at_s:at_s + k].view(dtype).reshape(shape))
            at_s += k
    return tuple(out)


@njit(cache=True, nogil=True, error_model="numpy")
def plan_rows(
    counts: np.ndarray,
    opposed: np.ndarray,
    pce_protected: np.ndarray,
    pce_opposed: np.ndarray,
    saturation: np.ndarray,
    intergreen: np.ndarray,
    min_green: np.ndarray,
    mask: np.ndarray,
    min_cycle: np.ndarray,
    max_cycle: np.ndarray,
    width: np.ndarray,
    has_width: bool,
    resolution: float,
    analysis_period_h: float,
    k: float,
    thresholds: np.ndarray,
    out: tuple[np.ndarray, ...],
    start: int,
    stop: int,
) -> None:
    r"""The timing pipeline of :func:`control.pipeline.plan_signals`, intersections start..stop-1.

    Parameters
    ----------
    counts : (n, p, 4) C-contiguous flow per class (mc, lv, hv, um) [veh/h]
    opposed : (n, p) bool, True on opposed approaches
    pce_protected, pce_opposed : (1, 4) or (n, 4) passenger-car equivalents [pcu/veh]
    saturation : (n, p) saturation flow [pcu/h of green]
    intergreen : (n, p) amber + all-red [s]
    min_green : (n, p) minimum green [s]
    mask : (n, p) bool, True where the phase exists
    min_cycle, max_cycle : (n,) cycle bounds [s]
    width : (n, p) entry width [m] when ``has_width``, else any 2-D array
    has_width : whether ``width`` is given (``queue_m`` NaN otherwise)
    resolution : controller time step [s]; <= 0 keeps unrounded greens
    analysis_period_h : HCM analysis period T [h]
    k : HCM incremental delay factor k I [-]
    thresholds : (5,) LOS upper bounds of A..E [s]
    out : the arrays of :func:`allocate`, in the order of :data:`OUTPUTS`: cycle
        [s], green [s], intergreen [s], flow [pcu/h], flow ratio [-], capacity
        [pcu/h], degree of saturation [-], delay [s/pcu], LOS (int8), queue
        [pcu], queue [m], stops [stops/pcu], intersection delay [s/pcu],
        intersection LOS (int8), flags (uint8), valid (bool), reasons (uint8),
        errors (uint8, ``ERR_*`` bits; the other outputs of a row with errors
        are meaningless). Rows start..stop-1 are written, nothing else.
    start, stop : the intersections to plan

    Notes
    -----
    The steps and equations of :func:`control.pipeline.plan_signals` (pcu,
    y = q/s, Webster's cycle, splits by Newton's method on the minimum greens,
    rounding with the cycle brought back within its bounds, HCM d1 + d2, MKJI
    NQ1 + NQ2, stops, LOS, validation): one intersection at a time up to the
    validation, then capacity to LOS over the rows' phases as one flat SIMD loop
    (:func:`_performance`), then the intersection delay row by row.
    Releases the GIL: disjoint row ranges can be planned in parallel threads.
    """
    (
        cycle, green, ig, q, y, cap, x, delay, los, nq, qm, stops, d_int, los_int, flags,
        valid, reasons, errors,
    ) = out
    p = mask.shape[1]
    kt = 8.0 * k / analysis_period_h
    t900 = 900.0 * analysis_period_h
    r = resolution
    shared_p = pce_protected.shape[0] == 1
    shared_o = pce_opposed.shape[0] == 1
    for i in range(start, stop):
        err = 0
        ip = 0 if shared_p else i
        io = 0 if shared_o else i
        ep, eo = pce_protected[ip], pce_opposed[io]
        p0, p1, p2, p3 = ep[0], ep[1], ep[2], ep[3]
        o0, o1, o2, o3 = eo[0], eo[1], eo[2], eo[3]
        cmin = min_cycle[i]
        cmax = max_cycle[i]
        # 1. pcu, flow ratios, lost time, minimum greens
        lost = 0.0
        big_y = 0.0
        sum_gmin = 0.0
        total_q = 0.0
        used = 0  # phases up to the last existing one
        clean = True  # padding with a zero minimum green (adds exactly nothing in step 3)
        for j in range(p):
            mf = 1.0 if mask[i, j] else 0.0
            opp = opposed[i, j]
            v0, v1, v2, v3 = counts[i, j, 0], counts[i, j, 1], counts[i, j, 2], counts[i, j, 3]
            if v0 < 0.0 or v1 < 0.0 or v2 < 0.0 or v3 < 0.0:
                err |= ERR_FLOW_NEGATIVE
            # left to right, as sum() in the reference
            qj = v0 * (o0 if opp else p0) + v1 * (o1 if opp else p1)
            qj = qj + v2 * (o2 if opp else p2)
            qj = qj + v3 * (o3 if opp else p3)
            s = saturation[i, j]
            if mask[i, j]:
                if not s > 0.0:
                    err |= ERR_SATURATION
            else:
                qj = 0.0  # padding: no flow
                s = 1.0
            q[i, j] = qj
            yj = qj / s
            yj *= mf
            y[i, j] = yj
            igj = intergreen[i, j] * mf
            gmj = min_green[i, j] * mf
            if igj < 0.0:
                err |= ERR_INTERGREEN_NEGATIVE
            if gmj < 0.0:
                err |= ERR_MIN_GREEN_NEGATIVE
            if has_width and mask[i, j] and not width[i, j] > 0.0:
                err |= ERR_WIDTH
            ig[i, j] = igj
            if mask[i, j]:
                used = j + 1
            elif gmj != 0.0:
                clean = False
            lost += igj
            big_y += yj
            sum_gmin += gmj
            total_q += qj * mf
        errors[i] = err
        # 2. Webster's cycle (control.webster._cycle), raised to fit the minimum greens
        over = big_y >= 1.0
        c0 = cmax if over else (1.5 * lost + 5.0) / (1.0 - big_y)
        flag = 0
        if over:
            flag |= _OVERSATURATED
        elif c0 < cmin or c0 > cmax:
            flag |= _CYCLE_CLIPPED
        cyc = _minimum(_maximum(c0, cmin), cmax)
        need = lost + sum_gmin
        if need > cmax:
            flag |= _MIN_GREEN_INFEASIBLE
        if big_y == 0.0:
            flag |= _NO_DEMAND
        flags[i] = flag
        cyc = _maximum(cyc, need)
        # 3. splits (control.webster._splits): Newton's method on the green per unit weight
        avail = cyc - lost
        has = big_y > 0.0
        div = big_y if has else 1.0
        add = 0.0 if has else 1.0
        w_total = 0.0
        for j in range(p):  # the weights, in cap until step 5 writes the capacities
            cap[i, j] = y[i, j] / div + (1.0 if mask[i, j] else 0.0) * add
            w_total += cap[i, j]
        share = avail / w_total if w_total > 0.0 else 0.0
        prev_bits = -1  # the phases held at the previous step, one bit each (p <= 62)
        p_newton = used if clean else p
        for _ in range(p + 1):
            held_g = 0.0
            free_w = 0.0
            bits = 0
            for j in range(p_newton):
                gmj = min_green[i, j] * (1.0 if mask[i, j] else 0.0)
                held = cap[i, j] * share < gmj
                held_g += gmj * (1.0 if held else 0.0)
                free_w += cap[i, j] * (0.0 if held else 1.0)
                bits |= (1 if held and j < 62 else 0) << j
            if bits == prev_bits and p <= 62:
                break  # the same phases held: the same share again (the NumPy path's last step)
            prev_bits = bits
            rem = avail - held_g
            new_share = rem / free_w if free_w > 1e-12 else 0.0
            done = new_share == share
            share = new_share
            if done:
                break
        for j in range(p):
            mf = 1.0 if mask[i, j] else 0.0
            green[i, j] = _maximum(min_green[i, j] * mf, cap[i, j] * share) * mf
        # 4. controller resolution; the cycle brought back within its bounds
        if r > 0.0:
            total_g = 0.0
            # trailing padding keeps its green of exactly 0 when the share is finite
            p_round = used if clean and math.isfinite(share) else p
            for j in range(p_round):
                mf = 1.0 if mask[i, j] else 0.0
                gmj = min_green[i, j] * mf
                if r == 1.0:
                    g = _maximum(np.rint(green[i, j]), np.ceil(gmj - 1e-9))
                else:
                    g = _maximum(np.rint(green[i, j] / r) * r, np.ceil(gmj / r - 1e-9) * r)
                g *= mf
                green[i, j] = g
                total_g += g
            cyc = total_g + lost
            short = np.ceil(_maximum(cmin - cyc, 0.0) / r - 1e-9) * r
            if short > 0.0:
                jl = _most_slack(green, min_green, mask, i, used)
                green[i, jl] += short
                cyc += short
            cap_c = cmax if need <= cmax else np.inf
            excess = np.ceil(_maximum(cyc - cap_c, 0.0) / r - 1e-9) * r
            if excess > 0.0:
                for _ in range(p):
                    jl = _most_slack(green, min_green, mask, i, used)
                    slack = green[i, jl] - min_green[i, jl] * (1.0 if mask[i, jl] else 0.0)
                    trim = _minimum(excess, np.floor(_maximum(slack, 0.0) / r + 1e-9) * r)
                    green[i, jl] -= trim
                    cyc -= trim
                    excess -= trim
                    if not (excess > 0.0 and trim > 0.0):
                        break
        cycle[i] = cyc
        # 5. validation (control.constraints.validate_plan with max_cycle_s raised to
        # the need), then the refusal of plans whose minimum greens do not fit
        reason = 0
        sum_g = 0.0
        sum_ig = 0.0
        for j in range(used):  # padding: green and intergreen 0, nothing to check
            if not mask[i, j]:
                continue
            gj = green[i, j]
            igj = ig[i, j]
            if gj < -_TOL_S or igj < -_TOL_S:
                reason |= _R_NEGATIVE
            if gj < min_green[i, j] - _TOL_S:
                reason |= _R_MIN_GREEN
            if igj < -_TOL_S:
                reason |= _R_INTERGREEN
            sum_g += gj
            sum_ig += igj
        total = sum_g + sum_ig
        finite = math.isfinite(cyc) and math.isfinite(total)
        if not finite:
            reason |= _R_NOT_FINITE
        elif abs(total - cyc) > _TOL_S:
            reason |= _R_CYCLE_SUM
        if finite and (cyc < cmin - _TOL_S or cyc > _maximum(cmax, need) + _TOL_S):
            reason |= _R_CYCLE_BOUNDS
        if need > cmax + 1e-6:
            reason |= _R_CYCLE_BOUNDS
        reasons[i] = reason
        valid[i] = reason == 0
        # scratch for step 6: the cycle of every phase, the total flow of the row
        for j in range(p):
            qm[i, j] = cyc
        d_int[i] = total_q
    # 6. capacity, X, HCM delay, MKJI queue and stops, LOS: element by element
    # over the rows' phases, a loop the compiler turns into SIMD instructions
    size = mask.size
    lo, hi = start * p, stop * p
    qm_flat = qm.reshape(size)[lo:hi]
    nq_flat = nq.reshape(size)[lo:hi]
    _performance(
        q.reshape(size)[lo:hi], green.reshape(size)[lo:hi], saturation.reshape(size)[lo:hi],
        mask.reshape(size)[lo:hi], qm_flat, kt, t900, thresholds[0], thresholds[1],
        thresholds[2], thresholds[3], thresholds[4], cap.reshape(size)[lo:hi],
        x.reshape(size)[lo:hi], delay.reshape(size)[lo:hi], nq_flat,
        stops.reshape(size)[lo:hi], los.reshape(size)[lo:hi],
    )
    if has_width:  # MKJI QL = NQ 20 / W (NaN on padding)
        width_flat = width.reshape(size)[lo:hi]
        for e in range(hi - lo):
            qm_flat[e] = nq_flat[e] * 20.0 / width_flat[e]
    else:
        qm_flat[:] = np.nan
    # 7. intersection delay: flow-weighted over the phases, left to right
    for i in range(start, stop):
        total_q = d_int[i]
        dq_sum = 0.0
        for j in range(p):
            dqj = delay[i, j] * q[i, j]
            if dqj == dqj:  # padding and not-computable phases carry no weight
                dq_sum += dqj
        di = dq_sum / total_q if total_q > 0.0 else np.nan
        d_int[i] = di
        los_int[i] = _los_code(di, thresholds, 0.0)

