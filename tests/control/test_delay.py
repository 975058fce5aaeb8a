"""Capacity, HCM control delay, LOS, MKJI queues and stops (control/delay.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control import _reference as ref
from control.delay import (
    LOS_THRESHOLDS_HCM_S,
    LOS_THRESHOLDS_ID_S,
    back_of_queue,
    capacity,
    degree_of_saturation,
    hcm_control_delay,
    level_of_service,
    los_letters,
    queue_length_m,
    stop_rate,
)


def test_hcm_lane_group_worked_by_hand() -> None:
    # Roess, Prassas & McShane, Traffic Engineering 4th ed., HCM delay problem:
    # v = 800 veh/h, c = 775 veh/h, g/C = 0.40, C = 90 s, T = 0.25 h, pretimed (k = 0.5),
    # isolated (I = 1). HCM 2000 Eqs. 16-9..16-11, worked by hand:
    # X = 800/775 = 1.0323; d1 = 0.5 x 90 x 0.6^2 / (1 - 1 x 0.4) = 27.0 s
    # d2 = 900 x 0.25 x [0.0323 + sqrt(0.0323^2 + 8 x 0.5 x 1 x 1.0323 / (775 x 0.25))]
    #    = 225 x (0.0323 + 0.1494) = 40.9 s;  d = 67.9 s -> LOS E by delay, F by X > 1.
    d, d1, d2 = hcm_control_delay(800.0, 775.0, 36.0, 90.0)
    assert float(d1) == pytest.approx(27.0, abs=1e-9)
    assert float(d2) == pytest.approx(40.9, abs=0.1)
    assert float(d) == pytest.approx(67.9, abs=0.1)
    assert level_of_service(d) == 4
    assert level_of_service(d, degree_of_saturation=800 / 775) == 5


def test_capacity_and_degree_of_saturation() -> None:
    c = capacity([1800.0, 1800.0], [36.0, 0.0], 90.0)
    np.testing.assert_allclose(c, [720.0, 0.0])
    x = degree_of_saturation([360.0, 0.0], c)
    np.testing.assert_allclose(x, [0.5, 0.0])
    assert np.isnan(degree_of_saturation([10.0], [0.0])[0])  # demand without capacity
    assert np.isnan(capacity([1800.0], [30.0], 0.0)[0])


def test_los_thresholds_hcm_and_indonesian() -> None:
    # HCM 2000 Exhibit 16-2: A <= 10, B <= 20, C <= 35, D <= 55, E <= 80 s/veh, F above.
    d = [0.0, 10.0, 10.01, 20.0, 35.0, 55.0, 80.0, 80.01, math.nan]
    assert "".join(los_letters(level_of_service(d))) == "AABBCDEF-"
    # PM 96 Tahun 2015: A < 5, B 5.1-15, C 15.1-25, D 25.1-40, E 40.1-60, F > 60 s/pcu.
    d_id = [4.0, 14.0, 24.0, 39.0, 59.0, 61.0]
    assert "".join(los_letters(level_of_service(d_id, LOS_THRESHOLDS_ID_S))) == "ABCDEF"
    with pytest.raises(ValueError, match="thresholds_s"):
        level_of_service([1.0], (10.0, 5.0, 20.0, 30.0, 40.0))


def test_not_computable_is_nan() -> None:
    d, _, _ = hcm_control_delay([100.0, 100.0], [0.0, 500.0], [20.0, 0.0], [60.0, 60.0])
    assert np.all(np.isnan(d))
    q, _, _ = back_of_queue([100.0], [0.0], [20.0], [60.0])
    assert np.isnan(q[0])
    assert np.isnan(stop_rate([1.0], [0.0], [60.0])[0])


def test_mkji_queue_terms() -> None:
    # DS <= 0.5: no overflow queue; NQ2 = c (1 - GR) / (1 - GR DS) Q / 3600
    total, nq1, nq2 = back_of_queue(300.0, 900.0, 30.0, 90.0)
    assert float(nq1) == 0.0
    gr, ds = 30 / 90, 300 / 900
    assert float(nq2) == pytest.approx(90 * (1 - gr) / (1 - gr * ds) * 300 / 3600)
    # DS = 1: NQ1 = 0.25 C sqrt(4 / C) = 0.5 sqrt(C)
    _, nq1, _ = back_of_queue(900.0, 900.0, 30.0, 90.0)
    assert float(nq1) == pytest.approx(0.5 * math.sqrt(900.0))
    # NS = 0.9 NQ / (Q c) 3600 ; QL = NQ 20 / W
    assert float(stop_rate(5.0, 300.0, 90.0)) == pytest.approx(0.9 * 5 / (300 * 90) * 3600)
    assert float(queue_length_m(5.0, 7.0)) == pytest.approx(5 * 20 / 7)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="flow_pcu_h must be >= 0"):
        hcm_control_delay(-1.0, 500.0, 30.0, 90.0)
    with pytest.raises(ValueError, match="analysis_period_h"):
        hcm_control_delay(1.0, 500.0, 30.0, 90.0, analysis_period_h=0.0)
    with pytest.raises(ValueError, match="entry_width_m"):
        queue_length_m(1.0, 0.0)


lane_group = st.tuples(
    st.floats(0.0, 3000.0),  # v
    st.floats(50.0, 3000.0),  # c
    st.floats(5.0, 80.0),  # g
    st.floats(40.0, 180.0),  # C
)


@settings(max_examples=150, deadline=None)
@given(lane_group, st.floats(0.0, 500.0))
def test_delay_equals_reference_nonnegative_monotone(lg: tuple, dv: float) -> None:
    v, c, g, cyc = lg
    g = min(g, cyc)
    d, d1, d2 = hcm_control_delay(v, c, g, cyc)
    assert float(d) == pytest.approx(ref.hcm_delay(v, c, g, cyc), rel=1e-12, abs=1e-12)
    assert float(d1) >= 0 and float(d2) >= -1e-12 and not math.isnan(float(d))
    d_more, _, _ = hcm_control_delay(v + dv, c, g, cyc)
    assert float(d_more) >= float(d) - 1e-9
    q, _, _ = back_of_queue(v, c, g, cyc)
    assert float(q) == pytest.approx(ref.mkji_queue(v, c, g, cyc), rel=1e-12, abs=1e-12)
    assert float(q) >= 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 500.0), min_size=2, max_size=30))
def test_los_monotone_in_delay_and_equals_reference(delays: list) -> None:
    d = np.sort(np.array(delays))
    for table in (LOS_THRESHOLDS_HCM_S, LOS_THRESHOLDS_ID_S):
        codes = level_of_service(d, table)
        assert np.all(np.diff(codes) >= 0)
        assert codes.tolist() == [ref.los(float(x), table) for x in d]
