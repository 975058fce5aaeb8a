"""Deployment constraints: plan-to-plan change limits, controller resolution, validation.

A plan is ``cycle_s`` (n_intersections,) with ``green_s`` and ``intergreen_s``
(n_intersections, n_phases) and a ``phase_mask``; it is consistent when
``sum(green_s) + sum(intergreen_s) == cycle_s``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from control._arrays import BoolArray, FloatArray, as_bool, as_float, leading_2d, rowsum

#: Reasons a plan is refused, one bit each (uint8 per intersection).
REASON_MIN_GREEN = 1  #: a green is shorter than the phase's minimum (incl. pedestrians)
REASON_CYCLE_SUM = 2  #: greens + intergreens do not add up to the cycle
REASON_CYCLE_BOUNDS = 4  #: the cycle is outside [min_cycle_s, max_cycle_s]
REASON_NOT_FINITE = 8  #: a value is NaN or infinite
REASON_NEGATIVE = 16  #: a green or intergreen is negative
REASON_INTERGREEN = 32  #: an intergreen is shorter than the required clearance

REASON_TEXT: dict[int, str] = {
    REASON_MIN_GREEN: "a green is below its minimum (controller or pedestrian)",
    REASON_CYCLE_SUM: "greens plus intergreens do not add up to the cycle",
    REASON_CYCLE_BOUNDS: "the cycle is outside the allowed range",
    REASON_NOT_FINITE: "a timing value is NaN or infinite",
    REASON_NEGATIVE: "a green or intergreen is negative",
    REASON_INTERGREEN: "an intergreen is below the required clearance (amber + all-red)",
}


def describe_reasons(code: int) -> list[str]:
    """The human-readable reasons behind a bit-field from :func:`validate_plan`."""
    return [text for bit, text in REASON_TEXT.items() if code & bit]


def limit_plan_change(
    cycle_s: npt.ArrayLike,
    green_s: npt.ArrayLike,
    intergreen_s: npt.ArrayLike,
    previous_cycle_s: npt.ArrayLike,
    previous_green_s: npt.ArrayLike,
    max_cycle_step_s: float = 10.0,
    max_split_step_pct: float = 10.0,
    phase_mask: npt.ArrayLike = True,
) -> tuple[FloatArray, FloatArray]:
    r"""Move from the previous plan towards the new one by at most the allowed steps.

    Parameters
    ----------
    cycle_s : (n_intersections,) target cycle [s]
    green_s : (n_intersections, n_phases) target greens [s]
    intergreen_s : (n_intersections, n_phases) intergreens [s]
    previous_cycle_s : (n_intersections,) cycle in force [s]; NaN = no previous plan
    previous_green_s : (n_intersections, n_phases) greens in force [s]
    max_cycle_step_s : largest change of cycle per plan [s]
    max_split_step_pct : largest change of a phase's share of the available
        green per plan [percentage points]
    phase_mask : (n_intersections, n_phases) True where the phase exists

    Returns
    -------
    cycle_s, green_s : the plan to deploy. The greens still sum to the cycle
        minus the intergreens; minimum greens must be re-checked with
        :func:`validate_plan` (the step limit may hold a green below a new minimum
        only if the previous plan already was).

    Notes
    -----
    .. math::
        C' = C_{prev} + \operatorname{clip}(C - C_{prev}, -\Delta C, \Delta C)

        \sigma_i' = \sigma_i^{prev} + \operatorname{clip}(\sigma_i - \sigma_i^{prev},
        -\Delta\sigma, \Delta\sigma),\quad \sigma_i = g_i / \textstyle\sum_j g_j

    then the shares are renormalised to 1 and scaled to C' - L. Renormalising can
    exceed a step by a fraction of it when several phases move the same way.

    References
    ----------
    Lowrie, P. R. (1982). The Sydney Co-ordinated Adaptive Traffic System:
    principles, methodology, algorithms. IEE Int. Conf. on Road Traffic
    Signalling, London (bounded cycle and split changes from plan to plan).
    """
    g = leading_2d("green_s", green_s)
    shape = g.shape
    n = shape[0]
    cyc = as_float("cycle_s", cycle_s, (n,))
    ig = as_float("intergreen_s", intergreen_s, shape)
    pc = as_float("previous_cycle_s", previous_cycle_s, (n,))
    pg = as_float("previous_green_s", previous_green_s, shape)
    m = as_bool("phase_mask", phase_mask, shape)
    if max_cycle_step_s < 0 or max_split_step_pct < 0:
        raise ValueError("max_cycle_step_s and max_split_step_pct must be >= 0")
    have_prev = np.isfinite(pc) & np.all(np.isfinite(pg) | ~m, axis=-1)
    new_c = np.where(have_prev, pc + np.clip(cyc - pc, -max_cycle_step_s, max_cycle_step_s), cyc)
    lost = rowsum(np.where(m, ig, 0.0))
    g = np.where(m, g, 0.0)
    pg = np.where(m, np.nan_to_num(pg), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = g / rowsum(g)[:, None]
        pshare = pg / rowsum(pg)[:, None]
    step = max_split_step_pct / 100.0
    lim = pshare + np.clip(share - pshare, -step, step)
    lim = np.where(m, np.clip(lim, 0.0, None), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lim = lim / rowsum(lim)[:, None]
    ok = have_prev & np.all(np.isfinite(lim), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = g * np.where(cyc > lost, (new_c - lost) / (cyc - lost), 1.0)[:, None]
    new_g = np.where(ok[:, None], lim * (new_c - lost)[:, None], scaled)
    new_g = np.where(m, new_g, 0.0)
    return new_c, new_g


def round_plan(
    green_s: npt.ArrayLike,
    intergreen_s: npt.ArrayLike,
    resolution_s: float = 1.0,
    min_green_s: npt.ArrayLike = 0.0,
    phase_mask: npt.ArrayLike = True,
) -> tuple[FloatArray, FloatArray]:
    r"""Round greens to the controller's resolution and rebuild a consistent cycle.

    Parameters
    ----------
    green_s : (n_intersections, n_phases) greens [s]
    intergreen_s : (n_intersections, n_phases) intergreens [s] (kept as they are)
    resolution_s : controller time step [s], > 0
    min_green_s : (n_intersections, n_phases) minimum greens [s]; a green is never
        rounded below its minimum (rounded up to the next step instead)
    phase_mask : (n_intersections, n_phases) True where the phase exists

    Returns
    -------
    cycle_s, green_s : the rounded plan; ``cycle_s = sum(green_s) + sum(intergreen_s)``.

    Notes
    -----
    .. math:: g_i' = \max\big(r\,\mathrm{round}(g_i / r),\ r\,\lceil g_i^{min} / r \rceil\big)

    The cycle moves by at most n_phases * resolution_s / 2 from the unrounded one.
    """
    g = leading_2d("green_s", green_s)
    shape = g.shape
    ig = as_float("intergreen_s", intergreen_s, shape)
    gmin = as_float("min_green_s", min_green_s, shape)
    m = as_bool("phase_mask", phase_mask, shape)
    if not resolution_s > 0:
        raise ValueError("resolution_s must be > 0")
    r = resolution_s
    out = np.maximum(np.round(g / r) * r, np.ceil(gmin / r - 1e-9) * r)
    out = np.where(m, out, 0.0)
    cycle = rowsum(out) + rowsum(np.where(m, ig, 0.0))
    return cycle, out


def validate_plan(
    cycle_s: npt.ArrayLike,
    green_s: npt.ArrayLike,
    intergreen_s: npt.ArrayLike,
    min_green_s: npt.ArrayLike = 0.0,
    min_intergreen_s: npt.ArrayLike = 0.0,
    min_cycle_s: npt.ArrayLike = 0.0,
    max_cycle_s: npt.ArrayLike = np.inf,
    phase_mask: npt.ArrayLike = True,
    tolerance_s: float = 1e-6,
) -> tuple[BoolArray, npt.NDArray[np.uint8]]:
    r"""Refuse plans that violate minimum greens, clearances or cycle bounds.

    Parameters
    ----------
    cycle_s : (n_intersections,) cycle [s]
    green_s : (n_intersections, n_phases) greens [s]
    intergreen_s : (n_intersections, n_phases) intergreens [s]
    min_green_s : (n_intersections, n_phases) minimum green per phase, the larger
        of controller minimum and pedestrian green [s]
    min_intergreen_s : (n_intersections, n_phases) required clearance
        (amber + all-red) per phase [s]
    min_cycle_s, max_cycle_s : cycle bounds [s], scalar or (n_intersections,)
    phase_mask : (n_intersections, n_phases) True where the phase exists
    tolerance_s : slack on the comparisons [s]

    Returns
    -------
    valid : (n_intersections,) bool
    reasons : (n_intersections,) uint8 bit field of REASON_* (0 when valid);
        :func:`describe_reasons` turns it into text.

    Notes
    -----
    Valid when, on every existing phase, g_i >= g_i^min, I_i >= I_i^min,
    g_i, I_i >= 0, all values finite, and
    :math:`|\sum g_i + \sum I_i - C| \le` tolerance, C within bounds.
    """
    g = leading_2d("green_s", green_s)
    shape = g.shape
    n = shape[0]
    cyc = as_float("cycle_s", cycle_s, (n,))
    ig = as_float("intergreen_s", intergreen_s, shape)
    gmin = as_float("min_green_s", min_green_s, shape)
    igmin = as_float("min_intergreen_s", min_intergreen_s, shape)
    cmin = as_float("min_cycle_s", min_cycle_s, (n,))
    cmax = as_float("max_cycle_s", max_cycle_s, (n,))
    m = as_bool("phase_mask", phase_mask, shape)
    tol = tolerance_s
    if np.isfinite(g).all() and np.isfinite(ig).all():  # the common case: no where()
        gm = g * m
        igm = ig * m
    else:
        gm = np.where(m, g, 0.0)
        igm = np.where(m, ig, 0.0)
    with np.errstate(invalid="ignore"):
        # per-phase reasons, OR-ed over the phases of each intersection in one pass
        per_phase = (
            ((gm < -tol) | (igm < -tol)) * np.uint8(REASON_NEGATIVE)
            | (gm < gmin * m - tol) * np.uint8(REASON_MIN_GREEN)
            | (igm < igmin * m - tol) * np.uint8(REASON_INTERGREEN)
        )
        reasons = np.bitwise_or.reduce(per_phase.astype(np.uint8), axis=-1)
        total = rowsum(gm) + rowsum(igm)
        finite = np.isfinite(cyc) & np.isfinite(total)
        bad_sum = finite & (np.abs(total - cyc) > tol)
        bounds = finite & ((cyc < cmin - tol) | (cyc > cmax + tol))
    reasons |= (~finite * np.uint8(REASON_NOT_FINITE)).astype(np.uint8)
    reasons |= (bad_sum * np.uint8(REASON_CYCLE_SUM)).astype(np.uint8)
    reasons |= (bounds * np.uint8(REASON_CYCLE_BOUNDS)).astype(np.uint8)
    reasons = reasons.astype(np.uint8)
    return reasons == 0, reasons
