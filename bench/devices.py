"""Publish rate of one ``tlive sim devices`` process against bare paho.

    python -m bench.devices [--intersections 300] [--messages 150000] [--rounds 2]

1. Generates the city (``sim.city.generate_city``) into a temporary file.
2. Runs ``tlive sim devices --speedup 0 --count N`` as one process (unpaced: the
   devices publish as fast as they can, QoS 1, every message acknowledged) and
   takes its reported rate: generation + JSON + publishing, start-up excluded.
3. Builds the same N messages up front (same topics, same payloads) and publishes
   them from a lean process of its own with a bare paho-mqtt 2 QoS 1 client driven
   the same way (no network thread, PUBACKs read every 256 messages, ``gc.freeze()``
   after start-up as the devices process does): the client's limit.

Rounds alternate the two so that load from elsewhere hits both alike; the best
round of each is reported. Last line: one JSON object with ``msgs_per_s`` and
``raw_paho_publish_msgs_per_s``. Targets: ``msgs_per_s >= 10000`` and
``msgs_per_s >= 0.6 * raw_paho_publish_msgs_per_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path


def run_devices(city: Path, n: int, root: str, start: datetime, seed: int) -> dict:
    env = {**os.environ, "TLIVE_MQTT_TOPIC_ROOT": root}
    r = subprocess.run(
        [sys.executable, "-c", "from hub.cli import main; main()", "sim", "devices",
         "-i", str(city), "--speedup", "0", "--count", str(n), "--seed", str(seed),
         "--start", start.isoformat(), "--json", "--no-progress",
         "--client-id", f"bench-dev-{uuid.uuid4().hex[:6]}"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    if r.returncode != 0:
        raise SystemExit(f"tlive sim devices failed ({r.returncode}):\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def build_messages(city: Path, n: int, root: str, start: datetime, seed: int) -> list:
    from hub.inventory import load_inventory
    from sim.engine import DeviceEngine, EngineConfig

    eng = DeviceEngine(load_inventory(city), start.timestamp(), EngineConfig(seed=seed, root=root))
    out: list = []
    for w in eng.windows():
        out += w
        if len(out) >= n:
            break
    return [(t, p) for _, t, p in out[:n]]


def raw_paho_subprocess(msgs: list, host: str, port: int, protocol: str, tmp: Path) -> float:
    """Run :func:`raw_paho` in a lean process of its own holding only the messages."""
    import pickle

    f = tmp / "msgs.pickle"
    f.write_bytes(pickle.dumps(msgs, protocol=pickle.HIGHEST_PROTOCOL))
    r = subprocess.run(
        [sys.executable, "-m", "bench.devices", "--raw", str(f), "--host", host,
         "--port", str(port), "--protocol", protocol],
        capture_output=True, text=True, timeout=600,
    )
    if r.returncode != 0:
        raise SystemExit(f"raw paho publisher failed:\n{r.stderr}")
    return float(r.stdout.strip().splitlines()[-1])


def raw_paho(msgs: list, host: str, port: int, protocol: str) -> float:
    """Bare paho QoS 1: publish pre-built payloads, read PUBACKs every 256 messages."""
    import gc
    import select

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    proto = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
                    protocol=proto)
    c.max_inflight_messages_set(0)
    c.max_queued_messages_set(0)
    acked = [0]
    connected = [False]

    def on_publish(cl, ud, mid, rc, props):  # noqa: ANN001
        acked[0] += 1

    def on_connect(cl, ud, flags, rc, props):  # noqa: ANN001
        connected[0] = True

    c.on_publish = on_publish
    c.on_connect = on_connect
    c.connect(host, port, keepalive=60)

    def wait(timeout: float) -> None:
        sock = c.socket()
        r, _, _ = select.select([sock], [], [], timeout)
        if r:
            c.loop_read(1000)
        if c.want_write():
            c.loop_write()
        c.loop_misc()

    while not connected[0]:
        wait(0.05)
    gc.freeze()  # as the devices process does after building its city
    publish = c.publish
    t0 = time.perf_counter()
    for i, (topic, payload) in enumerate(msgs):
        publish(topic, payload, qos=1)
        if (i & 255) == 255:
            c.loop_read(1000)
            c.loop_write()
            c.loop_misc()
            while i + 1 - acked[0] > 20000:
                wait(0.01)
    while acked[0] < len(msgs):
        wait(0.01)
    dt = time.perf_counter() - t0
    c.disconnect()
    return len(msgs) / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--intersections", type=int, default=300)
    ap.add_argument("--messages", type=int, default=150_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--host", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--protocol", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.raw:  # the lean raw-paho child process
        import pickle

        msgs = pickle.loads(args.raw.read_bytes())
        print(raw_paho(msgs, args.host, args.port, args.protocol))
        return

    from hub.inventory import dump_inventory
    from hub.settings import get_settings
    from sim.city import generate_city

    settings = get_settings()
    ep = settings.mqtt
    root = "bench" + uuid.uuid4().hex[:8]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        city = Path(tmp) / "city.json"
        inv = generate_city(args.intersections, args.seed)
        dump_inventory(inv, city)
        msgs = build_messages(city, args.messages, root, start, args.seed)
        mean_bytes = sum(len(p) for _, p in msgs) / len(msgs)
        dev, raw = [], []
        for k in range(args.rounds):
            rep = run_devices(city, args.messages, root, start, args.seed)
            if rep["acked"] != rep["sent"] or rep["refused"]:
                raise SystemExit(f"devices run lost or refused messages: {rep}")
            dev.append(rep["msgs_per_s"])
            raw.append(
                raw_paho_subprocess(msgs, ep.host, ep.port, settings.mqtt_protocol, Path(tmp))
            )
            print(f"round {k + 1}: tlive sim devices {dev[-1]:>9,.0f} msg/s   "
                  f"bare paho {raw[-1]:>9,.0f} msg/s", flush=True)
    best_dev, best_raw = max(dev), max(raw)
    counts = inv.counts()
    print()
    print(f"city: {args.intersections} intersections, {counts['detectors']} detectors, "
          f"{counts['bays']} bays, {counts['vehicles']} trucks; {args.messages:,} messages "
          f"per run, mean payload {mean_bytes:.0f} B, MQTT {settings.mqtt_protocol}, QoS 1")
    print(f"{'':28}{'msg/s (best)':>14}{'all rounds':>30}")
    print(f"{'tlive sim devices':28}{best_dev:>14,.0f}{str([round(x) for x in dev]):>30}")
    print(f"{'bare paho, pre-built':28}{best_raw:>14,.0f}{str([round(x) for x in raw]):>30}")
    print(f"ratio {best_dev / best_raw:.2f} (target >= 0.6); devices target >= 10,000 msg/s; "
          f"load average at start {load0:.2f}, at end {os.getloadavg()[0]:.2f}")
    print(json.dumps({
        "msgs_per_s": round(best_dev, 1),
        "raw_paho_publish_msgs_per_s": round(best_raw, 1),
        "ratio": round(best_dev / best_raw, 3),
        "messages": args.messages,
        "intersections": args.intersections,
        "mean_payload_bytes": round(mean_bytes, 1),
        "rounds_msgs_per_s": [round(x, 1) for x in dev],
        "rounds_raw_paho_msgs_per_s": [round(x, 1) for x in raw],
        "mqtt_protocol": settings.mqtt_protocol,
        "loadavg_1m_start": round(load0, 2),
        "meets_targets": best_dev >= 10_000 and best_dev >= 0.6 * best_raw,
    }))


if __name__ == "__main__":
    main()
