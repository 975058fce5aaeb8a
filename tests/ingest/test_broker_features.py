"""Broker-facing features: ACLs of the shipped config, MQTT 3.1.1, shared
subscriptions, the Prometheus endpoint."""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.service import IngestService
from tests.support.mqtt import detector_msg, gps_msg, ingest_settings, publish_all
from tests.support.services import PrivateBroker, free_port


def wait_for(pred, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def client(broker: PrivateBroker, user: str | None, password: str | None) -> mqtt.Client:
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"c-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
    )
    if user:
        c.username_pw_set(user, password)
    return c


def test_shipped_acl_lets_devices_publish_only_their_own_topics():
    users = {"tlive-ingest": "i-pw", "tlive-control": "c-pw", "INT-0001": "d-pw"}
    with PrivateBroker(acl=True, users=users) as broker:
        seen: list[str] = []
        sub = client(broker, "tlive-ingest", "i-pw")
        sub.on_message = lambda c, u, m: seen.append(m.topic)
        sub.connect(broker.host, broker.port)
        sub.subscribe("tlive/v1/#", qos=1)
        sub.loop_start()
        dev_seen: list[str] = []
        dev_sub = client(broker, "INT-0001", "d-pw")
        dev_sub.on_message = lambda c, u, m: dev_seen.append(m.topic)
        dev_sub.connect(broker.host, broker.port)
        dev_sub.subscribe("tlive/v1/atcs/INT-0001/plan", qos=1)
        dev_sub.subscribe("tlive/v1/atcs/INT-0002/plan", qos=1)
        dev_sub.loop_start()
        time.sleep(0.5)

        def publish(user: str, password: str, topic: str) -> None:
            c = client(broker, user, password)
            c.connect(broker.host, broker.port)
            c.loop_start()
            c.publish(topic, b"{}", qos=1).wait_for_publish(5)
            c.disconnect()
            c.loop_stop()

        publish("INT-0001", "d-pw", "tlive/v1/atcs/INT-0001/detectors")  # own: allowed
        publish("INT-0001", "d-pw", "tlive/v1/atcs/INT-0002/detectors")  # another's: refused
        publish("INT-0001", "d-pw", "tlive/v1/atcs/INT-0001/plan")  # plans: control only
        publish("tlive-control", "c-pw", "tlive/v1/atcs/INT-0001/plan")  # allowed
        publish("tlive-control", "c-pw", "tlive/v1/atcs/INT-0002/plan")  # allowed, not for 0001
        time.sleep(1.0)
        sub.disconnect()
        dev_sub.disconnect()
        sub.loop_stop()
        dev_sub.loop_stop()

        anon = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        refused = threading.Event()
        anon.on_connect = lambda c, u, f, rc, p: rc.is_failure and refused.set()
        anon.connect(broker.host, broker.port)
        anon.loop_start()
        assert refused.wait(5), "anonymous clients must be refused"
        anon.loop_stop()

    assert "tlive/v1/atcs/INT-0001/detectors" in seen
    assert "tlive/v1/atcs/INT-0002/detectors" not in seen
    assert seen.count("tlive/v1/atcs/INT-0001/plan") == 1  # only the control service's
    assert dev_seen == ["tlive/v1/atcs/INT-0001/plan"]  # a device reads only its own plan


def test_mqtt_311_client_and_metrics_endpoint(db_url, broker, topic_root):
    host, port = broker
    mport = free_port()
    svc = IngestService(
        ingest_settings(db_url, host, port, topic_root, mqtt_protocol="3.1.1", metrics_port=mport)
    )
    svc.start()
    try:
        wait_for(lambda: svc.metrics.connected.value() == 1)
        time.sleep(0.3)
        publish_all(host, port, [detector_msg(topic_root, "INT-7", s) for s in range(20)])
        wait_for(lambda: svc.metrics.acked.total() >= 20)
        text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics").read().decode()
        health = urllib.request.urlopen(f"http://127.0.0.1:{mport}/healthz").status
    finally:
        assert svc.stop()
    assert "tlive_ingest_received_total 20" in text
    assert "tlive_ingest_stored_rows_total 80" in text
    for name in (
        "duplicate_rows_total",
        "dead_lettered_total",
        "batch_size_count",
        "commit_seconds_sum",
        "queue_depth",
        "lag_seconds",
        "data_lag_seconds",
    ):
        assert f"tlive_ingest_{name}" in text
    assert health == 200
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM detector_reading").fetchone()[0] == 80


@pytest.fixture
def private_broker():
    with PrivateBroker() as b:
        yield b


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_shared_subscription_splits_the_load_exactly_once(
    db_url, private_broker, topic_root, protocol
):
    """On the shipped config: the machine's default broker (max_queued_messages 1000,
    20 in flight for MQTT 3.1.1) drops what a slow shared subscriber cannot take."""
    host, port = private_broker.host, private_broker.port
    group = f"g{uuid.uuid4().hex[:6]}"
    services = [
        IngestService(
            ingest_settings(
                db_url, host, port, topic_root, ingest_shared_group=group, mqtt_protocol=protocol
            )
        )
        for _ in range(2)
    ]
    for s in services:
        s.start()
    try:
        wait_for(lambda: all(s.metrics.connected.value() == 1 for s in services))
        time.sleep(0.5)
        n = 3000
        publish_all(host, port, [gps_msg(topic_root, f"TRK-{i % 30}", i) for i in range(n)])
        try:
            wait_for(lambda: sum(s.metrics.acked.total() for s in services) >= n, 60)
        except AssertionError:
            state = [
                (
                    s.metrics.received.total(),
                    s.metrics.acked.total(),
                    s.metrics.stale_acks.total(),
                    s.metrics.queue_depth.value(),
                    s.metrics.connected.value(),
                )
                for s in services
            ]
            raise AssertionError(
                f"not all acked: (received, acked, stale, queued, up) {state}"
            ) from None
    finally:
        for s in services:
            assert s.stop()
    shares = [s.metrics.received.total() for s in services]
    assert sum(shares) == n and min(shares) > 0, shares
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM gps_position").fetchone()[0] == n
