"""Synthetic devices through the real broker: into ingest, load mode, replay, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.inventory import dump_inventory
from ingest.contract import decode
from sim.city import generate_city
from sim.engine import DeviceEngine, EngineConfig
from tests.support.services import PrivateBroker

ROOT = Path(__file__).resolve().parents[2]
TLIVE = [sys.executable, "-c", "from hub.cli import main; main()"]


def tlive(*args: str, env: dict[str, str] | None = None, timeout: float = 120.0):
    return subprocess.run(
        [*TLIVE, *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=ROOT,
    )


@pytest.fixture(scope="module")
def city_file(tmp_path_factory) -> tuple[Path, object]:
    inv = generate_city(8, seed=21)
    path = tmp_path_factory.mktemp("city") / "city.json"
    dump_inventory(inv, path)
    return path, inv


class Collector:
    """A subscriber that keeps every message of a topic root."""

    def __init__(self, host: str, port: int, root: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.ready = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"col-{uuid.uuid4().hex[:8]}",
                        protocol=mqtt.MQTTv5)
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(f"{root}/v1/#", qos=1)
        c.on_subscribe = lambda *a: self.ready.set()
        c.on_message = lambda cl, u, m: self.messages.append((m.topic, m.payload))
        c.connect(host, port)
        c.loop_start()
        self.client = c
        assert self.ready.wait(10)

    def wait_for(self, n: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _expected(inv, start_s: float, seed: int, root: str, count: int) -> list:
    eng = DeviceEngine(inv, start_s, EngineConfig(seed=seed, root=root))
    out: list = []
    for w in eng.windows():
        out += w
        if len(out) >= count:
            return out[:count]
    raise AssertionError("unreachable")


def test_devices_into_broker_and_ingest_store_exactly_the_expected_rows(
    city_file, db_url, broker, topic_root
) -> None:
    from ingest.service import IngestService
    from tests.support.mqtt import ingest_settings

    path, inv = city_file
    host, port = broker
    svc = IngestService(ingest_settings(db_url, host, port, topic_root))
    svc.start()
    try:
        deadline = time.monotonic() + 20
        while svc.metrics.connected.value() != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
        count, seed = 6000, 4
        env = {"TLIVE_MQTT_URL": f"mqtt://{host}:{port}", "TLIVE_MQTT_TOPIC_ROOT": topic_root}
        r = tlive("sim", "devices", "-i", str(path), "--speedup", "0", "--count", str(count),
                  "--seed", str(seed), "--start", start.isoformat(), "--json", "--no-progress",
                  env=env)
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout.strip().splitlines()[-1])
        assert report["sent"] == report["acked"] == count and report["refused"] == {}
        expected = _expected(inv, start.timestamp(), seed, topic_root, count)
        # expected rows: one per detector per report; GPS duplicates (same seq, ts) once
        det = {(t.split("/")[3], d["detector_id"], json.loads(p)["seq"])
               for _, t, p in expected if t.endswith("/detectors")
               for d in json.loads(p)["detectors"]}
        sig = {(t.split("/")[3], json.loads(p)["seq"]) for _, t, p in expected
               if t.endswith("/signal")}
        bay = {(t.split("/")[3], t.split("/")[4], json.loads(p)["seq"]) for _, t, p in expected
               if "/parking/" in t}
        gps = {(t.split("/")[3], json.loads(p)["seq"]) for _, t, p in expected
               if t.endswith("/gps")}
        assert det and sig and bay and gps
        n_dupes = len([1 for _, t, _ in expected if t.endswith("/gps")]) - len(gps)
        deadline = time.monotonic() + 60
        while svc.metrics.stored_messages.total() < count - n_dupes:
            assert time.monotonic() < deadline, "ingest did not store everything in time"
            time.sleep(0.1)
    finally:
        assert svc.stop()
    with psycopg.connect(db_url) as c:
        q = c.execute
        assert set(q("SELECT intersection_id, detector_id, seq FROM detector_reading")
                   .fetchall()) == det
        assert q("SELECT count(*) FROM detector_reading").fetchone()[0] == len(det)
        assert set(q("SELECT intersection_id, seq FROM signal_event").fetchall()) == sig
        assert q("SELECT count(*) FROM signal_event").fetchone()[0] == len(sig)
        assert set(q("SELECT lot_id, bay_id, seq FROM parking_event").fetchall()) == bay
        assert q("SELECT count(*) FROM parking_event").fetchone()[0] == len(bay)
        assert set(q("SELECT vehicle_id, seq FROM gps_position").fetchall()) == gps
        assert q("SELECT count(*) FROM gps_position").fetchone()[0] == len(gps)
        assert q("SELECT count(*) FROM dead_letter").fetchone()[0] == 0
        t0 = q("SELECT min(ts) FROM parking_event").fetchone()[0]
        assert t0 >= start

    # replay the stored hours: the same messages come back, in time order (into a broker
    # with the shipped queue limits: the system broker's default queue of 1000 would drop)
    with PrivateBroker() as pb:
        col = Collector(pb.host, pb.port, topic_root)
        try:
            env = {"TLIVE_MQTT_URL": pb.url, "TLIVE_MQTT_TOPIC_ROOT": topic_root,
                   "TLIVE_DATABASE_URL": db_url}
            r = tlive("sim", "replay", "--from", start.isoformat(),
                      "--to", (start + timedelta(hours=3)).isoformat(), "--speed", "0",
                      "--json", "--no-progress", env=env)
            assert r.returncode == 0, r.stderr
            rep = json.loads(r.stdout.strip().splitlines()[-1])
            n_stored = len(sig) + len(bay) + len(gps) + len({k[0::2] for k in det})
            assert rep["sent"] == n_stored
            col.wait_for(n_stored)
            assert len(col.messages) == n_stored
        finally:
            col.close()
    later = datetime.now(UTC) + timedelta(days=1)
    ts = [decode(t, p, root=topic_root, now=later).message.ts for t, p in col.messages]
    assert ts == sorted(ts)
    replayed = {(t.split("/")[3], json.loads(p)["seq"]) for t, p in col.messages
                if t.endswith("/gps")}
    assert replayed == gps
    reports = [json.loads(p) for t, p in col.messages if t.endswith("/detectors")]
    assert {(r["seq"], d["detector_id"]) for r in reports for d in r["detectors"]} == {
        (k[2], k[1]) for k in det
    }
    # --retime stamps the replay's own wall-clock time, keeping seq: new rows, not redeliveries
    from sim.replay import stored_messages

    before = time.time()
    first = next(iter(stored_messages(db_url, start.timestamp(),
                                      (start + timedelta(hours=3)).timestamp(),
                                      root=topic_root, retime_speed=1000.0)))
    assert before - 1 <= first[0][0] / 1000 <= time.time() + 60
    assert [json.loads(p)["seq"] for _, t, p in first[:50]] == [
        json.loads(p)["seq"] for t, p in col.messages[:50]
    ]


def test_load_mode_reports_rate_and_refusals(city_file) -> None:
    """A device account may publish only its own topics: the broker refuses the rest."""
    path, inv = city_file
    own = inv.intersections[0].id
    with PrivateBroker(acl=True, users={own: "pw", "tlive-sim": "pw"}) as b:
        env = {"TLIVE_MQTT_URL": f"mqtt://tlive-sim:pw@{b.host}:{b.port}",
               "TLIVE_MQTT_TOPIC_ROOT": "tlive"}
        r = tlive("sim", "load", "-i", str(path), "--rate", "2000", "--count", "3000",
                  "--json", "--no-progress", env=env)
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout.strip().splitlines()[-1])
        assert rep["sent"] == rep["acked"] == 3000 and rep["refused"] == {}
        assert 1500 < rep["msgs_per_s"] < 2300  # paced at the target rate
        env["TLIVE_MQTT_URL"] = f"mqtt://{own}:pw@{b.host}:{b.port}"
        r = tlive("sim", "load", "-i", str(path), "--rate", "0", "--count", "2000",
                  "--json", "--no-progress", env=env)
        assert r.returncode == 1
        rep = json.loads(r.stdout.strip().splitlines()[-1])
        refused = sum(rep["refused"].values())
        mine = rep["sent"] - refused
        assert refused > 1000 and 0 < mine < 2000
        assert any("authori" in k.lower() for k in rep["refused"]), rep["refused"]


def test_speedup_paces_simulated_time(city_file, broker, topic_root) -> None:
    from sim.publish import Publisher, run

    _, inv = city_file
    host, port = broker
    start = datetime.now(UTC).timestamp() - 3600
    eng = DeviceEngine(inv, start, EngineConfig(seed=2, root=topic_root))
    pub = Publisher(host, port, client_id=f"pace-{uuid.uuid4().hex[:6]}")
    pub.connect()
    ticks: list[float] = []
    try:
        rep = run(eng.windows(), pub, speedup=60.0, max_wall_s=2.5,
                  progress=lambda r, wall, sim_now: ticks.append(sim_now))
    finally:
        pub.close()
    assert rep.sim_speedup == pytest.approx(60.0, rel=0.15)
    assert rep.acked == rep.sent > 0 and not rep.refused
    assert len(ticks) >= 3 and ticks == sorted(ticks)  # a progress update twice a second
