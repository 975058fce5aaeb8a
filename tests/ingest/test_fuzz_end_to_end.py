"""Hypothesis through the real broker and database: random and malformed payloads
never crash the consumer; each lands either as a row or as a dead letter."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.service import IngestService
from tests.ingest.test_contract import GPS, payloads
from tests.support.mqtt import ingest_settings, now_ms, publish_all


@pytest.fixture(scope="module")
def running(module_db_url, broker):
    from tests.support.services import unique_root

    root = unique_root()
    host, port = broker
    svc = IngestService(ingest_settings(module_db_url, host, port, root))
    svc.start()
    deadline = time.monotonic() + 10
    while svc.metrics.connected.value() != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    yield svc, root, module_db_url, host, port
    assert svc.stop()


counter = iter(range(10**9))


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    batch=st.lists(
        payloads
        | st.just(b"")
        | st.builds(
            lambda seq: json.dumps({**GPS, "seq": seq, "ts": now_ms(-5)}).encode(),
            st.integers(0, 10**6),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_each_message_is_a_row_or_a_dead_letter(running, batch):
    svc, root, url, host, port = running
    start = svc.metrics.received.total()
    # one vehicle per message: its fate can be read back from the tables
    ids = [f"FZ{next(counter)}" for _ in batch]
    msgs = [(f"{root}/v1/fleet/{vid}/gps", p) for vid, p in zip(ids, batch, strict=True)]
    publish_all(host, port, msgs)
    deadline = time.monotonic() + 30
    while svc.metrics.received.total() < start + len(msgs):
        assert time.monotonic() < deadline, "messages not received"
        time.sleep(0.05)
    while svc.metrics.queue_depth.value() > 0 or (
        svc.metrics.acked.total() < svc.metrics.received.total()
    ):
        assert time.monotonic() < deadline, "messages not written"
        time.sleep(0.05)
    with psycopg.connect(url) as c:
        rows = {
            r[0]: r[1]
            for r in c.execute(
                "SELECT vehicle_id, count(*) FROM gps_position WHERE vehicle_id = ANY(%s) "
                "GROUP BY 1",
                (ids,),
            ).fetchall()
        }
        dead = {
            r[0].rsplit("/", 2)[1]: r[1]
            for r in c.execute(
                "SELECT topic, reason FROM dead_letter WHERE topic = ANY(%s)",
                ([t for t, _ in msgs],),
            ).fetchall()
        }
    for vid in ids:
        assert (rows.get(vid, 0) == 1) != (vid in dead), vid
        if vid in dead:
            assert dead[vid]
