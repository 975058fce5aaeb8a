"""Webster cycle and splits (control/webster.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control import _reference as ref
from control.webster import (
    FLAG_CYCLE_CLIPPED,
    FLAG_OVERSATURATED,
    flow_ratio,
    green_splits,
    pedestrian_green_s,
    webster_cycle_length,
)


def test_worked_example_two_roads_58_s() -> None:
    # Textbook exercise (Webster's method), as published at
    # https://byjus.com/question-answer/if-the-normal-flows-on-two-approach-roads-at-an-
    # intersection-are-respectively-500-pcu : q = 500 and 300 pcu/h, s = 1600 pcu/h each,
    # L = 16 s -> Y = 0.5, C0 = (1.5 x 16 + 5) / (1 - 0.5) = 58 s.
    y = flow_ratio([[500.0, 300.0]], [[1600.0, 1600.0]])
    cycle, flags = webster_cycle_length(y, [16.0], min_cycle_s=30, max_cycle_s=120)
    assert cycle[0] == pytest.approx(58.0)
    assert flags[0] == 0


def test_worked_example_gate_greens() -> None:
    # GATE civil engineering exercise (Webster's method), solution published at
    # https://www.selfstudys.com/mcq/gate/civil-engineering/practice-test/chapter-10-highway-
    # engineering/test-2/mcq-test-solution : qa = 400, qb = 250 pcu/h, sa = 1250, sb = 1000
    # pcu/h, L = 16 s -> ya = 0.32, yb = 0.25, C0 = 29 / 0.43 = 67.4 s, green A 29 s, B 22.5 s
    # (the solution rounds C0 to 67.5 s before splitting).
    y = flow_ratio([[400.0, 250.0]], [[1250.0, 1000.0]])
    np.testing.assert_allclose(y, [[0.32, 0.25]])
    cycle, _ = webster_cycle_length(y, [16.0])
    assert cycle[0] == pytest.approx(67.44, abs=0.01)
    green = green_splits(y, [67.5], [[8.0, 8.0]])
    np.testing.assert_allclose(green[0], [0.32 / 0.57 * 51.5, 0.25 / 0.57 * 51.5])
    assert green[0, 0] == pytest.approx(29.0, abs=0.1)
    assert green[0, 1] == pytest.approx(22.5, abs=0.1)


def test_oversaturated_takes_max_cycle_and_equalises_saturation() -> None:
    y = np.array([[0.6, 0.5, 0.1]])  # Y = 1.2
    cycle, flags = webster_cycle_length(y, [12.0], 40.0, 150.0)
    assert cycle[0] == 150.0 and flags[0] & FLAG_OVERSATURATED
    g = green_splits(y, cycle, [[4.0, 4.0, 4.0]])
    x = y[0] * cycle[0] / g[0]
    np.testing.assert_allclose(x, x[0])  # equal degree of saturation on every phase
    assert g.sum() + 12.0 == pytest.approx(150.0)


def test_short_cycle_is_clipped_and_flagged() -> None:
    cycle, flags = webster_cycle_length([[0.05, 0.05]], [6.0], 40.0, 120.0)
    assert cycle[0] == 40.0 and flags[0] == FLAG_CYCLE_CLIPPED


def test_min_green_and_padding() -> None:
    y = np.array([[0.5, 0.02, 0.2, 0.0]])
    mask = np.array([[True, True, True, False]])
    g = green_splits(y, [90.0], [[5, 5, 5, 99]], [[10, 15, 10, 10]], mask)
    assert g[0, 3] == 0.0
    assert g[0, 1] == 15.0
    assert g[0, :3].sum() == pytest.approx(90 - 15)
    assert g[0, 0] / g[0, 2] == pytest.approx(0.5 / 0.2)


def test_pedestrian_green() -> None:
    # 7 s walk + 14.4 m / 1.2 m/s = 19 s; no crossing -> 0
    np.testing.assert_allclose(pedestrian_green_s([14.4, 0.0]), [19.0, 0.0])


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (
            lambda: flow_ratio([[1.0, 2.0]], [[1.0, 2.0, 3.0]]),
            r"saturation_pcu_h has shape \(1, 3\)",
        ),
        (lambda: flow_ratio([[-1.0]], [[1.0]]), "flow_pcu_h must be >= 0"),
        (lambda: flow_ratio([[1.0]], [[0.0]]), "saturation_pcu_h must be > 0"),
        (lambda: webster_cycle_length([[0.1]], [5.0, 6.0]), r"lost_time_s has shape \(2,\)"),
        (lambda: green_splits([[0.1, 0.2]], [60.0], [[4.0, 4.0, 4.0]]), "intergreen_s has shape"),
        (lambda: webster_cycle_length([[0.1]], [5.0], 90.0, 60.0), "min_cycle_s"),
    ],
)
def test_bad_input_names_the_argument(call, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        call()


phase = st.tuples(
    st.floats(0.0, 0.3),  # y
    st.floats(2.0, 8.0),  # intergreen
    st.floats(0.0, 20.0),  # min green
)


@settings(max_examples=80, deadline=None)
@given(st.lists(phase, min_size=2, max_size=8), st.floats(30, 60), st.floats(90, 200))
def test_cycle_and_splits_equal_reference(phases: list, cmin: float, cmax: float) -> None:
    ys = [p[0] for p in phases]
    ig = [p[1] for p in phases]
    gmin = [p[2] for p in phases]
    lost = sum(ig)
    cycle, flags = webster_cycle_length([ys], [lost], cmin, cmax)
    want_c, over = ref.webster_cycle(ys, lost, cmin, cmax)
    assert cycle[0] == pytest.approx(want_c, rel=1e-12)
    assert bool(flags[0] & FLAG_OVERSATURATED) == over
    c = max(cycle[0], lost + sum(gmin))
    g = green_splits([ys], [c], [ig], [gmin])[0]
    np.testing.assert_allclose(g, ref.splits(ys, c, ig, gmin), rtol=1e-9, atol=1e-9)
    # greens plus lost time equal the cycle, every green at least its minimum
    assert g.sum() + lost == pytest.approx(c, abs=1e-6)
    assert np.all(g >= np.array(gmin) - 1e-9)
    assert not np.any(np.isnan(g))
