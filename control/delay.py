"""Capacity, degree of saturation, control delay, level of service, queues and stops.

Functions work element-wise on arrays of any shape (typically
(n_intersections, n_phases)); per-intersection inputs such as the cycle are
given with shape (n_intersections, 1) or broadcast by the caller.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from control._arrays import FloatArray, as_float, non_negative

#: HCM level-of-service upper bounds on control delay [s/veh] for A..E; above
#: the last is F. HCM 2000 Exhibit 16-2, unchanged in HCM 6th/7th ed. Exhibit 19-8;
#: a lane group with v/c > 1 is F whatever its delay.
LOS_THRESHOLDS_HCM_S: tuple[float, ...] = (10.0, 20.0, 35.0, 55.0, 80.0)

#: Indonesian intersection level-of-service bounds on delay [s/pcu] for A..E,
#: Peraturan Menteri Perhubungan PM 96 Tahun 2015 (A < 5, B 5.1-15, C 15.1-25,
#: D 25.1-40, E 40.1-60, F > 60).
LOS_THRESHOLDS_ID_S: tuple[float, ...] = (5.0, 15.0, 25.0, 40.0, 60.0)

LOS_LETTERS = "ABCDEF"

#: Space one queued passenger-car unit takes per metre of approach width [m2/pcu]
#: (MKJI 1997 queue length QL = NQ x 20 / W_entry).
QUEUE_AREA_M2_PER_PCU = 20.0


def capacity(
    saturation_pcu_h: npt.ArrayLike, green_s: npt.ArrayLike, cycle_s: npt.ArrayLike
) -> FloatArray:
    r"""Capacity of a movement from its saturation flow and green ratio.

    Parameters
    ----------
    saturation_pcu_h : saturation flow [pcu/h of green]
    green_s : effective green [s]
    cycle_s : cycle length [s], broadcast against the others

    Returns
    -------
    capacity_pcu_h : [pcu/h]; NaN where the cycle is not > 0.

    Notes
    -----
    .. math:: c = s\,g / C

    References
    ----------
    TRB (2000). Highway Capacity Manual, Eq. 16-6 (HCM 7th ed. Eq. 19-16).
    """
    s = as_float("saturation_pcu_h", saturation_pcu_h)
    g = as_float("green_s", green_s)
    c = as_float("cycle_s", cycle_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 0, s * g / np.where(c > 0, c, 1.0), np.nan)


def degree_of_saturation(flow_pcu_h: npt.ArrayLike, capacity_pcu_h: npt.ArrayLike) -> FloatArray:
    r"""Degree of saturation (volume-to-capacity ratio) X = q/c.

    Parameters
    ----------
    flow_pcu_h : demand [pcu/h]
    capacity_pcu_h : capacity [pcu/h]

    Returns
    -------
    x : [-]; NaN where the capacity is 0 or NaN (not computable), 0 where both are 0.

    Notes
    -----
    .. math:: X = q / c

    References
    ----------
    TRB (2000). Highway Capacity Manual, Eq. 16-7.
    """
    q = as_float("flow_pcu_h", flow_pcu_h)
    c = as_float("capacity_pcu_h", capacity_pcu_h)
    non_negative("flow_pcu_h", q)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = q / c
    return np.where(c > 0, x, np.where(q == 0, 0.0, np.nan))


def hcm_control_delay(
    flow_pcu_h: npt.ArrayLike,
    capacity_pcu_h: npt.ArrayLike,
    green_s: npt.ArrayLike,
    cycle_s: npt.ArrayLike,
    analysis_period_h: float = 0.25,
    k: float = 0.5,
    upstream_filtering: float = 1.0,
    progression_factor: npt.ArrayLike = 1.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""HCM control delay: uniform delay d1 plus incremental (random + overflow) delay d2.

    Parameters
    ----------
    flow_pcu_h : demand v [pcu/h]
    capacity_pcu_h : capacity c [pcu/h]
    green_s : effective green g [s]
    cycle_s : cycle length C [s]
    analysis_period_h : analysis period T [h] (0.25 = 15 minutes)
    k : incremental delay factor [-] (0.5 pretimed; 0.04-0.5 actuated)
    upstream_filtering : I [-] (1.0 isolated intersection)
    progression_factor : PF [-] (1.0 random arrivals)

    Returns
    -------
    delay_s, d1_s, d2_s : control, uniform and incremental delay [s/pcu], each of
        the broadcast shape; NaN where the capacity is not > 0 or the green ratio
        is outside (0, 1] (not computable); d1 = 0 when g = C (never red).

    Notes
    -----
    .. math::
        d_1 = PF\,\frac{0.5\,C\,(1 - g/C)^2}{1 - \min(1, X)\,g/C}

        d_2 = 900\,T\left[(X - 1) + \sqrt{(X - 1)^2 + \frac{8 k I X}{c T}}\right]

        d = d_1 + d_2,\qquad X = v / c

    Both terms are >= 0 and non-decreasing in v. Initial-queue delay d3 is not
    included (zero when no queue is carried over from the previous period).

    References
    ----------
    TRB (2000). Highway Capacity Manual, Eqs. 16-9 to 16-11.
    TRB (2022). Highway Capacity Manual, 7th ed., Eqs. 19-18, 19-19 and 19-26.
    """
    v = as_float("flow_pcu_h", flow_pcu_h)
    c = as_float("capacity_pcu_h", capacity_pcu_h)
    g = as_float("green_s", green_s)
    cyc = as_float("cycle_s", cycle_s)
    pf = as_float("progression_factor", progression_factor)
    non_negative("flow_pcu_h", v)
    if analysis_period_h <= 0:
        raise ValueError("analysis_period_h must be > 0")
    if not 0 < k <= 1 or not 0 < upstream_filtering <= 1:
        raise ValueError("k and upstream_filtering must be in (0, 1]")
    v, c, g, cyc, pf = np.broadcast_arrays(v, c, g, cyc, pf)
    with np.errstate(divide="ignore", invalid="ignore"):
        gc = g / cyc
        _, d1, d2, _, _ = _delay_queue_terms(v, c, gc, cyc, analysis_period_h,
                                             k * upstream_filtering)
        d1 = d1 * pf
    ok = (c > 0) & (gc > 0) & (gc <= 1.0)
    d1 = np.where(gc >= 1.0, 0.0, d1)  # never red: no uniform delay (0/0 when X >= 1)
    d1 = np.where(ok, d1, np.nan)
    d2 = np.where(ok, d2, np.nan)
    return d1 + d2, d1, d2


def _delay_queue_terms(
    q: FloatArray, cap: FloatArray, gc: FloatArray, cyc: FloatArray, t: float, k: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """X, HCM d1 (PF = 1) and d2, MKJI NQ1 and NQ2 in one pass with shared terms.

    No argument checks; ``k`` is k x I. The equations of :func:`hcm_control_delay`
    and :func:`back_of_queue` (their one implementation). Inputs must share one
    shape, except ``cyc`` which may broadcast ((n, 1) against (n, p)); NaN
    propagates from a NaN or zero capacity.
    """
    x = q / cap
    xm1 = x - 1.0
    xm1_sq = xm1 * xm1
    xs = np.minimum(x, 1.0)
    xs *= gc
    den = 1.0 - xs  # 1 - min(X, 1) g/C, shared by d1 and NQ2
    one_gc = 1.0 - gc
    x_over_c = x / cap
    # d1 = 0.5 C (1 - g/C)^2 / den
    d1 = one_gc * one_gc
    d1 *= 0.5 * cyc
    d1 /= den
    # d2 = 900 T [(X - 1) + sqrt((X - 1)^2 + 8 k I X / (c T))]
    root = x_over_c * (8.0 * k / t)
    root += xm1_sq
    d2 = np.sqrt(root)
    d2 += xm1
    d2 *= 900.0 * t
    # NQ1 = 0.25 c [(DS - 1) + sqrt((DS - 1)^2 + 8 (DS - 0.5) / c)] for DS > 0.5
    r1 = 8.0 / cap
    r1 *= x - 0.5
    r1 += xm1_sq
    nq1 = np.sqrt(np.maximum(r1, 0.0))
    nq1 += xm1
    nq1 *= 0.25 * cap
    nq1 *= x > 0.5
    # NQ2 = c (1 - GR) / (1 - GR min(DS, 1)) Q / 3600
    nq2 = one_gc * cyc
    nq2 /= den
    nq2 *= q * (1.0 / 3600.0)
    return x, d1, d2, nq1, nq2


def level_of_service(
    delay_s: npt.ArrayLike,
    thresholds_s: tuple[float, ...] = LOS_THRESHOLDS_HCM_S,
    degree_of_saturation: npt.ArrayLike | None = None,
) -> npt.NDArray[np.int8]:
    r"""Level of service from control delay.

    Parameters
    ----------
    delay_s : control delay [s/veh] (or [s/pcu] with the Indonesian thresholds)
    thresholds_s : ascending upper bounds of A..E [s]; LOS_THRESHOLDS_HCM_S
        (default) or LOS_THRESHOLDS_ID_S
    degree_of_saturation : optional X [-]; X > 1 forces F (HCM rule for lane groups)

    Returns
    -------
    los : int8 codes 0..5 for A..F (``LOS_LETTERS[code]``); -1 where the delay is NaN.

    Notes
    -----
    LOS is the first band whose upper bound is >= the delay (A: d <= 10 s, ...,
    F: d > 80 s with the HCM bounds); it is monotone in delay.

    References
    ----------
    TRB (2000). Highway Capacity Manual, Exhibit 16-2; 7th ed. Exhibit 19-8.
    Kementerian Perhubungan (2015). PM 96 Tahun 2015, tingkat pelayanan simpang.
    """
    d = as_float("delay_s", delay_s)
    x = None
    if degree_of_saturation is not None:
        x = as_float("degree_of_saturation", degree_of_saturation)
    return _los(d, thresholds_s, x)


def _los(
    d: FloatArray, thresholds_s: tuple[float, ...], x: FloatArray | None
) -> npt.NDArray[np.int8]:
    edges = np.asarray(thresholds_s, dtype=np.float64)
    if edges.shape != (5,) or np.any(np.diff(edges) <= 0):
        raise ValueError(f"thresholds_s has shape {edges.shape}, expected 5 ascending bounds")
    code = np.zeros(d.shape, dtype=np.int8)
    for e in edges:  # number of upper bounds below the delay (NaN counts none)
        code += d > e
    if x is not None:
        code = np.maximum(code, (x > 1.0).astype(np.int8) * np.int8(5))
    code -= np.isnan(d).astype(np.int8) * (code + 1)
    return code


def los_letters(codes: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """LOS codes from :func:`level_of_service` as letters ('-' for not computable)."""
    c = np.asarray(codes, dtype=np.int64)
    table = np.array(list(LOS_LETTERS) + ["-"])
    return table[np.where(c < 0, 6, c)]


def back_of_queue(
    flow_pcu_h: npt.ArrayLike,
    capacity_pcu_h: npt.ArrayLike,
    green_s: npt.ArrayLike,
    cycle_s: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Average queue at the start of green, MKJI 1997 (overflow NQ1 + arrivals on red NQ2).

    Parameters
    ----------
    flow_pcu_h : demand Q [pcu/h]
    capacity_pcu_h : capacity C [pcu/h]
    green_s : green g [s]
    cycle_s : cycle c [s]

    Returns
    -------
    queue_pcu, nq1_pcu, nq2_pcu : [pcu]; NaN where capacity or green ratio is
        not computable (as :func:`hcm_control_delay`).

    Notes
    -----
    .. math::
        NQ_1 = 0.25\,C\left[(DS - 1) + \sqrt{(DS - 1)^2 + \frac{8 (DS - 0.5)}{C}}\right]
        \quad (DS > 0.5;\ 0 \text{ otherwise})

        NQ_2 = c\,\frac{1 - GR}{1 - GR \cdot \min(DS, 1)}\,\frac{Q}{3600}

    with DS = Q/C and GR = g/c. ``min(DS, 1)`` keeps NQ2 finite when
    oversaturated (the red-period arrivals cannot exceed Q (c - g)/3600 / (1 - GR));
    NQ1 then carries the overflow.

    References
    ----------
    Direktorat Jenderal Bina Marga (1997). MKJI, chapter 2, step E-2 (panjang
    antrian), formulas as printed in the manual; the NQ1 term is Akcelik's
    overflow queue with a 15-minute period.
    """
    q = as_float("flow_pcu_h", flow_pcu_h)
    c = as_float("capacity_pcu_h", capacity_pcu_h)
    g = as_float("green_s", green_s)
    cyc = as_float("cycle_s", cycle_s)
    non_negative("flow_pcu_h", q)
    q, c, g, cyc = np.broadcast_arrays(q, c, g, cyc)
    with np.errstate(divide="ignore", invalid="ignore"):
        gr = g / cyc
        _, _, _, nq1, nq2 = _delay_queue_terms(q, c, gr, cyc, 0.25, 0.5)
    ok = (c > 0) & (gr > 0) & (gr <= 1.0)
    nq2 = np.where(gr >= 1.0, 0.0, nq2)  # never red: nobody waits for green
    nq1 = np.where(ok, nq1, np.nan)
    nq2 = np.where(ok, nq2, np.nan)
    return nq1 + nq2, nq1, nq2


def stop_rate(
    queue_pcu: npt.ArrayLike, flow_pcu_h: npt.ArrayLike, cycle_s: npt.ArrayLike
) -> FloatArray:
    r"""Average number of stops per passenger-car unit, MKJI 1997.

    Parameters
    ----------
    queue_pcu : average queue NQ [pcu]
    flow_pcu_h : demand Q [pcu/h]
    cycle_s : cycle c [s]

    Returns
    -------
    stops_per_pcu : [stops/pcu]; NaN where there is no flow.

    Notes
    -----
    .. math:: NS = 0.9\,\frac{NQ}{Q\,c}\,3600

    References
    ----------
    Direktorat Jenderal Bina Marga (1997). MKJI, chapter 2, step E-3
    (kendaraan terhenti).
    """
    nq = as_float("queue_pcu", queue_pcu)
    q = as_float("flow_pcu_h", flow_pcu_h)
    cyc = as_float("cycle_s", cycle_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        ns = 0.9 * nq / (q * cyc) * 3600.0
    return np.where(q > 0, ns, np.nan)


def queue_length_m(queue_pcu: npt.ArrayLike, entry_width_m: npt.ArrayLike) -> FloatArray:
    r"""Queue length from the queue in pcu and the entry width, MKJI 1997.

    Parameters
    ----------
    queue_pcu : queue [pcu]
    entry_width_m : approach entry width [m], > 0

    Returns
    -------
    queue_m : [m]

    Notes
    -----
    .. math:: QL = NQ \cdot 20 / W_{entry}

    References
    ----------
    Direktorat Jenderal Bina Marga (1997). MKJI, chapter 2, step E-2.
    """
    nq = as_float("queue_pcu", queue_pcu)
    w = as_float("entry_width_m", entry_width_m)
    if np.any(w <= 0):
        raise ValueError("entry_width_m must be > 0")
    return nq * QUEUE_AREA_M2_PER_PCU / w
