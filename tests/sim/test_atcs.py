"""ATCS detectors: flows follow the profile, classes the mix, occupancy/speed the diagram."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from ingest.contract import DetectorReport, SignalEvent, decode
from sim.atcs import OCCUPANCY_AT_JAM_PCT, AtcsSim
from sim.profiles import CLASS_SHARES

WIB = timezone(timedelta(hours=7))
MONDAY = datetime(2025, 12, 1, tzinfo=WIB).timestamp()


@pytest.fixture(scope="module")
def day(small_city):
    """One weekday of 5-minute reports (no signals)."""
    sim = AtcsSim(small_city, np.random.default_rng(3), interval_s=300, signals=False)
    out: list = []
    expected = []
    for k in range(288):
        t0 = MONDAY + k * 300
        expected.append(sim.expected_counts(t0))  # the interval ending at t0 reports at t0
        sim.window(t0, t0 + 300, out)
    return sim, out, np.array(expected)


def _counts(out):
    """(n_reports, n_detectors, 4) counts in detector order, plus occupancy and speed."""
    per_t: dict[int, list] = {}
    for ts, _topic, payload in out:
        per_t.setdefault(ts // 300_000, []).append(json.loads(payload))
    cls, occ, spd = [], [], []
    for key in sorted(per_t):
        reps = sorted(per_t[key], key=lambda r: r["detectors"][0]["detector_id"])
        dets = [d for r in reps for d in r["detectors"]]
        cls.append([[d["mc"], d["lv"], d["hv"], d["um"]] for d in dets])
        occ.append([d["occupancy_pct"] for d in dets])
        spd.append([np.nan if d["speed_kmh"] is None else d["speed_kmh"] for d in dets])
    return np.array(cls, dtype=float), np.array(occ), np.array(spd)


def test_reports_follow_the_contract(day, small_city) -> None:
    sim, out, _ = day
    assert len(out) == 288 * len(small_city.intersections)
    now = datetime(2026, 1, 1, tzinfo=WIB)
    for ts, topic, payload in out[::97]:
        d = decode(topic, payload, now=now)
        assert isinstance(d.message, DetectorReport)
        assert d.message.interval_s == 300
        assert int(d.message.ts.timestamp() * 1000) == ts
    seqs = [json.loads(p)["seq"] for _, t, p in out if t.endswith("TNG-0001/detectors")]
    assert seqs == list(range(288))


def test_mean_flows_match_the_profile(day) -> None:
    sim, out, expected = day
    cls, _, _ = _counts(out)
    # detector order in the payloads (sorted by intersection) equals sim order here
    total = cls.sum(axis=2)  # (288, n_det)
    assert total.shape == expected.shape
    # city-wide flow in each hour within 4 % of the profile
    got_h = total.reshape(24, 12, -1).sum(axis=(1, 2))
    exp_h = expected.reshape(24, 12, -1).sum(axis=(1, 2))
    busy = exp_h > 0.3 * exp_h.max()
    np.testing.assert_allclose(got_h[busy], exp_h[busy], rtol=0.04)
    # each detector's daily volume within 5 % of its expectation
    np.testing.assert_allclose(total.sum(0), expected.sum(0), rtol=0.05)
    # the shape: AM and PM peaks where the profile puts them
    assert 6 <= int(np.argmax(got_h[:12])) <= 8 and 15 <= 12 + int(np.argmax(got_h[12:])) <= 18


def test_class_mix_is_motorcycle_dominated(day) -> None:
    _, out, _ = day
    cls, _, _ = _counts(out)
    share = cls.sum(axis=(0, 1)) / cls.sum()
    for k, name in enumerate(("mc", "lv", "hv", "um")):
        assert share[k] == pytest.approx(CLASS_SHARES[name], abs=0.01), name


def test_occupancy_and_speed_follow_the_fundamental_diagram(day) -> None:
    sim, out, _ = day
    cls, occ, spd = _counts(out)
    n = cls.sum(axis=2)
    q = n * 3600 / 300  # veh/h
    k = occ / OCCUPANCY_AT_JAM_PCT * sim.kj_veh_km  # veh/km from the reported occupancy
    moving = n > 0
    # q = k v on every interval (to the rounding of occupancy and speed)
    np.testing.assert_allclose((k * spd)[moving], q[moving], rtol=0.03, atol=15)
    assert np.all(np.isnan(spd[~moving])) and np.all(occ[~moving] == 0)
    # never faster than free flow, never above capacity on the uncongested branch
    assert np.all(spd[moving] <= sim.vf_kmh[None, :].repeat(len(n), 0)[moving] + 0.05)
    assert np.all((occ >= 0) & (occ <= 100))
    # uncongested intervals: more flow, more occupancy, less speed
    free = moving & (occ < OCCUPANCY_AT_JAM_PCT / 2)
    x = (q / sim.qc_veh_h)[free]
    assert np.corrcoef(x, occ[free])[0, 1] > 0.95
    rel_speed = (spd / sim.vf_kmh[None, :])[free]
    assert np.corrcoef(x, rel_speed)[0, 1] < -0.9
    # the peak sees some congested intervals (upper branch), the night none
    cong = moving & (occ > OCCUPANCY_AT_JAM_PCT / 2)
    hours = (np.arange(len(n)) * 300 / 3600).astype(int)
    assert cong[hours < 5].sum() == 0


def test_signal_events_follow_the_fixed_plan(small_city) -> None:
    sim = AtcsSim(small_city, np.random.default_rng(1), interval_s=60, signals=True)
    out: list = []
    sim._signals(MONDAY, MONDAY + 3600, out)
    it = small_city.intersections[0]
    mine = sorted(
        (ts, json.loads(p)) for ts, t, p in out if t.endswith(f"/{it.id}/signal")
    )
    n_events = 3 * len(it.phases)
    assert len(mine) == pytest.approx(3600 / it.plan.cycle_s * n_events, abs=n_events)
    greens = [(ts, m["phase"]) for ts, m in mine if m["state"] == "green"]
    first = [ts for ts, ph in greens if ph == 1]
    assert np.allclose(np.diff(first), it.plan.cycle_s * 1000)
    assert (first[0] / 1000 - it.plan.offset_s) % it.plan.cycle_s == pytest.approx(0, abs=1e-3)
    later = {"now": datetime(2026, 1, 1, tzinfo=WIB)}
    for _ts, m in mine[:10]:
        SignalEvent.model_validate_json(json.dumps(m), context=later)
        assert m["plan_id"] == it.plan.id
