"""The whole timing pipeline for every intersection at once.

counts per class -> pcu -> flow ratios -> Webster cycle (bounded, minimum greens)
-> splits -> controller resolution -> capacity, degree of saturation, HCM delay,
LOS, MKJI queues and stops -> validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from control import _kernels
from control._arrays import BoolArray, FloatArray, as_bool, as_float, non_negative, rowsum
from control.constraints import REASON_CYCLE_BOUNDS, validate_plan
from control.delay import LOS_THRESHOLDS_HCM_S, QUEUE_AREA_M2_PER_PCU, _delay_queue_terms, _los
from control.pcu import PCE_OPPOSED, PCE_PROTECTED, VEHICLE_CLASSES, passenger_car_flow
from control.webster import (
    FLAG_MIN_GREEN_INFEASIBLE,
    FLAG_NO_DEMAND,
    _cycle,
    _splits,
)


@dataclass(frozen=True)
class SignalPlan:
    """Timing plans and their performance, intersections on axis 0, phases last.

    Attributes carry their unit in the name; per-phase arrays are 0 (timings) or
    NaN (performance) on padded phases.
    """

    cycle_s: FloatArray  #: (n,) cycle [s]
    green_s: FloatArray  #: (n, p) green [s]
    intergreen_s: FloatArray  #: (n, p) amber + all-red [s]
    phase_mask: BoolArray  #: (n, p)
    flow_pcu_h: FloatArray  #: (n, p) critical flow [pcu/h]
    flow_ratio: FloatArray  #: (n, p) y = q/s [-]
    capacity_pcu_h: FloatArray  #: (n, p) [pcu/h]
    degree_of_saturation: FloatArray  #: (n, p) X = q/c [-]
    delay_s: FloatArray  #: (n, p) HCM control delay [s/pcu]
    los: npt.NDArray[np.int8]  #: (n, p) LOS code 0..5 = A..F, -1 not computable
    queue_pcu: FloatArray  #: (n, p) average back of queue [pcu]
    queue_m: FloatArray  #: (n, p) queue length [m] (NaN without entry widths)
    stops_per_pcu: FloatArray  #: (n, p) [stops/pcu]
    intersection_delay_s: FloatArray  #: (n,) flow-weighted delay [s/pcu]
    intersection_los: npt.NDArray[np.int8]  #: (n,) LOS of the intersection delay
    flags: npt.NDArray[np.uint8]  #: (n,) FLAG_* bits of control.webster
    valid: BoolArray  #: (n,) the plan passes control.constraints.validate_plan
    reasons: npt.NDArray[np.uint8]  #: (n,) REASON_* bits when not valid

    @property
    def n_intersections(self) -> int:
        return int(self.cycle_s.shape[0])


def _longest_slack(
    green: FloatArray, gmin: FloatArray, m: npt.NDArray[np.bool_]
) -> npt.NDArray[np.intp]:
    """Index of the existing phase with the most green above its minimum, per row."""
    return np.argmax(np.where(m, green - gmin, -np.inf), axis=-1)


def plan_signals(
    flow_veh_h: npt.ArrayLike,
    saturation_pcu_h: npt.ArrayLike,
    intergreen_s: npt.ArrayLike,
    phase_mask: npt.ArrayLike = True,
    min_green_s: npt.ArrayLike = 5.0,
    opposed: npt.ArrayLike = False,
    pce_protected: npt.ArrayLike = PCE_PROTECTED,
    pce_opposed: npt.ArrayLike = PCE_OPPOSED,
    min_cycle_s: npt.ArrayLike = 40.0,
    max_cycle_s: npt.ArrayLike = 180.0,
    entry_width_m: npt.ArrayLike | None = None,
    resolution_s: float | None = 1.0,
    analysis_period_h: float = 0.25,
    k: float = 0.5,
    los_thresholds_s: tuple[float, ...] = LOS_THRESHOLDS_HCM_S,
    *,
    compiled: bool = True,
) -> SignalPlan:
    r"""Plan every intersection: Webster cycle and splits with constraints, then performance.

    Parameters
    ----------
    flow_veh_h : (n_intersections, n_phases, 4) critical-movement flow of each
        phase by class (mc, lv, hv, um) [veh/h]
    saturation_pcu_h : (n_intersections, n_phases) saturation flow of the
        critical movement [pcu/h of green] (see :func:`control.pcu.saturation_flow`)
    intergreen_s : (n_intersections, n_phases) amber + all-red after each phase [s]
    phase_mask : (n_intersections, n_phases) True where the phase exists
    min_green_s : (n_intersections, n_phases) minimum green, already the larger of
        controller minimum and pedestrian green [s]
    opposed : (n_intersections, n_phases) True on opposed approaches (pcu choice)
    pce_protected, pce_opposed : passenger-car equivalents, (4,) or (n, 4)
    min_cycle_s, max_cycle_s : cycle bounds [s], scalar or (n_intersections,)
    entry_width_m : (n_intersections, n_phases) entry width for queue length [m];
        None leaves ``queue_m`` NaN
    resolution_s : controller time step [s]; None keeps unrounded greens
    analysis_period_h, k : HCM incremental delay parameters (T [h], k [-])
    los_thresholds_s : LOS bounds, HCM (default) or ``LOS_THRESHOLDS_ID_S``
    compiled : run the compiled kernel :func:`control._kernels.plan_rows` (one
        pass per intersection) rather than the NumPy path. Both give the same
        plans, bit for bit: the same equations in the same order. The NumPy
        path also runs when numba is missing, and raises the ``ValueError``
        for invalid input.

    Returns
    -------
    SignalPlan

    Notes
    -----
    1. :math:`Q = \sum_k e_k q_k` (Indonesian pcu), :math:`y = Q/S`.
    2. :math:`C = \operatorname{clip}((1.5L + 5)/(1 - Y), C_{min}, C_{max})`,
       :math:`L = \sum I_i`; :math:`C = C_{max}` when :math:`Y \ge 1` (flagged).
    3. :math:`C \leftarrow \max(C, L + \sum g^{min})` so every minimum green
       fits; flagged FLAG_MIN_GREEN_INFEASIBLE (and refused by the validator)
       when that exceeds :math:`C_{max}`.
    4. Greens proportional to y above the minimums (equal degree of saturation),
       rounded to the controller resolution, the cycle rebuilt as
       :math:`\sum g + L` and brought back within :math:`[C_{min}, C_{max}]`
       through the greens with the most slack above their minimum if rounding
       pushed it out (never below a minimum).
    5. :math:`c = S g/C`, :math:`X = Q/c`, HCM d1 + d2, LOS; MKJI queue and stops.
       The intersection delay is the flow-weighted mean over phases.

    References
    ----------
    Webster (1958); TRB (2000) Highway Capacity Manual ch. 16; Bina Marga (1997)
    MKJI ch. 2 -- see the functions called for the details.
    """
    args = (
        flow_veh_h, saturation_pcu_h, intergreen_s, phase_mask, min_green_s, opposed,
        pce_protected, pce_opposed, min_cycle_s, max_cycle_s, entry_width_m, resolution_s,
        analysis_period_h, k, los_thresholds_s,
    )
    if compiled and _kernels.HAVE_NUMBA:
        plan = _plan_compiled(*args)
        if plan is not None:
            return plan
    return _plan_numpy(*args)


def _c_array(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """C-contiguous and writeable: the one array type the kernel is compiled for."""
    a = np.ascontiguousarray(a)
    return a if a.flags.writeable else a.copy()


def _plan_compiled(
    flow_veh_h: npt.ArrayLike,
    saturation_pcu_h: npt.ArrayLike,
    intergreen_s: npt.ArrayLike,
    phase_mask: npt.ArrayLike,
    min_green_s: npt.ArrayLike,
    opposed: npt.ArrayLike,
    pce_protected: npt.ArrayLike,
    pce_opposed: npt.ArrayLike,
    min_cycle_s: npt.ArrayLike,
    max_cycle_s: npt.ArrayLike,
    entry_width_m: npt.ArrayLike | None,
    resolution_s: float | None,
    analysis_period_h: float,
    k: float,
    los_thresholds_s: tuple[float, ...],
) -> SignalPlan | None:
    """:func:`plan_signals` by the compiled kernel; None for any invalid argument.

    The arguments are only converted and shape-checked here; on anything
    unusual (a shape, a value the kernel reports as ``ERR_*``, a bad parameter)
    it returns None and the caller runs the NumPy path, which raises the
    documented error.
    """
    try:
        counts = as_float("flow_veh_h", flow_veh_h)
        if counts.ndim == 2:
            counts = counts[np.newaxis]
        if counts.ndim != 3 or counts.shape[-1] != len(VEHICLE_CLASSES) or not counts.shape[1]:
            return None
        n = counts.shape[0]
        shape = counts.shape[:2]
        pce = []
        for name, value in (("pce_protected", pce_protected), ("pce_opposed", pce_opposed)):
            e = as_float(name, value)
            e = e[np.newaxis, :] if e.ndim == 1 else e
            if e.ndim != 2 or e.shape[-1] != len(VEHICLE_CLASSES) or e.shape[0] not in (1, n):
                return None
            if np.any(e < 0):
                return None
            pce.append(_c_array(e))
        opp = as_bool("opposed", opposed, shape)
        m = as_bool("phase_mask", phase_mask, shape)
        s = as_float("saturation_pcu_h", saturation_pcu_h, shape)
        ig = as_float("intergreen_s", intergreen_s, shape)
        gmin = as_float("min_green_s", min_green_s, shape)
        cmin = as_float("min_cycle_s", min_cycle_s, (n,))
        cmax = as_float("max_cycle_s", max_cycle_s, (n,))
        width = None if entry_width_m is None else as_float("entry_width_m", entry_width_m, shape)
        edges = np.asarray(los_thresholds_s, dtype=np.float64)
    except ValueError:
        return None
    if (
        np.any(cmin > cmax)
        or (resolution_s is not None and not resolution_s > 0)
        or not (analysis_period_h > 0 and 0 < k <= 1)
        or edges.shape != (5,)
        or np.any(np.diff(edges) <= 0)
    ):
        return None
    n_rows, n_phases = shape
    out = _kernels.allocate(n_rows, n_phases)
    args = (
        _c_array(counts), _c_array(opp), pce[0], pce[1], _c_array(s), _c_array(ig),
        _c_array(gmin), _c_array(m), _c_array(cmin), _c_array(cmax),
        _c_array(width) if width is not None else np.zeros((1, 1)), width is not None,
        float(resolution_s) if resolution_s is not None else 0.0,
        float(analysis_period_h), float(k), _c_array(edges),
    )
    _kernels.plan_rows(*args, out, 0, n_rows)
    if out[-1].any():  # ERR_* bits: the NumPy path raises the documented error
        return None
    fields = dict(zip((name for name, _, _ in _kernels.OUTPUTS), out, strict=True))
    del fields["errors"]
    return SignalPlan(phase_mask=np.asarray(m), **fields)


def _plan_numpy(
    flow_veh_h: npt.ArrayLike,
    saturation_pcu_h: npt.ArrayLike,
    intergreen_s: npt.ArrayLike,
    phase_mask: npt.ArrayLike,
    min_green_s: npt.ArrayLike,
    opposed: npt.ArrayLike,
    pce_protected: npt.ArrayLike,
    pce_opposed: npt.ArrayLike,
    min_cycle_s: npt.ArrayLike,
    max_cycle_s: npt.ArrayLike,
    entry_width_m: npt.ArrayLike | None,
    resolution_s: float | None,
    analysis_period_h: float,
    k: float,
    los_thresholds_s: tuple[float, ...],
) -> SignalPlan:
    """:func:`plan_signals` as NumPy array operations over the whole city."""
    q = passenger_car_flow(flow_veh_h, opposed, pce_protected, pce_opposed)
    shape = q.shape
    n = shape[0]
    if not shape[1]:
        raise ValueError(
            f"flow_veh_h has shape {shape + (4,)}, expected (n_intersections, n_phases, 4) "
            "with at least one phase"
        )
    # Phase-major memory (Fortran order) keeps every (n, 1) x (n, p) operation and
    # every sum over phases on contiguous rows of n values (several times faster than
    # C order with 8 phases). Shapes and axes stay (n_intersections, n_phases).
    q = np.asfortranarray(q)
    m = np.asfortranarray(as_bool("phase_mask", phase_mask, shape))
    mf = m.astype(np.float64)
    s = np.asfortranarray(as_float("saturation_pcu_h", saturation_pcu_h, shape))
    ig = np.asfortranarray(as_float("intergreen_s", intergreen_s, shape)) * mf
    gmin = np.asfortranarray(as_float("min_green_s", min_green_s, shape)) * mf
    cmin = as_float("min_cycle_s", min_cycle_s, (n,))
    cmax = as_float("max_cycle_s", max_cycle_s, (n,))
    non_negative("intergreen_s", ig)
    non_negative("min_green_s", gmin)
    if np.any(cmin > cmax):
        raise ValueError("min_cycle_s must be <= max_cycle_s")
    nan_pad = np.where(m, 0.0, np.nan)  # added to per-phase results: NaN on padding

    if np.any(m & ~(s > 0)):
        raise ValueError("saturation_pcu_h must be > 0 on every existing phase")
    if not m.all():
        s = np.where(m, s, 1.0)  # padding: any positive value
        q = np.where(m, q, 0.0)  # padding: no flow (whatever counts it was given)
    y = q / s
    y *= mf
    lost = rowsum(ig)
    big_y = rowsum(y)
    cycle, flags = _cycle(big_y, lost, cmin, cmax)
    need = lost + rowsum(gmin)
    flags |= (need > cmax).astype(np.uint8) * np.uint8(FLAG_MIN_GREEN_INFEASIBLE)
    flags |= (big_y == 0).astype(np.uint8) * np.uint8(FLAG_NO_DEMAND)
    cycle = np.maximum(cycle, need)
    green = _splits(y, cycle - lost, gmin, mf)
    if resolution_s is not None:
        r = resolution_s
        if not r > 0:
            raise ValueError("resolution_s must be > 0")
        if r == 1.0:
            green = np.maximum(np.round(green), np.ceil(gmin - 1e-9))
        else:
            green = np.maximum(np.round(green / r) * r, np.ceil(gmin / r - 1e-9) * r)
        green *= mf
        cycle = rowsum(green) + lost
        # under min_cycle_s after rounding: add the shortfall to the longest green
        short = np.ceil(np.maximum(cmin - cycle, 0.0) / r - 1e-9) * r
        if short.any():
            rows = np.nonzero(short > 0)[0]
            longest = _longest_slack(green[rows], gmin[rows], m[rows])
            green[rows, longest] += short[rows]
            cycle[rows] += short[rows]
        # over max_cycle_s: take the excess off the green with the most slack above its
        # minimum, then the next (never below a minimum: when even the minimums do not
        # fit, the validator refuses the plan)
        cap = np.where(need <= cmax, cmax, np.inf)
        excess = np.ceil(np.maximum(cycle - cap, 0.0) / r - 1e-9) * r
        rows = np.nonzero(excess > 0)[0]
        for _ in range(shape[1]):
            if not rows.size:
                break
            longest = _longest_slack(green[rows], gmin[rows], m[rows])
            slack = green[rows, longest] - gmin[rows, longest]
            trim = np.minimum(excess[rows], np.floor(np.maximum(slack, 0.0) / r + 1e-9) * r)
            green[rows, longest] -= trim
            cycle[rows] -= trim
            excess[rows] -= trim
            rows = rows[(excess[rows] > 0) & (trim > 0)]

    cyc = cycle[:, None]
    if not (analysis_period_h > 0 and 0 < k <= 1):
        raise ValueError("analysis_period_h must be > 0 and k in (0, 1]")
    with np.errstate(divide="ignore", invalid="ignore"):
        gc = green / cyc
        cap = s * gc
        cap += nan_pad  # capacity [pcu/h], NaN on padding
        x, d1, d2, nq1, nq2 = _delay_queue_terms(q, cap, gc, cyc, analysis_period_h, k)
        delay = d1 + d2
        nq = nq1 + nq2
        stops = (0.9 * 3600.0) * nq / (q * cyc)
    if np.any(gc >= 1.0):  # a single phase without intergreen: never red
        d1 = np.where(gc >= 1.0, 0.0, d1)
        nq2 = np.where(gc >= 1.0, 0.0, nq2)
        delay, nq = d1 + d2, nq1 + nq2
    zero = (cap == 0) & (q == 0)  # no capacity and no demand: X = 0 (0/0 otherwise)
    if zero.any():
        x = np.where(zero, 0.0, x)
    # stops: 0/0 = NaN where there is no flow (documented), NaN on padding already
    los = _los(delay, los_thresholds_s, x)
    if entry_width_m is None:
        qm = np.full(shape, np.nan)
    else:
        width = as_float("entry_width_m", entry_width_m, shape)
        if not np.all((width > 0) | ~m):
            raise ValueError("entry_width_m must be > 0 on every existing phase")
        with np.errstate(divide="ignore", invalid="ignore"):
            qm = nq * QUEUE_AREA_M2_PER_PCU / width  # MKJI QL = NQ 20 / W (NaN on padding)
    total_q = rowsum(q * mf)
    with np.errstate(divide="ignore", invalid="ignore"):
        dq = delay * q
        dq[np.isnan(dq)] = 0.0  # padding and not-computable phases carry no weight
        d_int = rowsum(dq) / total_q
    d_int = np.where(total_q > 0, d_int, np.nan)
    los_int = _los(d_int, los_thresholds_s, None)
    valid, reasons = validate_plan(
        cycle, green, ig, gmin, 0.0, cmin, np.maximum(cmax, need), m
    )
    # a plan that needs more than max_cycle_s to fit its minimum greens is refused
    bad = need > cmax + 1e-6
    reasons = reasons | (bad * np.uint8(REASON_CYCLE_BOUNDS)).astype(np.uint8)
    valid = valid & ~bad
    return SignalPlan(
        cycle_s=cycle,
        green_s=green,
        intergreen_s=ig,
        phase_mask=np.asarray(m),
        flow_pcu_h=q,
        flow_ratio=y,
        capacity_pcu_h=cap,
        degree_of_saturation=x,
        delay_s=delay,
        los=los,
        queue_pcu=nq,
        queue_m=qm,
        stops_per_pcu=stops,
        intersection_delay_s=d_int,
        intersection_los=los_int,
        flags=flags.astype(np.uint8),
        valid=valid,
        reasons=reasons.astype(np.uint8),
    )
