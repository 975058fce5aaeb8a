"""Waste trucks: on their links, at their pickups and the TPA, with real-tracker GPS."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from hub.inventory import haversine_m
from ingest.contract import GpsFix, decode
from sim.fleet import FleetSim

WIB = timezone(timedelta(hours=7))
MONDAY = datetime(2025, 12, 1, tzinfo=WIB).timestamp()


@pytest.fixture(scope="module")
def day(small_city):
    sim = FleetSim(small_city, np.random.default_rng(9), MONDAY, record_truth=True)
    out: list = []
    visits: dict[str, list] = defaultdict(list)
    for k in range(24 * 360):
        sim.window(MONDAY + k * 10, MONDAY + k * 10 + 10, out)
        for tr in sim.trucks:
            visits[tr.id] += tr.visited
            tr.visited.clear()
    return sim, out, visits


def _dist_to_polyline_m(lat: float, lon: float, coords: list) -> float:
    """Distance from a point to a [lon, lat] polyline, on a local plane [m]."""
    c = np.asarray(coords, dtype=float)
    kx = 111_320.0 * math.cos(math.radians(lat))
    ky = 111_320.0
    px, py = 0.0, 0.0
    ax, ay = (c[:-1, 0] - lon) * kx, (c[:-1, 1] - lat) * ky
    bx, by = (c[1:, 0] - lon) * kx, (c[1:, 1] - lat) * ky
    dx, dy = bx - ax, by - ay
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0, 1)
    return float(np.min(np.hypot(ax + t * dx - px, ay + t * dy - py)))


def test_trucks_stay_on_their_links(day, small_city) -> None:
    sim, _, _ = day
    links = small_city.link_by_id
    assert sim.truth
    for _ts, _vid, lat, lon, link_id, _mode in sim.truth[::7]:
        assert _dist_to_polyline_m(lat, lon, links[link_id].geometry.coordinates) < 1.0


def test_trucks_visit_their_pickups_then_the_landfill(day, small_city) -> None:
    _, _, visits = day
    for r in small_city.routes:
        refs = [ref for _t, ref in visits[r.vehicle_id]]
        assert refs == r.pickup_ids + [r.landfill_id], r.id
        times = [t for t, _ in visits[r.vehicle_id]]
        hh, mm = (int(x) for x in r.start_time.split(":"))
        assert times[0] > MONDAY + hh * 3600 + mm * 60


def test_trucks_stop_at_pickups_and_go_home(day, small_city) -> None:
    sim, _, _ = day
    pick = {p.id: p for p in small_city.pickup_points}
    for r in small_city.routes:
        truth = [x for x in sim.truth if x[1] == r.vehicle_id]
        p = pick[r.pickup_ids[0]]
        near = [x for x in truth if haversine_m(x[2], x[3], p.lat, p.lon) < 2.0]
        # parked at the pickup for its service time (fixes every 10 s)
        assert len(near) >= p.service_s / 10 - 2
        assert truth[-1][5] == "parked"
    assert all(tr.mode == "parked" and tr.dist == tr.cum[-1] for tr in sim.trucks)


def test_gps_artefacts(day, small_city) -> None:
    sim, out, _ = day
    truth = {(ts, vid): (lat, lon) for ts, vid, lat, lon, _l, _m in sim.truth}
    later = datetime(2026, 1, 1, tzinfo=WIB)
    err, seen, dupes, jumps = [], set(), 0, 0
    seqs: dict[str, list[int]] = defaultdict(list)
    for ts, topic, payload in out:
        vid = topic.split("/")[3]
        m = json.loads(payload)
        key = (vid, m["seq"])
        if key in seen:
            dupes += 1
            continue
        seen.add(key)
        seqs[vid].append(m["seq"])
        lat, lon = truth[(ts, vid)]
        e = float(haversine_m(lat, lon, m["lat"], m["lon"]))
        err.append(e)
        jumps += e > 100
    for ts, topic, payload in out[::50]:
        assert isinstance(decode(topic, payload, now=later).message, GpsFix)
        assert json.loads(payload)["ts"] == ts
    err_a = np.array(err)
    assert 1.5 < np.median(err_a) < 6.0  # HDOP-scaled noise of a few metres
    assert 0 < jumps < 0.01 * len(err)  # rare multipath jumps (p = 0.003 per fix)
    assert 0.003 < dupes / len(err) < 0.02  # duplicate fixes (p = 0.01): same seq and ts
    assert len(truth) - len(err) > 0  # dropouts: truth without any fix
    for s in seqs.values():
        assert s == list(range(len(s)))  # dropouts do not consume sequence numbers


def test_speed_follows_congestion(small_city) -> None:
    """The same rounds driven in the AM peak are slower than late in the morning."""

    def mean_speed(start: str) -> float:
        inv = small_city.model_copy(
            update={"routes": [r.model_copy(update={"start_time": start})
                               for r in small_city.routes]}
        )
        sim = FleetSim(inv, np.random.default_rng(4), MONDAY)
        out: list = []
        sim.window(MONDAY, MONDAY + 86400, out)
        v = [json.loads(p)["speed_kmh"] for _, _, p in out]
        moving = [x for x in v if x > 1.0]
        return float(np.mean(moving))

    assert mean_speed("06:30") < 0.85 * mean_speed("10:30")
