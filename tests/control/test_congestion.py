"""Link speeds, map matching, fusion and congestion indices (control/congestion.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control import _reference as ref
from control.congestion import (
    anomaly_flag,
    build_link_index,
    congestion_level,
    detector_speed_kmh,
    effective_vehicle_length_m,
    fuse_speeds,
    local_xy_m,
    map_match,
    probe_link_speed,
    queue_from_occupancy,
    smooth_speed,
    speed_history,
    travel_time_index,
)


def test_detector_speed_worked() -> None:
    # q = 1800 veh/h, O = 10 %, L_eff = 5 m: k = 10 x 10 / 5 = 20 veh/km, v = 1800/20 = 90 km/h
    # (Hall & Persaud 1989, v = q L / O).
    v = detector_speed_kmh([1800.0, 100.0], [10.0, 0.0], 5.0)
    assert v[0] == pytest.approx(90.0) and np.isnan(v[1])
    with pytest.raises(ValueError, match="occupancy_pct"):
        detector_speed_kmh(1.0, 101.0, 5.0)


def test_motorcycle_mix_shortens_effective_length() -> None:
    ell = effective_vehicle_length_m([[700, 250, 50, 0], [0, 1000, 0, 0]])
    assert ell[0] == pytest.approx((700 * 1.9 + 250 * 4.5 + 50 * 10) / 1000 + 2.0)
    assert ell[1] == pytest.approx(6.5)
    assert np.isnan(effective_vehicle_length_m([0, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"counts has shape \(3,\)"):
        effective_vehicle_length_m([1, 2, 3])


def test_map_match_two_directions_and_far_points() -> None:
    # an east-bound and a west-bound link 6 m apart, and a north-bound one
    links = np.array([[0, 0, 200, 0], [200, 6, 0, 6], [300, -100, 300, 100]], dtype=float)
    px = np.array([50.0, 50.0, 301.0, 1000.0])
    py = np.array([4.0, 4.0, 20.0, 1000.0])
    heading = np.array([90.0, 270.0, 0.0, np.nan])
    index = build_link_index(*links.T, max_distance_m=20.0)
    idx, d, frac = map_match(px, py, index, point_heading_deg=heading)
    assert idx.tolist() == [0, 1, 2, -1]
    assert d[0] == pytest.approx(4.0) and d[1] == pytest.approx(2.0) and np.isnan(d[3])
    assert frac[0] == pytest.approx(0.25) and frac[1] == pytest.approx(0.75)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_map_match_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_links, n_pts = 60, 40
    a = rng.uniform(0, 1000, (n_links, 2))
    ang = rng.uniform(0, 2 * np.pi, n_links)
    ln = rng.uniform(20, 150, n_links)
    b = a + np.c_[np.sin(ang), np.cos(ang)] * ln[:, None]
    p = rng.uniform(0, 1000, (n_pts, 2))
    hd = np.where(rng.random(n_pts) < 0.5, rng.uniform(0, 360, n_pts), np.nan)
    index = build_link_index(a[:, 0], a[:, 1], b[:, 0], b[:, 1], 40.0)
    idx, d, _ = map_match(p[:, 0], p[:, 1], index, hd)
    links = [tuple(x) for x in np.c_[a, b]]
    for i in range(n_pts):
        j, dj = ref.map_match_point(p[i, 0], p[i, 1], links, 40.0, hd[i])
        if j < 0:
            assert idx[i] == -1
        else:  # ties between equidistant links may pick either
            assert d[i] == pytest.approx(dj)


def test_probe_aggregation_and_fusion() -> None:
    idx = np.array([0, 0, 2, -1])
    v, n, age = probe_link_speed(idx, [20.0, 30.0, 0.0, 50.0], [10.0, 30.0, 5.0, 1.0], 3)
    assert v[0] == pytest.approx(2 / (1 / 20 + 1 / 30)) and n.tolist() == [2, 0, 1]
    assert np.isnan(v[1]) and v[2] == 0.0 and age[0] == pytest.approx(20.0)
    fused = fuse_speeds([[40.0, 20.0], [np.nan, 30.0], [np.nan, np.nan]],
                        [[10, 10], [0, 3], [1, 1]], [[0, 300], [0, 0], [0, 0]], 300.0)
    assert fused[0] == pytest.approx((10 * 40 + 5 * 20) / 15)
    assert fused[1] == 30.0 and np.isnan(fused[2])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.just(math.nan), st.floats(0, 120)),
                          st.floats(0, 50), st.floats(0, 3600)), min_size=1, max_size=5))
def test_fusion_equals_reference(src: list) -> None:
    v, n, a = (np.array([[s[k] for s in src]]) for k in range(3))
    got = fuse_speeds(v, n, a)[0]
    want = ref.fuse([s[0] for s in src], [s[1] for s in src], [s[2] for s in src])
    if math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_indices_levels_queue_and_anomaly() -> None:
    tti = travel_time_index([30.0, 60.0], 60.0)
    np.testing.assert_allclose(tti, [2.0, 1.0])
    level, jam = congestion_level([60.0, 40.0, 20.0, 5.0, np.nan], 60.0)
    assert level.tolist() == [0, 1, 2, 3, -1]
    assert jam[0] == 0.0 and jam[3] == pytest.approx(10 * (1 - 5 / 60)) and np.isnan(jam[4])
    q = queue_from_occupancy([10.0, 62.5, 100.0, np.nan], 5.0, 200.0, 25.0)
    assert q[0] == 0.0 and q[1] == pytest.approx(100.0) and q[2] == 200.0 and np.isnan(q[3])
    flag, z = anomaly_flag([10.0, 38.0, np.nan], [40.0, 40.0, 40.0], [5.0, 5.0, 5.0])
    assert flag.tolist() == [True, False, False] and z[0] == pytest.approx(6.0)
    s = smooth_speed([np.nan, 40.0, 40.0], [30.0, np.nan, 20.0], dt_s=300.0, time_constant_s=300.0)
    assert s[0] == 30.0 and s[1] == 40.0
    assert s[2] == pytest.approx(40 + (1 - math.exp(-1)) * (20 - 40))


def test_local_projection() -> None:
    # one arc-minute of latitude is one nautical mile (1852 m) to 0.2 %
    x, y = local_xy_m([-6.2 + 1 / 60], [106.63], -6.2, 106.63)
    assert y[0] == pytest.approx(1852.0, rel=2e-3) and x[0] == pytest.approx(0.0, abs=1e-6)


def test_history_profile_feeds_the_anomaly_flag() -> None:
    rng = np.random.default_rng(7)
    hist = 40.0 + rng.normal(0.0, 3.0, (2, 20, 4))  # 2 links, 20 days, 4 slots
    hist[1, :, 3] = np.nan  # no history for link 1 in slot 3
    mean, std, n = speed_history(hist)
    np.testing.assert_allclose(mean[0], hist[0].mean(axis=0))
    np.testing.assert_allclose(std[0], hist[0].std(axis=0, ddof=1))
    assert n[1, 3] == 0 and np.isnan(mean[1, 3])
    flag, _ = anomaly_flag([15.0, 15.0], mean[:, 3], std[:, 3])
    assert flag.tolist() == [True, False]  # no profile: no flag
    with pytest.raises(ValueError, match=r"speed_kmh has shape \(2, 3\)"):
        speed_history(np.ones((2, 3)))
