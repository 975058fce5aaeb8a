"""Publishing the synthetic city: a fast paho QoS 1 publisher and the paced run loop.

:class:`Publisher` drives paho-mqtt 2 (``CallbackAPIVersion.VERSION2``) from the
calling thread, without paho's network thread: ``publish()`` writes the packet
straight to the socket and :meth:`Publisher.poll` reads PUBACKs every few hundred
messages. That is the fastest way to publish from Python, and it is the same path
the raw-paho baseline of ``bench/devices.py`` takes. At most ``max_inflight``
messages await their PUBACK; a PUBACK with an MQTT 5 reason code >= 0x80 counts as
*refused* (by reason), e.g. 0x87 not authorised, 0x97 quota exceeded.

:func:`run` publishes an engine's messages: paced by their timestamps
(``speedup`` x real time; 0 = as fast as possible) or at a target ``rate`` (load
mode), never publishing a timestamp ahead of the wall clock (the contract refuses
the future), with a progress callback twice a second and a :class:`RunReport`.
"""

from __future__ import annotations

import select
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

Msg = tuple[int, str, bytes]


class Publisher:
    """A QoS 1 publisher without a network thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        client_id: str = "tlive-sim-devices",
        protocol: str = "5",
        username: str | None = None,
        password: str | None = None,
        max_inflight: int = 20000,
        poll_every: int = 256,
    ) -> None:
        self.max_inflight = max_inflight
        self.poll_every = poll_every
        proto = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
        kw: dict[str, Any] = {"clean_session": True} if proto != mqtt.MQTTv5 else {}
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=proto, **kw)
        c.max_inflight_messages_set(0)  # we bound what is in flight ourselves
        c.max_queued_messages_set(0)
        if username:
            c.username_pw_set(username, password)
        c.on_publish = self._on_publish
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        self.client = c
        self.host, self.port = host, port
        self.sent = 0
        self.acked = 0
        self.refused: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.connected = False
        self.disconnects = 0
        self._since_poll = 0

    # paho callbacks (run inside our own loop calls)
    def _on_connect(self, client: mqtt.Client, ud: Any, flags: Any, rc: Any, props: Any) -> None:
        self.connected = not rc.is_failure
        if rc.is_failure:
            self.errors[f"connect: {rc}"] += 1

    def _on_disconnect(self, client: mqtt.Client, ud: Any, flags: Any, rc: Any, props: Any) -> None:
        self.connected = False
        self.disconnects += 1

    def _on_publish(self, client: mqtt.Client, ud: Any, mid: int, rc: Any, props: Any) -> None:
        self.acked += 1
        if rc is not None and getattr(rc, "is_failure", False):
            self.refused[str(rc)] += 1

    def wait(self, timeout_s: float) -> None:
        """Block up to ``timeout_s`` for broker traffic and handle it.

        Unlike ``client.loop()``, this never creates paho's wake-up socket pair, which
        would cost one extra ``send()`` per publish.
        """
        c = self.client
        sock = c.socket()
        if sock is None:
            time.sleep(timeout_s)
            return
        wlist = [sock] if c.want_write() else []
        r, w, _ = select.select([sock], wlist, [], timeout_s)
        if r:
            c.loop_read(1000)
        if w or c.want_write():
            c.loop_write()
        c.loop_misc()

    def connect(self, timeout_s: float = 10.0) -> None:
        self.client.connect(self.host, self.port, keepalive=60)
        deadline = time.monotonic() + timeout_s
        while not self.connected:
            self.wait(0.05)
            if self.errors or time.monotonic() > deadline:
                raise ConnectionError(
                    f"cannot connect to mqtt://{self.host}:{self.port}: "
                    f"{'; '.join(self.errors) or 'timeout'}"
                )

    @property
    def inflight(self) -> int:
        return self.sent - self.acked

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.errors[mqtt.error_string(info.rc)] += 1
            self._reconnect()
            return
        self.sent += 1
        self._since_poll += 1
        if self._since_poll >= self.poll_every:
            self.poll()
            while self.sent - self.acked > self.max_inflight:
                self.wait(0.01)
                if not self.connected:
                    self._reconnect()

    def poll(self, timeout_s: float = 0.0) -> None:
        """Read PUBACKs (and keep the connection alive) without blocking."""
        self._since_poll = 0
        c = self.client
        if timeout_s > 0:
            self.wait(timeout_s)
            return
        c.loop_read(1000)
        c.loop_write()
        c.loop_misc()
        if not self.connected:
            self._reconnect()

    def _reconnect(self) -> None:
        delay = 0.2
        while not self.connected:
            try:
                self.client.reconnect()
                deadline = time.monotonic() + 5
                while not self.connected and time.monotonic() < deadline:
                    self.wait(0.05)
            except OSError as exc:
                self.errors[f"reconnect: {exc}"] += 1
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait for every PUBACK; True when none is missing."""
        deadline = time.monotonic() + timeout_s
        while self.acked < self.sent and time.monotonic() < deadline:
            self.wait(0.01)
        return self.acked >= self.sent

    def close(self) -> None:
        self.drain()
        self.client.disconnect()
        self.wait(0.1)


@dataclass
class RunReport:
    """What a run published, how fast, and what the broker refused."""

    sent: int = 0
    acked: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    by_family: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    msgs_per_s: float = 0.0
    sim_start_s: float = 0.0
    sim_end_s: float = 0.0
    sim_speedup: float = 0.0
    target_rate: float | None = None
    target_speedup: float | None = None
    payload_bytes: int = 0
    disconnects: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def family_of(topic: str) -> str:
    """``detectors``, ``signal``, ``parking`` or ``fleet`` for a contract topic."""
    parts = topic.split("/")
    return parts[4] if parts[2] == "atcs" else parts[2]


def run(
    windows: Iterable[list[Msg]],
    pub: Publisher,
    *,
    speedup: float = 1.0,
    rate: float | None = None,
    max_messages: int | None = None,
    max_wall_s: float | None = None,
    no_future: bool = True,
    progress: Callable[[RunReport, float, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunReport:
    """Publish ``windows`` of messages (from :meth:`sim.engine.DeviceEngine.windows`).

    Pacing: with ``rate`` (msg/s) message *i* goes out at ``i / rate`` s; otherwise a
    message of timestamp ``ts`` goes out ``(ts - first_ts) / speedup`` s after the
    start (``speedup <= 0``: unpaced). With ``no_future``, nothing is published
    before the wall clock reaches its timestamp.
    """
    rep = RunReport(target_rate=rate, target_speedup=None if rate else speedup)
    fam: Counter[str] = Counter()
    wall0 = time.perf_counter()
    epoch0 = time.time()
    deadline = wall0 + max_wall_s if max_wall_s is not None else float("inf")
    first_ts: int | None = None
    last_ts = 0
    next_progress = wall0 + 0.5
    perf = time.perf_counter
    sent = 0
    nbytes = 0
    stop = False
    for batch in windows:
        for ts, topic, payload in batch:
            if first_ts is None:
                first_ts = ts
                rep.sim_start_s = ts / 1000.0
            # pacing
            if rate:
                due = wall0 + sent / rate
            elif speedup > 0:
                due = wall0 + (ts - first_ts) / 1000.0 / speedup
            else:
                due = 0.0
            if no_future:
                due = max(due, wall0 + (ts / 1000.0 - epoch0))
            now = perf()
            if due > now:
                if due > deadline:
                    stop = True
                    break
                pub.poll()
                while True:
                    now = perf()
                    wait = due - now
                    if wait <= 0:
                        break
                    if progress is not None and now >= next_progress:
                        next_progress = now + 0.5
                        _fill(rep, pub, fam, sent, nbytes, wall0, last_ts)
                        progress(rep, now - wall0, last_ts / 1000.0)
                    pub.poll(min(wait, 0.05))
            pub.publish(topic, payload)
            sent += 1
            nbytes += len(payload)
            last_ts = ts
            fam[family_of(topic)] += 1
            if progress is not None and (sent & 63) == 0 and perf() >= next_progress:
                next_progress = perf() + 0.5
                _fill(rep, pub, fam, sent, nbytes, wall0, last_ts)
                progress(rep, perf() - wall0, last_ts / 1000.0)
            if (max_messages is not None and sent >= max_messages) or (
                (sent & 63) == 0 and perf() >= deadline
            ):
                stop = True
                break
        if stop or (should_stop is not None and should_stop()):
            break
        if perf() >= deadline:
            break
    pub.drain()
    _fill(rep, pub, fam, sent, nbytes, wall0, last_ts)
    return rep


def _fill(
    rep: RunReport, pub: Publisher, fam: Counter[str], sent: int, nbytes: int, wall0: float,
    last_ts: int,
) -> None:
    rep.sent = sent
    rep.acked = pub.acked
    rep.refused = dict(pub.refused)
    rep.errors = dict(pub.errors)
    rep.disconnects = pub.disconnects
    rep.payload_bytes = nbytes
    rep.by_family = dict(fam)
    rep.wall_s = time.perf_counter() - wall0
    rep.msgs_per_s = sent / rep.wall_s if rep.wall_s > 0 else 0.0
    rep.sim_end_s = last_ts / 1000.0
    if rep.wall_s > 0 and rep.sim_start_s:
        rep.sim_speedup = (rep.sim_end_s - rep.sim_start_s) / rep.wall_s

