"""The synthetic city generator: valid, plausible and inside Kota Tangerang for any N."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from hub.inventory import dump_inventory, haversine_m, point_along
from sim.city import EXTENT, KECAMATAN, generate_city


@pytest.mark.parametrize("n", [2, 3, 7, 40, 300])
def test_any_size_is_valid_connected_and_inside_the_city(n: int) -> None:
    inv = generate_city(n, seed=n)
    assert len(inv.intersections) == n and inv.approximate
    a = inv.link_arrays()
    assert np.all((a.node_lat >= EXTENT["lat_min"]) & (a.node_lat <= EXTENT["lat_max"]))
    assert np.all((a.node_lon >= EXTENT["lon_min"]) & (a.node_lon <= EXTENT["lon_max"]))
    g = csr_matrix((np.ones(len(a.link_ids)), (a.from_idx, a.to_idx)), shape=(n, n))
    assert connected_components(g, directed=True, connection="strong")[0] == 1
    # lengths agree with the geometry and the spacing is an arterial grid's
    assert 150 < np.median(a.length_m) < 1500
    assert np.all(a.free_flow_kmh <= a.speed_limit_kmh)
    assert {i.kecamatan for i in inv.intersections} <= set(KECAMATAN)
    for it in inv.intersections:
        assert sum(len(ap.lanes) for ap in it.approaches) == len(it.detectors)
        assert 40 <= it.plan.cycle_s <= 200
    assert len(inv.lots) >= 1 and all(lot.capacity == len(lot.bays) for lot in inv.lots)
    assert len(inv.routes) == len(inv.vehicles) >= 2


def test_lots_beside_their_links_and_pickups_on_theirs() -> None:
    inv = generate_city(60, seed=4)
    links = inv.link_by_id
    for lot in inv.lots:
        ln = links[lot.link_id]
        c = np.asarray(ln.geometry.coordinates)
        d = haversine_m(lot.lat, lot.lon, c[:, 1], c[:, 0]).min()
        assert d < ln.length_m  # beside its link, not across town
    for p in inv.pickup_points:
        lat, lon, _ = point_along(links[p.link_id].geometry.coordinates, p.offset_m)
        assert haversine_m(lat, lon, p.lat, p.lon) < 0.5


def test_kecamatan_spread_in_a_big_city() -> None:
    inv = generate_city(300, seed=1)
    assert len({i.kecamatan for i in inv.intersections}) >= 10


def test_deterministic_under_seed() -> None:
    assert dump_inventory(generate_city(20, seed=5)) == dump_inventory(generate_city(20, seed=5))
    assert generate_city(20, seed=5) != generate_city(20, seed=6)
    with pytest.raises(ValueError, match="at least 2"):
        generate_city(1)
