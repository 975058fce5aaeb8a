"""Live weights and their fallbacks: live -> profile for the time of day -> free flow."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traveler_info.i18n import parse_accept_language
from traveler_info.sources import StaticSpeeds, detector_link_speeds
from traveler_info.synthetic import grid_city
from traveler_info.weights import (
    SLOTS_PER_DAY,
    SOURCE_FREE_FLOW,
    SOURCE_LIVE,
    SOURCE_PROFILE,
    compute_weights,
    select_speed_kmh,
    time_of_day_slot,
)

NAN = float("nan")


def test_fallback_chain_link_by_link() -> None:
    vf = np.array([50.0, 50.0, 50.0, 50.0, 50.0, 40.0])
    live = np.array([20.0, 20.0, NAN, NAN, 0.0, 70.0])
    age = np.array([30.0, 5000.0, NAN, NAN, 10.0, 10.0])  # link 1: stale
    prof = np.array([30.0, 30.0, 35.0, NAN, NAN, NAN])
    speed, source = select_speed_kmh(live, age, prof, vf)
    assert source.tolist() == [
        SOURCE_LIVE, SOURCE_PROFILE, SOURCE_PROFILE, SOURCE_FREE_FLOW, SOURCE_FREE_FLOW,
        SOURCE_LIVE,
    ]
    # link 4: a live 0 km/h is not usable; link 5: above free flow is capped
    np.testing.assert_allclose(speed, [20.0, 30.0, 35.0, 50.0, 50.0, 40.0])


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="profile_kmh has shape"):
        select_speed_kmh([1.0, 2.0], [1.0, 1.0], [1.0], [50.0, 50.0])
    with pytest.raises(ValueError, match="free_flow_kmh"):
        select_speed_kmh([1.0], [1.0], [1.0], [0.0])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.just(NAN), st.floats(0.0, 200.0)),
            st.one_of(st.just(NAN), st.floats(0.0, 4000.0)),
            st.one_of(st.just(NAN), st.floats(0.0, 200.0)),
            st.floats(5.0, 120.0),
            st.floats(1.0, 5000.0),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_weights_never_below_free_flow(rows) -> None:
    live, age, prof, vf, length = (np.array(c) for c in zip(*rows, strict=True))
    w = compute_weights(
        version=1, computed_at=datetime.now(UTC), length_m=length, free_flow_kmh=vf,
        live_kmh=live, live_age_s=age, profile_kmh=prof,
    )
    ff_time = length / (vf / 3.6)
    assert np.all(w.time_s >= ff_time)
    assert np.all(np.isfinite(w.time_s))
    assert np.all((w.level >= 0) & (w.level <= 3))
    assert np.all(w.tti >= 1.0 - 1e-12)
    assert not w.anomaly.any()  # no history spread given: never flagged


def test_anomaly_only_on_live_links_far_below_history() -> None:
    w = compute_weights(
        version=1, computed_at=datetime.now(UTC), length_m=[100.0, 100.0, 100.0],
        free_flow_kmh=[50.0, 50.0, 50.0], live_kmh=[5.0, 38.0, NAN],
        live_age_s=[10.0, 10.0, NAN], profile_kmh=[40.0, 40.0, 5.0],
        profile_std_kmh=[4.0, 4.0, 1.0],
    )
    assert w.anomaly.tolist() == [True, False, False]
    assert w.level.tolist()[0] == 3


def test_time_of_day_slot_is_local_time() -> None:
    # 00:30 UTC is 07:30 WIB -> slot 30 of 15 minutes
    assert time_of_day_slot(datetime(2026, 1, 1, 0, 30, tzinfo=UTC)) == 30
    assert time_of_day_slot(datetime(2026, 1, 1, 16, 59, tzinfo=UTC)) == SLOTS_PER_DAY - 1
    with pytest.raises(ValueError):
        time_of_day_slot(datetime(2026, 1, 1))


def test_detector_link_speeds_reported_and_estimated() -> None:
    # link 0: two lanes reporting 20 and 60 km/h with 100 and 100 veh -> harmonic mean 30
    # link 1: no reported speed: from flow and occupancy (Athol): v = q L / (10 O)
    counts = np.array([[100, 0, 0, 0], [0, 100, 0, 0], [0, 600, 0, 0], [0, 0, 0, 0]])
    speed, samples = detector_link_speeds(
        [0, 0, 1, -1], counts, [900.0, 900.0, 3600.0, 900.0], [5.0, 5.0, 10.0, 3.0],
        [20.0, 60.0, NAN, 30.0], 3,
    )
    assert speed[0] == pytest.approx(30.0)
    assert speed[1] == pytest.approx(600 * (4.5 + 2.0) / (10 * 10.0))
    assert np.isnan(speed[2])
    assert samples.tolist() == [200.0, 600.0, 0.0]


def test_accept_language() -> None:
    assert parse_accept_language(None) == "id"
    assert parse_accept_language("en") == "en"
    assert parse_accept_language("en-US,en;q=0.9") == "en"
    assert parse_accept_language("fr, en;q=0.5, id;q=0.8") == "id"
    assert parse_accept_language("de") == "id"
    assert parse_accept_language("in") == "id"


class _Broken:
    def live(self, now):
        raise ConnectionError("database down")

    def profile(self, now):
        raise ConnectionError("database down")


def test_service_falls_back_when_the_source_fails() -> None:
    from traveler_info.network import LinkInfo
    from traveler_info.service import TravelerInfo

    g = grid_city(100, seed=3)
    vf = g.length_m / g.free_flow_s * 3.6
    links = LinkInfo(vf, np.ones(g.n_edges), np.full(g.n_edges, 1800.0), ["local"] * g.n_edges)
    tis = TravelerInfo(g, links, [], _Broken())
    tis.refresh(force=True)
    assert tis.state.weights.counts() == {"live": 0, "profile": 0, "free_flow": g.n_edges}
    np.testing.assert_allclose(tis.state.weights.time_s, g.free_flow_s)
    # a source with a profile but no live data: the profile of the current slot is used
    src = StaticSpeeds.empty(g.n_edges)
    src.profile_kmh[:] = vf[:, None] / 2
    tis.source = src
    tis._profile_at = None
    assert tis.refresh(force=True)
    assert tis.state.weights.counts()["profile"] == g.n_edges
    np.testing.assert_allclose(tis.state.weights.time_s, 2 * g.free_flow_s)
    # then live data wins where it is fresh
    src.live_kmh = vf.copy()
    src.live_age_s = np.full(g.n_edges, 10.0)
    src.live_age_s[:5] = 10_000.0
    assert tis.refresh(force=True)
    assert tis.state.weights.counts() == {"live": g.n_edges - 5, "profile": 5, "free_flow": 0}
    # and the schedule: not again within the refresh interval
    assert not tis.refresh()
