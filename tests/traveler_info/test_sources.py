"""Live speeds and the time-of-day profile read from the real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sim.city import generate_city
from tests.traveler_info.store_data import approach_detectors, insert_readings, load_city
from traveler_info.service import TravelerInfo
from traveler_info.weights import time_of_day_slot


@pytest.fixture(scope="module")
def city():
    return generate_city(30, seed=7)


def test_store_speeds_live_profile_and_fallback(db_url, city) -> None:
    load_city(db_url, city)
    measured = sorted(approach_detectors(city))
    slow, normal, history_only = measured[0], measured[1], measured[2]
    # late in a 15-minute slot: the rollup bucket (5 min) must land in the same slot
    t = datetime.now(UTC).replace(second=0, microsecond=0)
    now = t - timedelta(minutes=t.minute % 15 + 15) + timedelta(minutes=13, seconds=30)
    # history: 3 days ago at this time of day, everything at 30 km/h (5-minute rollups)
    for days in (1, 2, 3):
        insert_readings(
            db_url, city, now - timedelta(days=days), {slow: 30.0, normal: 30.0,
                                                       history_only: 30.0},
            seq0=days, rollups=True,
        )
    # live: one slow link and one normal one, a minute ago
    insert_readings(db_url, city, now - timedelta(seconds=60), {slow: 6.0, normal: 29.0})
    # and a reading that is too old to be live
    insert_readings(db_url, city, now - timedelta(hours=2), {history_only: 3.0}, seq0=9)

    tis = TravelerInfo.from_store(db_url, clock=lambda: now)
    tis.refresh(force=True)
    g, w = tis.graph, tis.state.weights
    i_slow, i_norm, i_hist = (g.edge_index(x) for x in (slow, normal, history_only))
    assert w.source[i_slow] == 0 and w.speed_kmh[i_slow] == pytest.approx(6.0)
    assert w.source[i_norm] == 0 and w.speed_kmh[i_norm] == pytest.approx(29.0)
    slot = time_of_day_slot(now)
    assert tis._profile_kmh[i_hist, slot] == pytest.approx(30.0, rel=1e-3)
    assert w.source[i_hist] == 1 and w.speed_kmh[i_hist] == pytest.approx(30.0, rel=1e-3)
    # every other link: no data at all -> free flow
    others = np.ones(g.n_edges, dtype=bool)
    others[[i_slow, i_norm, i_hist]] = False
    assert np.all(w.source[others] == 2)
    assert w.level[i_slow] == 3  # 6 of 40-60 km/h free flow: jammed
    assert any(a["link_id"] == slow for a in tis.alerts()["alerts"])


def test_gps_probes_fill_links_without_detector_data(db_url, city) -> None:
    import math

    from hub.db import connect
    from hub.store import detect_store, ensure_partitions

    load_city(db_url, city)
    link = city.links[5]
    (lon0, lat0), (lon1, lat1) = link.geometry.coordinates[0], link.geometry.coordinates[-1]
    heading = math.degrees(math.atan2((lon1 - lon0) * math.cos(math.radians(lat0)),
                                      lat1 - lat0)) % 360
    now = datetime.now(UTC).replace(microsecond=0)
    rows = []
    for k, (f, v) in enumerate([(0.3, 20.0), (0.5, 20.0), (0.7, 20.0), (0.4, 1.0), (0.6, 0.0)]):
        rows.append((now - timedelta(seconds=30 + k), f"TRUCK-{k}", k,
                     lat0 + f * (lat1 - lat0), lon0 + f * (lon1 - lon0), v, heading))
    with connect(db_url) as conn:
        if detect_store(conn).backend == "native":
            ensure_partitions(conn, {now.date(), (now - timedelta(days=1)).date()})
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO gps_position (ts, vehicle_id, seq, lat, lon, speed_kmh, heading_deg)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                rows,
            )
    tis = TravelerInfo.from_store(db_url, clock=lambda: now)
    tis.refresh(force=True)
    w = tis.state.weights
    i = tis.graph.edge_index(link.id)
    # three moving fixes at 20 km/h; the stopped truck (loading at a pickup) is left out
    assert w.source[i] == 0 and w.speed_kmh[i] == pytest.approx(20.0)
    assert w.counts()["live"] == 1


def test_probe_matcher_remembers_fixes_and_gives_the_same_links(city) -> None:
    from traveler_info.network import graph_from_inventory
    from traveler_info.sources import ProbeMatcher, fix_keys

    graph, _ = graph_from_inventory(city)
    rng = np.random.default_rng(5)
    n = 400
    coords = graph.geom_coords
    pick = rng.integers(0, len(coords) - 1, n)
    f = rng.uniform(0, 1, n)
    lon = coords[pick, 0] + f * (coords[pick + 1, 0] - coords[pick, 0]) + rng.normal(0, 5e-5, n)
    lat = coords[pick, 1] + f * (coords[pick + 1, 1] - coords[pick, 1]) + rng.normal(0, 5e-5, n)
    heading = rng.uniform(0, 360, n)
    ts = 1_000_000 * np.arange(n, dtype=np.int64)
    speed, age = rng.uniform(0, 40, n), rng.uniform(0, 600, n)

    fresh = ProbeMatcher(graph.geom_offsets, graph.geom_coords, graph.n_edges)
    expected = fresh.match(lat, lon, heading)
    assert (expected >= 0).sum() > n // 4  # most fixes are on some link

    m = ProbeMatcher(graph.geom_offsets, graph.geom_coords, graph.n_edges)
    keys = fix_keys(ts, lat, lon, heading)
    assert len(np.unique(keys)) == n
    first = m.link_speeds(lat[:300], lon[:300], speed[:300], heading[:300], age[:300], keys[:300])
    # the next window: the oldest 100 fixes gone, 100 new ones; the old ones come from memory
    window = slice(100, n)
    assert (m.match(lat[window], lon[window], heading[window], keys[window])
            == expected[window]).all()
    assert set(m._keys.tolist()) == set(keys[window].tolist())  # forgets what left the window
    again = m.link_speeds(lat[window], lon[window], speed[window], heading[window], age[window],
                          keys[window])
    plain = fresh.link_speeds(lat[window], lon[window], speed[window], heading[window],
                              age[window])
    for a, b in zip(again, plain, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(first[0]).any()


def test_refresh_falls_back_when_the_store_goes_away(db_url, city) -> None:
    """The live reads (detector state and GPS fixes, on two connections at once)
    failing must not fail the refresh: the weights fall back to free flow."""
    from tests.support.services import free_port

    load_city(db_url, city)
    now = datetime.now(UTC).replace(microsecond=0)
    some = {ln.id: 20.0 for ln in city.links[:6] if ln.id in approach_detectors(city)}
    insert_readings(db_url, city, now - timedelta(seconds=30), some)
    tis = TravelerInfo.from_store(db_url, clock=lambda: now)
    assert tis.source.probes is not None  # both reads run
    tis.refresh(force=True)
    assert tis.state.weights.counts()["live"] > 0
    # the database disappears (nothing listens on that port)
    tis.source.database_url = f"postgresql://postgres@127.0.0.1:{free_port()}/gone"
    assert tis.refresh(force=True)
    counts = tis.state.weights.counts()
    assert counts["live"] == 0 and counts["free_flow"] == tis.graph.n_edges
