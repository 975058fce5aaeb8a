"""``tlive demo``: the whole city twin on this machine, from one command.

It orchestrates the hub's own commands as child processes (so ``hub`` imports
none of the packages built on it): generate a synthetic city and load its
inventory, run the ingest service, the synthetic devices, the adaptive control
loop and the API, and show a live view of what reaches the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from rich.console import Console
from rich.live import Live
from rich.table import Table

from hub.db import connect, ensure_database, migrate
from hub.settings import Settings

COUNTED = ("detector_reading", "signal_event", "parking_event", "gps_position", "dead_letter")


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def state(self) -> str:
        if self.proc is None:
            return "not started"
        rc = self.proc.poll()
        return "running" if rc is None else f"exited ({rc})"


@dataclass
class Demo:
    settings: Settings
    workdir: Path
    intersections: int = 20
    seed: int = 1
    speedup: float = 10.0
    api_port: int = 8000
    console: Console = field(default_factory=Console)
    children: list[Child] = field(default_factory=list)

    def _tlive(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hub", *args]

    def prepare(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ensure_database(self.settings.database_url)
        with connect(self.settings.database_url) as conn:
            migrate(conn)
        city = self.workdir / "city.json"
        with self.console.status(f"generating a city of {self.intersections} intersections"):
            subprocess.run(
                self._tlive(
                    "sim",
                    "city",
                    "-n",
                    str(self.intersections),
                    "--seed",
                    str(self.seed),
                    "--out",
                    str(city),
                    "--load",
                    "--database-url",
                    self.settings.database_url,
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        return city

    def start(self, city: Path) -> None:
        specs = [
            ("ingest", self._tlive("ingest", "run")),
            (
                "devices",
                self._tlive(
                    "sim",
                    "devices",
                    "--inventory",
                    str(city),
                    "--speedup",
                    str(self.speedup),
                    "--seed",
                    str(self.seed),
                    "--no-progress",
                ),
            ),
            ("control", self._tlive("control", "run")),
            (
                "api",
                self._tlive("api", "serve", "--port", str(self.api_port), "--inventory", str(city)),
            ),
        ]
        env = dict(
            os.environ,
            TLIVE_DATABASE_URL=self.settings.database_url,
            TLIVE_MQTT_URL=self.settings.mqtt_url,
        )
        for name, argv in specs:
            log = self.workdir / f"{name}.log"
            child = Child(name, argv, log=log)
            with open(log, "wb") as fh:
                child.proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env)
            self.children.append(child)
            if name == "ingest":
                time.sleep(2.0)  # subscribed before the devices start talking

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        try:
            with psycopg.connect(self.settings.database_url, connect_timeout=2) as c:
                for t in COUNTED:
                    row = c.execute(f"SELECT count(*) FROM {t}").fetchone()  # noqa: S608
                    out[t] = int(row[0]) if row else 0
        except psycopg.Error:
            pass
        return out

    def view(self, counts: dict[str, int], rates: dict[str, float], elapsed: float) -> Table:
        t = Table(title=f"Tangerang LIVE demo: {elapsed:,.0f} s  (Ctrl-C stops)")
        t.add_column("store table")
        t.add_column("rows", justify="right")
        t.add_column("rows/s", justify="right")
        for k in COUNTED:
            t.add_row(k, f"{counts.get(k, 0):,}", f"{rates.get(k, 0.0):,.0f}")
        t.add_section()
        for ch in self.children:
            t.add_row(f"[bold]{ch.name}[/bold]", ch.state(), str(ch.log))
        t.add_row("API", f"http://127.0.0.1:{self.api_port}/docs", "")
        return t

    def run(self, minutes: float) -> int:
        city = self.prepare()
        self.start(city)
        t0 = time.monotonic()
        last = self.counts()
        t_last = t0
        rates: dict[str, float] = {}
        try:
            with Live(
                self.view(last, rates, 0), console=self.console, refresh_per_second=2
            ) as live:
                while minutes <= 0 or time.monotonic() - t0 < minutes * 60:
                    time.sleep(1.0)
                    now = time.monotonic()
                    cur = self.counts()
                    rates = {k: (cur.get(k, 0) - last.get(k, 0)) / (now - t_last) for k in cur}
                    last, t_last = cur, now
                    live.update(self.view(cur, rates, now - t0))
                    if any(ch.name == "ingest" and ch.state() != "running" for ch in self.children):
                        self.console.print("[red]the ingest service stopped; see its log[/red]")
                        return 1
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
        return 0

    def stop(self) -> None:
        for ch in reversed(self.children):
            if ch.proc and ch.proc.poll() is None:
                ch.proc.send_signal(signal.SIGTERM)
        for ch in reversed(self.children):
            if ch.proc:
                try:
                    ch.proc.wait(30)
                except subprocess.TimeoutExpired:
                    ch.proc.kill()
