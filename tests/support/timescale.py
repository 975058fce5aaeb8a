"""A real TimescaleDB for the tests: PGlite (WASM PostgreSQL 17) with the TimescaleDB
extension, served on a loopback port by ``tests/support/pglite_timescale/server.mjs``.

TimescaleDB cannot be installed on the development machines from Debian or PyPI,
but this npm build of it can (``npm ci`` in ``pglite_timescale/``, ~25 MB, no
compiler). It is the real TimescaleDB C code (``timescaledb`` and
``timescaledb-tsl``, Community license) compiled to WASM; what it cannot do is
listed in ``tests/hub/test_store_timescale_live.py``.

The server is one PostgreSQL session: it serves one client connection at a time
(others wait their turn, up to 30 s) and resets the session between clients. A
test must close its connection before something else (the CLI, another helper)
opens one. There is one database: the name in the URL is ignored.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hub.db import drop_database, ensure_database, with_database
from tests.support.services import free_port, wait_or_kill

PACKAGE_DIR = Path(__file__).resolve().parent / "pglite_timescale"
SERVER = PACKAGE_DIR / "server.mjs"
START_TIMEOUT_S = 90.0


def node_tools() -> tuple[str, str] | None:
    """``(node, npm)`` executables, or None when either is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    return (node, npm) if node and npm else None


def require_node() -> tuple[str, str]:
    """The node and npm executables; skips the test when either is not installed."""
    tools = node_tools()
    if tools is None:
        pytest.skip(
            "node and npm are needed for the WASM TimescaleDB (tests/support/pglite_timescale); "
            f"node: {shutil.which('node')}, npm: {shutil.which('npm')}"
        )
    return tools


def ensure_installed(npm: str) -> bool:
    """``npm ci`` in the package folder unless node_modules matches the lock file.

    Idempotent and safe for two processes at once (a lock file). True if it installed.
    """
    marker = PACKAGE_DIR / "node_modules" / ".package-lock.json"
    lock = PACKAGE_DIR / "package-lock.json"
    with open(PACKAGE_DIR / ".install.lock", "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
            return False
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=PACKAGE_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"npm ci in {PACKAGE_DIR} failed ({proc.returncode}):\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        return True


class PGliteTimescale:
    """One server process: ``start()`` it, use ``url``, ``stop()`` it."""

    def __init__(self, node: str, *, port: int | None = None) -> None:
        self.node = node
        self.port = port or free_port()
        self.url = f"postgresql://postgres:postgres@127.0.0.1:{self.port}/postgres"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="tlive-pglite-", suffix=".log")  # noqa: SIM115

    def log_tail(self, n: int = 4000) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-n:]

    def start(self) -> PGliteTimescale:
        self.proc = subprocess.Popen(
            [self.node, str(SERVER), str(self.port), "--watch-stdin"],
            cwd=PACKAGE_DIR,
            stdin=subprocess.PIPE,  # the server exits when this pipe closes
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the PGlite TimescaleDB server exited with {self.proc.returncode}:\n"
                    + self.log_tail()
                )
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"the PGlite TimescaleDB server did not accept connections within "
                        f"{START_TIMEOUT_S:.0f} s:\n" + self.log_tail()
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(10)  # it exits when its stdin closes
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            wait_or_kill(self.proc)
        self.proc = None
        self._log.close()


@contextlib.contextmanager
def pglite_timescale() -> Iterator[str]:
    """A fresh, empty in-memory TimescaleDB server; yields its database URL."""
    node, npm = require_node()
    ensure_installed(npm)
    server = PGliteTimescale(node).start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def timescale_database() -> Iterator[str]:
    """An empty database on a TimescaleDB server; yields its URL.

    With ``TLIVE_TEST_TIMESCALE_URL`` (a real TimescaleDB server) a database of its
    own is created there and dropped after; otherwise a PGlite server of its own.
    """
    real = os.environ.get("TLIVE_TEST_TIMESCALE_URL")
    if not real:
        with pglite_timescale() as url:
            yield url
        return
    url = with_database(real, f"tlive_ts_{uuid.uuid4().hex[:12]}")
    ensure_database(url)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="module")
def timescale_url() -> Iterator[str]:
    """An empty TimescaleDB database of this test module's own (not migrated)."""
    with timescale_database() as url:
        yield url
