"""The adaptive control service: the loop of :mod:`control.loop` on a timer, with MQTT.

``tlive control run`` starts it: it migrates the database, connects to the
broker (paho, QoS 1), and every ``period_s`` runs one tick on wall-clock time,
publishing changed plans retained on ``{root}/v1/atcs/{id}/plan``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from control.loop import ControlLoop, LoopParams, TickResult, sync_inventory
from hub.db import connect, ensure_database, migrate
from hub.settings import Settings

log = logging.getLogger(__name__)


class MqttPlanPublisher:
    """Publishes plans QoS 1, retained, and waits for the broker's acknowledgement."""

    def __init__(self, settings: Settings, client_id: str | None = None) -> None:
        ep = settings.mqtt
        v5 = settings.mqtt_protocol == "5"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"tlive-control-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        )
        if ep.username:
            self.client.username_pw_set(ep.username, ep.password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self._connected.clear()
        self.client.connect_async(ep.host, ep.port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            self._connected.set()

    def wait_connected(self, timeout_s: float = 10.0) -> None:
        if not self._connected.wait(timeout_s):
            raise ConnectionError("cannot reach the MQTT broker")

    def publish_plan(self, topic: str, payload: bytes) -> None:
        self.wait_connected()
        info = self.client.publish(topic, payload, qos=1, retain=True)
        info.wait_for_publish(timeout=10)
        if not info.is_published():
            raise ConnectionError(f"the broker did not acknowledge the plan on {topic}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class ControlService:
    """``tlive control run``: the loop every ``period_s`` on wall-clock time."""

    def __init__(
        self, settings: Settings, params: LoopParams | None = None, period_s: float = 60.0
    ) -> None:
        self.settings = settings
        self.params = params or LoopParams()
        self.period_s = period_s
        self._stop = threading.Event()

    def open(self) -> ControlLoop:
        ensure_database(self.settings.database_url)
        conn = connect(self.settings.database_url)
        migrate(conn)
        n = sync_inventory(conn)
        log.info("control configuration derived from the inventory for %d intersections", n)
        pub = MqttPlanPublisher(self.settings)
        pub.wait_connected()
        return ControlLoop(conn, pub, self.settings.mqtt_topic_root, self.params)

    def run(self, once: bool = False, on_tick: Any = None) -> int:
        loop = self.open()
        if not once:
            signal.signal(signal.SIGTERM, lambda *a: self._stop.set())
            signal.signal(signal.SIGINT, lambda *a: self._stop.set())
        try:
            while True:
                started = time.monotonic()
                try:
                    res: TickResult = loop.tick(datetime.now(UTC))
                    if on_tick:
                        on_tick(res)
                except Exception:  # a failed tick must not stop the loop
                    log.exception("control tick failed; plans in force stay retained")
                    loop.conn.rollback()
                if once or self._stop.wait(max(0.0, self.period_s - (time.monotonic() - started))):
                    return 0
        finally:
            assert isinstance(loop.publisher, MqttPlanPublisher)
            loop.publisher.close()
            loop.conn.close()
