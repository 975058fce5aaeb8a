"""The whole timing pipeline for every intersection at once.

counts per class -> pcu -> flow ratios -> Webster cycle (bounded, minimum greens)
-> splits -> controller resolution -> capacity, degree of saturation, HCM delay,
LOS, MKJI queues and stops -> validation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from control._arrays import BoolArray, FloatArray, as_bool, as_float
from control.constraints import REASON_CYCLE_BOUNDS, round_plan, validate_plan
from control.delay import (
    LOS_THRESHOLDS_HCM_S,
    back_of_queue,
    capacity,
    degree_of_saturation,
    hcm_control_delay,
    level_of_service,
    queue_length_m,
    stop_rate,
)
from control.pcu import PCE_OPPOSED, PCE_PROTECTED, passenger_car_flow
from control.webster import (
    FLAG_MIN_GREEN_INFEASIBLE,
    FLAG_NO_DEMAND,
    flow_ratio,
    green_splits,
    webster_cycle_length,
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
       through the longest green if rounding pushed it out.
    5. :math:`c = S g/C`, :math:`X = Q/c`, HCM d1 + d2, LOS; MKJI queue and stops.
       The intersection delay is the flow-weighted mean over phases.

    References
    ----------
    Webster (1958); TRB (2000) Highway Capacity Manual ch. 16; Bina Marga (1997)
    MKJI ch. 2 -- see the functions called for the details.
    """
    q = passenger_car_flow(flow_veh_h, opposed, pce_protected, pce_opposed)
    shape = q.shape
    n = shape[0]
    s = as_float("saturation_pcu_h", saturation_pcu_h, shape)
    ig = as_float("intergreen_s", intergreen_s, shape)
    m = as_bool("phase_mask", phase_mask, shape)
    gmin = as_float("min_green_s", min_green_s, shape)
    cmin = as_float("min_cycle_s", min_cycle_s, (n,))
    cmax = as_float("max_cycle_s", max_cycle_s, (n,))
    ig = np.where(m, ig, 0.0)
    gmin = np.where(m, gmin, 0.0)

    y = flow_ratio(q, s, m)
    lost = ig.sum(axis=-1)
    cycle, flags = webster_cycle_length(y, lost, cmin, cmax)
    need = lost + gmin.sum(axis=-1)
    flags = flags | np.where(need > cmax, FLAG_MIN_GREEN_INFEASIBLE, 0).astype(np.uint8)
    flags = flags | np.where(y.sum(axis=-1) == 0, FLAG_NO_DEMAND, 0).astype(np.uint8)
    cycle = np.maximum(cycle, need)
    green = green_splits(y, cycle, ig, gmin, m)
    if resolution_s is not None:
        cycle, green = round_plan(green, ig, resolution_s, gmin, m)
        # rounding may push the cycle over its bound: take the excess off the longest green
        # (never below a minimum green; when the minimums alone exceed max_cycle_s the
        # plan is refused anyway and left as it is)
        r = resolution_s
        cap = np.where(need <= cmax, cmax, np.inf)
        excess = np.ceil(np.maximum(cycle - cap, 0.0) / r - 1e-9) * r
        slack = np.where(m, green - gmin, -np.inf)
        longest = np.argmax(slack, axis=-1)
        rows = np.arange(n)
        room = np.floor(np.maximum(slack[rows, longest], 0.0) / r + 1e-9) * r
        trim = np.minimum(excess, room)
        green[rows, longest] -= trim
        cycle = cycle - trim
        # ... or under min_cycle_s: add the shortfall to the longest green
        short = np.ceil(np.maximum(cmin - cycle, 0.0) / r - 1e-9) * r
        green[rows, longest] += short
        cycle = cycle + short

    cyc = cycle[:, None]
    cap = np.where(m, capacity(s, green, cyc), np.nan)
    x = np.where(m, degree_of_saturation(q, cap), np.nan)
    delay, _, _ = hcm_control_delay(q, cap, green, cyc, analysis_period_h, k)
    delay = np.where(m, delay, np.nan)
    los = np.where(m, level_of_service(delay, los_thresholds_s, x), np.int8(-1)).astype(np.int8)
    nq, _, _ = back_of_queue(q, cap, green, cyc)
    nq = np.where(m, nq, np.nan)
    stops = np.where(m, stop_rate(nq, q, cyc), np.nan)
    if entry_width_m is None:
        qm = np.full(shape, np.nan)
    else:
        width = as_float("entry_width_m", entry_width_m, shape)
        qm = np.where(m, queue_length_m(nq, width), np.nan)
    qm_ = np.where(m, q, 0.0)
    total_q = qm_.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_int = np.where(m, delay * qm_, 0.0).sum(axis=-1) / total_q
    d_int = np.where(total_q > 0, d_int, np.nan)
    los_int = level_of_service(d_int, los_thresholds_s)
    valid, reasons = validate_plan(
        cycle, green, ig, gmin, 0.0, cmin, np.maximum(cmax, need), m
    )
    # a plan that needs more than max_cycle_s to fit its minimum greens is refused
    bad = need > cmax + 1e-6
    reasons = reasons | np.where(bad, np.uint8(REASON_CYCLE_BOUNDS), np.uint8(0))
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
