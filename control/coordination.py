"""Corridor coordination: green-wave offsets and the bandwidth they achieve.

A corridor is a chain of signals 0..m-1 sharing one cycle. Arrays have
corridors on axis 0 and signals on the last axis; ``signal_mask`` marks the
signals that exist (corridors are padded to a common length). Offsets are the
start of the coordinated (through) green at each signal relative to signal 0,
in [0, cycle).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from control._arrays import BoolArray, FloatArray, as_bool, as_float, leading_2d


def _cumulative(name: str, link_s: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    """Travel time from signal 0 to each signal, from per-link times (m-1 links)."""
    if link_s.shape[0] == 1 and shape[0] > 1:
        link_s = np.broadcast_to(link_s, (shape[0], link_s.shape[1]))
    if link_s.shape != (shape[0], shape[1] - 1):
        raise ValueError(
            f"{name} has shape {link_s.shape}, expected ({shape[0]}, {shape[1] - 1}) "
            "(one travel time per link between consecutive signals)"
        )
    if np.any(link_s < 0):
        raise ValueError(f"{name} must be >= 0")
    return np.concatenate([np.zeros((shape[0], 1)), np.cumsum(link_s, axis=-1)], axis=-1)


def bandwidth(
    offset_s: npt.ArrayLike,
    green_s: npt.ArrayLike,
    arrival_s: npt.ArrayLike,
    cycle_s: npt.ArrayLike,
    signal_mask: npt.ArrayLike = True,
) -> FloatArray:
    r"""Width of the through band: the longest departure window that meets green everywhere.

    Parameters
    ----------
    offset_s : (n_corridors, n_signals) start of green at each signal [s]
    green_s : (n_corridors, n_signals) coordinated green at each signal [s]
    arrival_s : (n_corridors, n_signals) time a vehicle departing the reference
        at t = 0 reaches each signal [s] (negative for the inbound direction,
        see :func:`green_wave_offsets`)
    cycle_s : (n_corridors,) common cycle [s]
    signal_mask : (n_corridors, n_signals) True where the signal exists

    Returns
    -------
    bandwidth_s : (n_corridors,) [s], in [0, min green].

    Notes
    -----
    A departure at :math:`\tau` passes signal i on green when
    :math:`(\tau + T_i - o_i) \bmod C \in [0, g_i)`. Each signal's green,
    mapped back to departure time, is a periodic window starting at
    :math:`a_i = o_i - T_i`. The feasible set is the intersection of the
    windows, and any maximal interval of it starts at some :math:`a_j`, so

    .. math:: b = \max_j \min_i \big(g_i - ((a_j - a_i) \bmod C)\big)^+

    where a term is 0 when :math:`(a_j - a_i) \bmod C \ge g_i`. Exact, O(m^2).

    References
    ----------
    Little, J. D. C. (1966). The synchronization of traffic signals by mixed-integer
    linear programming. Operations Research 14(4), 568-594 (bandwidth definition).
    """
    o = leading_2d("offset_s", offset_s)
    shape = o.shape
    g = as_float("green_s", green_s, shape)
    t = as_float("arrival_s", arrival_s, shape)
    c = as_float("cycle_s", cycle_s, (shape[0],))[:, None, None]
    m = as_bool("signal_mask", signal_mask, shape)
    if np.any(m & ((g < 0) | (g > c[:, :, 0]))):
        raise ValueError("green_s must be within [0, cycle_s] on every signal")
    a = o - t
    diff = np.mod(a[:, :, None] - a[:, None, :], c)  # [corridor, j (start), i]
    rem = np.where(diff < g[:, None, :], g[:, None, :] - diff, 0.0)
    rem = np.where(m[:, None, :], rem, np.inf)
    band = rem.min(axis=-1)
    band = np.where(m, band, -np.inf).max(axis=-1)
    return np.where(np.isfinite(band), np.maximum(band, 0.0), 0.0)


def green_wave_offsets(
    link_travel_s: npt.ArrayLike,
    green_s: npt.ArrayLike,
    cycle_s: npt.ArrayLike,
    two_way: bool = False,
    inbound_link_travel_s: npt.ArrayLike | None = None,
    signal_mask: npt.ArrayLike = True,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Offsets for a green wave along each corridor, and the bandwidth they give.

    Parameters
    ----------
    link_travel_s : (n_corridors, n_signals - 1) outbound travel time on each link
        between consecutive signals at the progression speed [s]
    green_s : (n_corridors, n_signals) coordinated green at each signal [s]
    cycle_s : (n_corridors,) common cycle [s]
    two_way : also serve the inbound direction
    inbound_link_travel_s : (n_corridors, n_signals - 1) inbound travel times
        [s]; defaults to the outbound ones
    signal_mask : (n_corridors, n_signals) True where the signal exists (a prefix)

    Returns
    -------
    offset_s : (n_corridors, n_signals) start of green relative to signal 0, in [0, C) [s]
    outbound_bandwidth_s, inbound_bandwidth_s : (n_corridors,) [s]

    Notes
    -----
    One-way: :math:`o_i = T_i \bmod C` with :math:`T_i` the cumulative outbound
    travel time -- the ideal offset, the band equals the smallest green.

    Two-way: the outbound ideal is :math:`T_i`, the inbound ideal (green at i
    when the inbound platoon from signal 0's reference arrives) is
    :math:`-T_i^{in}`. Each signal takes the circular midpoint of the two, or
    that midpoint plus C/2 (the classic simultaneous / alternate choice), whichever
    gives the larger min(outbound, inbound) band at that signal against signal 0.
    This is a fast heuristic, not the MAXBAND optimum; the achieved bandwidths
    are computed exactly by :func:`bandwidth` and reported.

    References
    ----------
    Morgan, J. T., & Little, J. D. C. (1964). Synchronizing traffic signals for
    maximal bandwidth. Operations Research 12(6), 896-912.
    """
    g = leading_2d("green_s", green_s)
    shape = g.shape
    c = as_float("cycle_s", cycle_s, (shape[0],))
    m = as_bool("signal_mask", signal_mask, shape)
    link_out = leading_2d("link_travel_s", link_travel_s)
    _cumulative("link_travel_s", link_out, shape)  # shape check before masking
    t_out = _cumulative("link_travel_s", np.where(m[:, 1:], link_out, 0.0), shape)
    if np.any(c <= 0):
        raise ValueError("cycle_s must be > 0")
    cc = c[:, None]
    if np.any(m & ((g < 0) | (g > cc))):
        raise ValueError("green_s must be within [0, cycle_s] on every signal")
    if not two_way:
        off = np.where(m, np.mod(t_out, cc), 0.0)
        b = bandwidth(off, g, t_out, c, m)
        return off, b, np.zeros(shape[0])
    link_in = link_out if inbound_link_travel_s is None else leading_2d(
        "inbound_link_travel_s", inbound_link_travel_s
    )
    _cumulative("inbound_link_travel_s", link_in, shape)
    t_in = _cumulative("inbound_link_travel_s", np.where(m[:, 1:], link_in, 0.0), shape)
    # circular midpoint of T_out and -T_in
    mid = np.mod(0.5 * (t_out - t_in), cc)
    best = mid
    best_score = np.full(shape, -np.inf)
    for cand in (mid, np.mod(mid + 0.5 * cc, cc)):
        # pairwise band of each signal with signal 0 (held at mid[:, 0]), both directions
        cand = np.concatenate([mid[:, :1], cand[:, 1:]], axis=-1)
        pair_out = _pair_band(cand, g, t_out, cc)
        pair_in = _pair_band(cand, g, -t_in, cc)
        score = np.minimum(pair_out, pair_in)
        take = score > best_score
        best = np.where(take, cand, best)
        best_score = np.where(take, score, best_score)
    off = np.where(m, np.mod(best - best[:, :1], cc), 0.0)
    b_out = bandwidth(off, g, t_out, c, m)
    b_in = bandwidth(off, g, -t_in, c, m)
    return off, b_out, b_in


def _pair_band(off: FloatArray, g: FloatArray, t: FloatArray, cc: FloatArray) -> FloatArray:
    """Band between signal 0 and each signal i alone (two-window overlap on the circle)."""
    a = off - t
    d = np.mod(a - a[:, :1], cc)  # start of window i relative to window 0
    g0 = g[:, :1]
    # overlap of [0, g0) with [d, d+g) and with [d-C, d-C+g)
    ov1 = np.clip(np.minimum(g0, d + g) - d, 0.0, None)
    ov2 = np.clip(np.minimum(g0, d - cc + g) - np.maximum(0.0, d - cc), 0.0, None)
    return np.maximum(ov1, ov2)


def signal_band_mask(n_signals: npt.ArrayLike, width: int) -> BoolArray:
    """Mask (n_corridors, width) for corridors of ``n_signals`` signals each."""
    k = np.asarray(n_signals)
    return np.arange(width)[None, :] < k[:, None]
