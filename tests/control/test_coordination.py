"""Green-wave offsets and bandwidth (control/coordination.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control import _reference as ref
from control.coordination import bandwidth, green_wave_offsets


def test_one_way_wave_band_is_the_smallest_green() -> None:
    # Ideal one-way progression: o_i = T_i mod C, every platoon that starts in the
    # narrowest green passes all signals (Morgan & Little 1964).
    links = [[25.0, 40.0, 70.0]]
    greens = [[40.0, 30.0, 45.0, 35.0]]
    off, b_out, _ = green_wave_offsets(links, greens, [90.0])
    np.testing.assert_allclose(off[0], [0.0, 25.0, 65.0, 45.0])
    assert b_out[0] == pytest.approx(30.0)


def test_two_way_half_cycle_spacing_gives_full_bands() -> None:
    # Signals spaced at half a cycle of travel (C = 80 s, 40 s per link) with equal greens:
    # the alternate system serves both directions with the full green (Webster & Cobbe 1966).
    off, b_out, b_in = green_wave_offsets([[40.0, 40.0, 40.0]], [[35.0] * 4], [80.0], two_way=True)
    assert b_out[0] == pytest.approx(35.0)
    assert b_in[0] == pytest.approx(35.0)
    np.testing.assert_allclose(np.mod(off[0], 80.0), [0.0, 40.0, 0.0, 40.0])


def test_padding_and_shape_errors() -> None:
    mask = np.array([[True, True, False]])
    off, b, _ = green_wave_offsets([[10.0, 999.0]], [[30.0, 20.0, 1.0]], [60.0], signal_mask=mask)
    assert off[0, 2] == 0.0 and b[0] == pytest.approx(20.0)
    with pytest.raises(ValueError, match=r"link_travel_s has shape \(1, 3\)"):
        green_wave_offsets([[10.0, 10.0, 10.0]], [[30.0, 30.0, 30.0]], [60.0])
    with pytest.raises(ValueError, match=r"green_s must be within \[0, cycle_s\]"):
        green_wave_offsets([[10.0]], [[30.0, 70.0]], [60.0])
    with pytest.raises(ValueError, match="cycle_s must be > 0"):
        green_wave_offsets([[10.0]], [[30.0, 30.0]], [0.0])


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda m: st.tuples(
            st.lists(st.floats(0, 100).map(lambda x: round(x, 1)), min_size=m, max_size=m),
            st.lists(st.floats(10, 50).map(lambda x: round(x, 1)), min_size=m, max_size=m),
            st.lists(st.floats(0, 200).map(lambda x: round(x, 1)), min_size=m, max_size=m),
        )
    )
)
def test_bandwidth_equals_brute_force(case) -> None:
    offsets, greens, arrivals = case
    cycle = 100.0
    got = bandwidth([offsets], [greens], [arrivals], [cycle])[0]
    want = ref.bandwidth(offsets, greens, arrivals, cycle, step_s=0.1)
    assert got == pytest.approx(want, abs=0.11)
    assert 0.0 <= got <= min(greens) + 1e-9
