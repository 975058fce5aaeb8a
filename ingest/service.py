"""The ingest service: MQTT (QoS 1, persistent session, manual ack) into the store.

Threads and their jobs:

* paho's network thread runs :meth:`IngestService._on_message`, which only
  decodes and validates (:func:`ingest.contract.decode`) and puts an
  :class:`~ingest.writer.Item` on a bounded queue. It never touches the database
  and never raises.
* one writer thread owns the database connection: it takes batches off the
  queue (by size and age), writes them (:class:`~ingest.writer.BatchWriter`),
  commits, and only then acknowledges each message, in the order received.
  A database outage keeps it retrying with backoff while the messages stay
  unacknowledged; the broker's Receive Maximum bounds what is in flight, and a
  full queue blocks the network thread (stop reading rather than grow memory).
* a small HTTP server exposes Prometheus metrics on ``/metrics``.

Acknowledgements carry the connection generation: after a reconnect the broker
redelivers whatever was unacknowledged, so an ack for a message of an older
connection is dropped (its redelivered copy is stored idempotently and acked).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.db import connect, ensure_database, migrate
from hub.metrics import MetricsServer, Registry
from hub.settings import Settings
from hub.store import (
    StoreInfo,
    detect_store,
    drop_expired,
    ensure_partitions_ahead,
    refresh_rollups,
)
from ingest.client import InboundMessage, IngestClient, send_pubacks
from ingest.contract import ContractError, Kind, Topic, parse_topic, subscription
from ingest.fastdecode import decode_payload_fast
from ingest.writer import BatchWriter, Item, WriteResult

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.001  # GIL switch interval of an ingest process (CPython's default 5 ms)
GC_YOUNG_THRESHOLD = 50_000  # allocations between young collections (default 700)
TOPIC_CACHE_MAX = 200_000  # distinct topics remembered (a city has ~10^4-10^5 devices)


class IngestMetrics:
    def __init__(self, queue_depth: Any) -> None:
        r = self.registry = Registry("tlive_ingest")
        self.received = r.counter("received", "MQTT messages received")
        self.stored_messages = r.counter("stored_messages", "messages committed to the store")
        self.stored_rows = r.counter("stored_rows", "rows inserted (new)")
        self.duplicates = r.counter("duplicate_rows", "rows already stored (redeliveries)")
        self.dead_lettered = r.counter("dead_lettered", "messages sent to the dead-letter table")
        self.skipped = r.counter("skipped", "messages acknowledged without storing (plans)")
        self.acked = r.counter("acked", "acknowledgements sent")
        self.stale_acks = r.counter("stale_acks_dropped", "acks of an old connection dropped")
        self.db_errors = r.counter("db_errors", "failed database attempts")
        self.batch_size = r.summary("batch_size", "messages per committed batch")
        self.commit_seconds = r.summary("commit_seconds", "time to write and commit a batch")
        self.queue_depth = r.gauge("queue_depth", "messages waiting for the writer", queue_depth)
        self.lag_seconds = r.gauge("lag_seconds", "receive-to-commit delay of the last batch")
        self.data_lag_seconds = r.gauge("data_lag_seconds", "now minus newest sample ts stored")
        self.connected = r.gauge("mqtt_connected", "1 while connected to the broker")
        self.db_up = r.gauge("db_up", "1 while the last database attempt succeeded")


class Inbox:
    """The bounded hand-over from paho's thread to the writer: a deque (appends and
    pops are atomic in CPython) with an event to wake the writer. ``put`` blocks
    while full, so a full inbox stops paho reading instead of growing memory."""

    def __init__(self, maxsize: int) -> None:
        self._items: deque[Item] = deque()
        self._max = maxsize
        self._ready = threading.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Item, abort: threading.Event) -> None:
        while len(self._items) >= self._max:
            if abort.wait(0.001):
                return
        self._items.append(item)
        if not self._ready.is_set():
            self._ready.set()

    def take(self, max_n: int, max_age_s: float, stop: threading.Event) -> list[Item]:
        items = self._items
        if not items:
            self._ready.clear()
            if not items:  # re-check: a put may have landed before the clear
                self._ready.wait(0.1)
            if not items:
                return []
        popleft = items.popleft
        batch = [popleft()]
        deadline = time.monotonic() + max_age_s
        while len(batch) < max_n:
            try:
                batch.append(popleft())
                continue
            except IndexError:
                pass
            left = deadline - time.monotonic()
            if left <= 0 or stop.is_set():
                break
            self._ready.clear()
            if not items:
                self._ready.wait(min(left, 0.02))
        return batch


class IngestService:
    """Run with :meth:`start` / :meth:`stop`, or :meth:`run_forever` in a process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._inbox = Inbox(settings.ingest_receive_maximum + settings.ingest_batch_max)
        self.metrics = IngestMetrics(self._inbox.__len__)
        self._now = (0.0, datetime.now(UTC))  # (time.time(), as datetime), refreshed 10/s
        self._gen = 0
        self._accepting = threading.Event()
        self._stop = threading.Event()  # drain and stop
        self._abort = threading.Event()  # stop now, even with unwritten messages
        self._writer_done = threading.Event()
        self._writer: threading.Thread | None = None
        self._metrics_server: MetricsServer | None = None
        self.store: StoreInfo | None = None
        self._client = self._make_client()
        self._max_future = timedelta(seconds=settings.ingest_max_future_s)
        self._root = settings.mqtt_topic_root
        self._topics: dict[bytes, tuple[str, Topic]] = {}

    # ------------------------------------------------------------------ MQTT
    def _make_client(self) -> mqtt.Client:
        s = self.settings
        v5 = s.mqtt_protocol == "5"
        client = IngestClient(
            CallbackAPIVersion.VERSION2,
            client_id=s.ingest_client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        ep = s.mqtt
        if ep.username:
            client.username_pw_set(ep.username, ep.password)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        self._gen += 1
        self.metrics.connected.set(1)
        topic = subscription(self._root, self.settings.ingest_shared_group)
        log.info(
            "connected (session present: %s), subscribing to %s",
            getattr(flags, "session_present", "?"),
            topic,
        )
        client.subscribe(topic, qos=1)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        for rc in reasons:
            if rc.is_failure:
                log.error("subscription refused: %s", rc)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.metrics.connected.set(0)
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(
        self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage | InboundMessage
    ) -> None:
        # never raise into paho's loop
        try:
            item = self._decode(msg)
        except Exception as exc:  # pragma: no cover - defensive
            log.exception("unexpected error decoding a message")
            item = Item(
                repr(msg._topic),
                bytes(msg.payload),
                time.time(),
                reason=f"internal error while decoding: {exc!r}",
            )
        item.mid, item.qos, item.gen = msg.mid, msg.qos, self._gen
        if not self._accepting.is_set():
            return  # stopping: leave it unacknowledged; the broker keeps it for next time
        self.metrics.received.inc()
        self._inbox.put(item, self._abort)

    def _topic(self, raw: bytes) -> tuple[str, Topic]:
        """The topic's text and parse, remembered: devices publish on the same
        topics over and over. Raises UnicodeDecodeError or ContractError."""
        hit = self._topics.get(raw)
        if hit is not None:
            return hit
        text = raw.decode("utf-8")
        parsed = (text, parse_topic(text, self._root))
        if len(self._topics) >= TOPIC_CACHE_MAX:
            self._topics.clear()
        self._topics[raw] = parsed
        return parsed

    def _decode(self, msg: mqtt.MQTTMessage | InboundMessage) -> Item:
        now = time.time()
        if now - self._now[0] > 0.1:
            self._now = (now, datetime.fromtimestamp(now, UTC))
        payload = bytes(msg.payload)
        raw_topic: bytes = msg._topic
        try:
            topic, t = self._topic(raw_topic)
        except UnicodeDecodeError:
            return Item(repr(raw_topic), payload, now, reason="topic is not valid UTF-8")
        except ContractError as exc:
            return Item(raw_topic.decode("utf-8"), payload, now, reason=str(exc))
        if t.kind is Kind.PLAN:
            return Item(topic, payload, now, skip=True)
        try:
            decoded = decode_payload_fast(
                t,
                payload,
                now=self._now[1],
                max_future=self._max_future,
                max_bytes=self.settings.ingest_max_payload_bytes,
            )
        except ContractError as exc:
            return Item(topic, payload, now, reason=str(exc))
        item = Item(topic, payload, now, decoded=decoded)
        item.prepare()  # the COPY text, here: the writer thread has the database to wait on
        return item

    # ------------------------------------------------------------------ writer
    def _connect_db(self) -> psycopg.Connection:
        return connect(self.settings.database_url, connect_timeout=5)

    def _writer_main(self, conn: psycopg.Connection | None) -> None:
        writer: BatchWriter | None = None
        assert self.store is not None
        next_rollup = time.monotonic() + self.settings.ingest_rollup_interval_s
        next_maint = time.monotonic() + self.settings.ingest_maintenance_interval_s
        dirty_since: datetime | None = None
        try:
            while True:
                batch = self._collect()
                if batch is None:
                    break
                if batch:
                    res, conn, writer = self._write_retrying(batch, conn, writer)
                    if res is None:  # aborted during an outage: leave them unacked
                        break
                    self._account(batch, res)
                    self._ack(batch)
                    if res.min_ts is not None and res.per_table.get("detector_reading", 0):
                        dirty_since = (
                            res.min_ts if dirty_since is None else min(dirty_since, res.min_ts)
                        )
                now = time.monotonic()
                if conn is not None and now >= next_rollup and dirty_since is not None:
                    next_rollup = now + self.settings.ingest_rollup_interval_s
                    if self.store.service_rollups and self._maintain(
                        lambda c, s=dirty_since: refresh_rollups(c, s), conn
                    ):
                        dirty_since = None
                if conn is not None and now >= next_maint:
                    next_maint = now + self.settings.ingest_maintenance_interval_s
                    self._maintain(self._housekeeping, conn)
        finally:
            if conn is not None:
                conn.close()
            self._writer_done.set()

    def _collect(self) -> list[Item] | None:
        """Up to ``batch_max`` items, waiting at most ``batch_age`` after the first;
        None when stopping and nothing is left."""
        batch = self._inbox.take(
            self.settings.ingest_batch_max, self.settings.ingest_batch_age_ms / 1000.0, self._stop
        )
        if not batch and (self._stop.is_set() or self._abort.is_set()):
            return None
        return batch

    def _write_retrying(
        self, batch: list[Item], conn: psycopg.Connection | None, writer: BatchWriter | None
    ) -> tuple[WriteResult | None, psycopg.Connection | None, BatchWriter | None]:
        delay = 0.2
        assert self.store is not None
        while not self._abort.is_set():
            try:
                if conn is None or conn.closed:
                    conn = self._connect_db()
                    writer = None
                if writer is None:
                    writer = BatchWriter(conn, self.store)
                t0 = time.perf_counter()
                try:
                    res = writer.write(batch)
                except psycopg.errors.TransactionRollback as exc:
                    # a deadlock or serialization failure with another writer: the
                    # transaction was rolled back whole; the connection is fine, go again
                    log.info("batch rolled back (%s); writing it again", exc.sqlstate)
                    self.metrics.db_errors.inc()
                    continue
                except (psycopg.OperationalError, psycopg.InterfaceError):
                    raise
                except psycopg.Error as exc:
                    log.warning("batch refused (%s); writing message by message", exc)
                    res = writer.write_one_by_one(batch)
                self.metrics.commit_seconds.observe(time.perf_counter() - t0)
                self.metrics.db_up.set(1)
                return res, conn, writer
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self.metrics.db_errors.inc()
                self.metrics.db_up.set(0)
                log.warning(
                    "database unavailable (%s); retrying in %.1f s",
                    str(exc).strip().splitlines()[0] if str(exc) else exc,
                    delay,
                )
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001
                        pass
                conn, writer = None, None
                self._abort.wait(delay)
                delay = min(delay * 2, 10.0)
        return None, conn, writer

    def _account(self, batch: list[Item], res: WriteResult) -> None:
        m = self.metrics
        m.batch_size.observe(len(batch))
        m.stored_messages.inc(len(batch) - res.dead_letters - res.skipped)
        m.stored_rows.inc(res.rows_inserted)
        m.duplicates.inc(res.duplicate_rows)
        m.dead_lettered.inc(res.dead_letters)
        m.skipped.inc(res.skipped)
        now = time.time()
        m.lag_seconds.set(now - min(it.received_at for it in batch))
        if res.max_ts is not None:
            m.data_lag_seconds.set(now - res.max_ts.timestamp())

    def _ack(self, batch: list[Item]) -> None:
        gen = self._gen
        mids = []
        stale = 0
        for it in batch:
            if it.qos == 0:
                continue
            if it.gen != gen:
                stale += 1
                continue
            if it.qos == 1:
                mids.append(it.mid)
            else:
                self._client.ack(it.mid, it.qos)
        send_pubacks(self._client, mids)
        self.metrics.acked.inc(len(mids))
        if stale:
            self.metrics.stale_acks.inc(stale)

    def _housekeeping(self, conn: psycopg.Connection) -> None:
        assert self.store is not None
        s = self.settings
        if self.store.backend == "native":
            ensure_partitions_ahead(conn, s.partitions_ahead_days)
        if self.store.service_retention:
            dropped = drop_expired(conn, self.store, s.retention_days)
            if dropped:
                log.info("retention dropped %d partitions/chunks", len(dropped))

    def _maintain(self, fn: Any, conn: psycopg.Connection) -> bool:
        try:
            fn(conn)
            return True
        except psycopg.Error as exc:
            log.warning("maintenance step failed: %s", exc)
            try:
                conn.rollback()
            except psycopg.Error:
                pass
            return False

    # ------------------------------------------------------------------ lifecycle
    def prepare_database(self) -> psycopg.Connection:
        """Create and migrate the database; return the writer's connection."""
        ensure_database(self.settings.database_url)
        conn = self._connect_db()
        migrate(conn)
        self.store = detect_store(conn)
        conn.commit()
        self._housekeeping(conn)
        return conn

    def start(self) -> None:
        conn = self._start_db()
        if self.settings.metrics_port:
            self._metrics_server = MetricsServer(
                self.metrics.registry,
                self.settings.metrics_host,
                self.settings.metrics_port,
                healthy=lambda: self.metrics.db_up.value() == 1,
            ).start()
        self._accepting.set()
        self._writer = threading.Thread(
            target=self._writer_main, args=(conn,), name="ingest-writer", daemon=True
        )
        self._writer.start()
        s = self.settings
        props: Properties | None = None
        if s.mqtt_protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.ingest_session_expiry_s
            props.ReceiveMaximum = s.ingest_receive_maximum
        ep = s.mqtt
        self._client.connect_async(
            ep.host,
            ep.port,
            keepalive=30,
            clean_start=False if s.mqtt_protocol == "5" else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self._client.loop_start()
        log.info(
            "ingest started: %s -> %s (%s store)",
            s.mqtt_url,
            s.database_url.rsplit("@", 1)[-1],
            self.store.backend if self.store else "?",
        )

    def _start_db(self) -> psycopg.Connection | None:
        delay = 0.5
        while True:
            try:
                return self.prepare_database()
            except psycopg.OperationalError as exc:
                if self._abort.is_set():
                    raise
                log.warning("database not reachable at start (%s); retrying", exc)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    @property
    def metrics_port(self) -> int | None:
        return self._metrics_server.port if self._metrics_server else None

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop taking messages, flush, commit, acknowledge, disconnect.

        Returns True when everything received was written and acknowledged.
        """
        self._accepting.clear()
        self._stop.set()
        clean = self._writer_done.wait(timeout_s) if self._writer else True
        if not clean:
            self._abort.set()
            self._writer_done.wait(5)
        self._client.disconnect()
        self._client.loop_stop()
        if self._metrics_server:
            self._metrics_server.stop()
        return clean

    def run_forever(self) -> int:
        """Run until SIGTERM/SIGINT; exit code 0 after a clean flush."""
        stop = threading.Event()

        def _handler(signum: int, frame: Any) -> None:
            log.info("signal %d: stopping (flush, commit, ack)", signum)
            stop.set()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)
        self.start()
        # what is alive now lives as long as the process; what comes later is
        # short-lived (a message lives until its batch commits): keep the
        # collector off the former and let the young generation grow
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
        # the writer thread comes back from PostgreSQL several times a batch and
        # waits for the GIL while the network thread decodes: a shorter switch
        # interval keeps the database busy instead
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        while not stop.wait(0.5):
            if self._writer_done.is_set():
                log.error("the writer stopped unexpectedly")
                self.stop(5)
                return 1
        return 0 if self.stop() else 1


def run_workers(settings: Settings, n: int) -> int:
    """Supervise ``n`` ingest processes in one shared-subscription group.

    Each worker has its own persistent session (client id ``<id>-w<k>``), so the
    broker queues a share of the backlog for each; a worker that dies is
    restarted (what it had not acknowledged is redelivered to it). SIGTERM and
    SIGINT are passed on; the exit code is the worst of the workers'.
    """
    import subprocess

    group = settings.ingest_shared_group or "ingest"
    stopping = threading.Event()

    def spawn(k: int) -> subprocess.Popen[bytes]:
        port = settings.metrics_port + k if settings.metrics_port else 0
        argv = [
            sys.executable, "-m", "hub", "ingest", "run",
            "--client-id", f"{settings.ingest_client_id}-w{k}",
            "--shared-group", group,
            "--metrics-port", str(port),
        ]  # fmt: skip
        return subprocess.Popen(argv, env=dict(os.environ))

    procs = {k: spawn(k) for k in range(n)}

    def _handler(signum: int, frame: Any) -> None:
        stopping.set()
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    log.info("ingest supervisor: %d workers in $share/%s", n, group)
    while not stopping.wait(0.5):
        for k, p in list(procs.items()):
            rc = p.poll()
            if rc is not None and not stopping.is_set():
                log.error("ingest worker %d exited with %s; restarting it", k, rc)
                procs[k] = spawn(k)
    codes = [p.wait() for p in procs.values()]
    return max((abs(c) for c in codes), default=0)
