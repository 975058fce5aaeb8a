"""The device engine: deterministic, in time order, every message within the contract."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from ingest.contract import decode
from sim.engine import DeviceEngine, EngineConfig

WIB = timezone(timedelta(hours=7))
START = datetime(2025, 12, 1, 6, 30, tzinfo=WIB).timestamp()


def _run(inv, seed: int, seconds: float = 1800.0, **cfg) -> list:
    eng = DeviceEngine(inv, START, EngineConfig(seed=seed, **cfg))
    return [m for w in eng.windows(START + seconds) for m in w]


def test_same_seed_same_messages(small_city) -> None:
    a = _run(small_city, 1)
    assert a == _run(small_city, 1)
    assert a != _run(small_city, 2)


def test_time_order_contract_and_root(small_city) -> None:
    msgs = _run(small_city, 3, root="trootx", detector_interval_s=30)
    ts = [m[0] for m in msgs]
    assert ts == sorted(ts) and START * 1000 <= ts[0] and ts[-1] < (START + 1800) * 1000
    kinds: Counter[str] = Counter()
    later = datetime(2026, 1, 1, tzinfo=WIB)
    for _ts, topic, payload in msgs:
        d = decode(topic, payload, root="trootx", now=later)
        kinds[d.topic.kind.value] += 1
    n = len(small_city.intersections)
    assert kinds["detectors"] == n * 60
    assert kinds["signal"] > n * 1800 / 200
    assert kinds["parking"] > 0 and kinds["gps"] > 0


def test_families_can_be_chosen(small_city) -> None:
    msgs = _run(small_city, 3, families=("parking",))
    assert msgs and all("/parking/" in t for _, t, _ in msgs)
    with pytest.raises(ValueError, match="unknown device families"):
        DeviceEngine(small_city, START, EngineConfig(families=("radar",)))
