"""Parking bays: occupancy within capacity, Little's law, heartbeats and faults."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from ingest.contract import BayEvent, decode
from sim import parking
from sim.parking import ParkingSim, lot_target_occupancy

WIB = timezone(timedelta(hours=7))
MONDAY = datetime(2025, 12, 1, tzinfo=WIB).timestamp()


@pytest.fixture(scope="module")
def day(small_city):
    sim = ParkingSim(small_city, np.random.default_rng(5), MONDAY, heartbeat_s=600)
    out: list = []
    occ = []
    for k in range(8640):  # 10-second windows over a day
        t0 = MONDAY + k * 10
        sim.window(t0, t0 + 10, out)
        if k % 30 == 0:
            occ.append(sim.occupancy())
    return sim, out, np.array(occ)


def test_occupancy_never_exceeds_capacity(day, small_city) -> None:
    sim, out, occ = day
    assert np.all(occ <= sim.bays_per_lot[None, :])
    assert np.all(sim.bays_per_lot <= sim.lot_capacity)
    # the sensors' view, replayed from the messages, never exceeds capacity either
    state: dict[str, bool] = {}
    per_lot = defaultdict(int)
    cap = {lot.id: lot.capacity for lot in small_city.lots}
    for _ts, topic, payload in out:
        m = json.loads(payload)
        lot = topic.split("/")[3]
        was = state.get(topic, False)
        state[topic] = m["occupied"]
        per_lot[lot] += int(m["occupied"]) - int(was)
        assert 0 <= per_lot[lot] <= cap[lot]


def test_occupancy_follows_the_lot_profile(day, small_city) -> None:
    sim, _, occ = day
    t = MONDAY + np.arange(len(occ)) * 300
    share = occ / sim.bays_per_lot[None, :]
    for k, lot in enumerate(small_city.lots):
        target = lot_target_occupancy(lot.kind, t)
        # Little's law: the daily mean follows the target once the lot has warmed up
        hours = (t - MONDAY) / 3600
        settled = hours > 3 * parking.LOT_PROFILES[lot.kind][1]
        if settled.sum() < 24 or lot.capacity < 20:
            continue
        assert share[settled, k].mean() == pytest.approx(target[settled].mean(), abs=0.12), lot.id
        assert np.corrcoef(share[settled, k], target[settled])[0, 1] > 0.6, lot.id


def test_messages_follow_the_contract_and_heartbeat(day) -> None:
    sim, out, _ = day
    later = datetime(2026, 1, 1, tzinfo=WIB)
    kinds = defaultdict(int)
    seqs: dict[str, list[int]] = defaultdict(list)
    for ts, topic, payload in out:
        m = json.loads(payload)
        kinds[m["kind"]] += 1
        seqs[topic].append(m["seq"])
        assert m["ts"] == ts
    for _ts, topic, payload in out[:: max(1, len(out) // 500)]:
        assert isinstance(decode(topic, payload, now=later).message, BayEvent)
    # a heartbeat about every 10 minutes from each bay (minus offline time)
    assert kinds["heartbeat"] == pytest.approx(sim.n_bays * 144, rel=0.05)
    assert kinds["change"] > sim.n_bays  # bays turn over during the day
    for s in seqs.values():
        assert s == list(range(len(s)))  # per-sensor seq, no gaps
    assert sim.battery.min() < 20  # a few sensors with low batteries


def test_faults_silence_or_freeze_sensors(small_city, monkeypatch) -> None:
    monkeypatch.setattr(parking, "FAULTS", {"stuck": (200.0, (1.0, 1.0)),
                                            "offline": (0.0, (1.0, 1.0))})
    sim = ParkingSim(small_city, np.random.default_rng(2), MONDAY + 9 * 3600, heartbeat_s=600)
    out: list = []
    for k in range(360):  # one hour, every sensor stuck soon
        sim.window(MONDAY + 9 * 3600 + k * 10, MONDAY + 9 * 3600 + k * 10 + 10, out)
    changes = sum(1 for _, _, p in out if b'"change"' in p)
    assert changes < 0.2 * sim.n_bays  # stuck sensors miss the changes
    assert np.any(sim.reported != sim.occupied)  # and report a stale state
    monkeypatch.setattr(parking, "FAULTS", {"stuck": (0.0, (1.0, 1.0)),
                                            "offline": (200.0, (2.0, 2.0))})
    sim = ParkingSim(small_city, np.random.default_rng(2), MONDAY + 9 * 3600, heartbeat_s=600)
    out = []
    for k in range(360):
        sim.window(MONDAY + 9 * 3600 + k * 10, MONDAY + 9 * 3600 + k * 10 + 10, out)
    assert len(out) < 0.2 * sim.n_bays * 6  # offline sensors send nothing
