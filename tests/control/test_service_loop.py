"""The adaptive loop's fail-safes against the real PostgreSQL and Mosquitto.

Each test owns a fresh database (fixture ``db_url``) and a topic root of its own;
counts are rows in ``detector_reading`` as the ingest stores them, and plans are
read back from the broker (retained) and from the audit table.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from control.loop import (
    ControlLoop,
    IntersectionConfig,
    LoopParams,
    PhaseConfig,
    add_override,
    cancel_override,
    save_configs,
)
from control.plans import SignalPlan, plan_topic
from control.service import MqttPlanPublisher
from hub.db import connect
from hub.settings import Settings
from hub.store import ensure_partitions_ahead

IID = "TGR-0001"
CFG = IntersectionConfig(
    intersection_id=IID,
    phases=(
        PhaseConfig(0, ("N1", "S1"), min_green_s=8.0, intergreen_s=5.0),
        PhaseConfig(1, ("E1", "W1"), min_green_s=8.0, intergreen_s=5.0),
    ),
    fixed_greens_s=(40.0, 30.0),
    min_cycle_s=40.0,
    max_cycle_s=140.0,
    max_cycle_step_s=10.0,
    max_split_step_pct=10.0,
)
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


class PlanListener:
    """A plain MQTT subscriber to the plan topics, as a street controller would be."""

    def __init__(self, root: str) -> None:
        self.plans: list[SignalPlan] = []
        self.retained: list[bool] = []
        self._cv = threading.Condition()
        self._ready = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
        self.c.on_connect = lambda c, *a: c.subscribe(f"{root}/v1/atcs/+/plan", qos=1)
        self.c.on_subscribe = lambda *a: self._ready.set()
        self.c.on_message = self._on
        self.c.connect("127.0.0.1", 1883)
        self.c.loop_start()
        assert self._ready.wait(5)

    def _on(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cv:
            self.plans.append(SignalPlan.model_validate_json(msg.payload))
            self.retained.append(bool(msg.retain))
            self._cv.notify_all()

    def wait_for(self, seq: int, timeout_s: float = 5.0) -> SignalPlan:
        with self._cv:
            ok = self._cv.wait_for(lambda: any(p.seq == seq for p in self.plans), timeout_s)
            assert ok, f"plan seq {seq} never arrived (got {[p.seq for p in self.plans]})"
            return next(p for p in self.plans if p.seq == seq)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def loop(db_url: str, topic_root: str, broker: tuple[str, int]) -> Iterator[ControlLoop]:
    settings = Settings(database_url=db_url, mqtt_topic_root=topic_root,
                        mqtt_url=f"mqtt://{broker[0]}:{broker[1]}")
    conn = connect(db_url)
    ensure_partitions_ahead(conn, 1)
    conn.execute("SET TIME ZONE 'UTC'")
    save_configs(conn, [CFG])
    pub = MqttPlanPublisher(settings)
    lp = ControlLoop(conn, pub, topic_root, LoopParams(window_s=120, stale_after_s=150))
    yield lp
    pub.client.publish(plan_topic(IID, topic_root), b"", qos=1, retain=True).wait_for_publish(5)
    pub.close()
    conn.close()


def counts(
    conn: object, at: datetime, per_detector: dict[str, tuple[int, int, int, int]],
    queue_m: float | None = 0.0, interval_s: int = 60,
) -> None:
    """Rows as the ingest writes them for one reporting interval ending at ``at``."""
    with conn.transaction(), conn.cursor() as cur:  # type: ignore[attr-defined]
        for n, (det, (mc, lv, hv, um)) in enumerate(per_detector.items()):
            cur.execute(
                """INSERT INTO detector_reading (ts, intersection_id, detector_id, seq, approach,
                       lane, interval_s, mc, lv, hv, um, occupancy_pct, speed_kmh, queue_m)
                   VALUES (%s, %s, %s, %s, %s, 1, %s, %s, %s, %s, %s, 12.5, 25.0, %s)""",
                (at, IID, det, int(at.timestamp()) * 10 + n, det[0], interval_s, mc, lv, hv, um,
                 queue_m),
            )


BALANCED = {"N1": (40, 10, 1, 0), "S1": (35, 12, 0, 0), "E1": (30, 8, 1, 0), "W1": (20, 6, 0, 0)}


def test_adaptive_plan_is_published_retained_and_audited(
    loop: ControlLoop, topic_root: str
) -> None:
    counts(loop.conn, NOW - timedelta(seconds=10), BALANCED)
    listener = PlanListener(topic_root)
    try:
        res = loop.tick(NOW)
        d = res.decisions[IID]
        assert d.changed and d.plan.source == "adaptive" and d.alert is None
        got = listener.wait_for(d.plan.seq)
        assert got == d.plan
        assert abs(sum(p.green_s + p.intergreen_s for p in got.phases) - got.cycle_s) < 0.51
        assert all(p.green_s >= 8.0 for p in got.phases)
    finally:
        listener.close()
    # a controller connecting later gets the plan in force (retained)
    late = PlanListener(topic_root)
    try:
        assert late.wait_for(d.plan.seq).plan_id == d.plan.plan_id
        assert late.retained[-1]
    finally:
        late.close()
    row = loop.conn.execute(
        "SELECT source, reason, inputs FROM signal_plan_audit WHERE intersection_id = %s", (IID,)
    ).fetchone()
    assert row is not None and row[0] == "adaptive" and "Webster" in row[1]
    assert row[2]["detectors_reporting"] == 4 and len(row[2]["flow_pcu_h"]) == 2


def test_stale_data_falls_back_to_the_fixed_plan_with_an_alert(loop: ControlLoop) -> None:
    counts(loop.conn, NOW - timedelta(seconds=400), BALANCED)
    loop.params = LoopParams(window_s=600, stale_after_s=150)
    d = loop.tick(NOW).decisions[IID]
    assert d.plan.source == "fallback"
    assert d.plan.greens_s == [40.0, 30.0] and d.plan.cycle_s == 80.0
    assert "stale" in d.plan.reason
    alerts = loop.conn.execute("SELECT kind, message FROM control_alert").fetchall()
    assert [a[0] for a in alerts] == ["stale"]
    # still stale next tick: no second alert, no new plan
    d2 = loop.tick(NOW + timedelta(seconds=60)).decisions[IID]
    assert not d2.changed
    assert loop.conn.execute("SELECT count(*) FROM control_alert").fetchone() == (1,)


def test_missing_detectors_fall_back(loop: ControlLoop) -> None:
    d = loop.tick(NOW).decisions[IID]
    assert d.plan.source == "fallback" and "missing" in d.plan.reason
    counts(loop.conn, NOW + timedelta(seconds=50), {"N1": (10, 1, 0, 0)})  # 1 of 4 reporting
    d = loop.tick(NOW + timedelta(seconds=60)).decisions[IID]
    assert d.plan.source == "fallback" and "1 of 4" in d.plan.reason


def test_nan_from_a_detector_falls_back_with_an_alert(loop: ControlLoop) -> None:
    counts(loop.conn, NOW - timedelta(seconds=10), BALANCED, queue_m=math.nan)
    d = loop.tick(NOW).decisions[IID]
    assert d.plan.source == "fallback" and "nan" in d.plan.reason
    kinds = [r[0] for r in loop.conn.execute("SELECT kind FROM control_alert").fetchall()]
    assert kinds == ["nan"]
    # good data again: back to adaptive
    counts(loop.conn, NOW + timedelta(seconds=50), BALANCED)
    loop.params = LoopParams(window_s=30)
    d = loop.tick(NOW + timedelta(seconds=60)).decisions[IID]
    assert d.plan.source == "adaptive"


def test_failed_validation_falls_back(loop: ControlLoop) -> None:
    # minimum greens that cannot fit the maximum cycle: the validator refuses the plan
    bad = IntersectionConfig(
        intersection_id=IID,
        phases=(PhaseConfig(0, ("N1", "S1"), min_green_s=70.0, intergreen_s=5.0),
                PhaseConfig(1, ("E1", "W1"), min_green_s=70.0, intergreen_s=5.0)),
        fixed_greens_s=(70.0, 70.0), max_cycle_s=120.0,
    )
    save_configs(loop.conn, [bad])
    counts(loop.conn, NOW - timedelta(seconds=10), BALANCED)
    d = loop.tick(NOW).decisions[IID]
    assert d.plan.source == "fallback" and "invalid" in d.plan.reason
    assert d.alert is not None and d.alert[0] == "invalid"


def test_override_wins_until_it_expires(loop: ControlLoop) -> None:
    counts(loop.conn, NOW - timedelta(seconds=10), BALANCED)
    assert loop.tick(NOW).decisions[IID].plan.source == "adaptive"
    oid = add_override(loop.conn, IID, [50.0, 20.0], reason="flooding on Jl. Daan Mogot",
                       created_by="operator-1", starts_at=NOW,
                       expires_at=NOW + timedelta(minutes=10))
    d = loop.tick(NOW + timedelta(seconds=30)).decisions[IID]
    assert d.plan.source == "override" and d.plan.greens_s == [50.0, 20.0]
    assert "Daan Mogot" in d.plan.reason and "operator-1" in d.plan.reason
    assert d.plan.valid_until == NOW + timedelta(minutes=10)
    # stale data does not break an override either
    d = loop.tick(NOW + timedelta(minutes=5)).decisions[IID]
    assert d.plan.source == "override"
    # expired: the loop takes over again (here: fallback, the counts are old now)
    d = loop.tick(NOW + timedelta(minutes=11)).decisions[IID]
    assert d.plan.source == "fallback"
    # a cancelled override stops winning at once
    oid2 = add_override(loop.conn, IID, [30.0, 30.0], reason="event", created_by="op",
                        starts_at=NOW + timedelta(minutes=11),
                        expires_at=NOW + timedelta(minutes=60))
    assert loop.tick(NOW + timedelta(minutes=12)).decisions[IID].plan.source == "override"
    assert cancel_override(loop.conn, oid2) and not cancel_override(loop.conn, oid2)
    assert loop.tick(NOW + timedelta(minutes=13)).decisions[IID].plan.source == "fallback"
    sources = [r[0] for r in loop.conn.execute(
        "SELECT source FROM signal_plan_audit ORDER BY id").fetchall()]
    assert sources == ["adaptive", "override", "fallback", "override", "fallback"]
    assert oid < oid2


def test_override_violating_minimum_greens_is_refused(loop: ControlLoop) -> None:
    with pytest.raises(ValueError, match="minimum"):
        add_override(loop.conn, IID, [3.0, 60.0], reason="x", created_by="op",
                     expires_at=NOW + timedelta(minutes=5))
    with pytest.raises(ValueError, match="no control configuration"):
        add_override(loop.conn, "nope", [30.0, 30.0], reason="x", created_by="op",
                     expires_at=NOW + timedelta(minutes=5))


def test_rate_limits_bound_the_change_between_plans(loop: ControlLoop) -> None:
    light = {"N1": (10, 2, 0, 0), "S1": (8, 2, 0, 0), "E1": (6, 2, 0, 0), "W1": (5, 1, 0, 0)}
    heavy = {"N1": (260, 80, 6, 0), "S1": (240, 75, 5, 0), "E1": (60, 30, 2, 0),
             "W1": (50, 20, 1, 0)}
    loop.params = LoopParams(window_s=50, smoothing=1.0, queue_weight=0.0)
    counts(loop.conn, NOW - timedelta(seconds=10), light)
    first = loop.tick(NOW).decisions[IID].plan
    assert first.source == "adaptive"
    cycles, shares = [first.cycle_s], [first.phases[0].green_s / sum(first.greens_s)]
    for k in range(1, 6):
        t = NOW + timedelta(seconds=60 * k)
        counts(loop.conn, t - timedelta(seconds=10), heavy)
        p = loop.tick(t).decisions[IID].plan
        assert p.source == "adaptive"
        cycles.append(p.cycle_s)
        shares.append(p.phases[0].green_s / sum(p.greens_s))
    steps = [b - a for a, b in zip(cycles, cycles[1:], strict=False)]
    assert max(abs(s) for s in steps) <= 10.0 + 2.0  # cycle step (+ rounding of two greens)
    assert cycles[-1] > cycles[0] + 20  # it does get there, step by step
    share_steps = [abs(b - a) for a, b in zip(shares, shares[1:], strict=False)]
    assert max(share_steps) <= 0.10 + 0.03
    assert shares[-1] > shares[0]


def test_service_runs_on_the_inventory_once(db_url: str, topic_root: str) -> None:
    """``tlive control run --once`` path: configs derived from the stored inventory."""
    from control.service import ControlService
    from hub.inventory import save_to_store
    from sim.city import generate_city

    inv = generate_city(3, seed=5)
    with connect(db_url) as conn:
        save_to_store(conn, inv)
        conn.commit()
        ensure_partitions_ahead(conn, 1)
        ix = inv.intersections[0]
        now = datetime.now(UTC)
        with conn.transaction(), conn.cursor() as cur:
            for n, d in enumerate(ix.detectors):
                cur.execute(
                    """INSERT INTO detector_reading (ts, intersection_id, detector_id, seq,
                           approach, lane, interval_s, mc, lv, hv, um, occupancy_pct)
                       VALUES (%s, %s, %s, %s, %s, %s, 60, 30, 10, 1, 0, 10.0)""",
                    (now - timedelta(seconds=20), ix.id, d.id, n, d.approach, d.lane),
                )
    listener = PlanListener(topic_root)
    seen: list[object] = []
    try:
        settings = Settings(database_url=db_url, mqtt_topic_root=topic_root)
        assert ControlService(settings).run(once=True, on_tick=seen.append) == 0
        res = seen[0]
        decisions = res.decisions  # type: ignore[attr-defined]
        assert set(decisions) == {i.id for i in inv.intersections}
        assert decisions[ix.id].plan.source == "adaptive"
        assert [p.phase for p in decisions[ix.id].plan.phases] == [p.number for p in ix.phases]
        others = [d for i, d in decisions.items() if i != ix.id]
        assert others and all(d.plan.source == "fallback" for d in others)
        for i, d in decisions.items():
            listener.wait_for(d.plan.seq)
            if i != ix.id:  # the fallback is the inventory's stored plan
                stored = next(x for x in inv.intersections if x.id == i).plan
                assert d.plan.greens_s == list(stored.greens_s)
    finally:
        listener.close()
        c = mqtt.Client(CallbackAPIVersion.VERSION2)
        c.connect("127.0.0.1", 1883)
        c.loop_start()
        for i in inv.intersections:
            c.publish(plan_topic(i.id, topic_root), b"", qos=1, retain=True).wait_for_publish(5)
        c.disconnect()
        c.loop_stop()


def _corridor_configs() -> list[IntersectionConfig]:
    return [
        IntersectionConfig(
            intersection_id=f"TGR-01{k}",
            phases=(PhaseConfig(0, (f"M{k}",), min_green_s=7.0, intergreen_s=3.0),
                    PhaseConfig(1, (f"S{k}",), min_green_s=7.0, intergreen_s=3.0)),
            fixed_greens_s=(30.0, 20.0), min_cycle_s=20.0, max_cycle_s=140.0,
            corridor="jl-mh-thamrin", corridor_pos=k, travel_s=21.6 if k else 0.0,
        )
        for k in range(3)
    ]


def _corridor_counts(
    conn: object, at: datetime, main_lv: int, side_lv: int, skip: str | None = None
) -> None:
    with conn.transaction(), conn.cursor() as cur:  # type: ignore[attr-defined]
        for k in range(3):
            iid = f"TGR-01{k}"
            if iid == skip:
                continue
            for det, lv in ((f"M{k}", main_lv), (f"S{k}", side_lv)):
                cur.execute(
                    """INSERT INTO detector_reading (ts, intersection_id, detector_id, seq,
                           approach, lane, interval_s, mc, lv, hv, um, occupancy_pct,
                           queue_m)
                       VALUES (%s, %s, %s, %s, 'W', 1, 60, 0, %s, 0, 0, 10.0, 0)""",
                    (at, iid, det, int(at.timestamp()) * 10 + k * 2 + (det[0] == "S"), lv),
                )


def test_a_busy_corridor_is_linked_with_a_green_wave_and_keeps_its_fail_safes(
    loop: ControlLoop, topic_root: str
) -> None:
    loop.conn.execute("DELETE FROM signal_config")
    save_configs(loop.conn, _corridor_configs())
    loop.conn.commit()
    ids = [f"TGR-01{k}" for k in range(3)]
    try:
        # light traffic (Y ~ 0.1): every signal runs actuated on its own
        _corridor_counts(loop.conn, NOW - timedelta(seconds=10), 2, 1)
        res = loop.tick(NOW)
        assert {res.decisions[i].plan.mode for i in ids} == {"actuated"}
        # busy (Y ~ 0.35): one common cycle, offsets half a cycle apart (21.6 s links)
        later = NOW + timedelta(minutes=5)
        _corridor_counts(loop.conn, later - timedelta(seconds=10), 7, 4)
        loop.params = LoopParams(window_s=60, stale_after_s=150)
        plans: dict[str, SignalPlan] = {}
        for step in range(4):  # the cycle walks to the common one within the rate limits
            t = later + timedelta(seconds=60 * step)
            if step:
                _corridor_counts(loop.conn, t - timedelta(seconds=10), 7, 4)
            res = loop.tick(t)
            plans = {i: res.decisions[i].plan for i in ids}
        assert {p.mode for p in plans.values()} == {"coordinated"}
        cycles = {p.cycle_s for p in plans.values()}
        assert len(cycles) == 1 and 40.0 <= cycles.pop() <= 46.0
        c = plans[ids[0]].cycle_s
        d01 = (plans[ids[1]].offset_s - plans[ids[0]].offset_s) % c
        d02 = (plans[ids[2]].offset_s - plans[ids[0]].offset_s) % c
        assert abs(d01 - c / 2) <= 2.0 and min(d02, c - d02) <= 2.0
        audit = loop.conn.execute(
            "SELECT inputs->'corridor'->>'name' FROM signal_plan_audit "
            "WHERE intersection_id = %s ORDER BY ts DESC LIMIT 1", (ids[1],)
        ).fetchone()
        assert audit == ("jl-mh-thamrin",)
        # the middle signal's detectors go quiet: it falls back with an alert, the
        # others stay linked on the same cycle
        t = later + timedelta(minutes=8)
        _corridor_counts(loop.conn, t - timedelta(seconds=10), 7, 4, skip=ids[1])
        res = loop.tick(t)
        assert res.decisions[ids[1]].plan.source == "fallback"
        assert res.decisions[ids[1]].alert is not None
        ends = [res.decisions[i].plan for i in (ids[0], ids[2])]
        assert {p.mode for p in ends} == {"coordinated"} and ends[0].cycle_s == ends[1].cycle_s
    finally:
        c = mqtt.Client(CallbackAPIVersion.VERSION2)
        c.connect("127.0.0.1", 1883)
        c.loop_start()
        for i in ids:
            c.publish(plan_topic(i, topic_root), b"", qos=1, retain=True).wait_for_publish(5)
        c.disconnect()
        c.loop_stop()
