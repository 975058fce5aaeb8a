"""The TimescaleDB path of the store, run for real.

By default against PGlite with TimescaleDB (``tests/support/timescale.py``: real
TimescaleDB C code built to WASM, served on a loopback port), with
``TLIVE_TEST_TIMESCALE_URL`` against a real TimescaleDB server (a database of
this module's own is created there and dropped after).

The project's own code runs unchanged: ``hub.db.migrate`` (which decides the
backend with ``detect_store(..., create_extension=True)``), the ingest writer
(``ingest.writer.store_messages``: COPY into a temp table, ``INSERT … ON CONFLICT
DO NOTHING``), ``hub.store.drop_expired`` / ``refresh_rollups`` and the ``tlive db``
CLI. One connection is open at a time (the WASM server serves one at a time).

What the WASM build cannot do, and how these tests cope:

* no background workers (no TimescaleDB scheduler, ``shared_preload_libraries``
  is empty): policies are registered but never run by themselves, so the tests run
  them in the foreground with ``CALL run_job(id)``, which executes the same policy
  procedure the scheduler would;
* ``timescaledb.license`` is always ``timescale`` (postgresql.conf is not read and
  the GUC refuses a downgrade once loaded), so the Apache edition's plan (hypertables
  with service-maintained rollups and retention) is checked by recording that
  choice before migrating (``test_apache_edition_plan_on_a_timescaledb_server``);
* no ``shared_preload_libraries``: PGlite loads the library on CREATE EXTENSION, and
  the server script says so with TimescaleDB's ``timescaledb.allow_install_without_preload``
  (which ``hub.store.detect_store`` checks: on a real server without preloading,
  CREATE EXTENSION ends the session with FATAL);
* one session, one database: a client waits while another is connected, and
  temp tables, prepared statements and locks are reset between clients by the
  server script (``DISCARD ALL``); ``COPY … FROM STDIN`` is carried by the server
  script as a server-side ``COPY … FROM '<file>'`` (the WASM backend cannot read
  COPY data from the wire).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from hub.cli import app
from hub.db import applied_versions, connect, discover_migrations, migrate
from hub.store import (
    ROLLUPS,
    TS_TABLE_NAMES,
    TS_TABLES,
    StoreInfo,
    _version_tuple,
    capabilities,
    detect_store,
    drop_expired,
    record_store,
    refresh_rollups,
    timescale_ddl,
)
from ingest.writer import store_messages
from tests.hub import test_store as _test_store
from tests.support.mqtt import detector_msg
from tests.support.timescale import timescale_database as timescale_server

MIGRATION_NOTICES: list[tuple[str, str]] = []


@pytest.fixture(scope="module")
def tsdb() -> Iterator[str]:
    """A TimescaleDB database migrated by the project's own migrations."""
    with timescale_server() as url:
        with connect(url) as conn:
            conn.add_notice_handler(
                lambda d: MIGRATION_NOTICES.append((d.severity or "", d.message_primary or ""))
            )
            migrate(conn)
        yield url


def store_of(url: str) -> StoreInfo:
    with connect(url) as conn:
        return detect_store(conn)


def is_wasm(conn: psycopg.Connection) -> bool:
    return "emscripten" in conn.execute("SELECT version()").fetchone()[0].lower()


def detector_messages(inter: str, start: datetime, n: int, *, first_seq: int = 1, n_det: int = 2):
    """``n`` one-minute reports of ``n_det`` detectors of ``inter`` from ``start``."""
    return [
        detector_msg("tlive", inter, first_seq + i, ts=start + timedelta(minutes=i), n_det=n_det)
        for i in range(n)
    ]


def raw_5m(conn: psycopg.Connection, inter: str) -> list[tuple]:
    """What detector_flow_5m must say for ``inter``, from the raw rows."""
    return conn.execute(
        """SELECT time_bucket(INTERVAL '5 minutes', ts) AS b, detector_id,
                  sum(mc), sum(mc + lv + hv + um), sum(interval_s), count(*)
           FROM detector_reading WHERE intersection_id = %s GROUP BY 1, 2 ORDER BY 1, 2""",
        (inter,),
    ).fetchall()


def cagg_5m(conn: psycopg.Connection, inter: str) -> list[tuple]:
    return conn.execute(
        """SELECT bucket, detector_id, mc, veh, covered_s, samples FROM detector_flow_5m
           WHERE intersection_id = %s ORDER BY 1, 2""",
        (inter,),
    ).fetchall()


def materialized_rows(conn: psycopg.Connection, view: str, inter: str) -> int:
    """Rows of ``view`` stored in its materialization hypertable (not real-time)."""
    schema, table = conn.execute(
        """SELECT materialization_hypertable_schema, materialization_hypertable_name
           FROM timescaledb_information.continuous_aggregates WHERE view_name = %s""",
        (view,),
    ).fetchone()
    return conn.execute(
        sql.SQL("SELECT count(*) FROM {}.{} WHERE intersection_id = %s").format(
            sql.Identifier(schema), sql.Identifier(table)
        ),
        (inter,),
    ).fetchone()[0]


def jobs_of(conn: psycopg.Connection) -> dict[tuple[str, str], list[tuple[int, dict]]]:
    """(proc_name, hypertable or view name) -> [(job_id, config)]."""
    rows = conn.execute(
        """SELECT j.proc_name, coalesce(c.view_name, j.hypertable_name), j.job_id, j.config
           FROM timescaledb_information.jobs j
           LEFT JOIN timescaledb_information.continuous_aggregates c
                  ON c.materialization_hypertable_name = j.hypertable_name
           WHERE j.hypertable_name IS NOT NULL"""
    ).fetchall()
    out: dict[tuple[str, str], list[tuple[int, dict]]] = {}
    for proc, rel, job_id, config in rows:
        out.setdefault((proc, rel), []).append((job_id, config))
    return out


def chunks_of(conn: psycopg.Connection, table: str) -> list[tuple[str, datetime, bool]]:
    return conn.execute(
        """SELECT chunk_name, range_end, is_compressed FROM timescaledb_information.chunks
           WHERE hypertable_name = %s ORDER BY range_start""",
        (table,),
    ).fetchall()


# ----------------------------------------------------------------- the migrated store
def test_migrations_choose_timescaledb_and_record_why(tsdb):
    with connect(tsdb) as conn:
        info = detect_store(conn)
        live_license = conn.execute(
            "SELECT current_setting('timescaledb.license', true)"
        ).fetchone()[0]
        version = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()[0]
        recorded = conn.execute("SELECT value FROM store_meta WHERE key = 'store'").fetchone()[0]
        kinds = dict(
            conn.execute(
                "SELECT relname, relkind FROM pg_class WHERE relname = ANY(%s)",
                (list(TS_TABLE_NAMES),),
            ).fetchall()
        )
        assert sorted(applied_versions(conn)) == [m.version for m in discover_migrations()]
        assert migrate(conn) == []  # a second run is a no-op
    assert info.backend == "timescaledb" and info.hypertables
    assert info.timescale_version == version and _version_tuple(version) >= (2, 13)
    assert info.license == live_license
    assert info.continuous_aggregates == (live_license == "timescale")
    assert recorded["backend"] == "timescaledb" and recorded["license"] == live_license
    assert info.notes == []  # the server still offers what the tables were built for
    # e.g. 'column "seq" should be used for segmenting or ordering' (the banner of
    # CREATE EXTENSION is a WARNING on a real server)
    assert [m for sev, m in MIGRATION_NOTICES if sev == "WARNING" and "WELCOME" not in m] == []
    assert kinds == {t: "r" for t in TS_TABLE_NAMES}  # hypertables, not native partitions


def test_hypertables_have_daily_chunks_on_ts_and_columnstore_settings(tsdb):
    info = store_of(tsdb)
    with connect(tsdb) as conn:
        dims = {
            r[0]: r[1:]
            for r in conn.execute(
                """SELECT hypertable_name, column_name, time_interval, dimension_number
                   FROM timescaledb_information.dimensions WHERE hypertable_schema = 'public'"""
            ).fetchall()
        }
        hyper = dict(
            conn.execute(
                """SELECT hypertable_name, compression_enabled
                   FROM timescaledb_information.hypertables WHERE hypertable_schema = 'public'"""
            ).fetchall()
        )
        settings = conn.execute(
            """SELECT hypertable_name, attname, segmentby_column_index, orderby_column_index,
                      orderby_asc
               FROM timescaledb_information.compression_settings
               WHERE hypertable_schema = 'public'"""
        ).fetchall()
    assert set(hyper) == set(TS_TABLE_NAMES)
    assert dims == {t: ("ts", timedelta(days=1), 1) for t in TS_TABLE_NAMES}
    assert all(hyper[t] == info.columnstore for t in TS_TABLE_NAMES)
    if info.columnstore:
        for t in TS_TABLES:
            seg = [(a, s) for h, a, s, o, _ in settings if h == t.name and s is not None]
            order = [(a, o, asc) for h, a, s, o, asc in settings if h == t.name and o is not None]
            assert seg == [(t.segment_by, 1)]
            rest = [c for c in t.key if c not in ("ts", t.segment_by)]
            assert order == [("ts", 1, False)] + [(c, i, True) for i, c in enumerate(rest, 2)]
    else:
        assert settings == []


def test_policies_and_continuous_aggregates_as_the_license_allows(tsdb):
    info = store_of(tsdb)
    with connect(tsdb) as conn:
        caggs = dict(
            conn.execute(
                """SELECT view_name, materialized_only
                   FROM timescaledb_information.continuous_aggregates"""
            ).fetchall()
        )
        jobs = jobs_of(conn)
        rollup_kinds = dict(
            conn.execute(
                "SELECT relname, relkind FROM pg_class WHERE relname = ANY(%s)",
                (list(ROLLUPS),),
            ).fetchall()
        )
    if not info.continuous_aggregates:  # Apache edition: no jobs at all on our tables
        assert caggs == {} and jobs == {}
        assert rollup_kinds == {v: "r" for v in ROLLUPS}
        return
    assert caggs == {v: False for v in ROLLUPS}  # real-time aggregation on
    assert rollup_kinds == {v: "v" for v in ROLLUPS}
    compress = {"policy_compression", "policy_columnstore"}
    for t in TS_TABLE_NAMES:
        [(_, ret)] = jobs[("policy_retention", t)]
        assert ret["drop_after"] in ("90 days", "90 days 00:00:00")
        [comp] = [
            cfg for (p, rel), js in jobs.items() if rel == t and p in compress for _, cfg in js
        ]
        assert comp["compress_after"] in ("7 days", "7 days 00:00:00")
    for view, width in ROLLUPS.items():
        [(_, refresh)] = jobs[("policy_refresh_continuous_aggregate", view)]
        [(_, ret)] = jobs[("policy_retention", view)]
        assert ret["drop_after"] in ("360 days", "360 days 00:00:00")
        start = "03:00:00" if width == "5 minutes" else "3 days"
        end = "00:05:00" if width == "5 minutes" else "01:00:00"
        assert (refresh["start_offset"], refresh["end_offset"]) == (start, end)


def test_the_shared_timescale_check_of_test_store_passes_on_a_fresh_store():
    """tests/hub/test_store.py's TimescaleDB test, on a store of its own (it counts rows)."""
    with timescale_server() as url:
        with connect(url) as conn:
            migrate(conn)
        _test_store.test_timescale_path_for_real_when_the_server_has_it(url)


# ------------------------------------------------------------------ ingest and rollups
def test_writer_stores_a_redelivered_message_once(tsdb):
    info = store_of(tsdb)
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    msgs = detector_messages("INT-W1", t0, 3)
    with connect(tsdb) as conn:
        first = store_messages(conn, info, msgs)
        again = store_messages(conn, info, [msgs[1]])  # QoS 1 redelivery
        rows = conn.execute(
            "SELECT seq, count(*) FROM detector_reading WHERE intersection_id = 'INT-W1' "
            "GROUP BY seq ORDER BY seq"
        ).fetchall()
        live = conn.execute(
            "SELECT detector_id, seq FROM detector_live WHERE intersection_id = 'INT-W1' ORDER BY 1"
        ).fetchall()
        chunk_ends = [end for _, end, _ in chunks_of(conn, "detector_reading")]
        dead = conn.execute("SELECT count(*) FROM dead_letter").fetchone()[0]
    assert (first.rows_inserted, first.duplicate_rows, first.dead_letters) == (6, 0, 0)
    assert (again.rows_inserted, again.duplicate_rows) == (0, 2)
    assert rows == [(1, 2), (2, 2), (3, 2)]  # exactly one row per reading
    assert live == [("D0", 3), ("D1", 3)]  # the redelivered seq 2 did not turn it back
    assert any(t0 < end <= t0 + timedelta(days=1, minutes=1) for end in chunk_ends)
    assert dead == 0


def test_continuous_aggregate_is_real_time_then_refreshed(tsdb):
    info = store_of(tsdb)
    if not info.continuous_aggregates:
        pytest.skip("no continuous aggregates under this license (service rollups instead)")
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    msgs = detector_messages("INT-C1", t0, 15)  # 15 one-minute reports: 3 five-minute buckets
    with connect(tsdb) as conn:
        store_messages(conn, info, msgs)
        expected = raw_5m(conn, "INT-C1")
        before = cagg_5m(conn, "INT-C1")
        stored_before = materialized_rows(conn, "detector_flow_5m", "INT-C1")
    with connect(tsdb, autocommit=True) as conn:  # CALL refresh_… refuses a transaction
        for view in ROLLUPS:
            conn.execute(
                "CALL refresh_continuous_aggregate(%s, %s::timestamptz, %s::timestamptz)",
                (view, t0 - timedelta(hours=1), t0 + timedelta(hours=2)),
            )
    with connect(tsdb) as conn:
        stored_after = materialized_rows(conn, "detector_flow_5m", "INT-C1")
        after = cagg_5m(conn, "INT-C1")
        hour = conn.execute(
            "SELECT bucket, sum(samples), sum(veh) FROM detector_flow_1h "
            "WHERE intersection_id = 'INT-C1' GROUP BY bucket"
        ).fetchall()
        raw_veh = conn.execute(
            "SELECT sum(mc + lv + hv + um) FROM detector_reading WHERE intersection_id = 'INT-C1'"
        ).fetchone()[0]
        # a late duplicate after the refresh changes nothing
        late = store_messages(conn, info, msgs[:2])
        again = cagg_5m(conn, "INT-C1")
    assert len(expected) == 6 and all(r[4:] == (300, 5) for r in expected)
    assert before == expected  # real-time: the raw rows show through before any refresh
    assert stored_before == 0
    assert stored_after == 6 and after == expected
    assert hour == [(t0, 30, raw_veh)]
    assert late.rows_inserted == 0 and again == expected


def test_policies_run_in_the_foreground(tsdb):
    """The policy procedures themselves: columnstore of a week-old chunk (and late data
    into it, deduplicated), refresh, retention. ``CALL run_job`` runs what the
    scheduler would run."""
    info = store_of(tsdb)
    if not info.retention_policy:
        pytest.skip("no policies under this license")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    old = now - timedelta(days=10)
    ancient = now - timedelta(days=120)
    recent = now.replace(minute=0) - timedelta(hours=1)
    with connect(tsdb) as conn:
        store_messages(conn, info, detector_messages("INT-P1", old, 2))
        store_messages(conn, info, detector_messages("INT-P1", ancient, 2, first_seq=10))
        store_messages(conn, info, detector_messages("INT-P1", recent, 5, first_seq=20))
        jobs = jobs_of(conn)
    [(comp_job, _)] = [
        js[0]
        for (p, rel), js in jobs.items()
        if rel == "detector_reading" and p in ("policy_compression", "policy_columnstore")
    ]
    [(ret_job, _)] = jobs[("policy_retention", "detector_reading")]
    [(refresh_job, _)] = jobs[("policy_refresh_continuous_aggregate", "detector_flow_5m")]
    with connect(tsdb, autocommit=True) as conn:
        conn.execute("CALL run_job(%s)", (comp_job,))
    with connect(tsdb) as conn:
        compressed = {end: c for _, end, c in chunks_of(conn, "detector_reading")}
        # redelivered and late readings of the compressed day
        dup = store_messages(conn, info, detector_messages("INT-P1", old, 2))
        late = store_messages(conn, info, detector_messages("INT-P1", old, 1, first_seq=5))
        old_rows = conn.execute(
            "SELECT seq, count(*) FROM detector_reading WHERE intersection_id = 'INT-P1' "
            "AND ts < %s AND ts > %s GROUP BY seq ORDER BY seq",
            (now - timedelta(days=8), now - timedelta(days=11)),
        ).fetchall()
    with connect(tsdb, autocommit=True) as conn:
        conn.execute("CALL run_job(%s)", (ret_job,))
        conn.execute("CALL run_job(%s)", (refresh_job,))
    with connect(tsdb) as conn:
        left = conn.execute(
            "SELECT min(ts) FROM detector_reading WHERE intersection_id = 'INT-P1'"
        ).fetchone()[0]
        refreshed = materialized_rows(conn, "detector_flow_5m", "INT-P1")
    week_old = [c for end, c in compressed.items() if end <= now - timedelta(days=7)]
    fresh = [c for end, c in compressed.items() if end > now - timedelta(days=7)]
    assert week_old and all(week_old)  # chunks older than 7 days are in the columnstore
    assert fresh and not any(fresh)
    assert (dup.rows_inserted, dup.duplicate_rows) == (0, 4)  # ON CONFLICT on compressed data
    assert late.rows_inserted == 2
    assert old_rows == [(1, 2), (2, 2), (5, 2)]
    assert old - timedelta(days=1) < left <= old  # the 120-day-old chunk was dropped
    assert refreshed == 2  # the 5 recent minutes, 2 detectors, inside the refresh window


def test_service_retention_drops_old_chunks_only(tsdb):
    """``drop_expired`` (what the service runs where there is no retention policy)."""
    info = store_of(tsdb)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with connect(tsdb) as conn:
        store_messages(conn, info, detector_messages("INT-R1", now - timedelta(days=200), 2))
        store_messages(conn, info, detector_messages("INT-R1", now - timedelta(hours=2), 2))
        old_chunks = [
            n
            for n, end, _ in chunks_of(conn, "detector_reading")
            if end <= now - timedelta(days=90)
        ]
        dropped = drop_expired(conn, info, retention_days=90)
        left = conn.execute(
            "SELECT count(*), min(ts) > %s FROM detector_reading WHERE intersection_id = 'INT-R1'",
            (now - timedelta(days=90),),
        ).fetchone()
        chunks_after = {n for n, _, _ in chunks_of(conn, "detector_reading")}
        again = drop_expired(conn, info, retention_days=90)
    assert old_chunks and {d.rsplit(".", 1)[-1] for d in dropped} == set(old_chunks)
    assert not set(old_chunks) & chunks_after
    assert left == (4, True)
    assert again == []


def test_cli_reports_the_timescale_store(tsdb):
    info = store_of(tsdb)
    runner = CliRunner()
    res = runner.invoke(app, ["db", "info", "--json", "--database-url", tsdb])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    res_text = runner.invoke(app, ["db", "info", "--database-url", tsdb])
    res_migrate = runner.invoke(app, ["db", "migrate", "--json", "--database-url", tsdb])
    res_maint = runner.invoke(app, ["db", "maintain", "--json", "--database-url", tsdb])
    assert data["backend"] == "timescaledb"
    assert data["timescale_version"] == info.timescale_version
    assert data["license"] == info.license and data["hypertables"] is True
    assert data["continuous_aggregates"] == info.continuous_aggregates
    assert data["migrations_pending"] == [] and data["partitions"] == []
    assert data["server_version"]
    assert res_text.exit_code == 0 and "timescaledb" in res_text.output, res_text.output
    assert res_migrate.exit_code == 0, res_migrate.output
    assert json.loads(res_migrate.output)["applied"] == []
    assert res_maint.exit_code == 0, res_maint.output
    maint = json.loads(res_maint.output)
    assert maint["partitions_created"] == []
    if info.continuous_aggregates:  # the server's policies do the work
        assert maint == {"partitions_created": [], "dropped": [], "rollup_rows": 0}


def test_what_the_wasm_build_cannot_do(tsdb):
    """The limits listed at the top of this module, so that a newer build that lifts
    one of them shows up here (then the tests can lean on it)."""
    with connect(tsdb) as conn:
        if not is_wasm(conn):
            pytest.skip("a real TimescaleDB server")
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        workers = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type ILIKE '%timescale%'"
        ).fetchone()[0]
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("SET timescaledb.license = 'apache'")
        # one client at a time: a second one waits until the first has gone
        second: dict[str, float] = {}

        def connect_second() -> None:
            t = time.monotonic()
            with psycopg.connect(tsdb, connect_timeout=20) as c2:
                c2.execute("SELECT 1")
            second["waited_s"] = time.monotonic() - t

        th = threading.Thread(target=connect_second)
        th.start()
        time.sleep(1.0)
        waiting = "waited_s" not in second
    th.join(20)
    assert "timescaledb" not in preload and workers == 0
    assert waiting and second["waited_s"] >= 0.9


# -------------------------------------------------------------------- Apache edition
def test_apache_edition_plan_on_a_timescaledb_server():
    """What the store builds where only the Apache edition is installed: hypertables,
    plain rollup tables kept by the service, retention by ``drop_expired``.

    The WASM server is always Community, so the Apache choice is recorded in
    ``store_meta`` before migrating (``detect_store`` keeps a recorded choice); the
    hypertables, ``refresh_rollups`` and ``drop_chunks`` then run on TimescaleDB.
    """
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    t0 = now.replace(minute=0) - timedelta(hours=3)
    with timescale_server() as url:
        with connect(url) as conn:
            if is_wasm(conn):
                # as a server with TimescaleDB installed but not preloaded looks: there
                # CREATE EXTENSION would end the session (FATAL), so it is not tried
                conn.execute("RESET timescaledb.allow_install_without_preload")
                unloaded = detect_store(conn, create_extension=True)
                created = conn.execute(
                    "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
                ).fetchone()[0]
                assert unloaded.backend == "native" and created == 0
                assert "shared_preload_libraries" in unloaded.reason
                conn.execute("SET timescaledb.allow_install_without_preload = 'on'")
            info = detect_store(conn, create_extension=True)
            assert info.backend == "timescaledb"
            apache = capabilities(info.timescale_version or "", "apache")
            conn.execute("CREATE TABLE store_meta (key text PRIMARY KEY, value jsonb NOT NULL)")
            with conn.cursor() as cur:
                record_store(cur, apache)
            conn.commit()
            migrate(conn)
            store = detect_store(conn)
            hyper = {
                r[0]
                for r in conn.execute(
                    "SELECT hypertable_name FROM timescaledb_information.hypertables "
                    "WHERE hypertable_schema = 'public'"
                ).fetchall()
            }
            jobs = jobs_of(conn)
            caggs = conn.execute(
                "SELECT count(*) FROM timescaledb_information.continuous_aggregates"
            ).fetchone()[0]
            store_messages(conn, store, detector_messages("INT-A1", t0, 12))
            store_messages(
                conn,
                store,
                detector_messages("INT-A1", t0 - timedelta(days=400), 2, first_seq=100),
            )
            upserted = refresh_rollups(conn, now - timedelta(days=401))
            five = conn.execute(
                "SELECT bucket, detector_id, mc, veh, covered_s, samples FROM detector_flow_5m "
                "WHERE intersection_id = 'INT-A1' AND bucket >= %s ORDER BY 1, 2",
                (t0,),
            ).fetchall()
            expected = [r for r in raw_5m(conn, "INT-A1") if r[0] >= t0]
            old_rollups = conn.execute(
                "SELECT count(*) FROM detector_flow_1h WHERE bucket < %s",
                (now - timedelta(days=360),),
            ).fetchone()[0]
            dropped = drop_expired(conn, store, retention_days=90)
            left_raw = conn.execute(
                "SELECT count(*) FROM detector_reading WHERE ts < %s",
                (now - timedelta(days=90),),
            ).fetchone()[0]
            left_rollups = [
                conn.execute(
                    sql.SQL("SELECT count(*) FROM {} WHERE bucket < %s").format(
                        sql.Identifier(view)
                    ),
                    (now - timedelta(days=360),),
                ).fetchone()[0]
                for view in ROLLUPS
            ]
            recent_rollups = conn.execute(
                "SELECT count(*) FROM detector_flow_5m WHERE bucket >= %s", (t0,)
            ).fetchone()[0]
        res = CliRunner().invoke(app, ["db", "info", "--json", "--database-url", url])
    assert store.backend == "timescaledb" and store.license == "apache"
    assert store.service_rollups and store.service_retention
    assert any("the server now offers" in n for n in store.notes) == (info.license != "apache")
    assert hyper == set(TS_TABLE_NAMES) and jobs == {} and caggs == 0
    assert upserted > 0 and five == expected and len(five) == 6
    assert old_rollups == 2  # the 400-day-old hour bucket of 2 detectors
    assert dropped and left_raw == 0
    assert left_rollups == [0, 0]  # rollups are kept 4x retention_days, then deleted
    assert recent_rollups == 6
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["backend"] == "timescaledb" and data["license"] == "apache"
    assert data["continuous_aggregates"] is False


# ------------------------------------------------------------- the pre-2.18 API branch
def test_the_compression_api_branch_is_accepted_by_timescaledb():
    """The DDL for TimescaleDB 2.13-2.17 (``timescaledb.compress`` and
    ``add_compression_policy``), run on this server (newer servers keep that API)."""
    legacy = capabilities("2.17.2", "timescale")
    stmts = timescale_ddl(legacy, retention_days=90, compress_after_days=7)
    assert any("add_compression_policy" in s for s in stmts)
    with timescale_server() as url:
        with connect(url) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            for s in stmts:
                conn.execute(s)
            conn.commit()
            settings = conn.execute(
                """SELECT hypertable_name, attname, segmentby_column_index, orderby_column_index
                   FROM timescaledb_information.compression_settings"""
            ).fetchall()
            jobs = jobs_of(conn)
    for t in TS_TABLES:
        cols = [(a, s, o) for h, a, s, o in settings if h == t.name]
        assert (t.segment_by, 1, None) in cols and ("ts", None, 1) in cols
        assert len(cols) == len(t.key)  # every key column segments or orders
        [(_, cfg)] = jobs[("policy_compression", t.name)]
        assert cfg["compress_after"] in ("7 days", "7 days 00:00:00")
    assert {rel for (p, rel) in jobs if p == "policy_refresh_continuous_aggregate"} == set(ROLLUPS)
