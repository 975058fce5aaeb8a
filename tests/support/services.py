"""Real services for the tests: throwaway databases and private Mosquitto brokers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.db import connect, drop_database, ensure_database, migrate, with_database

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
BASE_DATABASE_URL = os.environ.get(
    "TLIVE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BROKER_HOST = os.environ.get("TLIVE_TEST_MQTT_HOST", "127.0.0.1")
BROKER_PORT = int(os.environ.get("TLIVE_TEST_MQTT_PORT", "1883"))
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_or_kill(proc: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    """Wait for a child that was asked to stop; SIGKILL it after ``timeout_s``."""
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_port(host: str, port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port}") from None
            time.sleep(0.05)


@contextmanager
def fresh_database(migrated: bool = True) -> Iterator[str]:
    """A new database for one test (module); dropped afterwards."""
    url = with_database(BASE_DATABASE_URL, f"tlive_t_{uuid.uuid4().hex[:12]}")
    ensure_database(url)
    try:
        if migrated:
            with connect(url) as conn:
                migrate(conn)
        yield url
    finally:
        drop_database(url)


def unique_root() -> str:
    """A topic root of its own, so tests sharing the system broker never meet."""
    return "t" + uuid.uuid4().hex[:10]


def render_mosquitto_conf(port: int, workdir: Path, *, acl: bool = False) -> Path:
    """The shipped production config, rendered for a private test broker.

    The queue limits and persistence settings are the shipped ones; only the
    listener, the paths and (unless ``acl``) the authentication differ.
    """
    src = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    out = []
    for line in src.splitlines():
        key = line.split(" ", 1)[0]
        if key in ("listener", "persistence_location", "log_dest", "pid_file"):
            continue
        if key in ("password_file", "acl_file", "allow_anonymous") and not acl:
            continue
        if key == "password_file":
            line = f"password_file {workdir / 'passwd'}"
        if key == "acl_file":
            line = f"acl_file {ROOT / 'deploy' / 'mosquitto' / 'tlive.acl'}"
        out.append(line)
    out += [
        f"listener {port} 127.0.0.1",
        f"persistence_location {workdir}/",
        f"log_dest file {workdir / 'mosquitto.log'}",
    ]
    if not acl:
        out.append("allow_anonymous true")
    conf = workdir / "mosquitto.conf"
    conf.write_text("\n".join(out) + "\n")
    return conf


def _hand_to_broker_user(folder: Path) -> None:
    """Mosquitto started as root drops to the ``mosquitto`` user: let it write there."""
    if os.geteuid() != 0:
        return
    try:
        import pwd

        pwd.getpwnam("mosquitto")
    except KeyError:
        return
    for p in [folder, *folder.iterdir()]:
        shutil.chown(p, "mosquitto")


class PrivateBroker:
    """A Mosquitto of our own on a free loopback port, with the shipped config."""

    def __init__(self, *, acl: bool = False, users: dict[str, str] | None = None) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="tlive-mosq-"))
        self.port = free_port()
        self.host = "127.0.0.1"
        if users:
            pw = self.workdir / "passwd"
            pw.touch()
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), user, password], check=True)
            pw.chmod(0o600)
        self.conf = render_mosquitto_conf(self.port, self.workdir, acl=acl)
        _hand_to_broker_user(self.workdir)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> PrivateBroker:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.host, self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            wait_or_kill(self.proc)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PrivateBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
