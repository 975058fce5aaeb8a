"""Zero loss, zero duplicates: kill -9 of the consumer, SIGTERM, database outages.

The consumer runs as a real ``tlive ingest run`` process against a private
Mosquitto started with the shipped production config (its queue limits hold the
backlog; the machine's default broker would drop beyond 1000 queued messages).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import psycopg
import pytest

from tests.support.mqtt import gps_msg, ingest_settings, publish_all
from tests.support.services import ROOT, PrivateBroker, unique_root
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.slow


def stored(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as c:
        row = c.execute(
            "SELECT count(*), count(DISTINCT (vehicle_id, seq)) FROM gps_position"
        ).fetchone()
        return int(row[0]), int(row[1])


def wait_stored(url: str, n: int, timeout_s: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout_s
    got = stored(url)
    while got[0] < n and time.monotonic() < deadline:
        time.sleep(0.5)
        got = stored(url)
    return got


def consumer(db_url: str, broker: PrivateBroker, root: str, client_id: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        TLIVE_DATABASE_URL=db_url,
        TLIVE_MQTT_URL=broker.url,
        TLIVE_MQTT_TOPIC_ROOT=root,
        TLIVE_INGEST_CLIENT_ID=client_id,
        TLIVE_METRICS_PORT="0",
        TLIVE_INGEST_BATCH_MAX="1000",
        TLIVE_LOG_LEVEL="WARNING",
    )
    return subprocess.Popen([sys.executable, "-m", "hub", "ingest", "run"], cwd=ROOT, env=env)


def messages(root: str, n: int, vehicles: int = 50):
    base = int(time.time() * 1000) - n  # distinct ts per message, all in the past
    for i in range(n):
        yield gps_msg(root, f"TRK-{i % vehicles:03d}", i, ts=base + i)


@pytest.fixture
def private_broker():
    with PrivateBroker() as b:
        yield b


def test_kill_9_mid_stream_loses_nothing_and_stores_nothing_twice(db_url, private_broker):
    n = 60_000
    root = unique_root()
    cid = f"ingest-{uuid.uuid4().hex[:6]}"
    proc = consumer(db_url, private_broker, root, cid)
    publisher = threading.Thread(
        target=publish_all,
        args=(private_broker.host, private_broker.port, messages(root, n)),
        kwargs={"timeout_s": 300},
    )
    try:
        time.sleep(2.0)  # connected and subscribed (persistent session exists from now on)
        publisher.start()
        kills = 0
        for threshold in (n // 6, n // 2):
            while stored(db_url)[0] < threshold:
                assert proc.poll() is None, "consumer died on its own"
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            time.sleep(0.5)
            proc = consumer(db_url, private_broker, root, cid)
        publisher.join(300)
        assert not publisher.is_alive()
        total, distinct = wait_stored(db_url, n, 180)
    finally:
        proc.terminate()
        proc.wait(30)
    assert kills == 2
    assert (total, distinct) == (n, n)


def test_sigterm_flushes_acks_and_exits_zero(db_url, private_broker):
    n = 20_000
    root = unique_root()
    cid = f"ingest-{uuid.uuid4().hex[:6]}"
    proc = consumer(db_url, private_broker, root, cid)
    time.sleep(2.0)
    publish_all(private_broker.host, private_broker.port, messages(root, n))
    while stored(db_url)[0] < n // 4:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    first_run = stored(db_url)[0]
    proc = consumer(db_url, private_broker, root, cid)
    try:
        total, distinct = wait_stored(db_url, n, 120)
        time.sleep(2.0)  # let it finish starting before it is asked to stop
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    assert 0 < first_run <= n
    assert (total, distinct) == (n, n)


def test_database_outage_mid_stream(db_url, private_broker):
    """The link to PostgreSQL is cut twice while messages flow: all arrive once."""
    from ingest.service import IngestService

    n = 30_000
    root = unique_root()
    proxy = TcpProxy("127.0.0.1", 5432).start()
    proxied = db_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    assert proxied != db_url
    svc = IngestService(
        ingest_settings(
            proxied, private_broker.host, private_broker.port, root, ingest_batch_max=1000
        )
    )
    svc.start()
    try:
        time.sleep(1.5)
        publisher = threading.Thread(
            target=publish_all,
            args=(private_broker.host, private_broker.port, messages(root, n)),
            kwargs={"timeout_s": 300},
        )
        publisher.start()
        for threshold in (n // 5, n // 2):
            while stored(db_url)[0] < threshold:
                time.sleep(0.05)
            proxy.cut()
            time.sleep(3.0)  # writer retries against a dead database
            assert svc.metrics.db_up.value() == 0
            proxy.restore()
        publisher.join(300)
        total, distinct = wait_stored(db_url, n, 180)
        assert svc.metrics.db_errors.total() >= 2
    finally:
        svc.stop()
        proxy.close()
    assert (total, distinct) == (n, n)


def test_broker_restart_mid_stream(db_url, private_broker):
    """The broker goes down and comes back (persistence on): the consumer reconnects,
    resubscribes and every message is stored exactly once."""
    from ingest.service import IngestService

    n = 20_000
    root = unique_root()
    msgs = list(messages(root, n))
    svc = IngestService(
        ingest_settings(
            db_url, private_broker.host, private_broker.port, root, ingest_batch_max=500
        )
    )
    svc.start()
    try:
        time.sleep(1.5)
        publish_all(private_broker.host, private_broker.port, msgs[: n // 2])
        while stored(db_url)[0] < n // 8:
            time.sleep(0.02)
        private_broker.stop()  # graceful: the broker saves its sessions and queues
        time.sleep(2.0)
        assert svc.metrics.connected.value() == 0
        private_broker.start()
        publish_all(private_broker.host, private_broker.port, msgs[n // 2 :])
        total, distinct = wait_stored(db_url, n, 120)
    finally:
        svc.stop()
    assert (total, distinct) == (n, n)


def test_workers_share_the_load_and_a_killed_worker_is_restarted(db_url, private_broker):
    """`tlive ingest run --workers 2`: two sessions in one shared group; kill -9 of
    one worker mid-stream loses nothing and stores nothing twice."""
    n = 20_000
    root = unique_root()
    env = dict(
        os.environ,
        TLIVE_DATABASE_URL=db_url,
        TLIVE_MQTT_URL=private_broker.url,
        TLIVE_MQTT_TOPIC_ROOT=root,
        TLIVE_INGEST_CLIENT_ID=f"w-{uuid.uuid4().hex[:6]}",
        TLIVE_METRICS_PORT="0",
        TLIVE_LOG_LEVEL="WARNING",
    )
    sup = subprocess.Popen(
        [sys.executable, "-m", "hub", "ingest", "run", "--workers", "2"], cwd=ROOT, env=env
    )
    try:
        time.sleep(3.0)
        import psutil

        workers = psutil.Process(sup.pid).children()
        assert len(workers) == 2
        publisher = threading.Thread(
            target=publish_all,
            args=(private_broker.host, private_broker.port, messages(root, n)),
            kwargs={"timeout_s": 300},
        )
        publisher.start()
        while stored(db_url)[0] < n // 4:
            time.sleep(0.05)
        workers[0].kill()
        publisher.join(300)
        total, distinct = wait_stored(db_url, n, 120)
        assert len(psutil.Process(sup.pid).children()) == 2  # the killed one was replaced
    finally:
        sup.send_signal(signal.SIGTERM)
        rc = sup.wait(60)
    assert rc == 0
    assert (total, distinct) == (n, n)
