"""Core schema: time-series tables (TimescaleDB or native), dead letters, store metadata."""

from __future__ import annotations

import psycopg

from hub.store import StoreInfo, native_ddl, record_store, timescale_ddl

VERSION = 1
NAME = "core time-series tables, dead letters"

# defaults for policies created by this migration; the service applies settings later
RETENTION_DAYS = 90
COMPRESS_AFTER_DAYS = 7


def apply(cur: psycopg.Cursor, store: StoreInfo) -> None:
    cur.execute(
        """CREATE TABLE IF NOT EXISTS store_meta (
               key   text PRIMARY KEY,
               value jsonb NOT NULL
           )"""
    )
    record_store(cur, store)
    ddl = (
        timescale_ddl(store, RETENTION_DAYS, COMPRESS_AFTER_DAYS)
        if store.backend == "timescaledb"
        else native_ddl()
    )
    for stmt in ddl:
        cur.execute(stmt)  # type: ignore[arg-type]
    cur.execute(
        """CREATE TABLE IF NOT EXISTS dead_letter (
               id          bigserial PRIMARY KEY,
               received_at timestamptz NOT NULL DEFAULT now(),
               last_seen   timestamptz NOT NULL DEFAULT now(),
               occurrences integer NOT NULL DEFAULT 1,
               topic       text NOT NULL,
               payload     bytea NOT NULL,
               reason      text NOT NULL,
               digest      bytea NOT NULL UNIQUE
           )"""
    )
    cur.execute("CREATE INDEX IF NOT EXISTS dead_letter_received ON dead_letter (received_at)")
