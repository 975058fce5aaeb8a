"""Change limits, rounding and the plan validator (control/constraints.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control.constraints import (
    REASON_CYCLE_BOUNDS,
    REASON_CYCLE_SUM,
    REASON_INTERGREEN,
    REASON_MIN_GREEN,
    REASON_NOT_FINITE,
    describe_reasons,
    limit_plan_change,
    round_plan,
    validate_plan,
)

IG = np.array([[4.0, 4.0, 4.0]])


def test_validator_accepts_a_good_plan() -> None:
    valid, reasons = validate_plan([72.0], [[20.0, 20.0, 20.0]], IG, [[10, 10, 10]], 4.0, 40, 180)
    assert valid[0] and reasons[0] == 0


@pytest.mark.parametrize(
    ("cycle", "green", "ig", "bit", "text"),
    [
        (62.0, [10.0, 20.0, 20.0], IG, REASON_MIN_GREEN, "below its minimum"),
        (70.0, [20.0, 20.0, 20.0], IG, REASON_CYCLE_SUM, "do not add up"),
        (192.0, [60.0, 60.0, 60.0], IG, REASON_CYCLE_BOUNDS, "outside the allowed range"),
        (71.0, [20.0, 20.0, 20.0], [[4.0, 4.0, 3.0]], REASON_INTERGREEN, "clearance"),
        (np.nan, [20.0, 20.0, 20.0], IG, REASON_NOT_FINITE, "NaN"),
    ],
)
def test_validator_refuses_with_the_reason(cycle, green, ig, bit, text) -> None:
    valid, reasons = validate_plan(
        [cycle], [green], ig, [[12.0, 12.0, 12.0]], [[4.0, 4.0, 4.0]], 40.0, 180.0
    )
    assert not valid[0]
    assert reasons[0] & bit
    assert any(text in r for r in describe_reasons(int(reasons[0])))


def test_validator_shape_error() -> None:
    with pytest.raises(ValueError, match=r"intergreen_s has shape \(1, 2\)"):
        validate_plan([60.0], [[20.0, 20.0, 20.0]], [[4.0, 4.0]])


def test_round_plan_keeps_minimum_and_consistency() -> None:
    cycle, g = round_plan([[10.4, 20.6, 7.2]], IG, 1.0, [[8.0, 8.0, 7.5]])
    np.testing.assert_allclose(g, [[10.0, 21.0, 8.0]])
    assert cycle[0] == 51.0
    cycle, g = round_plan([[10.4, 20.6, 7.2]], IG, 5.0, [[8.0, 8.0, 7.5]])
    assert np.all(np.mod(g, 5.0) == 0) and cycle[0] == g.sum() + 12.0


def test_limit_plan_change_steps() -> None:
    prev_c, prev_g = np.array([60.0]), np.array([[24.0, 12.0, 12.0]])
    c, g = limit_plan_change([120.0], [[36.0, 36.0, 36.0]], IG, prev_c, prev_g, 10.0, 5.0)
    assert c[0] == 70.0
    assert g.sum() + 12.0 == pytest.approx(70.0)
    share, pshare = g[0] / g.sum(), prev_g[0] / prev_g.sum()
    assert np.all(np.abs(share - pshare) <= 0.05 * 1.5)  # renormalisation slack (documented)
    # no previous plan: the target is deployed as it is
    c, g = limit_plan_change([120.0], [[36.0, 36.0, 36.0]], IG, [np.nan], [[np.nan] * 3])
    assert c[0] == 120.0 and g[0].tolist() == [36.0, 36.0, 36.0]


@settings(max_examples=60, deadline=None)
@given(
    st.floats(40, 180), st.floats(40, 180),
    st.lists(st.floats(0.05, 1.0), min_size=3, max_size=3),
    st.lists(st.floats(0.05, 1.0), min_size=3, max_size=3),
    st.floats(0, 20), st.floats(0, 20),
)
def test_limit_plan_change_bounds(c_new, c_old, w_new, w_old, dc, ds) -> None:
    lost = 12.0
    g_new = np.array([w_new]) / sum(w_new) * (c_new - lost)
    g_old = np.array([w_old]) / sum(w_old) * (c_old - lost)
    c, g = limit_plan_change([c_new], g_new, IG, [c_old], g_old, dc, ds)
    assert abs(c[0] - c_old) <= dc + 1e-9
    assert g.sum() + lost == pytest.approx(c[0])
    assert np.all(g >= 0)
