"""Database access: connections, the migration runner, test databases.

Migrations are Python modules ``hub/migrations/mNNNN_<name>.py``, each with
``VERSION: int``, ``NAME: str`` and ``apply(cur, store)``; they go forward one
numbered step at a time, each in its own transaction, and are recorded in
``schema_migrations``. Applying them twice is a no-op. A session advisory lock
keeps two processes from migrating at once.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from hub import migrations as _migrations_pkg
from hub.store import StoreInfo, detect_store

MIGRATION_LOCK_KEY = 0x71_1C_E0_01  # pg_advisory_lock key for the migration runner


def connect(url: str, *, autocommit: bool = False, **kwargs: object) -> psycopg.Connection:
    """Open a connection with the hub's defaults (UTC session time zone)."""
    conn = psycopg.connect(url, autocommit=autocommit, **kwargs)  # type: ignore[arg-type]
    conn.execute("SET TIME ZONE 'UTC'")
    if not autocommit:
        conn.commit()
    return conn


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[psycopg.Cursor, StoreInfo], None]


def discover_migrations() -> list[Migration]:
    """All migrations shipped in ``hub/migrations``, in version order."""
    found: list[Migration] = []
    for info in pkgutil.iter_modules(_migrations_pkg.__path__):
        if not info.name.startswith("m"):
            continue
        mod: ModuleType = importlib.import_module(f"hub.migrations.{info.name}")
        found.append(Migration(int(mod.VERSION), str(mod.NAME), mod.apply))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version number: {versions}")
    return found


def applied_versions(conn: psycopg.Connection) -> dict[int, str]:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        row = cur.fetchone()
        if not row or not row[0]:
            return {}
        cur.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        return {int(v): str(n) for v, n in cur.fetchall()}


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply every pending migration; return the ones applied (empty: nothing to do)."""
    if conn.autocommit:
        raise ValueError("migrate() needs a connection with autocommit off")
    done: list[Migration] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    conn.commit()
    try:
        with conn.cursor() as cur:
            cur.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version    integer PRIMARY KEY,
                       name       text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now()
                   )"""
            )
        conn.commit()
        applied = applied_versions(conn)
        pending = [m for m in discover_migrations() if m.version not in applied]
        if not pending:
            return done
        store = detect_store(conn, create_extension=True)
        conn.commit()
        for m in pending:
            with conn.transaction(), conn.cursor() as cur:
                m.apply(cur, store)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (m.version, m.name),
                )
            done.append(m)
        return done
    finally:
        conn.rollback()
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        conn.commit()


def with_database(url: str, dbname: str) -> str:
    """``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it is missing; True if created."""
    dbname = urlsplit(url).path.lstrip("/") or "postgres"
    admin = with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists:
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        except psycopg.errors.DuplicateDatabase:
            return False
        return True


def drop_database(url: str) -> None:
    dbname = urlsplit(url).path.lstrip("/")
    admin = with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )


def wait_for_database(url: str, timeout_s: float = 30.0) -> None:
    """Block until the server accepts connections (raise after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while True:
        try:
            with psycopg.connect(with_database(url, "postgres"), connect_timeout=3):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


@contextmanager
def session(url: str) -> Iterator[psycopg.Connection]:
    conn = connect(url)
    try:
        yield conn
    finally:
        conn.close()
