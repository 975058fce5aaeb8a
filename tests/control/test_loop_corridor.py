"""Corridor linking in the adaptive loop: the common cycle and the green wave."""

from __future__ import annotations

import numpy as np

from control.coordination import bandwidth
from control.loop import corridor_timing


def _corridor(n: int, y_main: float, y_side: float) -> tuple[np.ndarray, ...]:
    y = np.tile([y_main, y_side], (n, 1))
    ig = np.full((n, 2), 3.0)
    gmin = np.full((n, 2), 7.0)
    mask = np.ones((n, 2), dtype=bool)
    return y, ig, gmin, mask


def test_alternate_wave_at_twice_the_link_travel_time() -> None:
    # 300 m between signals at 13.89 m/s: 21.6 s; the classic two-way answer is the
    # alternate pattern, C = 2 T, every other signal offset by half a cycle
    y, ig, gmin, mask = _corridor(6, 0.2, 0.1)
    t = np.full(5, 21.6)
    c, g, off, b_out, b_in = corridor_timing(y, ig, gmin, mask, t, t, 20.0, 140.0)
    assert 42.0 <= c <= 45.0
    assert np.allclose(g.sum(axis=-1) + 6.0, c)  # greens fill the common cycle
    half = np.round(off / (c / 2)) % 2
    assert np.all(half[::2] == half[0]) and np.all(half[1::2] != half[0])
    # both directions get a band, and it is what the core's bandwidth says
    assert b_out > 0.3 * g[:, 0].min() and b_in > 0.3 * g[:, 0].min()
    cum = np.concatenate([[0.0], np.cumsum(t)])
    assert np.isclose(bandwidth(off[None], g[None, :, 0], cum[None], np.array([c]))[0], b_out)


def test_the_common_cycle_keeps_every_signal_under_the_target_saturation() -> None:
    y, ig, gmin, mask = _corridor(4, 0.2, 0.1)
    y[2] = [0.45, 0.25]  # one busy junction: Y = 0.7
    t = np.full(3, 21.6)
    c, g, *_ = corridor_timing(y, ig, gmin, mask, t, t, 20.0, 140.0, x_target=0.85)
    need = 6.0 / (1 - 0.7 / 0.85)
    assert c >= need
    x = y[2] * c / g[2]  # degree of saturation of each phase at the busy junction
    assert np.all(x <= 0.85 + 1e-6)


def test_search_is_bounded_by_the_maximum_cycle() -> None:
    y, ig, gmin, mask = _corridor(3, 0.3, 0.3)
    t = np.full(2, 60.0)  # long links would like a 120 s cycle
    c, *_ = corridor_timing(y, ig, gmin, mask, t, t, 20.0, 50.0)
    assert c <= 50.0
