"""The time-series store: TimescaleDB when the server has it, native partitioning otherwise.

Callers never care which is underneath. Both give:

* the time-series tables (``detector_reading``, ``signal_event``, ``parking_event``,
  ``gps_position``) partitioned by day on ``ts``;
* the rollups ``detector_flow_5m`` and ``detector_flow_1h`` with the same columns;
* retention after ``retention_days``.

With TimescaleDB 2.13+ (``CREATE EXTENSION timescaledb`` works): hypertables via
``create_hypertable(..., by_range('ts', INTERVAL '1 day'))``; where
``timescaledb.license`` is ``timescale`` (Community) also continuous aggregates
with refresh policies, columnstore (2.18+) or compression (older) policies, and
retention policies. The Apache edition refuses those, so there the service keeps
plain rollup tables and drops old chunks with ``drop_chunks`` itself.

Without TimescaleDB: ``PARTITION BY RANGE (ts)`` with one partition per UTC day,
created ahead of time (and on demand by the writer), a BRIN index on ``ts``, rollup
tables maintained by the ingest service, and old partitions dropped by retention.
The choice is made once, when the first migration runs, and recorded in
``store_meta``; ``tlive db info`` explains it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql

MIN_TIMESCALE = (2, 13)  # by_range() dimension builders
COLUMNSTORE_API = (2, 18)  # add_columnstore_policy() replaces add_compression_policy()


@dataclass(frozen=True)
class TsTable:
    """A time-series table: its columns, dedupe key and columnstore segment column."""

    name: str
    columns: str
    key: tuple[str, ...]
    segment_by: str

    @property
    def order_by(self) -> str:
        """The columnstore order: newest first, then the rest of the key.

        Every column of the primary key must be a segment-by or order-by column,
        or TimescaleDB warns ("column ... should be used for segmenting or
        ordering") and must decompress whole segments to check a late or
        redelivered row against the key.
        """
        rest = [c for c in self.key if c not in ("ts", self.segment_by)]
        return ", ".join(["ts DESC", *rest])


TS_TABLES: tuple[TsTable, ...] = (
    TsTable(
        "detector_reading",
        """ts            timestamptz NOT NULL,
           intersection_id text NOT NULL,
           detector_id   text NOT NULL,
           seq           bigint NOT NULL,
           approach      text NOT NULL,
           lane          smallint NOT NULL,
           interval_s    integer NOT NULL,
           mc            integer NOT NULL,
           lv            integer NOT NULL,
           hv            integer NOT NULL,
           um            integer NOT NULL,
           occupancy_pct real NOT NULL,
           speed_kmh     real,
           queue_m       real,
           received_at   timestamptz NOT NULL DEFAULT now()""",
        ("intersection_id", "detector_id", "ts", "seq"),
        "intersection_id",
    ),
    TsTable(
        "signal_event",
        """ts              timestamptz NOT NULL,
           intersection_id text NOT NULL,
           seq             bigint NOT NULL,
           phase           smallint NOT NULL,
           state           text NOT NULL,
           plan_id         text NOT NULL,
           received_at     timestamptz NOT NULL DEFAULT now()""",
        ("intersection_id", "ts", "seq"),
        "intersection_id",
    ),
    TsTable(
        "parking_event",
        """ts          timestamptz NOT NULL,
           lot_id      text NOT NULL,
           bay_id      text NOT NULL,
           seq         bigint NOT NULL,
           occupied    boolean NOT NULL,
           kind        text NOT NULL,
           battery_pct real,
           received_at timestamptz NOT NULL DEFAULT now()""",
        ("lot_id", "bay_id", "ts", "seq"),
        "lot_id",
    ),
    TsTable(
        "gps_position",
        """ts          timestamptz NOT NULL,
           vehicle_id  text NOT NULL,
           seq         bigint NOT NULL,
           lat         double precision NOT NULL,
           lon         double precision NOT NULL,
           speed_kmh   real NOT NULL,
           heading_deg real NOT NULL,
           ignition    boolean,
           load_kg     real,
           hdop        real,
           received_at timestamptz NOT NULL DEFAULT now()""",
        ("vehicle_id", "ts", "seq"),
        "vehicle_id",
    ),
)
TS_TABLE_NAMES = tuple(t.name for t in TS_TABLES)

ROLLUPS: dict[str, str] = {"detector_flow_5m": "5 minutes", "detector_flow_1h": "1 hour"}
# the rollup's SELECT, shared by the continuous aggregate and the service-maintained table
ROLLUP_COLUMNS = """intersection_id, detector_id,
       sum(mc) AS mc, sum(lv) AS lv, sum(hv) AS hv, sum(um) AS um,
       sum(mc + lv + hv + um) AS veh, sum(interval_s) AS covered_s,
       avg(occupancy_pct) AS occupancy_pct, avg(speed_kmh) AS speed_kmh,
       max(queue_m) AS queue_max_m, count(*) AS samples"""
# (no casts: plain aggregates are what every TimescaleDB 2.x continuous aggregate accepts;
#  the native rollup tables below use the aggregates' own result types)


@dataclass
class StoreInfo:
    """What the server offers and what the store uses."""

    backend: Literal["timescaledb", "native"]
    reason: str
    timescale_version: str | None = None
    license: str | None = None
    hypertables: bool = False
    continuous_aggregates: bool = False
    columnstore: bool = False
    retention_policy: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def service_rollups(self) -> bool:
        """True when the ingest service must maintain the rollup tables itself."""
        return not self.continuous_aggregates

    @property
    def service_retention(self) -> bool:
        return not self.retention_policy


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def capabilities(version: str, license: str | None) -> StoreInfo:
    """What a TimescaleDB of ``version`` under ``license`` lets the store use."""
    ver = _version_tuple(version)
    if ver < MIN_TIMESCALE:
        return StoreInfo(
            "native",
            f"TimescaleDB {version} is older than 2.13 (no by_range API): "
            "using native range partitioning",
            timescale_version=version,
            license=license,
        )
    community = license == "timescale"
    info = StoreInfo(
        "timescaledb",
        f"TimescaleDB {version} ({license or 'unknown'} license): hypertables"
        + (", continuous aggregates, columnstore and retention policies" if community else ""),
        timescale_version=version,
        license=license,
        hypertables=True,
        continuous_aggregates=community,
        columnstore=community,
        retention_policy=community,
    )
    if not community:
        info.notes.append(
            "the Apache edition refuses continuous aggregates, compression and policies: "
            "the ingest service maintains the rollups and drops old chunks itself"
        )
    return info


def detect_store(conn: psycopg.Connection, *, create_extension: bool = False) -> StoreInfo:
    """Decide which backend to use on this server, trying ``CREATE EXTENSION`` if asked.

    Once migrations have run, the recorded choice in ``store_meta`` wins (the
    tables were built for it); the live state of the server is added as notes.
    """
    recorded = _recorded(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        row = cur.fetchone()
        version = row[0] if row else None
        why_not = ""
        if version is None:
            cur.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
            )
            avail = cur.fetchone()
            if avail is None:
                why_not = (
                    "timescaledb is not installed on this server (not in pg_available_extensions)"
                )
            elif not create_extension:
                why_not = f"timescaledb {avail[0]} is available but not created in this database"
            elif not _loader_present(cur):
                # CREATE EXTENSION would end the session with FATAL "extension
                # "timescaledb" must be preloaded" (no savepoint survives a FATAL)
                why_not = (
                    f"timescaledb {avail[0]} is installed but not in shared_preload_libraries, "
                    "so CREATE EXTENSION timescaledb cannot load it"
                )
            else:
                cur.execute("SAVEPOINT tsdb")
                try:
                    cur.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                    cur.execute("RELEASE SAVEPOINT tsdb")
                    cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
                    r = cur.fetchone()
                    version = r[0] if r else None
                except psycopg.Error as exc:
                    if conn.broken:  # a FATAL: nothing to roll back to
                        raise
                    cur.execute("ROLLBACK TO SAVEPOINT tsdb")
                    why_not = f"CREATE EXTENSION timescaledb failed: {exc.diag.message_primary}"
        license = None
        if version is not None:
            cur.execute("SELECT current_setting('timescaledb.license', true)")
            lic = cur.fetchone()
            license = lic[0] if lic else None
    live = (
        capabilities(version, license)
        if version
        else StoreInfo("native", f"{why_not}: using native range partitioning by day")
    )
    if recorded is None:
        return live
    if recorded.backend != live.backend or recorded.license != live.license:
        recorded.notes.append(
            f"the server now offers: {live.reason} "
            "(the tables were built for the recorded choice; migrate the data to switch)"
        )
    return recorded


def _loader_present(cur: psycopg.Cursor) -> bool:
    """Can ``CREATE EXTENSION timescaledb`` load the library in this session?

    The TimescaleDB loader defines ``timescaledb.disable_load`` when it is loaded
    (from ``shared_preload_libraries``); without it, creating the extension fails
    with FATAL unless ``timescaledb.allow_install_without_preload`` is on.
    """
    cur.execute(
        "SELECT current_setting('timescaledb.disable_load', true), "
        "current_setting('timescaledb.allow_install_without_preload', true)"
    )
    row = cur.fetchone()
    disable_load, without_preload = row if row else (None, None)
    return disable_load == "off" or without_preload == "on"


def _recorded(conn: psycopg.Connection) -> StoreInfo | None:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('store_meta') IS NOT NULL")
        r = cur.fetchone()
        if not r or not r[0]:
            return None
        cur.execute("SELECT value FROM store_meta WHERE key = 'store'")
        row = cur.fetchone()
    if row is None:
        return None
    data = dict(row[0])
    data.pop("notes", None)
    return StoreInfo(**data)


def record_store(cur: psycopg.Cursor, info: StoreInfo) -> None:
    from psycopg.types.json import Jsonb

    cur.execute(
        """INSERT INTO store_meta (key, value) VALUES ('store', %s)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
        (Jsonb(info.as_dict()),),
    )


# --------------------------------------------------------------------------- DDL
def timescale_ddl(info: StoreInfo, retention_days: int, compress_after_days: int) -> list[str]:
    """The statements that build the time-series tables on TimescaleDB.

    Pure (no I/O) so that tests can check the SQL without a TimescaleDB server.
    """
    stmts: list[str] = []
    ver = _version_tuple(info.timescale_version or "0")
    for t in TS_TABLES:
        key = ", ".join(t.key)
        stmts.append(f"CREATE TABLE IF NOT EXISTS {t.name} ({t.columns}, PRIMARY KEY ({key}))")
        stmts.append(
            f"SELECT create_hypertable('{t.name}', by_range('ts', INTERVAL '1 day'), "
            "if_not_exists => TRUE)"
        )
        if info.columnstore:
            if ver >= COLUMNSTORE_API:
                stmts.append(
                    f"ALTER TABLE {t.name} SET (timescaledb.enable_columnstore = true, "
                    f"timescaledb.segmentby = '{t.segment_by}', "
                    f"timescaledb.orderby = '{t.order_by}')"
                )
                stmts.append(
                    f"CALL add_columnstore_policy('{t.name}', "
                    f"after => INTERVAL '{compress_after_days} days', if_not_exists => true)"
                )
            else:
                stmts.append(
                    f"ALTER TABLE {t.name} SET (timescaledb.compress, "
                    f"timescaledb.compress_segmentby = '{t.segment_by}', "
                    f"timescaledb.compress_orderby = '{t.order_by}')"
                )
                stmts.append(
                    f"SELECT add_compression_policy('{t.name}', "
                    f"INTERVAL '{compress_after_days} days', if_not_exists => true)"
                )
        if info.retention_policy:
            stmts.append(
                f"SELECT add_retention_policy('{t.name}', "
                f"drop_after => INTERVAL '{retention_days} days', if_not_exists => true)"
            )
    for view, width in ROLLUPS.items():
        if info.continuous_aggregates:
            stmts.append(
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} "
                "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS "
                f"SELECT time_bucket(INTERVAL '{width}', ts) AS bucket, {ROLLUP_COLUMNS} "
                "FROM detector_reading GROUP BY bucket, intersection_id, detector_id "
                "WITH NO DATA"
            )
            start = "3 hours" if width == "5 minutes" else "3 days"
            stmts.append(
                f"SELECT add_continuous_aggregate_policy('{view}', "
                f"start_offset => INTERVAL '{start}', end_offset => INTERVAL '{width}', "
                f"schedule_interval => INTERVAL '{width}', if_not_exists => true)"
            )
            if info.retention_policy:
                stmts.append(
                    f"SELECT add_retention_policy('{view}', "
                    f"drop_after => INTERVAL '{retention_days * 4} days', if_not_exists => true)"
                )
        else:
            stmts.append(_rollup_table_ddl(view))
    return stmts


def native_ddl() -> list[str]:
    """The statements that build the time-series tables with native partitioning."""
    stmts: list[str] = []
    for t in TS_TABLES:
        key = ", ".join(t.key)
        stmts.append(
            f"CREATE TABLE IF NOT EXISTS {t.name} ({t.columns}, PRIMARY KEY ({key})) "
            "PARTITION BY RANGE (ts)"
        )
        stmts.append(
            f"CREATE INDEX IF NOT EXISTS {t.name}_ts_brin ON {t.name} USING brin (ts) "
            "WITH (pages_per_range = 32)"
        )
    stmts.extend(_rollup_table_ddl(view) for view in ROLLUPS)
    return stmts


def _rollup_table_ddl(view: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {view} (
        bucket timestamptz NOT NULL, intersection_id text NOT NULL, detector_id text NOT NULL,
        mc bigint NOT NULL, lv bigint NOT NULL, hv bigint NOT NULL, um bigint NOT NULL,
        veh bigint NOT NULL, covered_s bigint NOT NULL, occupancy_pct double precision,
        speed_kmh double precision, queue_max_m real, samples bigint NOT NULL,
        PRIMARY KEY (intersection_id, detector_id, bucket))"""


# ------------------------------------------------------------- native partitions
def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def ensure_partitions(conn: psycopg.Connection, days: Iterable[date]) -> list[str]:
    """Create the missing daily partitions of every time-series table (native backend).

    Runs in its own transaction; returns the partitions created.
    """
    created: list[str] = []
    wanted = sorted(set(days))
    if not wanted:
        return created
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (0x71_1C_E0_02,))
        cur.execute(
            """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)""",
            (list(TS_TABLE_NAMES),),
        )
        existing = {r[0] for r in cur.fetchall()}
        for t in TS_TABLE_NAMES:
            for day in wanted:
                name = partition_name(t, day)
                if name in existing:
                    continue
                lo = datetime(day.year, day.month, day.day, tzinfo=UTC)
                cur.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                    ).format(
                        sql.Identifier(name),
                        sql.Identifier(t),
                        sql.Literal(lo),
                        sql.Literal(lo + timedelta(days=1)),
                    )
                )
                created.append(name)
    return created


def existing_partition_days(conn: psycopg.Connection) -> set[date]:
    """Days for which every time-series table has its partition."""
    rows = conn.execute(
        """SELECT p.relname, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)""",
        (list(TS_TABLE_NAMES),),
    ).fetchall()
    per_table: dict[str, set[date]] = {t: set() for t in TS_TABLE_NAMES}
    for parent, child in rows:
        m = re.search(r"_p(\d{8})$", child)
        if m:
            per_table[parent].add(datetime.strptime(m.group(1), "%Y%m%d").date())
    conn.commit()
    sets = list(per_table.values())
    return set.intersection(*sets) if sets else set()


def drop_expired(conn: psycopg.Connection, info: StoreInfo, retention_days: int) -> list[str]:
    """Retention run by the service: drop partitions or chunks older than the horizon."""
    horizon = datetime.now(UTC) - timedelta(days=retention_days)
    # the rollups are kept four times as long as the raw rows (as the policies do)
    cutoff = horizon - timedelta(days=retention_days * 3)
    dropped: list[str] = []
    with conn.transaction(), conn.cursor() as cur:
        if info.backend == "timescaledb":
            for t in TS_TABLE_NAMES:
                cur.execute("SELECT drop_chunks(%s, older_than => %s)", (t, horizon))
                dropped.extend(str(r[0]) for r in cur.fetchall())
            if info.service_rollups:  # plain rollup tables (Apache edition)
                _delete_old_rollups(cur, cutoff)
            return dropped
        cur.execute(
            """SELECT p.relname, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)""",
            (list(TS_TABLE_NAMES),),
        )
        for _parent, child in cur.fetchall():
            m = re.search(r"_p(\d{8})$", child)
            if not m:
                continue
            day_end = datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC) + timedelta(
                days=1
            )
            if day_end <= horizon:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(child)))
                dropped.append(child)
        _delete_old_rollups(cur, cutoff)
    return dropped


def _delete_old_rollups(cur: psycopg.Cursor, cutoff: datetime) -> None:
    for view in ROLLUPS:
        cur.execute(
            sql.SQL("DELETE FROM {} WHERE bucket < %s").format(sql.Identifier(view)),
            (cutoff,),
        )


def refresh_rollups(
    conn: psycopg.Connection, since: datetime, until: datetime | None = None
) -> int:
    """Recompute the rollup buckets touching ``[since, until)`` (service-maintained rollups).

    Idempotent: a bucket is recomputed from the raw rows, so running it twice, or
    from two ingest processes, gives the same table. Returns rows upserted.
    """
    until = until or datetime.now(UTC) + timedelta(minutes=10)
    total = 0
    with conn.transaction(), conn.cursor() as cur:
        for view, width in ROLLUPS.items():
            cur.execute(
                sql.SQL(
                    """INSERT INTO {view}
                       SELECT date_bin(%(w)s::interval, ts, TIMESTAMPTZ '2000-01-01') AS bucket,
                              {cols}
                       FROM detector_reading
                       WHERE ts >= date_bin(%(w)s::interval, %(since)s::timestamptz,
                                            TIMESTAMPTZ '2000-01-01')
                         AND ts < %(until)s
                       GROUP BY 1, intersection_id, detector_id
                       ON CONFLICT (intersection_id, detector_id, bucket) DO UPDATE SET
                         mc = EXCLUDED.mc, lv = EXCLUDED.lv, hv = EXCLUDED.hv, um = EXCLUDED.um,
                         veh = EXCLUDED.veh, covered_s = EXCLUDED.covered_s,
                         occupancy_pct = EXCLUDED.occupancy_pct, speed_kmh = EXCLUDED.speed_kmh,
                         queue_max_m = EXCLUDED.queue_max_m, samples = EXCLUDED.samples"""
                ).format(view=sql.Identifier(view), cols=sql.SQL(ROLLUP_COLUMNS)),
                {"w": width, "since": since, "until": until},
            )
            total += cur.rowcount
    return total


def ensure_partitions_ahead(conn: psycopg.Connection, ahead_days: int) -> list[str]:
    today = datetime.now(UTC).date()
    return ensure_partitions(conn, (today + timedelta(days=d) for d in range(-1, ahead_days + 1)))
