"""The compiled timing pipeline (control/_kernels.py) against the NumPy path and the reference.

The kernel writes the NumPy path's equations out for one intersection at a
time, in the same order with the same sums (left to right, as the scalar
reference), so the two paths must agree bit for bit, NaN where NaN: every
comparison here is exact.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control import _kernels
from control import _reference as ref
from control.delay import LOS_THRESHOLDS_ID_S
from control.pcu import saturation_flow
from control.pipeline import SignalPlan, plan_signals
from control.webster import pedestrian_green_s

pytestmark = pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="numba is not installed")


def assert_same_plan(a: SignalPlan, b: SignalPlan) -> None:
    """Every field equal, bit for bit (NaN equal to NaN), same dtypes."""
    for field in dataclasses.fields(SignalPlan):
        u, v = getattr(a, field.name), getattr(b, field.name)
        assert u.dtype == v.dtype, field.name
        assert u.shape == v.shape, field.name
        assert np.array_equal(u, v, equal_nan=u.dtype.kind == "f"), field.name


def city(n: int, seed: int, max_phases: int = 8) -> dict:
    """Intersections like bench/control.py's: 2..max_phases phases, mostly motorcycles."""
    rng = np.random.default_rng(seed)
    p = max_phases
    mask = np.arange(p)[None, :] < rng.integers(2, p + 1, n)[:, None]
    total = rng.uniform(300, 2200, (n, p))
    mc, hv, um = rng.uniform(0.55, 0.8, (n, p)), rng.uniform(0.01, 0.06, (n, p)), rng.uniform(
        0.0, 0.02, (n, p)
    )
    counts = total[..., None] * np.stack([mc, 1.0 - mc - hv - um, hv, um], axis=-1)
    counts = np.where(mask[..., None], counts, 0.0)
    width = rng.choice([3.5, 5.0, 7.0, 10.5], (n, p))
    ped = pedestrian_green_s(np.where(rng.random((n, p)) < 0.5, width + 2.0, 0.0))
    return dict(
        flow_veh_h=counts, saturation_pcu_h=saturation_flow(width, rng.uniform(0.8, 1.0, (n, p))),
        intergreen_s=rng.choice([4.0, 5.0, 6.0], (n, p)), phase_mask=mask,
        min_green_s=np.maximum(7.0, ped), opposed=rng.random((n, p)) < 0.3, entry_width_m=width,
    )


def test_city_equals_numpy_path_and_reference_bit_for_bit() -> None:
    # many greens land on x.5 here (a pedestrian minimum of 14.5 s on 7 m): the
    # rounding of those ties depends on the last bit of the split, and all three
    # implementations must round them alike
    c = city(3000, seed=7)
    plan = plan_signals(**c)
    assert_same_plan(plan, plan_signals(**c, compiled=False))
    for i in range(c["phase_mask"].shape[0]):
        k = int(c["phase_mask"][i].sum())
        want = ref.plan_intersection(
            c["flow_veh_h"][i, :k].tolist(), c["saturation_pcu_h"][i, :k].tolist(),
            c["intergreen_s"][i, :k].tolist(), c["min_green_s"][i, :k].tolist(),
            c["opposed"][i, :k].tolist(), 40.0, 180.0, 1.0, c["entry_width_m"][i, :k].tolist(),
        )
        assert plan.flow_pcu_h[i, :k].tolist() == want["flow_pcu_h"]
        assert plan.flow_ratio[i, :k].tolist() == want["flow_ratio"]
        assert plan.cycle_s[i] == want["cycle_s"]
        assert plan.green_s[i, :k].tolist() == want["green_s"]
        assert plan.los[i, :k].tolist() == want["los"]
        assert plan.valid[i] == want["valid"]
        np.testing.assert_allclose(plan.delay_s[i, :k], want["delay_s"], rtol=1e-12)


counts_st = st.lists(
    st.one_of(st.floats(0, 2000), st.just(0.0), st.just(float("nan"))), min_size=4, max_size=4
)
phase_st = st.tuples(
    counts_st,
    st.floats(300, 6000),  # saturation [pcu/h]
    st.sampled_from([0.0, 3.0, 4.0, 5.0, 6.5]),  # intergreen [s]
    st.one_of(st.floats(0, 40), st.sampled_from([7.0, 14.5, 12.5])),  # min green [s]
    st.booleans(),  # opposed
    st.booleans(),  # exists (else padding, with whatever counts it was given)
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(phase_st, min_size=1, max_size=8), min_size=1, max_size=8),
    st.sampled_from([None, 1.0, 2.0, 0.5]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.floats(20, 90),
    st.floats(0, 150),
)
def test_compiled_equals_numpy_path(
    rows: list, resolution: float | None, widths: bool, own_pce: bool, idn: bool,
    min_cycle: float, cycle_range: float,
) -> None:
    n, p = len(rows), max(len(r) for r in rows)
    counts = np.zeros((n, p, 4))
    sat = np.full((n, p), 1800.0)
    ig, gmin = np.zeros((n, p)), np.zeros((n, p))
    opp, mask = np.zeros((n, p), bool), np.zeros((n, p), bool)
    for i, phases in enumerate(rows):
        for j, (c, s, g, mg, o, exists) in enumerate(phases):
            counts[i, j], sat[i, j], ig[i, j], gmin[i, j], opp[i, j] = c, s, g, mg, o
            mask[i, j] = exists
    pce = np.linspace([0.2, 1.0, 1.3, 0.5], [0.5, 1.2, 2.0, 1.0], n) if own_pce else None
    kwargs = dict(
        flow_veh_h=counts, saturation_pcu_h=sat, intergreen_s=ig, phase_mask=mask,
        min_green_s=gmin, opposed=opp, min_cycle_s=min_cycle,
        max_cycle_s=min_cycle + cycle_range, resolution_s=resolution,
        entry_width_m=np.full((n, p), 6.0) if widths else None,
        los_thresholds_s=LOS_THRESHOLDS_ID_S if idn else (10.0, 20.0, 35.0, 55.0, 80.0),
    )
    if pce is not None:
        kwargs["pce_protected"] = pce
    assert_same_plan(plan_signals(**kwargs), plan_signals(**kwargs, compiled=False))


@pytest.mark.parametrize(
    "case",
    [
        "no demand", "infeasible minimums", "never red", "nan count", "nan on padding",
        "oversaturated", "inf count on padding", "interleaved padding",
    ],
)
def test_edge_cases_equal_numpy_path(case: str) -> None:
    counts = np.full((3, 4, 4), 100.0)
    kwargs: dict = dict(flow_veh_h=counts, saturation_pcu_h=1800.0, intergreen_s=5.0,
                        min_green_s=7.0, entry_width_m=5.0)
    mask = np.ones((3, 4), bool)
    mask[1, 2:] = False
    if case == "no demand":
        counts[:] = 0.0
    elif case == "infeasible minimums":
        kwargs["min_green_s"] = np.array([[7.0] * 4, [50.0] * 4, [60.0] * 4])
    elif case == "never red":  # one phase, no intergreen: g = C
        kwargs.update(flow_veh_h=counts[:, :1], intergreen_s=0.0)
        mask = mask[:, :1]
        kwargs["entry_width_m"] = 5.0
    elif case == "nan count":
        counts[0, 1, 2] = np.nan
    elif case == "nan on padding":
        counts[1, 3, 0] = np.nan
    elif case == "oversaturated":
        counts *= 20.0
    elif case == "inf count on padding":
        counts[1, 3, 0] = np.inf
    elif case == "interleaved padding":
        mask[2, 1] = False
    kwargs["phase_mask"] = mask
    plan = plan_signals(**kwargs)
    assert_same_plan(plan, plan_signals(**kwargs, compiled=False))
    if case == "never red":
        assert np.all(plan.green_s[:, 0] == plan.cycle_s)
    if case == "nan count":
        assert np.isnan(plan.delay_s[0, 1]) and plan.los[0, 1] == -1
    if case in ("nan on padding", "inf count on padding"):
        assert np.isfinite(plan.cycle_s[1]) and plan.flow_pcu_h[1, 3] == 0.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(flow_veh_h=-1.0), "flow_veh_h must be >= 0"),
        (dict(intergreen_s=-1.0), "intergreen_s must be >= 0"),
        (dict(min_green_s=-1.0), "min_green_s must be >= 0"),
        (dict(saturation_pcu_h=0.0), "saturation_pcu_h must be > 0"),
        (dict(entry_width_m=0.0), "entry_width_m must be > 0"),
        (dict(resolution_s=0.0), "resolution_s must be > 0"),
        (dict(k=0.0), "analysis_period_h must be > 0"),
        (dict(min_cycle_s=100.0, max_cycle_s=90.0), "min_cycle_s must be <= max_cycle_s"),
        (dict(los_thresholds_s=(10.0, 5.0, 35.0, 55.0, 80.0)), "thresholds_s has shape"),
        (dict(pce_protected=[0.2, 1.0, 1.3]), "pce_protected has shape"),
        (dict(flow_veh_h=np.zeros((2, 0, 4))), r"flow_veh_h has shape \(2, 0, 4\)"),
    ],
)
def test_invalid_input_raises_as_the_numpy_path(change: dict, message: str) -> None:
    kwargs: dict = dict(flow_veh_h=np.full((2, 3, 4), 100.0), saturation_pcu_h=1800.0,
                        intergreen_s=5.0, entry_width_m=5.0)
    if isinstance(change.get("flow_veh_h"), float):
        kwargs["flow_veh_h"][1, 2, 0] = change.pop("flow_veh_h")
    kwargs.update(change)
    for compiled in (True, False):
        with pytest.raises(ValueError, match=message):
            plan_signals(**kwargs, compiled=compiled)


def test_interpreted_kernel_equals_compiled() -> None:
    # the kernel's Python source, run by the interpreter, gives the compiled results:
    # numba compiled what the source says
    c = city(40, seed=3)
    n, p = c["phase_mask"].shape
    args = (
        c["flow_veh_h"], c["opposed"], np.array([[0.2, 1.0, 1.3, 0.5]]),
        np.array([[0.4, 1.0, 1.3, 1.0]]), c["saturation_pcu_h"], c["intergreen_s"],
        c["min_green_s"], c["phase_mask"], np.full(n, 40.0), np.full(n, 180.0),
        c["entry_width_m"], True, 1.0, 0.25, 0.5, np.array([10.0, 20.0, 35.0, 55.0, 80.0]),
    )
    compiled, interpreted = _kernels.allocate(n, p), _kernels.allocate(n, p)
    _kernels.plan_rows(*args, compiled, 0, n)
    _kernels.plan_rows.py_func(*args, interpreted, 0, n)
    for (name, _, _), u, v in zip(_kernels.OUTPUTS, compiled, interpreted, strict=True):
        assert np.array_equal(u, v, equal_nan=u.dtype.kind == "f"), name


def test_row_ranges_write_only_their_rows() -> None:
    c = city(50, seed=5)
    whole = plan_signals(**c)
    n, p = c["phase_mask"].shape
    args = (
        c["flow_veh_h"], c["opposed"], np.array([[0.2, 1.0, 1.3, 0.5]]),
        np.array([[0.4, 1.0, 1.3, 1.0]]), c["saturation_pcu_h"], c["intergreen_s"],
        c["min_green_s"], c["phase_mask"], np.full(n, 40.0), np.full(n, 180.0),
        c["entry_width_m"], True, 1.0, 0.25, 0.5, np.array([10.0, 20.0, 35.0, 55.0, 80.0]),
    )
    out = _kernels.allocate(n, p)
    for arr in out:
        arr[...] = 0
    _kernels.plan_rows(*args, out, 10, 30)
    np.testing.assert_array_equal(out[0][10:30], whole.cycle_s[10:30])
    np.testing.assert_array_equal(out[1][10:30], whole.green_s[10:30])
    assert not out[0][:10].any() and not out[0][30:].any()
