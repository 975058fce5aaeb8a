"""MQTT helpers for tests: a publisher that waits for every PUBACK, payload builders."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.settings import Settings
from ingest.contract import Kind, topic_for


def ingest_settings(db_url: str, host: str, port: int, root: str, **over: Any) -> Settings:
    base: dict[str, Any] = dict(
        database_url=db_url,
        mqtt_url=f"mqtt://{host}:{port}",
        mqtt_topic_root=root,
        ingest_client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        metrics_port=0,
        ingest_batch_age_ms=50,
    )
    base.update(over)
    return Settings(**base)


def publish_all(
    host: str,
    port: int,
    messages: Iterable[tuple[str, bytes]],
    *,
    qos: int = 1,
    timeout_s: float = 120.0,
    max_inflight: int = 1000,
) -> int:
    """Publish every (topic, payload) and wait until the broker acknowledged all."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311
    )
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    done = threading.Event()
    pending: set[int] = set()
    lock = threading.Lock()
    state = {"sent": 0, "finished": False}

    def on_publish(c: Any, u: Any, mid: int, rc: Any, props: Any) -> None:
        with lock:
            pending.discard(mid)
            if state["finished"] and not pending:
                done.set()

    client.on_publish = on_publish
    client.connect(host, port, keepalive=60)
    client.loop_start()
    try:
        for topic, payload in messages:
            info = client.publish(topic, payload, qos=qos)
            with lock:
                if qos:
                    pending.add(info.mid)
                state["sent"] += 1
        with lock:
            state["finished"] = True
            if not pending:
                done.set()
        if qos and not done.wait(timeout_s):
            raise TimeoutError(f"{len(pending)} publishes not acknowledged")
        return state["sent"]
    finally:
        client.disconnect()
        client.loop_stop()


def now_ms(offset_s: float = 0.0) -> int:
    return int((time.time() + offset_s) * 1000)


def detector_msg(
    root: str, inter: str, seq: int, ts: datetime | int | None = None, n_det: int = 4
) -> tuple[str, bytes]:
    t = ts if ts is not None else now_ms()
    body = {
        "seq": seq,
        "ts": t.isoformat() if isinstance(t, datetime) else t,
        "interval_s": 60,
        "detectors": [
            {
                "detector_id": f"D{k}",
                "approach": "NSEW"[k % 4],
                "lane": 1 + k // 4,
                "mc": 20 + (seq + k) % 7,
                "lv": 8 + k,
                "hv": k % 3,
                "um": 1,
                "occupancy_pct": 12.5 + k,
                "speed_kmh": 31.0 + k,
                "queue_m": 15.0 if k == 0 else None,
            }
            for k in range(n_det)
        ],
    }
    return topic_for(Kind.DETECTORS, inter, root=root), json.dumps(body).encode()


def gps_msg(root: str, vehicle: str, seq: int, ts: int | None = None) -> tuple[str, bytes]:
    body = {
        "seq": seq,
        "ts": ts if ts is not None else now_ms(),
        "lat": -6.178 + seq * 1e-5,
        "lon": 106.63 + seq * 1e-5,
        "speed_kmh": 22.5,
        "heading_deg": 181.0,
        "ignition": True,
        "load_kg": 1200.0,
        "hdop": 0.9,
    }
    return topic_for(Kind.GPS, vehicle, root=root), json.dumps(body).encode()


def parking_msg(
    root: str, lot: str, bay: str, seq: int, occupied: bool, ts: int | None = None
) -> tuple[str, bytes]:
    body = {
        "seq": seq,
        "ts": ts if ts is not None else now_ms(),
        "occupied": occupied,
        "battery_pct": 87.0,
    }
    return topic_for(Kind.PARKING, lot, bay, root=root), json.dumps(body).encode()


def signal_msg(root: str, inter: str, seq: int, ts: int | None = None) -> tuple[str, bytes]:
    body = {
        "seq": seq,
        "ts": ts if ts is not None else now_ms(),
        "phase": seq % 4,
        "state": "green",
        "plan_id": "P-AM",
    }
    return topic_for(Kind.SIGNAL, inter, root=root), json.dumps(body).encode()


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def minutes_ago(m: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=m)
