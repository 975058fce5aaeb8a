"""A small synthetic road graph for tests and development benchmarks.

Not the city generator (that is ``tlive sim city``): a jittered grid inside Kota
Tangerang's extent with arterials every few blocks, a few one-way streets and
missing blocks, so that routing has a planar, irregular, road-like structure.
"""

from __future__ import annotations

import numpy as np

from traveler_info.graph import RoadGraph, haversine_m

# Kota Tangerang's approximate extent (lon, lat) [deg]
TANGERANG_BBOX = (106.57, -6.27, 106.72, -6.13)


def grid_city(n_target: int, seed: int = 0, bbox: tuple[float, ...] = TANGERANG_BBOX) -> RoadGraph:
    """A jittered grid of about ``n_target`` intersections with two-way and one-way links.

    Arterials (every 5th row/column) have 60 km/h free flow, local streets 30 km/h;
    5 % of local blocks are missing and 10 % of local streets are one-way.
    """
    rng = np.random.default_rng(seed)
    side = max(2, int(round(np.sqrt(n_target))))
    rows = cols = side
    lon0, lat0, lon1, lat1 = bbox
    gx, gy = np.meshgrid(np.linspace(lon0, lon1, cols), np.linspace(lat0, lat1, rows))
    step_lon = (lon1 - lon0) / max(cols - 1, 1)
    step_lat = (lat1 - lat0) / max(rows - 1, 1)
    lon = (gx + rng.uniform(-0.3, 0.3, gx.shape) * step_lon).ravel()
    lat = (gy + rng.uniform(-0.3, 0.3, gy.shape) * step_lat).ravel()
    idx = np.arange(rows * cols).reshape(rows, cols)
    pairs = []
    arterial = []
    # horizontal then vertical neighbours
    for a, b, along in (
        (idx[:, :-1], idx[:, 1:], np.arange(rows)[:, None] + 0 * idx[:, :-1]),
        (idx[:-1, :], idx[1:, :], np.arange(cols)[None, :] + 0 * idx[:-1, :]),
    ):
        pairs.append(np.stack([a.ravel(), b.ravel()], axis=1))
        arterial.append((along.ravel() % 5) == 0)
    uv = np.concatenate(pairs)
    art = np.concatenate(arterial)
    keep = art | (rng.random(len(uv)) > 0.05)
    uv, art = uv[keep], art[keep]
    oneway = ~art & (rng.random(len(uv)) < 0.10)
    flip = rng.random(len(uv)) < 0.5
    uv[flip] = uv[flip][:, ::-1]
    frm = np.concatenate([uv[:, 0], uv[~oneway, 1]])
    to = np.concatenate([uv[:, 1], uv[~oneway, 0]])
    is_art = np.concatenate([art, art[~oneway]])
    length = haversine_m(lon[frm], lat[frm], lon[to], lat[to]) * rng.uniform(1.0, 1.15, len(frm))
    speed_kmh = np.where(is_art, 60.0, 30.0)
    ff = length / (speed_kmh / 3.6)
    return RoadGraph(
        node_lon=lon,
        node_lat=lat,
        edge_from=frm,
        edge_to=to,
        length_m=length,
        free_flow_s=ff,
        names=[("Jl. Arteri " if a else "Jl. Lokal ") + str(i % 97) for i, a in enumerate(is_art)],
    )
