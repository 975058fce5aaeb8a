"""Link congestion: speeds from detectors and GPS probes, fusion, indices and flags.

Links are on axis 0 (time of day, when present, on the last axis). Probe points
are (n_points,) arrays in a local metric frame (x east, y north [m]); the caller
projects WGS84 once (:func:`local_xy_m`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from control._arrays import FloatArray, as_float, non_negative, rowsum

#: Typical vehicle lengths by class (mc, lv, hv, um) [m]. Assumed values for
#: Indonesian fleets (a 110-125 cc scooter is ~1.9 m, an MPV ~4.5 m, a bus or
#: two-axle truck 9-12 m); calibrate per site from detector speed traps.
VEHICLE_LENGTH_M: FloatArray = np.array([1.9, 4.5, 10.0, 2.0])

#: Length of an inductive-loop detection zone [m] (a standard 6 ft / 1.8 m
#: square loop, rounded); added to the vehicle length to get the effective length.
DETECTOR_LENGTH_M = 2.0

#: Congestion levels by speed ratio v / v_free: free >= 0.75 > moderate >= 0.5 >
#: heavy >= 0.25 > jammed. Project definition, chosen to match the four bands
#: of the traveller app; not taken from a standard.
CONGESTION_SPEED_RATIO: tuple[float, float, float] = (0.25, 0.5, 0.75)
CONGESTION_LEVELS: tuple[str, ...] = ("free", "moderate", "heavy", "jammed")

EARTH_RADIUS_M = 6_371_008.8


def effective_vehicle_length_m(
    counts: npt.ArrayLike,
    vehicle_length_m: npt.ArrayLike = VEHICLE_LENGTH_M,
    detector_length_m: float = DETECTOR_LENGTH_M,
) -> FloatArray:
    r"""Effective vehicle length for the current class mix.

    Parameters
    ----------
    counts : (..., 4) vehicles per class (mc, lv, hv, um) [veh] or shares [-]
    vehicle_length_m : (4,) length of each class [m]
    detector_length_m : length of the detection zone [m]

    Returns
    -------
    length_m : (...) [m]; NaN where no vehicle was counted.

    Notes
    -----
    .. math:: L_{eff} = \frac{\sum_k n_k \ell_k}{\sum_k n_k} + \ell_{det}

    A motorcycle-dominated mix has a much shorter effective length than the
    5.5-6.5 m used for car traffic; using the car value overestimates density
    and underestimates speed by the same factor.

    References
    ----------
    Hall, F. L., & Persaud, B. N. (1989). Evaluation of speed estimates made with
    single-detector data from freeway traffic management systems. Transportation
    Research Record 1232, 9-16.
    """
    n = as_float("counts", counts)
    if n.ndim < 1 or n.shape[-1] != 4:
        raise ValueError(f"counts has shape {n.shape}, expected (..., 4) classes (mc, lv, hv, um)")
    non_negative("counts", n)
    ell = as_float("vehicle_length_m", vehicle_length_m, (4,))
    tot = rowsum(n) if n.ndim == 2 else n.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (n @ ell) / tot
    return np.where(tot > 0, mean + detector_length_m, np.nan)


def detector_speed_kmh(
    flow_veh_h: npt.ArrayLike,
    occupancy_pct: npt.ArrayLike,
    effective_length_m: npt.ArrayLike,
) -> FloatArray:
    r"""Space-mean speed from flow and occupancy of a single loop.

    Parameters
    ----------
    flow_veh_h : flow per lane [veh/h]
    occupancy_pct : time occupancy [%]
    effective_length_m : vehicle + detector length [m]

    Returns
    -------
    speed_kmh : [km/h]; NaN where occupancy is 0 (no vehicle over the loop: speed
        unknown) or an input is NaN.

    Notes
    -----
    .. math:: k = \frac{10\,O}{L_{eff}}\ \text{[veh/km]},\qquad v = q / k
              = \frac{q\,L_{eff}}{10\,O}

    References
    ----------
    Hall, F. L., & Persaud, B. N. (1989), op. cit.; Athol, P. (1965).
    Interdependence of certain operational characteristics within a moving
    traffic stream. Highway Research Record 72, 58-87.
    """
    q = as_float("flow_veh_h", flow_veh_h)
    occ = as_float("occupancy_pct", occupancy_pct)
    ell = as_float("effective_length_m", effective_length_m)
    non_negative("flow_veh_h", q)
    if np.any((occ < 0) | (occ > 100)):
        raise ValueError("occupancy_pct must be within [0, 100]")
    with np.errstate(divide="ignore", invalid="ignore"):
        v = q * ell / (10.0 * occ)
    return np.where(occ > 0, v, np.nan)


def local_xy_m(
    lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike, lat0_deg: float, lon0_deg: float
) -> tuple[FloatArray, FloatArray]:
    r"""Equirectangular projection to a local frame around (lat0, lon0) [m].

    Notes
    -----
    .. math:: x = R\,\Delta\lambda \cos\varphi_0,\quad y = R\,\Delta\varphi

    Error below 0.1 % within 20 km of the origin, ample for map matching in one city.
    """
    lat = np.radians(as_float("lat_deg", lat_deg))
    lon = np.radians(as_float("lon_deg", lon_deg))
    x = EARTH_RADIUS_M * (lon - np.radians(lon0_deg)) * np.cos(np.radians(lat0_deg))
    y = EARTH_RADIUS_M * (lat - np.radians(lat0_deg))
    return x, y


@dataclass(frozen=True)
class LinkIndex:
    """A grid index of straight link segments for :func:`map_match` (built once).

    Links are cut into pieces of at most 4 ``max_distance_m`` and the pieces
    bucketed by the grid cell of their midpoint (see :func:`build_link_index`).
    """

    n_links: int
    max_distance_m: float
    cell_m: float
    x_min: float
    y_min: float
    nx: int
    ny: int
    piece_link: npt.NDArray[np.int64]  #: link of each piece
    piece_j: FloatArray  #: position of the piece along its link (0..k-1)
    piece_k: FloatArray  #: number of pieces of its link
    ax: FloatArray  #: piece start x [m]
    ay: FloatArray  #: piece start y [m]
    dx: FloatArray  #: piece vector x [m]
    dy: FloatArray  #: piece vector y [m]
    bearing_deg: FloatArray  #: (n_links,) link bearing, clockwise from north [deg]
    order: npt.NDArray[np.int64]  #: pieces sorted by cell
    cell_first: npt.NDArray[np.int64] | None  #: dense table: first sorted piece of each cell
    cell_count: npt.NDArray[np.int64] | None  #: dense table: pieces in each cell
    sorted_cells: npt.NDArray[np.int64] | None  #: sparse extent: cell of each sorted piece


def build_link_index(
    link_x0_m: npt.ArrayLike,
    link_y0_m: npt.ArrayLike,
    link_x1_m: npt.ArrayLike,
    link_y1_m: npt.ArrayLike,
    max_distance_m: float = 30.0,
) -> LinkIndex:
    r"""Build the grid index of the links once; :func:`map_match` queries it every update.

    Parameters
    ----------
    link_x0_m, link_y0_m, link_x1_m, link_y1_m : (n_links,) start and end of each
        straight, directed link segment in the local frame [m] (a curved road is
        several links)
    max_distance_m : farthest a point may be from its link [m]

    Returns
    -------
    LinkIndex

    Notes
    -----
    Pieces are at most :math:`4 d_{max}` long; cell size
    :math:`h = \ell_{piece,max}/2 + d_{max}`. A point within :math:`d_{max}` of a
    piece is within h of its midpoint, so the 3 x 3 cells around the point hold
    every candidate.
    """
    ax = as_float("link_x0_m", link_x0_m)
    if ax.ndim != 1:
        raise ValueError(f"link_x0_m has shape {ax.shape}, expected (n_links,)")
    ay = as_float("link_y0_m", link_y0_m, ax.shape)
    bx = as_float("link_x1_m", link_x1_m, ax.shape)
    by = as_float("link_y1_m", link_y1_m, ax.shape)
    if not max_distance_m > 0:
        raise ValueError("max_distance_m must be > 0")
    if not (np.all(np.isfinite(ax)) and np.all(np.isfinite(ay))
            and np.all(np.isfinite(bx)) and np.all(np.isfinite(by))):
        raise ValueError("link coordinates must be finite")
    n_links = ax.shape[0]
    dx = bx - ax
    dy = by - ay
    seg_len = np.hypot(dx, dy)
    k = np.maximum(np.ceil(seg_len / (4.0 * max_distance_m)), 1.0).astype(np.int64)
    n_pieces = int(k.sum())
    piece_link = np.repeat(np.arange(n_links), k)
    kk = k[piece_link].astype(np.float64)
    j = (np.arange(n_pieces) - np.repeat(np.cumsum(k) - k, k)).astype(np.float64)
    pdx = dx[piece_link] / kk
    pdy = dy[piece_link] / kk
    pax = ax[piece_link] + j * pdx
    pay = ay[piece_link] + j * pdy
    h = (float(np.max(seg_len / k)) if n_links else 0.0) / 2.0 + max_distance_m
    mx = pax + pdx / 2.0
    my = pay + pdy / 2.0
    x_min = (float(mx.min()) if n_links else 0.0) - 2 * h
    y_min = (float(my.min()) if n_links else 0.0) - 2 * h
    nx = int(((float(mx.max()) if n_links else 0.0) + 2 * h - x_min) // h) + 1
    ny = int(((float(my.max()) if n_links else 0.0) + 2 * h - y_min) // h) + 1
    cell = ((mx - x_min) // h).astype(np.int64) * ny + ((my - y_min) // h).astype(np.int64)
    order = np.argsort(cell, kind="stable")
    first = count = sorted_cells = None
    if nx * ny <= 8 * n_pieces + 1_000_000:  # dense cell table: O(1) look-ups
        count = np.bincount(cell, minlength=nx * ny)
        first = np.cumsum(count) - count
    else:  # a sparse, very wide extent: binary search in the sorted cells
        sorted_cells = cell[order]
    return LinkIndex(
        n_links=n_links, max_distance_m=float(max_distance_m), cell_m=h, x_min=x_min,
        y_min=y_min, nx=nx, ny=ny, piece_link=piece_link, piece_j=j, piece_k=kk,
        ax=pax, ay=pay, dx=pdx, dy=pdy, bearing_deg=np.degrees(np.arctan2(dx, dy)),
        order=order, cell_first=first, cell_count=count, sorted_cells=sorted_cells,
    )


def map_match(
    point_x_m: npt.ArrayLike,
    point_y_m: npt.ArrayLike,
    index: LinkIndex,
    point_heading_deg: npt.ArrayLike | None = None,
    max_heading_diff_deg: float = 60.0,
) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
    r"""Snap GPS points to the nearest directed link, vectorized over points and candidates.

    Parameters
    ----------
    point_x_m, point_y_m : (n_points,) point positions in the index's frame [m]
    index : the links, from :func:`build_link_index`
    point_heading_deg : (n_points,) GPS heading, clockwise from north [deg];
        when given, links whose bearing differs by more than
        ``max_heading_diff_deg`` are not candidates (keeps the two directions of a
        road apart); NaN heading = no constraint
    max_heading_diff_deg : [deg]

    Returns
    -------
    link_index : (n_points,) int64 index of the matched link, -1 when none is
        within the index's ``max_distance_m``
    distance_m : (n_points,) distance to it [m], NaN when unmatched
    fraction : (n_points,) position along the link, 0 at the start, 1 at the end [-]

    Notes
    -----
    Candidates are the link pieces in the 3 x 3 grid cells around each point;
    the distance to a piece from a to b is

    .. math:: t = \operatorname{clip}\Big(\frac{(p - a)\cdot(b - a)}{|b - a|^2}, 0, 1\Big),
              \quad d = |p - a - t (b - a)|

    and each point takes the nearest candidate (the first found on exact ties).

    References
    ----------
    Quddus, M. A., Ochieng, W. Y., & Noland, R. B. (2007). Current map-matching
    algorithms for transport applications. Transportation Research Part C 15(5),
    312-328 (point-to-curve matching with heading).
    """
    px = as_float("point_x_m", point_x_m)
    if px.ndim != 1:
        raise ValueError(f"point_x_m has shape {px.shape}, expected (n_points,)")
    py = as_float("point_y_m", point_y_m, px.shape)
    n_pts = px.shape[0]
    out_idx = np.full(n_pts, -1, dtype=np.int64)
    out_d = np.full(n_pts, np.nan)
    out_t = np.full(n_pts, np.nan)
    ix = index
    if n_pts == 0 or ix.n_links == 0:
        return out_idx, out_d, out_t
    h = ix.cell_m
    with np.errstate(invalid="ignore"):
        fx = (px - ix.x_min) // h
        fy = (py - ix.y_min) // h
        # outside the extent (which has a 2-cell margin) no link can be near enough
        ok_pt = (fx >= 1) & (fx <= ix.nx - 2) & (fy >= 1) & (fy <= ix.ny - 2)
    pcx = np.where(ok_pt, fx, 1).astype(np.int64)
    pcy = np.where(ok_pt, fy, 1).astype(np.int64)
    off = np.array([-1, 0, 1])
    cx9 = (pcx[:, None] + off[None, :])[:, :, None]
    cy9 = (pcy[:, None] + off[None, :])[:, None, :]
    cells = (cx9 * ix.ny + cy9).reshape(n_pts, 9)
    if ix.cell_first is not None and ix.cell_count is not None:
        lo = ix.cell_first[cells]
        cnt = ix.cell_count[cells]
    else:
        assert ix.sorted_cells is not None
        lo = np.searchsorted(ix.sorted_cells, cells, side="left")
        cnt = np.searchsorted(ix.sorted_cells, cells, side="right") - lo
    cnt = cnt * ok_pt[:, None]
    flat_cnt = cnt.ravel()
    total = int(flat_cnt.sum())
    if total == 0:
        return out_idx, out_d, out_t
    pair_pt = np.repeat(np.arange(n_pts).repeat(9), flat_cnt)
    run_start = np.repeat(np.cumsum(flat_cnt) - flat_cnt - lo.ravel(), flat_cnt)
    pair_piece = ix.order[np.arange(total) - run_start]
    qx = px[pair_pt] - ix.ax[pair_piece]
    qy = py[pair_pt] - ix.ay[pair_piece]
    ddx = ix.dx[pair_piece]
    ddy = ix.dy[pair_piece]
    l2 = ddx * ddx + ddy * ddy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip((qx * ddx + qy * ddy) / l2, 0.0, 1.0)
    t[l2 == 0] = 0.0
    ex = qx - t * ddx
    ey = qy - t * ddy
    d2 = ex * ex + ey * ey  # squared distance: the square root only for the winners
    keep = d2 <= ix.max_distance_m * ix.max_distance_m
    pair_link = ix.piece_link[pair_piece]
    if point_heading_deg is not None:
        hd = as_float("point_heading_deg", point_heading_deg, px.shape)
        diff = np.abs((hd[pair_pt] - ix.bearing_deg[pair_link] + 180.0) % 360.0 - 180.0)
        keep &= ~(diff > max_heading_diff_deg)  # NaN heading: no constraint
    d2 = np.where(keep, d2, np.inf)
    # nearest per point: pairs are grouped by point, so a segmented minimum does it
    group_start = np.flatnonzero(np.r_[True, pair_pt[1:] != pair_pt[:-1]])
    best = np.minimum.reduceat(d2, group_start)
    best_full = np.full(n_pts, np.inf)
    best_full[pair_pt[group_start]] = best
    hit = np.flatnonzero((d2 == best_full[pair_pt]) & np.isfinite(d2))
    first = hit[np.r_[True, pair_pt[hit][1:] != pair_pt[hit][:-1]]]
    pts = pair_pt[first]
    out_idx[pts] = pair_link[first]
    out_d[pts] = np.sqrt(d2[first])
    piece = pair_piece[first]
    out_t[pts] = (ix.piece_j[piece] + t[first]) / ix.piece_k[piece]
    return out_idx, out_d, out_t


def probe_link_speed(
    link_index: npt.ArrayLike,
    speed_kmh: npt.ArrayLike,
    age_s: npt.ArrayLike,
    n_links: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Aggregate matched probe points per link: mean speed, sample count, mean age.

    Parameters
    ----------
    link_index : (n_points,) matched link, -1 for unmatched (ignored)
    speed_kmh : (n_points,) GPS speed [km/h]; NaN ignored
    age_s : (n_points,) age of each fix [s]
    n_links : number of links

    Returns
    -------
    speed_kmh, samples, age_s : (n_links,) harmonic-mean speed [km/h] (NaN without
        samples), sample count [-], mean age [s] (NaN without samples).

    Notes
    -----
    The space-mean speed of spot samples is their harmonic mean,
    :math:`\bar v_s = n / \sum 1/v_i` (stopped points, v = 0, give 0).

    References
    ----------
    Wardrop, J. G. (1952). Some theoretical aspects of road traffic research.
    Proc. Institution of Civil Engineers Part II, 1(3), 325-378.
    """
    idx = np.asarray(link_index, dtype=np.int64)
    v = as_float("speed_kmh", speed_kmh, idx.shape)
    age = as_float("age_s", age_s, idx.shape)
    non_negative("speed_kmh", v)
    ok = (idx >= 0) & (idx < n_links) & np.isfinite(v) & np.isfinite(age)
    i = idx[ok]
    n = np.bincount(i, minlength=n_links).astype(np.float64)
    with np.errstate(divide="ignore"):
        inv = np.bincount(i, weights=1.0 / v[ok], minlength=n_links)
    with np.errstate(divide="ignore", invalid="ignore"):
        hm = np.where(np.isinf(inv), 0.0, n / inv)
        mean_age = np.bincount(i, weights=age[ok], minlength=n_links) / n
    return np.where(n > 0, hm, np.nan), n, np.where(n > 0, mean_age, np.nan)


def fuse_speeds(
    speed_kmh: npt.ArrayLike,
    samples: npt.ArrayLike,
    age_s: npt.ArrayLike,
    half_life_s: float = 300.0,
) -> FloatArray:
    r"""Fuse speed estimates of each link from several sources by sample size and age.

    Parameters
    ----------
    speed_kmh : (n_links, n_sources) estimate per source [km/h]; NaN = none
    samples : (n_links, n_sources) vehicles or probe points behind it [-]
    age_s : (n_links, n_sources) age of the estimate [s]
    half_life_s : age at which an estimate counts half [s]

    Returns
    -------
    speed_kmh : (n_links,) [km/h]; NaN where no source has a usable estimate.

    Notes
    -----
    .. math:: v = \frac{\sum_s w_s v_s}{\sum_s w_s},\qquad
              w_s = n_s\,2^{-a_s / t_{1/2}}
    """
    v = as_float("speed_kmh", speed_kmh)
    if v.ndim != 2:
        raise ValueError(f"speed_kmh has shape {v.shape}, expected (n_links, n_sources)")
    n = as_float("samples", samples, v.shape)
    a = as_float("age_s", age_s, v.shape)
    non_negative("samples", n)
    if not half_life_s > 0:
        raise ValueError("half_life_s must be > 0")
    w = n * np.exp2(-np.maximum(a, 0.0) / half_life_s)
    ok = np.isfinite(v) & np.isfinite(w) & (w > 0)
    w = np.where(ok, w, 0.0)
    sw = rowsum(w)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = rowsum(np.where(ok, v * w, 0.0)) / sw
    return np.where(sw > 0, out, np.nan)


def smooth_speed(
    previous_kmh: npt.ArrayLike, new_kmh: npt.ArrayLike, dt_s: float, time_constant_s: float = 300.0
) -> FloatArray:
    r"""Exponential smoothing over time; a missing new value keeps the previous one.

    Parameters
    ----------
    previous_kmh : (n_links,) smoothed speed so far [km/h]; NaN = none yet
    new_kmh : (n_links,) new estimate [km/h]; NaN = none
    dt_s : time since the previous update [s]
    time_constant_s : smoothing time constant tau [s]

    Returns
    -------
    speed_kmh : (n_links,) [km/h]

    Notes
    -----
    .. math:: \hat v_t = \hat v_{t-1} + \alpha (v_t - \hat v_{t-1}),\quad
              \alpha = 1 - e^{-\Delta t / \tau}
    """
    p = as_float("previous_kmh", previous_kmh)
    x = as_float("new_kmh", new_kmh, p.shape)
    if dt_s < 0 or not time_constant_s > 0:
        raise ValueError("dt_s must be >= 0 and time_constant_s > 0")
    alpha = 1.0 - np.exp(-dt_s / time_constant_s)
    out = np.where(np.isnan(p), x, p + alpha * (x - p))
    return np.where(np.isnan(x), p, out)


def travel_time_index(speed_kmh: npt.ArrayLike, free_flow_kmh: npt.ArrayLike) -> FloatArray:
    r"""Travel-time index: actual over free-flow travel time.

    Returns
    -------
    tti : [-], >= 1 when slower than free flow; inf for a stopped link, NaN for
        unknown speed.

    Notes
    -----
    .. math:: TTI = t / t_{free} = v_{free} / v

    References
    ----------
    Schrank, D., Eisele, B., & Lomax, T. (2019). Urban Mobility Report. Texas A&M
    Transportation Institute (Travel Time Index).
    """
    v = as_float("speed_kmh", speed_kmh)
    vf = as_float("free_flow_kmh", free_flow_kmh, v.shape)
    if np.any(vf <= 0):
        raise ValueError("free_flow_kmh must be > 0")
    non_negative("speed_kmh", v)
    with np.errstate(divide="ignore"):
        return vf / v


def congestion_level(
    speed_kmh: npt.ArrayLike,
    free_flow_kmh: npt.ArrayLike,
    bounds: tuple[float, float, float] = CONGESTION_SPEED_RATIO,
) -> tuple[npt.NDArray[np.int8], FloatArray]:
    r"""Congestion level (0 free, 1 moderate, 2 heavy, 3 jammed) and a 0-10 jam factor.

    Parameters
    ----------
    speed_kmh : [km/h]
    free_flow_kmh : [km/h], > 0
    bounds : ascending speed-ratio bounds between jammed|heavy|moderate|free [-]

    Returns
    -------
    level : int8 code into CONGESTION_LEVELS; -1 where the speed is unknown
    jam_factor : [0, 10], NaN where the speed is unknown

    Notes
    -----
    .. math:: r = v / v_{free},\qquad J = 10\,\operatorname{clip}(1 - r, 0, 1)

    The jam factor is this project's linear definition on the speed ratio (the
    commercial 0-10 scales are proprietary).
    """
    v = as_float("speed_kmh", speed_kmh)
    vf = as_float("free_flow_kmh", free_flow_kmh, v.shape)
    if np.any(vf <= 0):
        raise ValueError("free_flow_kmh must be > 0")
    r = v / vf
    above = np.zeros(r.shape, dtype=np.int8)
    for b in bounds:  # count the bounds passed (a handful of scalars, not entities)
        above += r >= b
    level = (3 - above).astype(np.int8)
    level = np.where(np.isnan(r), np.int8(-1), level).astype(np.int8)
    jam = 10.0 * np.clip(1.0 - r, 0.0, 1.0)
    return level, jam


def queue_from_occupancy(
    occupancy_pct: npt.ArrayLike,
    effective_length_m: npt.ArrayLike,
    link_length_m: npt.ArrayLike,
    critical_occupancy_pct: float = 25.0,
    jam_spacing_m: float = 0.0,
) -> FloatArray:
    r"""Queue length on a link estimated from detector occupancy near its downstream end.

    Parameters
    ----------
    occupancy_pct : [%]
    effective_length_m : vehicle + detector length [m]
    link_length_m : [m]
    critical_occupancy_pct : occupancy at capacity; below it there is no queue [%]
    jam_spacing_m : extra gap between stopped vehicles [m]; jam occupancy is
        :math:`100\,L_{eff}/(L_{eff} + s_{gap})`

    Returns
    -------
    queue_m : [m] in [0, link_length_m]; NaN where occupancy is NaN.

    Notes
    -----
    Occupancy above critical is read as the fraction of the link between
    capacity and jam density that is queued:

    .. math:: Q = \ell_{link}\,\operatorname{clip}\Big(\frac{O - O_c}{O_j - O_c}, 0, 1\Big)
    """
    occ = as_float("occupancy_pct", occupancy_pct)
    ell = as_float("effective_length_m", effective_length_m, occ.shape)
    length = as_float("link_length_m", link_length_m, occ.shape)
    if np.any(length <= 0):
        raise ValueError("link_length_m must be > 0")
    o_jam = 100.0 * ell / (ell + jam_spacing_m)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.clip((occ - critical_occupancy_pct) / (o_jam - critical_occupancy_pct), 0.0, 1.0)
    return np.where(np.isnan(occ), np.nan, length * frac)


def speed_history(
    speed_kmh: npt.ArrayLike, min_samples: int = 3
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""A link's own speed profile by time of day, for :func:`anomaly_flag`.

    Parameters
    ----------
    speed_kmh : (n_links, n_days, n_slots) past speeds, one slot per time-of-day
        interval (e.g. 96 x 15 min) of comparable days [km/h]; NaN = no data
    min_samples : fewest days with data for a slot to have a profile

    Returns
    -------
    mean_kmh, std_kmh : (n_links, n_slots) [km/h]; NaN where fewer than
        ``min_samples`` days have data
    samples : (n_links, n_slots) days with data [-]

    Notes
    -----
    .. math:: \mu_{l,t} = \frac{1}{N}\sum_d v_{l,d,t},\qquad
              \sigma_{l,t} = \sqrt{\frac{1}{N - 1}\sum_d (v_{l,d,t} - \mu_{l,t})^2}
    """
    v = as_float("speed_kmh", speed_kmh)
    if v.ndim != 3:
        raise ValueError(f"speed_kmh has shape {v.shape}, expected (n_links, n_days, n_slots)")
    ok = np.isfinite(v)
    n = ok.sum(axis=1).astype(np.float64)
    vz = np.where(ok, v, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = vz.sum(axis=1) / n
        dev = np.where(ok, v - mean[:, None, :], 0.0)
        std = np.sqrt((dev * dev).sum(axis=1) / (n - 1.0))
    enough = n >= max(min_samples, 2)
    return np.where(enough, mean, np.nan), np.where(enough, std, np.nan), n


def anomaly_flag(
    speed_kmh: npt.ArrayLike,
    history_mean_kmh: npt.ArrayLike,
    history_std_kmh: npt.ArrayLike,
    z_threshold: float = 3.0,
    min_std_kmh: float = 2.0,
) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    r"""Incident/anomaly flag: a link much slower than its own history at this time of day.

    Parameters
    ----------
    speed_kmh : (n_links,) current speed [km/h]
    history_mean_kmh, history_std_kmh : (n_links,) mean and standard deviation of
        the link's speed in the same time-of-day slot (and day type) [km/h]
    z_threshold : standard scores beyond which a link is flagged [-]
    min_std_kmh : floor on the standard deviation [km/h] (quiet links would flag
        on noise otherwise)

    Returns
    -------
    flag : (n_links,) bool; False where anything is NaN
    z : (n_links,) standard score (history - now)/std [-], positive when slower

    Notes
    -----
    .. math:: z = \frac{\mu_{tod} - v}{\max(\sigma_{tod}, \sigma_{min})},\quad
              \text{flag} = z > z_{thr}

    References
    ----------
    Dudek, C. L., Messer, C. J., & Nuckles, N. B. (1974). Incident detection on
    urban freeways. Transportation Research Record 495, 12-24 (standard normal
    deviate detection).
    """
    v = as_float("speed_kmh", speed_kmh)
    mu = as_float("history_mean_kmh", history_mean_kmh, v.shape)
    sd = as_float("history_std_kmh", history_std_kmh, v.shape)
    if not min_std_kmh > 0:
        raise ValueError("min_std_kmh must be > 0")
    z = (mu - v) / np.maximum(sd, min_std_kmh)
    return np.nan_to_num(z, nan=-np.inf) > z_threshold, z
