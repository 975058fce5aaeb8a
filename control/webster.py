"""Fixed-time signal settings: flow ratios, Webster's cycle and green splits.

Arrays have intersections on axis 0 and phases (padded to a common count) on
the last axis; ``phase_mask`` is True for the phases that exist. Padded phases
get a flow ratio of 0, a green of 0 and an intergreen of 0.

Convention (MKJI 1997): the lost time of an intersection is the sum of its
intergreens (amber + all-red), ``lost_time_s = sum(intergreen_s)``, and a
plan satisfies ``sum(green_s) + lost_time_s == cycle_s``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from control._arrays import FloatArray, as_bool, as_float, leading_2d, non_negative, rowsum

#: Flags on a plan, one bit each (uint8 per intersection).
FLAG_OVERSATURATED = 1  #: Y >= 1: cycle set to max_cycle_s, splits equalise X
FLAG_CYCLE_CLIPPED = 2  #: Webster's cycle fell outside [min_cycle_s, max_cycle_s]
FLAG_MIN_GREEN_INFEASIBLE = 4  #: minimum greens + lost time exceed max_cycle_s
FLAG_NO_DEMAND = 8  #: no flow on any phase: min cycle, equal splits

#: Walking speed for pedestrian clearance [m/s] (MUTCD 2009 section 4E.06 uses
#: 3.5 ft/s = 1.07 m/s; 1.2 m/s is the common design value in Indonesian practice
#: and Webster-era UK practice). Pass your own where older pedestrians cross.
PEDESTRIAN_SPEED_M_S = 1.2


def flow_ratio(
    flow_pcu_h: npt.ArrayLike,
    saturation_pcu_h: npt.ArrayLike,
    phase_mask: npt.ArrayLike = True,
) -> FloatArray:
    r"""Critical flow ratio y = q/s of every phase.

    Parameters
    ----------
    flow_pcu_h : (n_intersections, n_phases) critical flow of the phase [pcu/h]
    saturation_pcu_h : (n_intersections, n_phases) saturation flow of that
        movement [pcu/h of green]; must be > 0 where the phase exists.
    phase_mask : (n_intersections, n_phases) True where the phase exists [-]

    Returns
    -------
    y : (n_intersections, n_phases) [-]; 0 on padded phases.

    Notes
    -----
    .. math:: y_i = q_i / s_i

    References
    ----------
    Webster, F. V. (1958). Traffic signal settings. Road Research Technical
    Paper No. 39, HMSO, London.
    """
    q = leading_2d("flow_pcu_h", flow_pcu_h)
    s = as_float("saturation_pcu_h", saturation_pcu_h, q.shape)
    m = as_bool("phase_mask", phase_mask, q.shape)
    non_negative("flow_pcu_h", q)
    if np.any(m & ~(s > 0)):
        raise ValueError("saturation_pcu_h must be > 0 on every existing phase")
    with np.errstate(divide="ignore", invalid="ignore"):
        if m.all():
            return q / s
        return np.where(m, q / np.where(m, s, 1.0), 0.0)


def webster_cycle_length(
    flow_ratio: npt.ArrayLike,
    lost_time_s: npt.ArrayLike,
    min_cycle_s: npt.ArrayLike = 40.0,
    max_cycle_s: npt.ArrayLike = 180.0,
) -> tuple[FloatArray, npt.NDArray[np.uint8]]:
    r"""Optimal fixed-time cycle length by Webster's method.

    Parameters
    ----------
    flow_ratio : (n_intersections, n_phases) critical flow ratio q/s per phase [-]
    lost_time_s : (n_intersections,) total lost time per cycle [s]
    min_cycle_s, max_cycle_s : bounds on the cycle [s], scalar or (n_intersections,)

    Returns
    -------
    cycle_s : (n_intersections,) [s]; ``max_cycle_s`` where the intersection is
        oversaturated (Y >= 1), flagged with FLAG_OVERSATURATED.
    flags : (n_intersections,) uint8 bit flags (FLAG_OVERSATURATED,
        FLAG_CYCLE_CLIPPED).

    Notes
    -----
    .. math:: C_0 = \frac{1.5\,L + 5}{1 - Y},\qquad Y = \sum_i y_i

    Webster shows delay stays within a few per cent of the minimum for cycles
    between 0.75 C0 and 1.5 C0, which is why clipping to practical bounds is safe.

    References
    ----------
    Webster, F. V. (1958). Traffic signal settings. Road Research Technical
    Paper No. 39, HMSO, London.
    """
    y = leading_2d("flow_ratio", flow_ratio)
    n = y.shape[0]
    lost = as_float("lost_time_s", lost_time_s, (n,))
    cmin = as_float("min_cycle_s", min_cycle_s, (n,))
    cmax = as_float("max_cycle_s", max_cycle_s, (n,))
    non_negative("flow_ratio", y)
    non_negative("lost_time_s", lost)
    if np.any(cmin > cmax):
        raise ValueError("min_cycle_s must be <= max_cycle_s")
    return _cycle(rowsum(y), lost, cmin, cmax)


def _cycle(
    big_y: FloatArray, lost: FloatArray, cmin: FloatArray, cmax: FloatArray
) -> tuple[FloatArray, npt.NDArray[np.uint8]]:
    """Webster's cycle from Y = sum(y) without argument checks."""
    over = big_y >= 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        c0 = (1.5 * lost + 5.0) / (1.0 - big_y)
    c0 = np.where(over, cmax, c0)
    clipped = ~over & ((c0 < cmin) | (c0 > cmax))
    cycle = np.clip(c0, cmin, cmax)
    flags = over * np.uint8(FLAG_OVERSATURATED) | clipped * np.uint8(FLAG_CYCLE_CLIPPED)
    return cycle, flags.astype(np.uint8)


def pedestrian_green_s(
    crossing_m: npt.ArrayLike,
    walk_s: npt.ArrayLike = 7.0,
    speed_m_s: float = PEDESTRIAN_SPEED_M_S,
) -> FloatArray:
    r"""Minimum green that lets pedestrians start and clear the crossing.

    Parameters
    ----------
    crossing_m : crossing length kerb to kerb (or to refuge) [m]; 0 or NaN = no crossing
    walk_s : walk interval [s]
    speed_m_s : walking speed [m/s]

    Returns
    -------
    green_s : [s]; 0 where there is no crossing.

    Notes
    -----
    .. math:: G_{ped} = t_{walk} + L_{cross} / v_{walk}

    References
    ----------
    FHWA (2009). Manual on Uniform Traffic Control Devices, section 4E.06
    (walk interval of at least 7 s, clearance = crossing length / walking speed).
    """
    length = as_float("crossing_m", crossing_m)
    walk = as_float("walk_s", walk_s)
    non_negative("crossing_m", length)
    if speed_m_s <= 0:
        raise ValueError("speed_m_s must be > 0")
    has = np.nan_to_num(length) > 0
    return np.where(has, walk + np.nan_to_num(length) / speed_m_s, 0.0)


def green_splits(
    flow_ratio: npt.ArrayLike,
    cycle_s: npt.ArrayLike,
    intergreen_s: npt.ArrayLike,
    min_green_s: npt.ArrayLike = 0.0,
    phase_mask: npt.ArrayLike = True,
) -> FloatArray:
    r"""Split the available green in proportion to the flow ratios, honouring minimum greens.

    Parameters
    ----------
    flow_ratio : (n_intersections, n_phases) critical flow ratio per phase [-]
    cycle_s : (n_intersections,) cycle length [s]
    intergreen_s : (n_intersections, n_phases) amber + all-red after each phase [s]
    min_green_s : (n_intersections, n_phases) minimum green per phase (the larger
        of the controller minimum and the pedestrian green) [s]
    phase_mask : (n_intersections, n_phases) True where the phase exists [-]

    Returns
    -------
    green_s : (n_intersections, n_phases) [s]; 0 on padded phases. The greens sum
        to ``cycle_s - sum(intergreen_s)`` whenever that is at least the sum of the
        minimum greens (callers raise the cycle first: see
        :func:`control.pipeline.plan_signals`); otherwise phases get their
        minimums and the sum exceeds the available time.

    Notes
    -----
    Webster's split, with phases held at their minimum removed from the share:

    .. math:: g_i = \max\left(g_i^{min},\ \frac{y_i}{\sum_{j \in F} y_j}
              \Big(C - L - \sum_{j \notin F} g_j^{min}\Big)\right),\qquad L = \sum_i I_i

    where F is the set of phases not held at their minimum (found by at most
    n_phases passes). Proportional splits give every phase the same degree of
    saturation X_i = y_i C / g_i = Y C / (C - L); that is the documented
    strategy when Y >= 1 as well. Phases with no demand share the remainder
    equally when no phase has demand.

    References
    ----------
    Webster, F. V. (1958). Traffic signal settings. Road Research Technical
    Paper No. 39, HMSO, London.
    """
    y = leading_2d("flow_ratio", flow_ratio)
    shape = y.shape
    n = shape[0]
    cyc = as_float("cycle_s", cycle_s, (n,))
    ig = as_float("intergreen_s", intergreen_s, shape)
    gmin = as_float("min_green_s", min_green_s, shape)
    m = as_bool("phase_mask", phase_mask, shape)
    non_negative("flow_ratio", y)
    non_negative("intergreen_s", ig)
    non_negative("min_green_s", gmin)
    mf = m.astype(np.float64)
    y = np.where(m, y, 0.0)
    gmin = np.where(m, gmin, 0.0)
    avail = cyc - rowsum(np.where(m, ig, 0.0))
    return _splits(y, avail, gmin, mf)


def _splits(y: FloatArray, avail: FloatArray, gmin: FloatArray, mf: FloatArray) -> FloatArray:
    r"""Green splits without argument checks: y and gmin 0 on padded phases, mf 1/0 mask.

    Solves :math:`\sum_i \max(g_i^{min}, w_i s) = C - L` for the green per unit
    weight s by Newton's method on this piecewise-linear function, starting from
    Webster's proportional split; the phases held at their minimum only grow, so
    it ends in at most n_phases steps (usually 2-3) at the fixed point of the
    passes described in :func:`green_splits`.
    """
    big_y = rowsum(y)
    has = big_y > 0
    # no demand anywhere: equal weights on existing phases
    weight = y / np.where(has, big_y, 1.0)[:, None] + mf * (~has)[:, None]
    w_total = rowsum(weight)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(w_total > 0, avail / w_total, 0.0)
    for _ in range(y.shape[-1] + 1):
        # the phases held at their minimum depend only on the share: when the share
        # stops changing, so do they
        held = weight * share[:, None] < gmin
        rem = avail - rowsum(gmin * held)
        free_w = rowsum(weight * ~held)  # the weights still free, summed as the reference
        with np.errstate(divide="ignore", invalid="ignore"):
            new_share = np.where(free_w > 1e-12, rem / free_w, 0.0)
        done = np.array_equal(new_share, share)
        share = new_share
        if done:
            break
    return np.maximum(gmin, weight * share[:, None]) * mf
