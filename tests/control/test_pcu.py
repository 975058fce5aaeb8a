"""Passenger-car units and saturation flow (control/pcu.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control import _reference as ref
from control.pcu import PCE_OPPOSED, PCE_PROTECTED, passenger_car_flow, saturation_flow


def test_indonesian_equivalents_are_the_published_ones() -> None:
    # Bång & Palgunadi (1994), the IHCM / MKJI 1997 signalised-intersection study:
    # protected HV 1.3, MC 0.2, UM 0.5; opposed MC 0.4, UM 1.0.
    assert PCE_PROTECTED.tolist() == [0.2, 1.0, 1.3, 0.5]
    assert PCE_OPPOSED.tolist() == [0.4, 1.0, 1.3, 1.0]


def test_motorcycle_dominated_approach() -> None:
    # 1,500 mc, 500 lv, 40 hv, 20 um per hour: 300 + 500 + 52 + 10 = 862 pcu/h protected,
    # 600 + 500 + 52 + 20 = 1172 pcu/h opposed.
    q = passenger_car_flow([[[1500, 500, 40, 20], [1500, 500, 40, 20]]], opposed=[[False, True]])
    np.testing.assert_allclose(q, [[862.0, 1172.0]])


def test_scalar_list_and_ndarray_inputs_agree() -> None:
    counts = [[100.0, 50.0, 5.0, 2.0]]
    a = passenger_car_flow(counts)  # (n_phases, 4) list = one intersection
    b = passenger_car_flow(np.array([counts]))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (1, 1)


def test_override_per_intersection() -> None:
    counts = np.ones((2, 1, 4)) * 100.0
    custom = np.array([PCE_PROTECTED, [0.5, 1.0, 2.0, 0.5]])
    q = passenger_car_flow(counts, pce_protected=custom)
    np.testing.assert_allclose(q[:, 0], [100 * (0.2 + 1 + 1.3 + 0.5), 100 * (0.5 + 1 + 2 + 0.5)])


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"flow_veh_h": np.ones((2, 3, 3))}, "flow_veh_h has shape (2, 3, 3)"),
        ({"flow_veh_h": -np.ones((1, 2, 4))}, "flow_veh_h must be >= 0"),
        (
            {"flow_veh_h": np.ones((2, 3, 4)), "opposed": np.zeros((3, 3), bool)},
            "opposed has shape",
        ),
        ({"flow_veh_h": np.ones((2, 3, 4)), "pce_protected": np.ones((3, 4))}, "pce_protected"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        passenger_car_flow(**kwargs)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.floats(0, 5000), min_size=4, max_size=4), st.booleans()
        ),
        min_size=1,
        max_size=8,
    )
)
def test_vectorized_equals_reference(phases: list) -> None:
    counts = np.array([[c for c, _ in phases]])
    opp = np.array([[o for _, o in phases]])
    got = passenger_car_flow(counts, opposed=opp)[0]
    want = [ref.pcu(c, o) for c, o in phases]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


def test_saturation_flow_600_per_metre() -> None:
    # MKJI 1997 / Bång & Palgunadi (1994): S0 = 600 x We on protected approaches.
    np.testing.assert_allclose(saturation_flow([3.5, 7.0], [1.0, 0.94]), [2100.0, 3948.0])
    with pytest.raises(ValueError, match="effective_width_m"):
        saturation_flow([0.0])
    with pytest.raises(ValueError, match="adjustment has shape"):
        saturation_flow([3.0, 4.0], [1.0, 1.0, 1.0])
