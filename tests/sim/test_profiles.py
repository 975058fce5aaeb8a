"""The demand profile is the one the real SCATS counts give."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from sim.profiles import (
    SCATS_CSV,
    SCATS_WEEKDAY_96,
    SCATS_WEEKEND_96,
    TANGERANG_SHIFT_H,
    daily_profile,
    demand_factor,
    scats_profile,
)


def test_committed_profile_matches_the_real_counts(shared_data) -> None:
    assert SCATS_CSV.exists()
    np.testing.assert_allclose(scats_profile(SCATS_CSV), SCATS_WEEKDAY_96, atol=2e-3)
    np.testing.assert_allclose(scats_profile(SCATS_CSV, weekend=True), SCATS_WEEKEND_96, atol=2e-3)


def test_weekday_shape_has_am_and_pm_peaks() -> None:
    p = daily_profile(weekend=False, shift_h=0.0)
    assert abs(p.mean() - 1.0) < 1e-3
    am = np.argmax(p[:48]) / 4
    pm = 12 + np.argmax(p[48:]) / 4
    assert 7.0 <= am <= 9.0 and 16.5 <= pm <= 18.5
    assert p[:16].max() < 0.3 * p.max()  # night is quiet
    shifted = daily_profile(weekend=False)
    assert np.argmax(shifted[:48]) / 4 == am + TANGERANG_SHIFT_H


def test_demand_factor_interpolates_and_knows_weekends() -> None:
    wib = timezone(timedelta(hours=7))
    monday = datetime(2025, 12, 1, tzinfo=wib).timestamp()  # local midnight, a Monday
    p = daily_profile(False)
    # at a quarter-hour midpoint the factor is the profile's value
    for q in (0, 30, 71):
        assert np.isclose(demand_factor(monday + q * 900 + 450.0), p[q])
    day = np.arange(0, 86400, 60.0) + monday
    assert abs(demand_factor(day).mean() - 1.0) < 0.01
    saturday = day + 5 * 86400
    np.testing.assert_allclose(demand_factor(saturday), demand_factor(saturday, weekend=True))
    assert not np.allclose(demand_factor(saturday), demand_factor(day))
