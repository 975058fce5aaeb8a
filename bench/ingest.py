"""Ingest drain-rate benchmark: ``python -m bench.ingest [--messages 200000]``.

A realistic mix of detector, parking and GPS messages (with 1 % redeliveries) is
published while the consumer is offline, so its persistent session queues them
in a private Mosquitto running the shipped production config. Mosquitto 2.0 cannot
hold more than about 65,000 undelivered messages in one session (see
MOSQUITTO_SESSION_LIMIT), so the N messages go in rounds of at most ``--backlog``
(50,000 by default): queue a backlog, drain it, repeat. In each round:

1. ``tlive ingest run`` (a real subprocess) drains the backlog into a fresh
   database; drain time is from the first message received to the last row
   committed, peak RSS is sampled from the process;
2. a raw paho subscriber (same protocol, same Receive Maximum, JSON parse only,
   no database) drains an identical backlog: the client library's limit;
3. a naive consumer (one INSERT and one commit per message) drains a smaller
   sample of the same mix.

Prints a table and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psutil
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from rich.console import Console
from rich.table import Table

from hub.db import drop_database, ensure_database, with_database
from ingest.contract import Kind, topic_for
from tests.support.mqtt import publish_all
from tests.support.services import BASE_DATABASE_URL, ROOT, PrivateBroker, free_port

RECEIVE_MAXIMUM = 8192
# Mosquitto 2.0 numbers queued QoS 1 messages with 16-bit packet ids when it queues
# them; a session holding more than about 65,000 undelivered messages stops
# delivering for good (measured here with 2.0.11; eclipse-mosquitto issue 2431).
MOSQUITTO_SESSION_LIMIT = 60_000
console = Console(stderr=True)


def make_messages(root: str, n: int, seed: int = 7) -> tuple[list[tuple[str, bytes]], int, int]:
    """The mix: 20 % detector reports (8 detectors), 30 % bay events, 50 % GPS fixes,
    plus 1 % of them published twice. Returns (messages, unique messages, rows expected)."""
    rng = random.Random(seed)
    t0 = int(time.time() * 1000) - 3_600_000
    msgs: list[tuple[str, bytes]] = []
    rows = 0
    for i in range(n):
        ts = t0 + i  # unique, in the last hour
        r = rng.random()
        if r < 0.2:
            inter = f"INT-{i % 300:04d}"
            dets = [
                {
                    "detector_id": f"D{k}",
                    "approach": "NESW"[k % 4],
                    "lane": 1 + k // 4,
                    "mc": rng.randint(5, 60),
                    "lv": rng.randint(0, 25),
                    "hv": rng.randint(0, 4),
                    "um": rng.randint(0, 2),
                    "occupancy_pct": round(rng.uniform(2, 60), 1),
                    "speed_kmh": round(rng.uniform(5, 50), 1),
                }
                for k in range(8)
            ]
            body: dict[str, Any] = {"seq": i, "ts": ts, "interval_s": 60, "detectors": dets}
            topic = topic_for(Kind.DETECTORS, inter, root=root)
            rows += 8
        elif r < 0.5:
            body = {
                "seq": i,
                "ts": ts,
                "occupied": rng.random() < 0.6,
                "battery_pct": round(rng.uniform(20, 100), 1),
            }
            topic = topic_for(Kind.PARKING, f"LOT-{i % 40:03d}", f"B{i % 97:03d}", root=root)
            rows += 1
        else:
            body = {
                "seq": i,
                "ts": ts,
                "lat": -6.17 + rng.uniform(-0.05, 0.05),
                "lon": 106.63 + rng.uniform(-0.05, 0.05),
                "speed_kmh": rng.uniform(0, 50),
                "heading_deg": rng.uniform(0, 359),
                "hdop": 0.9,
            }
            topic = topic_for(Kind.GPS, f"TRK-{i % 200:03d}", root=root)
            rows += 1
        msgs.append((topic, json.dumps(body).encode()))
    unique = len(msgs)
    for j in rng.sample(range(n), n // 100):
        msgs.append(msgs[j])
    return msgs, unique, rows


def prime_session(host: str, port: int, client_id: str, topic: str) -> None:
    """Create the consumer's persistent session (so the broker queues while it is away)."""
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.on_subscribe = lambda *a: done.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    c.connect(host, port, clean_start=False, properties=props)
    c.loop_start()
    c.subscribe(topic, qos=1)
    if not done.wait(10):
        raise RuntimeError("subscription not acknowledged")
    c.disconnect()
    c.loop_stop()


def _drain(
    host: str,
    port: int,
    client_id: str,
    topic: str,
    n: int,
    handle: Callable[[mqtt.MQTTMessage], None],
) -> float:
    """Subscribe with the given persistent session, run ``handle`` on each message
    (paho acknowledges after it returns) until ``n`` arrived; messages per second."""
    got = 0
    first = last = 0.0
    done = threading.Event()

    def on_message(c: Any, u: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal got, first, last
        if got == 0:
            first = time.perf_counter()
        handle(msg)
        got += 1
        if got >= n:
            last = time.perf_counter()
            done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.on_message = on_message
    c.on_connect = lambda cl, *a: cl.subscribe(topic, qos=1)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    c.connect(host, port, clean_start=False, properties=props)
    c.loop_start()
    ok = done.wait(float(__import__("os").environ.get("DRAIN_WAIT", "600")))
    c.disconnect()
    c.loop_stop()
    if not ok:
        raise RuntimeError(f"{client_id} got {got} of {n}")
    return n / (last - first)


def drain_raw(host: str, port: int, client_id: str, topic: str, n: int) -> float:
    """Raw paho: parse JSON only. Returns messages per second."""
    return _drain(host, port, client_id, topic, n, lambda msg: json.loads(msg.payload))


def drain_naive(host: str, port: int, client_id: str, topic: str, n: int, db_url: str) -> float:
    """One INSERT and one commit per message (what a first attempt looks like)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE naive (topic text, seq bigint, ts timestamptz, body jsonb, "
            "PRIMARY KEY (topic, seq))"
        )

        def insert(msg: mqtt.MQTTMessage) -> None:
            body = json.loads(msg.payload)
            conn.execute(
                "INSERT INTO naive VALUES (%s, %s, to_timestamp(%s / 1000.0), %s) "
                "ON CONFLICT DO NOTHING",
                (msg.topic, body["seq"], body["ts"], msg.payload.decode()),
            )

        return _drain(host, port, client_id, topic, n, insert)


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            c = p.cpu_times()
            total += c.user + c.system
        except psutil.Error:
            pass
    return total


def postgres_processes() -> list[psutil.Process]:
    """Every PostgreSQL server process on the machine (backends come and go)."""
    return [p for p in psutil.process_iter(["name"]) if (p.info["name"] or "") == "postgres"]


def drain_hub(
    broker: PrivateBroker,
    db_url: str,
    root: str,
    client_id: str,
    n_received: int,
    workers: int = 1,
    log: Any = None,
) -> tuple[float, float, dict[str, float], dict[str, float]]:
    """Run ``tlive ingest run`` until it acknowledged ``n_received`` messages.

    Returns (drain seconds from the first message received to the last one
    acknowledged, peak RSS in MiB, final metrics, CPU seconds of the ingest
    processes, of PostgreSQL and of the broker over the drain)."""
    since = datetime.now(UTC)
    port = free_port()
    env = dict(
        os.environ,
        TLIVE_DATABASE_URL=db_url,
        TLIVE_MQTT_URL=broker.url,
        TLIVE_MQTT_TOPIC_ROOT=root,
        TLIVE_INGEST_CLIENT_ID=client_id,
        TLIVE_METRICS_PORT=str(port),
        TLIVE_LOG_LEVEL="WARNING",
        TLIVE_INGEST_RECEIVE_MAXIMUM=str(RECEIVE_MAXIMUM),
    )
    argv = [sys.executable, "-m", "hub", "ingest", "run", "--workers", str(workers)]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stderr=log)
    ps = psutil.Process(proc.pid)
    ports = [port] if workers == 1 else [port + k for k in range(workers)]

    def rss() -> int:
        try:
            return ps.memory_info().rss + sum(
                c.memory_info().rss for c in ps.children(recursive=True)
            )
        except psutil.Error:
            return 0

    def ingest_procs() -> list[psutil.Process]:
        try:
            return [ps, *ps.children(recursive=True)]
        except psutil.Error:
            return [ps]

    mosq = [psutil.Process(broker.proc.pid)] if broker.proc else []
    pg0 = {p.pid: cpu_seconds([p]) for p in postgres_processes()}
    broker0 = cpu_seconds(mosq)
    peak = 0
    m: dict[str, float] = {}
    t_done = None
    ingest_cpu = 0.0
    ingest_cpu0: float | None = None
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline:
            peak = max(peak, rss())
            try:
                m = {}
                for pt in ports:
                    for k, v in scrape(pt).items():
                        m[k] = m.get(k, 0.0) + v
            except OSError:
                time.sleep(0.05)
                continue
            ingest_cpu = max(ingest_cpu, cpu_seconds(ingest_procs()))
            if ingest_cpu0 is None and m.get("tlive_ingest_received_total", 0) > 0:
                ingest_cpu0 = ingest_cpu  # start-up and migrations are not the drain's
            if m.get("tlive_ingest_acked_total", 0) >= n_received:
                t_done = time.time()
                ingest_cpu = max(ingest_cpu, cpu_seconds(ingest_procs()))
                break
            time.sleep(0.05)
        peak = max(peak, rss())
        # per server process, what it used since the start (the ingest's backends
        # are new, and live until the ingest stops)
        cpu = {
            "ingest": ingest_cpu - (ingest_cpu0 or 0.0),
            "postgres": sum(cpu_seconds([p]) - pg0.get(p.pid, 0.0) for p in postgres_processes()),
            "broker": cpu_seconds(mosq) - broker0,
        }
    finally:
        proc.terminate()
        proc.wait(60)
    if t_done is None:
        raise RuntimeError(f"ingest did not drain: {m}")
    with psycopg.connect(db_url) as c:
        first = c.execute(
            "SELECT least("
            "(SELECT min(received_at) FROM detector_reading WHERE received_at > %(s)s),"
            " (SELECT min(received_at) FROM parking_event WHERE received_at > %(s)s),"
            " (SELECT min(received_at) FROM gps_position WHERE received_at > %(s)s))",
            {"s": since},
        ).fetchone()[0]
    return t_done - first.timestamp(), peak / 2**20, m, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--naive-messages", type=int, default=5_000)
    ap.add_argument(
        "--workers",
        type=int,
        default=2,
        help="tlive ingest run --workers N (N > 1: a shared subscription, N sessions)",
    )
    ap.add_argument(
        "--backlog",
        type=int,
        default=50_000,
        help="largest backlog queued at once (Mosquitto 2.0 wedges a session past ~65k)",
    )
    args = ap.parse_args()
    n = args.messages
    if not 0 < args.backlog <= MOSQUITTO_SESSION_LIMIT:
        ap.error(f"--backlog must be in 1..{MOSQUITTO_SESSION_LIMIT}")
    rounds = -(-n // args.backlog)
    db_url = with_database(BASE_DATABASE_URL, f"tlive_bench_{uuid.uuid4().hex[:8]}")
    ensure_database(db_url)
    from hub.db import connect, migrate

    with connect(db_url) as conn:
        migrate(conn)
    try:
        with PrivateBroker() as broker:
            h, p = broker.host, broker.port
            # 1. the hub, 2. raw paho: identical backlogs, round by round
            root = "b" + uuid.uuid4().hex[:8]
            msgs, unique, rows_expected = make_messages(root, n)
            root2 = "r" + uuid.uuid4().hex[:8]
            cid = f"bench-ingest-{uuid.uuid4().hex[:6]}"
            cid2 = f"bench-raw-{uuid.uuid4().hex[:6]}"
            if args.workers == 1:
                prime_session(h, p, cid, f"{root}/v1/#")
            for k in range(args.workers if args.workers > 1 else 0):
                prime_session(h, p, f"{cid}-w{k}", f"$share/ingest/{root}/v1/#")
            prime_session(h, p, cid2, f"{root2}/v1/#")
            hub_s = raw_s = 0.0
            peak_mb = 0.0
            metrics: dict[str, float] = {}
            cpu_s: dict[str, float] = {}
            round_s: list[float] = []
            # the ingest's warnings (database retries, refused batches) go to a file
            ingest_log = tempfile.TemporaryFile(mode="w+")
            size = -(-len(msgs) // rounds)
            for r in range(rounds):
                chunk = msgs[r * size : (r + 1) * size]
                with console.status(
                    f"round {r + 1}/{rounds}: publishing {len(chunk):,} messages (consumer offline)"
                ):
                    publish_all(h, p, chunk, timeout_s=900)
                with console.status(f"round {r + 1}/{rounds}: tlive ingest run drains"):
                    secs, peak, m, cpu = drain_hub(
                        broker, db_url, root, cid, len(chunk), args.workers, log=ingest_log
                    )
                for k, v in cpu.items():
                    cpu_s[k] = cpu_s.get(k, 0.0) + v
                hub_s += secs
                round_s.append(round(secs, 2))
                peak_mb = max(peak_mb, peak)
                for k, v in m.items():
                    metrics[k] = metrics.get(k, 0.0) + v
                raw_chunk = [(t.replace(root, root2, 1), b) for t, b in chunk]
                with console.status(f"round {r + 1}/{rounds}: publishing the raw backlog"):
                    publish_all(h, p, raw_chunk, timeout_s=900)
                with console.status(f"round {r + 1}/{rounds}: raw paho drains (parse only)"):
                    raw_s += len(raw_chunk) / drain_raw(h, p, cid2, f"{root2}/v1/#", len(raw_chunk))
            ingest_log.seek(0)
            warnings = [ln.rstrip() for ln in ingest_log if " WARNING " in ln or " ERROR " in ln]
            ingest_log.close()
            hub_rate = len(msgs) / hub_s
            raw_rate = len(msgs) / raw_s
            with psycopg.connect(db_url) as c:
                stored_rows = sum(
                    c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                    for t in ("detector_reading", "parking_event", "gps_position")
                )
                distinct_msgs = (
                    c.execute(
                        "SELECT count(DISTINCT (intersection_id, seq)) FROM detector_reading"
                    ).fetchone()[0]
                    + c.execute("SELECT count(*) FROM parking_event").fetchone()[0]
                    + c.execute("SELECT count(*) FROM gps_position").fetchone()[0]
                )
                dead = c.execute("SELECT count(*) FROM dead_letter").fetchone()[0]
            # 3. naive baseline
            root3 = "n" + uuid.uuid4().hex[:8]
            msgs3, _, _ = make_messages(root3, args.naive_messages)
            cid3 = f"bench-naive-{uuid.uuid4().hex[:6]}"
            prime_session(h, p, cid3, f"{root3}/v1/#")
            publish_all(h, p, msgs3, timeout_s=300)
            with console.status("draining with a naive INSERT+commit per message"):
                naive_rate = drain_naive(h, p, cid3, f"{root3}/v1/#", len(msgs3), db_url)
    finally:
        drop_database(db_url)

    result = {
        "messages": len(msgs),
        "rounds": rounds,
        "workers": args.workers,
        "unique_messages": unique,
        "msgs_per_s": round(hub_rate, 1),
        "raw_paho_msgs_per_s": round(raw_rate, 1),
        "naive_msgs_per_s": round(naive_rate, 1),
        "rows_per_s": round(hub_rate * rows_expected / len(msgs), 1),
        "rows_expected": rows_expected,
        "rows_stored": stored_rows,
        "lost": unique - distinct_msgs,
        "duplicates": stored_rows - rows_expected if stored_rows > rows_expected else 0,
        "dead_letters": dead,
        "duplicate_rows_refused": int(metrics.get("tlive_ingest_duplicate_rows_total", 0)),
        "peak_rss_mb": round(peak_mb, 1),
        "round_drain_s": round_s,
        "ingest_warnings": len(warnings),
        # CPU time per message during the hub's drains (the ingest's from its first message)
        "cpu_us_per_msg": {k: round(1e6 * v / len(msgs), 1) for k, v in cpu_s.items()},
        "vs_raw_paho": round(hub_rate / raw_rate, 3),
        "vs_naive": round(hub_rate / naive_rate, 1),
        "cpus": os.cpu_count(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    t = Table(title=f"Ingest drain of {len(msgs):,} messages, backlogs of {size:,}")
    t.add_column("consumer")
    t.add_column("msgs/s", justify="right")
    t.add_row(
        f"tlive ingest run --workers {args.workers} (validate, COPY, commit, ack)",
        f"{hub_rate:,.0f}",
    )
    t.add_row("raw paho subscriber (parse only)", f"{raw_rate:,.0f}")
    t.add_row("naive INSERT+commit per message", f"{naive_rate:,.0f}")
    Console().print(t)
    Console().print(
        f"rows/s {result['rows_per_s']:,.0f} | lost {result['lost']} | duplicates "
        f"{result['duplicates']} | dead letters {dead} | peak RSS {peak_mb:.0f} MB | "
        f"hub/raw {result['vs_raw_paho']:.2f} | hub/naive {result['vs_naive']:.0f}x"
    )
    for line in warnings[:10]:
        console.print(f"ingest: {line}", markup=False, highlight=False)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
