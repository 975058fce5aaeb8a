"""The store: migrations, native partitioning, retention, rollups, the TimescaleDB path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pglast
import psycopg
import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.db import applied_versions, connect, discover_migrations, migrate
from hub.store import (
    ROLLUPS,
    TS_TABLE_NAMES,
    capabilities,
    detect_store,
    drop_expired,
    ensure_partitions,
    existing_partition_days,
    native_ddl,
    partition_name,
    refresh_rollups,
    timescale_ddl,
)
from ingest.contract import decode
from ingest.writer import BatchWriter, Item
from tests.support.mqtt import detector_msg


def test_migrations_are_recorded_and_applying_twice_is_a_noop(db_url):
    with connect(db_url) as conn:
        versions = applied_versions(conn)
        assert sorted(versions) == [m.version for m in discover_migrations()]
        assert migrate(conn) == []
        assert applied_versions(conn) == versions
        n = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
    assert n == len(versions)


def backend_of(url: str) -> str:
    with connect(url) as conn:
        return detect_store(conn).backend


def native_only(url: str) -> None:
    if backend_of(url) != "native":
        pytest.skip("this server has TimescaleDB: the native path is not the one in use")


def test_this_server_uses_native_partitioning_and_says_why(db_url):
    native_only(db_url)
    with connect(db_url) as conn:
        info = detect_store(conn)
        rel = conn.execute(
            "SELECT relkind FROM pg_class WHERE relname = 'gps_position'"
        ).fetchone()[0]
    assert info.backend == "native"
    assert "timescaledb" in info.reason and "native range partitioning" in info.reason
    assert rel == "p"  # partitioned table
    res = CliRunner().invoke(app, ["db", "migrate", "--database-url", db_url])
    assert res.exit_code == 0 and "up to date" in res.output, res.output
    res = CliRunner().invoke(app, ["db", "info", "--json", "--database-url", db_url])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["backend"] == "native" and data["migrations_pending"] == []
    assert len(data["partitions"]) >= 3  # yesterday, today and days ahead


def test_db_commands_fail_cleanly_on_an_unreachable_database():
    res = CliRunner().invoke(
        app, ["db", "info", "--database-url", "postgresql://postgres@127.0.0.1:1/nope"]
    )
    assert res.exit_code == 1
    assert "cannot reach the database" in res.output


def _items(root: str, specs: list[tuple[int, datetime]]) -> list[Item]:
    out = []
    for seq, ts in specs:
        topic, payload = detector_msg(root, "INT-9", seq, ts=ts, n_det=2)
        out.append(Item(topic, payload, ts.timestamp(), decoded=decode(topic, payload, root=root)))
    return out


def test_writer_creates_partitions_on_demand_and_dedupes(db_url):
    native_only(db_url)
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
    with connect(db_url) as conn:
        assert old.date() not in existing_partition_days(conn)
        w = BatchWriter(conn, detect_store(conn))
        items = _items("tlive", [(1, old), (2, old + timedelta(minutes=1))])
        r1 = w.write(items)
        r2 = w.write(items)  # redelivery
        assert old.date() in existing_partition_days(conn)
        n = conn.execute("SELECT count(*) FROM detector_reading").fetchone()[0]
    assert (r1.rows_inserted, r1.duplicate_rows) == (4, 0)
    assert (r2.rows_inserted, r2.duplicate_rows) == (0, 4)
    assert n == 4


def test_writer_plain_insert_falls_back_to_on_conflict_only_when_a_row_is_stored(db_url):
    # the writer tries a plain INSERT in a savepoint and goes again with ON CONFLICT
    # DO NOTHING on a unique violation: new rows, stored rows and a message twice in
    # one batch must all come out exactly once, with the right counts
    native_only(db_url)
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with connect(db_url) as conn:
        w = BatchWriter(conn, detect_store(conn))
        first = w.write(_items("tlive", [(1, t), (2, t + timedelta(minutes=1))]))
        assert w.plain_insert_conflicts == 0
        fresh = w.write(_items("tlive", [(3, t + timedelta(minutes=2))]))
        assert w.plain_insert_conflicts == 0
        mixed = w.write(
            _items("tlive", [(2, t + timedelta(minutes=1)), (4, t + timedelta(minutes=3))])
        )
        assert w.plain_insert_conflicts == 1
        twice = w.write(_items("tlive", [(5, t + timedelta(minutes=4))] * 2))
        assert w.plain_insert_conflicts == 2
        conn.commit()
        rows = conn.execute(
            "SELECT seq, count(*) FROM detector_reading GROUP BY seq ORDER BY seq"
        ).fetchall()
        live = conn.execute("SELECT DISTINCT seq FROM detector_live").fetchall()
    assert (first.rows_inserted, first.duplicate_rows) == (4, 0)
    assert (fresh.rows_inserted, fresh.duplicate_rows) == (2, 0)
    assert (mixed.rows_inserted, mixed.duplicate_rows) == (2, 2)
    assert (twice.rows_inserted, twice.duplicate_rows) == (2, 2)
    assert rows == [(1, 2), (2, 2), (3, 2), (4, 2), (5, 2)]
    assert live == [(5,)]


def test_retention_drops_old_partitions_only(db_url):
    native_only(db_url)
    now = datetime.now(UTC)
    old_day = (now - timedelta(days=120)).date()
    with connect(db_url) as conn:
        ensure_partitions(conn, [old_day])
        store = detect_store(conn)
        w = BatchWriter(conn, store)
        w.write(_items("tlive", [(1, now - timedelta(days=120)), (2, now - timedelta(hours=1))]))
        dropped = drop_expired(conn, store, retention_days=90)
        left = conn.execute("SELECT count(*) FROM detector_reading").fetchone()[0]
        days = existing_partition_days(conn)
    assert sorted(dropped) == sorted(partition_name(t, old_day) for t in TS_TABLE_NAMES)
    assert left == 2 and old_day not in days


def test_service_rollups_match_the_raw_rows_and_are_idempotent(db_url):
    with connect(db_url) as conn:
        if not detect_store(conn).service_rollups:
            pytest.skip("continuous aggregates maintain the rollups on this server")
    t0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    specs = [(i, t0 + timedelta(minutes=i)) for i in range(12)]  # 07:00 .. 07:11
    with connect(db_url) as conn:
        BatchWriter(conn, detect_store(conn)).write(_items("tlive", specs))
        refresh_rollups(conn, t0)
        first = conn.execute("SELECT * FROM detector_flow_5m ORDER BY 1, 2, 3").fetchall()
        refresh_rollups(conn, t0)
        again = conn.execute("SELECT * FROM detector_flow_5m ORDER BY 1, 2, 3").fetchall()
        raw = conn.execute(
            "SELECT detector_id, sum(mc), sum(lv + mc + hv + um) FROM detector_reading "
            "WHERE ts >= %s AND ts < %s GROUP BY 1 ORDER BY 1",
            (t0, t0 + timedelta(minutes=5)),
        ).fetchall()
        five = conn.execute(
            "SELECT detector_id, mc, veh, samples, covered_s FROM detector_flow_5m "
            "WHERE bucket = %s ORDER BY 1",
            (t0,),
        ).fetchall()
        hour = conn.execute("SELECT sum(samples), sum(veh) FROM detector_flow_1h").fetchone()
    assert first == again
    assert [(d, mc, veh) for d, mc, veh, _, _ in five] == [(d, int(a), int(b)) for d, a, b in raw]
    assert all(s == 5 and cov == 300 for *_, s, cov in five)
    assert hour[0] == 24 and len({r[1] for r in first}) == 1
    assert len(first) == 2 * 3  # 2 detectors x buckets 07:00, 07:05, 07:10


@pytest.mark.parametrize(
    "version, license, expect, refuse",
    [
        (
            "2.17.2",
            "timescale",
            [
                "add_compression_policy",
                "timescaledb.compress,",
                "timescaledb.continuous",
                "add_retention_policy",
                "add_continuous_aggregate_policy",
            ],
            ["add_columnstore_policy"],
        ),
        (
            "2.19.3",
            "timescale",
            ["add_columnstore_policy", "enable_columnstore", "timescaledb.continuous"],
            ["add_compression_policy"],
        ),
        (
            "2.14.0",
            "apache",
            ["create_hypertable"],
            ["timescaledb.continuous", "add_retention_policy", "compress", "columnstore"],
        ),
    ],
)
def test_timescale_ddl_is_valid_sql_and_respects_the_license(version, license, expect, refuse):
    info = capabilities(version, license)
    assert info.backend == "timescaledb"
    stmts = timescale_ddl(info, retention_days=90, compress_after_days=7)
    text = "\n".join(stmts)
    for s in stmts:
        pglast.parse_sql(s)  # raises on a syntax error
    for t in TS_TABLE_NAMES:
        assert f"create_hypertable('{t}', by_range('ts', INTERVAL '1 day')" in text
    for word in expect:
        assert word in text
    for word in refuse:
        assert word not in text
    for view in ROLLUPS:
        assert view in text
    assert info.service_rollups == (license == "apache")
    assert info.service_retention == (license == "apache")


def test_old_timescale_falls_back_to_native():
    info = capabilities("2.11.1", "timescale")
    assert info.backend == "native" and "2.13" in info.reason


def test_native_ddl_is_valid_sql():
    for s in native_ddl():
        pglast.parse_sql(s)
    assert any("PARTITION BY RANGE (ts)" in s for s in native_ddl())
    assert any("USING brin (ts)" in s for s in native_ddl())


def test_a_database_refusal_of_one_message_dead_letters_only_that_one(db_url):
    """A row the database refuses (here: a CHECK added for the test) must not block the batch."""
    now = datetime.now(UTC).replace(microsecond=0)
    with connect(db_url) as conn:
        conn.execute("ALTER TABLE detector_reading ADD CONSTRAINT no_seq_13 CHECK (seq <> 13)")
        conn.commit()
        w = BatchWriter(conn, detect_store(conn))
        items = _items(
            "tlive", [(12, now - timedelta(minutes=2)), (13, now - timedelta(minutes=1))]
        )
        with pytest.raises(psycopg.errors.CheckViolation):
            w.write(items)
        conn.rollback()
        r = w.write_one_by_one(items)
        rows = conn.execute("SELECT DISTINCT seq FROM detector_reading").fetchall()
        dl = conn.execute("SELECT reason FROM dead_letter").fetchall()
    assert r.dead_letters == 1 and rows == [(12,)]
    assert "rejected by the store" in dl[0][0] and "no_seq_13" in dl[0][0]


def test_timescale_path_for_real_when_the_server_has_it(db_url):
    """Runs against a TimescaleDB server (TLIVE_TEST_DATABASE_URL); skipped where
    CREATE EXTENSION timescaledb is not possible, as on the development machines."""
    with connect(db_url) as conn:
        info = detect_store(conn)
        if info.backend != "timescaledb":
            pytest.skip(f"no TimescaleDB here: {info.reason}")
        hyper = {
            r[0]
            for r in conn.execute(
                "SELECT hypertable_name FROM timescaledb_information.hypertables"
            ).fetchall()
        }
        assert set(TS_TABLE_NAMES) <= hyper
        caggs = {
            r[0]
            for r in conn.execute(
                "SELECT view_name FROM timescaledb_information.continuous_aggregates"
            ).fetchall()
        }
        jobs = [
            r[0]
            for r in conn.execute("SELECT proc_name FROM timescaledb_information.jobs").fetchall()
        ]
        now = datetime.now(UTC).replace(microsecond=0)
        w = BatchWriter(conn, info)
        items = _items(
            "tlive", [(1, now - timedelta(minutes=20)), (2, now - timedelta(minutes=19))]
        )
        assert w.write(items).rows_inserted == 4
        assert w.write(items).rows_inserted == 0
        if info.continuous_aggregates:
            assert set(ROLLUPS) <= caggs
            assert "policy_refresh_continuous_aggregate" in jobs
            assert "policy_retention" in jobs
            assert {"policy_compression", "policy_columnstore"} & set(jobs)
            # real-time aggregation sees the rows before any refresh
            n = conn.execute("SELECT sum(samples) FROM detector_flow_5m").fetchone()[0]
            assert n == 4
        else:
            assert not caggs
            refresh_rollups(conn, now - timedelta(hours=1))
            n = conn.execute("SELECT sum(samples) FROM detector_flow_5m").fetchone()[0]
            assert n == 4
            assert drop_expired(conn, info, retention_days=90) == []
