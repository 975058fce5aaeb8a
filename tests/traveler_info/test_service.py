"""The service on a generated city: departure advice, matrix, alerts, refresh schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sim.city import generate_city
from traveler_info.service import RouteQueryError, TravelerInfo
from traveler_info.sources import StaticSpeeds
from traveler_info.weights import SLOTS_PER_DAY


@pytest.fixture(scope="module")
def city():
    return generate_city(60, seed=4)


def _service(city, now):
    clock = {"now": now}
    tis = TravelerInfo.from_inventory(city, clock=lambda: clock["now"])
    return tis, clock


def test_departure_advice_waits_for_the_peak_to_end(city) -> None:
    now = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)  # 07:30 WIB, morning peak
    tis, _ = _service(city, now)
    n = tis.graph.n_edges
    src = StaticSpeeds.empty(n)
    slots = np.arange(SLOTS_PER_DAY)
    factor = np.where((slots >= 28) & (slots < 38), 0.2, 0.95)  # 07:00-09:30 WIB jammed
    src.profile_kmh = tis.links.free_flow_kmh[:, None] * factor[None, :]
    tis.source = src
    tis.refresh(force=True)
    g = tis.graph
    o, d = (g.node_lon[0], g.node_lat[0]), (g.node_lon[-1], g.node_lat[-1])
    r = tis.route(o, d, lang="en")
    adv = r["departure_advice"]
    assert not adv["leave_now"]
    assert adv["leave_at"].startswith("2026-11-27T09:30")
    assert adv["saving_s"] > 300
    assert adv["message"].startswith("Leave at 09:30 to save")
    r_id = tis.route(o, d, lang="id")
    assert r_id["departure_advice"]["message"].startswith("Berangkat pukul 09:30")
    # no peak in the profile: leave now
    src.profile_kmh = tis.links.free_flow_kmh[:, None] * np.full(SLOTS_PER_DAY, 0.9)[None, :]
    tis._profile_at = None
    tis.refresh(force=True)
    assert tis.route(o, d)["departure_advice"]["leave_now"]


def test_matrix_alerts_and_schedule(city) -> None:
    now = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    tis, clock = _service(city, now)
    n = tis.graph.n_edges
    src = StaticSpeeds.empty(n)
    src.live_kmh = tis.links.free_flow_kmh * 0.9
    src.live_age_s = np.full(n, 20.0)
    src.live_kmh[3] = 3.0  # jammed
    src.profile_kmh[:] = tis.links.free_flow_kmh[:, None] * 0.9
    src.profile_std_kmh[:] = 3.0
    src.live_kmh[7] = 4.0  # far below its history: an incident
    tis.source = src
    assert tis.refresh()
    st = tis.state
    kinds = {a["link_id"]: a["kind"] for a in tis.alerts("en")["alerts"]}
    assert kinds[tis.graph.edge_ids[7]] == "anomaly"
    assert tis.graph.edge_ids[3] in kinds
    m = tis.travel_times()
    k = len(tis.places)
    assert k >= 5 and {p.kind for p in tis.places} >= {"kecamatan", "landfill"}
    assert len(m["travel_time_s"]) == k and all(len(row) == k for row in m["travel_time_s"])
    assert all(m["travel_time_s"][i][i] == 0.0 for i in range(k))
    # the token (ETag) changes only when the weights do
    clock["now"] = now + timedelta(seconds=30)
    assert not tis.refresh()
    clock["now"] = now + timedelta(seconds=61)
    assert tis.refresh()
    assert tis.state.token == st.token
    src.live_kmh[5] = 2.0
    clock["now"] = now + timedelta(seconds=130)
    assert tis.refresh()
    assert tis.state.token != st.token


def test_route_errors_are_localised(city) -> None:
    tis, _ = _service(city, datetime(2026, 11, 27, 3, 0, tzinfo=UTC))
    g = tis.graph
    with pytest.raises(RouteQueryError) as e:
        tis.route((110.36, -7.8), (g.node_lon[0], g.node_lat[0]), lang="en")
    assert e.value.code == "outside" and "origin" in e.value.message
    with pytest.raises(RouteQueryError) as e:
        tis.route((g.node_lon[0], g.node_lat[0]), (110.36, -7.8), lang="id")
    assert e.value.code == "outside" and "tujuan" in e.value.message
