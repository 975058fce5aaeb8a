"""The whole timing pipeline (control/pipeline.py) against the scalar reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control import _reference as ref
from control.constraints import REASON_CYCLE_BOUNDS
from control.delay import LOS_THRESHOLDS_ID_S
from control.pipeline import plan_signals
from control.webster import FLAG_MIN_GREEN_INFEASIBLE, FLAG_NO_DEMAND, FLAG_OVERSATURATED

phase = st.tuples(
    st.lists(st.floats(0, 1500), min_size=4, max_size=4),  # mc lv hv um [veh/h]
    st.floats(1500, 6000),  # saturation [pcu/h]
    st.floats(3, 7),  # intergreen [s]
    st.floats(5, 25),  # min green [s]
    st.booleans(),  # opposed
)


def _arrays(intersections: list) -> dict:
    p = max(len(x) for x in intersections)
    n = len(intersections)
    counts = np.zeros((n, p, 4))
    sat = np.full((n, p), 1800.0)
    ig = np.zeros((n, p))
    gmin = np.zeros((n, p))
    opp = np.zeros((n, p), bool)
    mask = np.zeros((n, p), bool)
    for i, phases in enumerate(intersections):
        for j, (c, s, g, mg, o) in enumerate(phases):
            counts[i, j], sat[i, j], ig[i, j], gmin[i, j], opp[i, j] = c, s, g, mg, o
            mask[i, j] = True
    return dict(flow_veh_h=counts, saturation_pcu_h=sat, intergreen_s=ig, min_green_s=gmin,
                opposed=opp, phase_mask=mask)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(phase, min_size=2, max_size=8), min_size=1, max_size=6))
def test_vectorized_plans_equal_reference(intersections: list) -> None:
    a = _arrays(intersections)
    plan = plan_signals(**a)
    for i, phases in enumerate(intersections):
        k = len(phases)
        want = ref.plan_intersection(
            [p[0] for p in phases], [p[1] for p in phases], [p[2] for p in phases],
            [p[3] for p in phases], [p[4] for p in phases],
        )
        assert plan.cycle_s[i] == pytest.approx(want["cycle_s"], abs=1e-9)
        np.testing.assert_allclose(plan.green_s[i, :k], want["green_s"], atol=1e-9)
        np.testing.assert_allclose(plan.delay_s[i, :k], want["delay_s"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(plan.queue_pcu[i, :k], want["queue_pcu"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(
            plan.stops_per_pcu[i, :k], want["stops_per_pcu"], rtol=1e-9, atol=1e-9
        )
        assert plan.valid[i] == want["valid"]
        assert plan.intersection_los[i] == want["intersection_los"]
        assert plan.los[i, :k].tolist() == want["los"]
        if math.isnan(want["intersection_delay_s"]):
            assert np.isnan(plan.intersection_delay_s[i])
        else:
            assert plan.intersection_delay_s[i] == pytest.approx(want["intersection_delay_s"])
        # invariants: greens + lost time = cycle; greens >= minimum; no NaN timings
        lost = sum(p[2] for p in phases)
        assert plan.green_s[i, :k].sum() + lost == pytest.approx(plan.cycle_s[i])
        assert np.all(plan.green_s[i, :k] >= np.array([p[3] for p in phases]) - 1e-9)
        assert np.all(plan.green_s[i, k:] == 0)
        # the only plans refused are those whose minimum greens (rounded up to the
        # controller step) do not fit in max_cycle_s
        if plan.flags[i] & FLAG_MIN_GREEN_INFEASIBLE:
            assert not plan.valid[i]
        if not plan.valid[i]:
            assert plan.reasons[i] == REASON_CYCLE_BOUNDS
            rounded_min = np.ceil(np.array([p[3] for p in phases]) - 1e-9).sum()
            assert rounded_min + lost > 180.0
        assert not np.any(np.isnan(plan.delay_s[i, :k]))
        assert bool(plan.flags[i] & FLAG_OVERSATURATED) == want["oversaturated"]


def test_no_demand_and_infeasible_minimums() -> None:
    counts = np.zeros((2, 3, 4))
    counts[1] = 100.0
    plan = plan_signals(counts, 1800.0, [[5, 5, 5], [5, 5, 5]],
                        min_green_s=[[5, 5, 5], [60, 60, 60]], max_cycle_s=120)
    assert plan.flags[0] & FLAG_NO_DEMAND and plan.valid[0] and plan.cycle_s[0] == 40.0
    assert plan.flags[1] & FLAG_MIN_GREEN_INFEASIBLE
    assert not plan.valid[1] and plan.reasons[1] & REASON_CYCLE_BOUNDS
    assert np.isnan(plan.intersection_delay_s[0])


def test_indonesian_los_option_and_queue_length() -> None:
    counts = np.array([[[1200, 300, 20, 10], [900, 250, 30, 0]]], float)
    hcm = plan_signals(counts, 3000.0, 5.0, entry_width_m=7.0)
    idn = plan_signals(counts, 3000.0, 5.0, entry_width_m=7.0, los_thresholds_s=LOS_THRESHOLDS_ID_S)
    assert np.all(idn.los >= hcm.los)  # the Indonesian bounds are stricter
    np.testing.assert_allclose(hcm.queue_m, hcm.queue_pcu * 20 / 7.0)


def test_bad_shapes_name_the_argument() -> None:
    counts = np.ones((3, 4, 4))
    with pytest.raises(ValueError, match=r"saturation_pcu_h has shape \(3, 5\)"):
        plan_signals(counts, np.ones((3, 5)), 5.0)
    with pytest.raises(ValueError, match=r"max_cycle_s has shape \(2,\)"):
        plan_signals(counts, 1800.0, 5.0, max_cycle_s=[100.0, 120.0])
    with pytest.raises(ValueError, match="flow_veh_h must be >= 0"):
        plan_signals(-counts, 1800.0, 5.0)
