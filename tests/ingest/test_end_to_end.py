"""Published -> stored, for every topic family, through the real broker and database."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import psycopg
import pytest

from ingest.service import IngestService
from tests.support.mqtt import (
    detector_msg,
    gps_msg,
    ingest_settings,
    parking_msg,
    publish_all,
    signal_msg,
)


def wait_for(pred, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as c:
        return int(c.execute(sql).fetchone()[0])


@pytest.fixture
def service(db_url, broker, topic_root):
    host, port = broker
    svc = IngestService(ingest_settings(db_url, host, port, topic_root))
    svc.start()
    wait_for(lambda: svc.metrics.connected.value() == 1, what="broker connection")
    time.sleep(0.3)  # subscription in place
    yield svc
    svc.stop()


def test_every_family_is_stored_with_its_values(service, db_url, broker, topic_root):
    host, port = broker
    ts = 1764300000000  # 2025-11-28T03:20:00Z
    msgs = [
        detector_msg(topic_root, "INT-001", 7, ts=ts, n_det=3),
        gps_msg(topic_root, "TRK-01", 3, ts=ts),
        parking_msg(topic_root, "LOT-1", "B-07", 11, True, ts=ts),
        signal_msg(topic_root, "INT-001", 5, ts=ts),
    ]
    publish_all(host, port, msgs)
    wait_for(lambda: service.metrics.stored_messages.total() >= 4, what="4 stored messages")
    with psycopg.connect(db_url) as c:
        rows = c.execute(
            "SELECT ts, intersection_id, detector_id, seq, approach, lane, interval_s, mc, lv, hv,"
            " um, occupancy_pct, speed_kmh, queue_m FROM detector_reading ORDER BY detector_id"
        ).fetchall()
        assert len(rows) == 3
        first = rows[0]
        assert first[0] == datetime.fromtimestamp(ts / 1000, UTC)
        assert first[1:7] == ("INT-001", "D0", 7, "N", 1, 60)
        body = json.loads(msgs[0][1])["detectors"][0]
        assert first[7:11] == (body["mc"], body["lv"], body["hv"], body["um"])
        assert first[11] == pytest.approx(12.5) and first[12] == pytest.approx(31.0)
        assert first[13] == pytest.approx(15.0) and rows[1][13] is None
        g = c.execute(
            "SELECT vehicle_id, seq, lat, lon, speed_kmh, heading_deg, ignition, "
            "load_kg, hdop FROM gps_position"
        ).fetchone()
        assert g[0:2] == ("TRK-01", 3)
        assert g[2] == pytest.approx(-6.178 + 3e-5) and g[3] == pytest.approx(106.63 + 3e-5)
        assert g[4:] == (22.5, 181.0, True, 1200.0, pytest.approx(0.9))
        p = c.execute(
            "SELECT lot_id, bay_id, seq, occupied, kind, battery_pct FROM parking_event"
        ).fetchone()
        assert p == ("LOT-1", "B-07", 11, True, "change", 87.0)
        s = c.execute(
            "SELECT intersection_id, seq, phase, state, plan_id FROM signal_event"
        ).fetchone()
        assert s == ("INT-001", 5, 1, "green", "P-AM")


def test_redelivered_message_is_stored_once(service, db_url, broker, topic_root):
    host, port = broker
    msg = gps_msg(topic_root, "TRK-02", 1)
    publish_all(host, port, [msg, msg, msg])
    wait_for(lambda: service.metrics.received.total() >= 3, what="3 received")
    wait_for(lambda: service.metrics.stored_messages.total() >= 3, what="3 written")
    assert count(db_url, "SELECT count(*) FROM gps_position") == 1
    assert service.metrics.duplicates.total() == 2


def test_bad_messages_become_dead_letters_and_ingest_goes_on(service, db_url, broker, topic_root):
    host, port = broker
    bad = [
        (f"{topic_root}/v1/fleet/TRK-03/gps", b"{not json"),
        (f"{topic_root}/v1/fleet/TRK-03/gps", b"\xff\xfe"),
        (
            f"{topic_root}/v1/fleet/TRK-03/gps",
            json.dumps(
                {
                    "seq": 1,
                    "ts": 1764300000000,
                    "lat": 95.0,
                    "lon": 106.6,
                    "speed_kmh": 1,
                    "heading_deg": 0,
                }
            ).encode(),
        ),
        (f"{topic_root}/v1/weather/X/temp", b"{}"),
        (f"{topic_root}/v1/fleet/bad id!/gps", b"{}"),
        (f"{topic_root}/v1/parking/LOT-1/B1", b"x" * 70000),
    ]
    good = gps_msg(topic_root, "TRK-03", 2)
    publish_all(host, port, [*bad, good])
    wait_for(
        lambda: (
            service.metrics.stored_messages.total() >= 1
            and service.metrics.dead_lettered.total() >= len(bad)
        ),
        what="dead letters",
    )
    with psycopg.connect(db_url) as c:
        reasons = dict(
            c.execute(
                "SELECT topic, reason FROM dead_letter "
                "WHERE topic LIKE '%weather%' OR topic LIKE '%bad id%'"
            ).fetchall()
        )
        all_reasons = [r[0] for r in c.execute("SELECT reason FROM dead_letter").fetchall()]
        raw = c.execute("SELECT payload FROM dead_letter WHERE reason LIKE '%UTF-8%'").fetchone()
    assert count(db_url, "SELECT count(*) FROM dead_letter") == len(bad)
    assert any("lat" in r and "90" in r for r in all_reasons)
    assert any("Invalid JSON" in r for r in all_reasons)
    assert any("exceeds" in r for r in all_reasons)
    assert "unknown topic" in reasons[f"{topic_root}/v1/weather/X/temp"]
    assert "malformed vehicle_id" in reasons[f"{topic_root}/v1/fleet/bad id!/gps"]
    assert bytes(raw[0]) == b"\xff\xfe"
    assert count(db_url, "SELECT count(*) FROM gps_position") == 1


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_stored_messages_are_acked_so_a_restart_gets_nothing_again(
    db_url, broker, topic_root, protocol
):
    """The PUBACKs of a committed batch (one write for the whole batch) reach the
    broker: after a clean restart of the same persistent session nothing comes back."""
    host, port = broker
    settings = ingest_settings(db_url, host, port, topic_root, mqtt_protocol=protocol)
    svc = IngestService(settings)
    svc.start()
    try:
        wait_for(lambda: svc.metrics.connected.value() == 1, what="broker connection")
        time.sleep(0.3)
        n = 600
        msgs = [detector_msg(topic_root, f"INT-{k % 7}", k, n_det=3) for k in range(n)]
        publish_all(host, port, msgs)
        wait_for(lambda: svc.metrics.acked.total() >= n, what=f"{n} acked")
        time.sleep(0.5)  # the PUBACK bytes leave the client
    finally:
        svc.stop()
    again = IngestService(settings)
    again.start()
    try:
        wait_for(lambda: again.metrics.connected.value() == 1, what="reconnection")
        time.sleep(2.0)  # anything unacked would be redelivered now
        assert again.metrics.received.total() == 0
    finally:
        again.stop()
    assert count(db_url, "SELECT count(*) FROM detector_reading") == n * 3
