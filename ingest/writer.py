"""The batch writer: validated messages in, rows committed exactly once.

One :class:`BatchWriter` owns one database connection (the ingest service's writer
thread). A batch becomes, per table, one ``COPY`` into a session-local staging
table followed by an ``INSERT … SELECT`` into the real table, all in one
transaction: a redelivered message never becomes a second row (the tables'
unique keys), and nothing is acknowledged before the commit. Dead letters go into
the same transaction, deduplicated by a digest of topic and payload.

The insert is tried first without ``ON CONFLICT``, in a savepoint: a batch that
holds no row already stored (nearly every batch: redeliveries follow reconnects
and restarts) costs PostgreSQL about half as much per row, since a plain insert
checks the unique index once where ``ON CONFLICT`` inserts speculatively. A batch
that does hold one fails with a unique violation, is rolled back to the
savepoint and inserted again with ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg

from hub.store import TS_TABLES, StoreInfo, ensure_partitions, existing_partition_days
from ingest.contract import ContractError, Decoded, Kind, parse_topic
from ingest.fastdecode import decode_payload_fast

log = logging.getLogger(__name__)

NULL = "\\N"

# table -> columns written by the ingest (order of the COPY text)
COLUMNS: dict[str, tuple[str, ...]] = {
    "detector_reading": (
        "ts",
        "intersection_id",
        "detector_id",
        "seq",
        "approach",
        "lane",
        "interval_s",
        "mc",
        "lv",
        "hv",
        "um",
        "occupancy_pct",
        "speed_kmh",
        "queue_m",
        "received_at",
    ),
    "signal_event": ("ts", "intersection_id", "seq", "phase", "state", "plan_id", "received_at"),
    "parking_event": (
        "ts",
        "lot_id",
        "bay_id",
        "seq",
        "occupied",
        "kind",
        "battery_pct",
        "received_at",
    ),
    "gps_position": (
        "ts",
        "vehicle_id",
        "seq",
        "lat",
        "lon",
        "speed_kmh",
        "heading_deg",
        "ignition",
        "load_kg",
        "hdop",
        "received_at",
    ),
}
# the batch's statements per table: COPY into the session's staging table, then
# the insert that skips rows already stored (a redelivery is not a second row)
COPY_SQL: dict[str, str] = {
    t: f"COPY stage_{t} ({', '.join(cols[:-1])}, received_epoch) FROM STDIN"
    for t, cols in COLUMNS.items()
}
# rows go in in key order (and the tables in a fixed order): two writers that hold
# the same redelivered rows then wait for each other in one order, never in a cycle
KEYS: dict[str, tuple[str, ...]] = {t.name: t.key for t in TS_TABLES}
PLAIN_INSERT_SQL: dict[str, str] = {
    t: f"INSERT INTO {t} ({', '.join(cols)}) "  # noqa: S608
    f"SELECT {', '.join(cols[:-1])}, to_timestamp(received_epoch) FROM stage_{t} "
    f"ORDER BY {', '.join(KEYS[t])}"
    for t, cols in COLUMNS.items()
}
INSERT_SQL: dict[str, str] = {t: f"{q} ON CONFLICT DO NOTHING" for t, q in PLAIN_INSERT_SQL.items()}
TABLE_OF: dict[Kind, str] = {
    Kind.DETECTORS: "detector_reading",
    Kind.SIGNAL: "signal_event",
    Kind.PARKING: "parking_event",
    Kind.GPS: "gps_position",
}


@dataclass(slots=True)
class Item:
    """One received MQTT message on its way to the database.

    Exactly one of ``decoded`` (store it), ``reason`` (dead-letter it) holds, or
    neither when ``skip`` (acknowledge only: e.g. a plan published by control).
    ``table``/``rows`` are its COPY text (:func:`copy_rows`), made once: by the
    ingest's network thread, so the writer only joins and sends, or by the
    writer for an item that comes without.
    """

    topic: str
    payload: bytes
    received_at: float
    decoded: Decoded | None = None
    reason: str | None = None
    skip: bool = False
    mid: int = 0
    qos: int = 0
    gen: int = 0
    table: str = ""
    rows: str = ""
    n_rows: int = 0

    def prepare(self) -> None:
        """Make the COPY text of a decoded message (a no-op when it exists)."""
        if self.decoded is not None and not self.table:
            received = repr(self.received_at or time.time())
            self.table, self.rows, self.n_rows = copy_rows(self.decoded, received)


@dataclass
class WriteResult:
    messages: int = 0
    rows_staged: int = 0
    rows_inserted: int = 0
    dead_letters: int = 0
    skipped: int = 0
    min_ts: datetime | None = None
    max_ts: datetime | None = None
    per_table: dict[str, int] = field(default_factory=dict)

    @property
    def duplicate_rows(self) -> int:
        return self.rows_staged - self.rows_inserted


# the detectors' live state (hub/migrations/m0040_detector_live.py), in the same
# transaction as the readings: the newest reading per detector wins, by (ts, seq), so a
# redelivered or late message never turns the state back. The rows are taken in key
# order, so concurrent writers (--workers N) lock them in the same order. ``gid`` is the
# inventory's integer id of the detector (NULL while the inventory does not know it).
LIVE_UPSERT = """
INSERT INTO detector_live AS l (intersection_id, detector_id, gid, ts, seq, approach, lane,
       interval_s, mc, lv, hv, um, occupancy_pct, speed_kmh, queue_m, received_at)
SELECT s.intersection_id, s.detector_id, d.gid, s.ts, s.seq, s.approach, s.lane,
       s.interval_s, s.mc, s.lv, s.hv, s.um, s.occupancy_pct, s.speed_kmh, s.queue_m,
       to_timestamp(s.received_epoch)
FROM (SELECT DISTINCT ON (intersection_id, detector_id) *
      FROM stage_detector_reading
      ORDER BY intersection_id, detector_id, ts DESC, seq DESC) AS s
LEFT JOIN detector d ON d.intersection_id = s.intersection_id AND d.id = s.detector_id
ORDER BY s.intersection_id, s.detector_id
ON CONFLICT (intersection_id, detector_id) DO UPDATE SET
       gid = EXCLUDED.gid, ts = EXCLUDED.ts, seq = EXCLUDED.seq,
       approach = EXCLUDED.approach, lane = EXCLUDED.lane,
       interval_s = EXCLUDED.interval_s, mc = EXCLUDED.mc, lv = EXCLUDED.lv,
       hv = EXCLUDED.hv, um = EXCLUDED.um, occupancy_pct = EXCLUDED.occupancy_pct,
       speed_kmh = EXCLUDED.speed_kmh, queue_m = EXCLUDED.queue_m,
       received_at = EXCLUDED.received_at
WHERE (l.ts, l.seq) < (EXCLUDED.ts, EXCLUDED.seq)
"""


def _b(v: bool | None) -> str:
    return NULL if v is None else ("t" if v else "f")


def copy_rows(d: Decoded, received: str) -> tuple[str, str, int]:
    """The table, COPY text lines (newline-terminated) and row count of one message.

    The message is the contract's model or its fast-decoded Struct (same
    attributes), so every value is already checked: ids match the contract's
    patterns (no tab, newline or backslash: nothing to escape), floats are
    finite and in range (``repr`` is exact and PostgreSQL reads it back to the
    same value). ``received`` is the receive time in epoch seconds.
    """
    m: Any = d.message
    src = d.topic.source_id
    ts = m.ts.isoformat()
    kind = d.topic.kind
    if kind is Kind.DETECTORS:
        head = f"{ts}\t{src}\t"
        after_id = f"\t{m.seq}\t"
        interval = m.interval_s
        tail = f"\t{received}\n"
        dets = m.detectors
        return (
            "detector_reading",
            "".join(
                [
                    f"{head}{c.detector_id}{after_id}{c.approach}\t{c.lane}\t{interval}\t"
                    f"{c.mc}\t{c.lv}\t{c.hv}\t{c.um}\t{c.occupancy_pct!r}\t"
                    f"{NULL if c.speed_kmh is None else repr(c.speed_kmh)}\t"
                    f"{NULL if c.queue_m is None else repr(c.queue_m)}{tail}"
                    for c in dets
                ]
            ),
            len(dets),
        )
    if kind is Kind.GPS:
        return (
            "gps_position",
            f"{ts}\t{src}\t{m.seq}\t{m.lat!r}\t{m.lon!r}\t{m.speed_kmh!r}\t"
            f"{m.heading_deg!r}\t{_b(m.ignition)}\t"
            f"{NULL if m.load_kg is None else repr(m.load_kg)}\t"
            f"{NULL if m.hdop is None else repr(m.hdop)}\t{received}\n",
            1,
        )
    if kind is Kind.PARKING:
        return (
            "parking_event",
            f"{ts}\t{src}\t{d.topic.sub_id}\t{m.seq}\t{'t' if m.occupied else 'f'}\t{m.kind}\t"
            f"{NULL if m.battery_pct is None else repr(m.battery_pct)}\t{received}\n",
            1,
        )
    return (
        "signal_event",
        f"{ts}\t{src}\t{m.seq}\t{m.phase}\t{m.state}\t{m.plan_id}\t{received}\n",
        1,
    )


def digest(topic: str, payload: bytes) -> bytes:
    return hashlib.sha256(topic.encode("utf-8", "surrogateescape") + b"\x00" + payload).digest()


class BatchWriter:
    """Writes batches of :class:`Item` on one connection; the caller commits nothing."""

    def __init__(self, conn: psycopg.Connection, store: StoreInfo) -> None:
        self.conn = conn
        self.store = store
        self._staged = False
        self.plain_insert_conflicts = 0  # batches that held a row already stored
        self._days: set[date] = set()
        if store.backend == "native":
            self._days = existing_partition_days(conn)

    def _ensure_stage(self) -> None:
        """Create the session's staging tables in a transaction of their own, so that
        a batch rolled back later does not take them with it."""
        if self._staged:
            return
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._create_stage(cur)
        self._staged = True

    def _create_stage(self, cur: psycopg.Cursor) -> None:
        # received_at travels as epoch seconds: PostgreSQL converts it, not Python
        for table, cols in COLUMNS.items():
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS stage_{table} ON COMMIT DELETE ROWS AS "  # noqa: S608
                f"SELECT {', '.join(cols[:-1])}, 0::double precision AS received_epoch "
                f"FROM {table} WITH NO DATA"
            )

    def _ensure_days(self, days: Iterable[date]) -> None:
        missing = set(days) - self._days
        if missing and self.store.backend == "native":
            ensure_partitions(self.conn, missing)
            self._days |= missing

    def write(self, items: Sequence[Item]) -> WriteResult:
        """Write one batch in one transaction and commit it.

        Raises psycopg errors untouched: the caller retries connection failures and
        falls back to :meth:`write_one_by_one` for data errors.
        """
        res = WriteResult(messages=len(items))
        buffers: dict[str, list[str]] = {}
        staged: dict[str, int] = {}
        dead: list[Item] = []
        days: set[date] = set()
        min_ts = max_ts = None
        for it in items:
            d = it.decoded
            if d is not None:
                if not it.table:
                    it.prepare()
                buffers.setdefault(it.table, []).append(it.rows)
                staged[it.table] = staged.get(it.table, 0) + it.n_rows
                ts = d.message.ts
                if min_ts is None or ts < min_ts:
                    min_ts = ts
                if max_ts is None or ts > max_ts:
                    max_ts = ts
                days.add(ts.date())
            elif it.reason is not None:
                dead.append(it)
            else:
                res.skipped += 1
        res.min_ts, res.max_ts = min_ts, max_ts
        self._ensure_days(days)
        self._ensure_stage()
        with self.conn.transaction(), self.conn.cursor() as cur:
            tables = [t for t in COLUMNS if t in buffers]
            for table in tables:
                with cur.copy(COPY_SQL[table]) as cp:
                    cp.write("".join(buffers[table]))
            if tables:
                try:
                    with self.conn.transaction():  # a savepoint
                        counts = self._insert(cur, tables, PLAIN_INSERT_SQL)
                except psycopg.errors.UniqueViolation:
                    self.plain_insert_conflicts += 1
                    counts = self._insert(cur, tables, INSERT_SQL)
                for table, inserted in zip(tables, counts, strict=True):
                    res.rows_staged += staged[table]
                    res.rows_inserted += inserted
                    res.per_table[table] = res.per_table.get(table, 0) + inserted
            if dead:
                self._dead_letters(cur, dead)
                res.dead_letters = len(dead)
        return res

    @staticmethod
    def _insert(cur: psycopg.Cursor, tables: list[str], sql: dict[str, str]) -> list[int]:
        """The staged rows into their tables (and the detectors' live state), in one
        round trip: no parameters, so one simple query of several statements, a
        result for each. Returns the rows inserted per table."""
        statements = [sql[t] for t in tables]
        if "detector_reading" in tables:
            statements.append(LIVE_UPSERT)
        cur.execute(";\n".join(statements))
        counts = []
        for _ in tables:
            counts.append(cur.rowcount)
            cur.nextset()
        return counts

    def _dead_letters(self, cur: psycopg.Cursor, dead: Sequence[Item]) -> None:
        cur.executemany(
            """INSERT INTO dead_letter (received_at, topic, payload, reason, digest)
               VALUES (to_timestamp(%s), %s, %s, %s, %s)
               ON CONFLICT (digest) DO UPDATE
                 SET occurrences = dead_letter.occurrences + 1, last_seen = now()""",
            [
                (
                    it.received_at,
                    it.topic,
                    it.payload,
                    (it.reason or "unknown")[:2000],
                    digest(it.topic, it.payload),
                )
                for it in dead
            ],
        )

    def write_one_by_one(self, items: Sequence[Item]) -> WriteResult:
        """Fallback after a data error: each message in its own savepoint; a message
        that the database refuses becomes a dead letter instead of blocking ingest."""
        total = WriteResult()
        for it in items:
            try:
                r = self.write([it])
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                log.warning("store refused a message on %s: %s", it.topic, exc)
                bad = Item(
                    it.topic,
                    it.payload,
                    it.received_at,
                    reason=f"rejected by the store: {exc.diag.message_primary or exc}",
                )
                r = self.write([bad])
            total.messages += r.messages
            total.rows_staged += r.rows_staged
            total.rows_inserted += r.rows_inserted
            total.dead_letters += r.dead_letters
            total.skipped += r.skipped
            for k, v in r.per_table.items():
                total.per_table[k] = total.per_table.get(k, 0) + v
            for t in (r.min_ts, r.max_ts):
                if t is not None:
                    total.min_ts = t if total.min_ts is None else min(total.min_ts, t)
                    total.max_ts = t if total.max_ts is None else max(total.max_ts, t)
        return total


def store_messages(
    conn: psycopg.Connection,
    store: StoreInfo,
    messages: Iterable[tuple[str, bytes]],
    *,
    batch: int = 2000,
    now: datetime | None = None,
) -> WriteResult:
    """Validate and store raw ``(topic, payload)`` messages exactly as the ingest
    service does, without MQTT: replays, backfills, tests and benchmarks.

    Each batch is committed; a message that breaks the contract becomes a dead
    letter, a batch the store refuses goes message by message. ``now`` is the
    receive time the contract's future-timestamp check uses (default: the clock).
    """
    writer = BatchWriter(conn, store)
    total = WriteResult()
    items: list[Item] = []

    def flush() -> None:
        try:
            r = writer.write(items)
        except psycopg.OperationalError:
            raise
        except psycopg.Error:
            r = writer.write_one_by_one(items)
        for k in ("messages", "rows_staged", "rows_inserted", "dead_letters", "skipped"):
            setattr(total, k, getattr(total, k) + getattr(r, k))
        for k, v in r.per_table.items():
            total.per_table[k] = total.per_table.get(k, 0) + v
        items.clear()

    received = (now or datetime.now().astimezone()).timestamp()
    for topic, payload in messages:
        try:
            decoded = decode_payload_fast(parse_topic(topic), payload, now=now)
            items.append(Item(topic, payload, received, decoded=decoded))
        except ContractError as exc:
            items.append(Item(topic, payload, received, reason=str(exc)))
        if len(items) >= batch:
            flush()
    if items:
        flush()
    return total
