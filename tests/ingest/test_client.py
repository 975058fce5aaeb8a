"""IngestClient's receive fast path against paho's own decoding, on a real Mosquitto.

Every broker test runs for MQTT 5 and MQTT 3.1.1 on a private broker; a plain paho
client subscribed alongside is the oracle.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.client import InboundMessage, IngestClient, send_pubacks
from tests.support.services import PrivateBroker
from tests.support.tcpproxy import TcpProxy

PROTOCOLS = [
    pytest.param(mqtt.MQTTv5, id="mqtt5"),
    pytest.param(mqtt.MQTTv311, id="mqtt311"),
]
TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def private_broker() -> Iterator[PrivateBroker]:
    """The shipped config with room for 200 KB packets, queued QoS 0 messages (so an
    offline session's backlog is the whole mixed stream) and no in-flight window:
    with ``queue_qos0_messages``, Mosquitto 2.0.11 counts the queued QoS 0 messages it
    delivers against the window and never gives it back, so the QoS 1 messages
    behind the first 1000 stall in the queue."""
    broker = PrivateBroker()
    conf = broker.conf.read_text()
    conf = conf.replace("max_packet_size 131072", "max_packet_size 1048576")
    conf = conf.replace("max_inflight_messages 1000", "max_inflight_messages 0")
    assert "max_packet_size 1048576" in conf and "max_inflight_messages 0" in conf
    broker.conf.write_text(conf + "queue_qos0_messages true\n")
    with broker:
        yield broker


@pytest.fixture
def root() -> str:
    # non-ASCII UTF-8 in every topic
    return f"tc-{uuid.uuid4().hex[:10]}/jalan-Sudirman–Thamrin/交通"


# ---------------------------------------------------------------- clients
@dataclass(frozen=True)
class Got:
    """What a subscriber sees of one message (mids are per connection: left out)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    user_properties: tuple[tuple[str, str], ...]
    content_type: str | None
    response_topic: str | None
    expiry: int | None


def got(m: Any) -> Got:
    p = m.properties
    return Got(
        m.topic,
        bytes(m.payload),
        m.qos,
        bool(m.retain),
        bool(m.dup),
        tuple(getattr(p, "UserProperty", ())),
        getattr(p, "ContentType", None),
        getattr(p, "ResponseTopic", None),
        getattr(p, "MessageExpiryInterval", None),
    )


class Recorder:
    """on_message that keeps every message, and waits for a count."""

    def __init__(self) -> None:
        self.msgs: list[Got] = []
        self.raw: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, client: Any, userdata: Any, m: Any) -> None:
        with self._cond:
            self.msgs.append(got(m))
            self.raw.append(m)
            self._cond.notify_all()

    def wait_for(self, n: int, timeout_s: float = TIMEOUT_S) -> list[Got]:
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.msgs) >= n, timeout_s)
            assert ok, f"received {len(self.msgs)} of {n} messages"
            return list(self.msgs)

    def wait_topic(self, topic: str, timeout_s: float = TIMEOUT_S) -> list[Got]:
        with self._cond:
            ok = self._cond.wait_for(lambda: any(g.topic == topic for g in self.msgs), timeout_s)
            assert ok, f"{topic} not received ({len(self.msgs)} messages)"
            return list(self.msgs)


def session_client(
    cls: type[mqtt.Client],
    broker: PrivateBroker,
    protocol: int,
    client_id: str,
    on_message: Callable[..., None] | None,
    *,
    first: bool,
    manual_ack: bool = False,
    subscribe: str | None = None,
    setup: Callable[[mqtt.Client], None] | None = None,
    port: int | None = None,
) -> mqtt.Client:
    """A connected client with a persistent session (new when ``first``), subscribed to
    ``subscribe`` at QoS 1 (retain as published in MQTT 5), its network loop running."""
    v5 = protocol == mqtt.MQTTv5
    kw: dict[str, Any] = {} if v5 else {"clean_session": False}
    c = cls(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        manual_ack=manual_ack,
        **kw,
    )
    c.on_message = on_message
    if setup:
        setup(c)
    connected, subscribed = threading.Event(), threading.Event()
    c.on_connect = lambda *a: connected.set()
    c.on_subscribe = lambda *a: subscribed.set()
    if v5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        c.connect(broker.host, port or broker.port, 30, clean_start=first, properties=props)
    else:
        c.connect(broker.host, port or broker.port, keepalive=30)
    c.loop_start()
    assert connected.wait(10), "no CONNACK"
    if subscribe is not None:
        if v5:
            c.subscribe(subscribe, options=SubscribeOptions(qos=1, retainAsPublished=True))
        else:
            c.subscribe(subscribe, qos=1)
        assert subscribed.wait(10), "no SUBACK"
    return c


def stop(*clients: mqtt.Client) -> None:
    for c in clients:
        c.disconnect()
    for c in clients:
        c.loop_stop()


@dataclass(frozen=True)
class Pub:
    topic: str
    payload: bytes
    qos: int
    retain: bool = False
    user_properties: tuple[tuple[str, str], ...] = ()
    content_type: str | None = None
    response_topic: str | None = None
    expiry: int | None = None

    def properties(self) -> Properties | None:
        if not (self.user_properties or self.content_type or self.response_topic or self.expiry):
            return None
        p = Properties(PacketTypes.PUBLISH)
        if self.user_properties:
            p.UserProperty = list(self.user_properties)
        if self.content_type:
            p.ContentType = self.content_type
        if self.response_topic:
            p.ResponseTopic = self.response_topic
        if self.expiry:
            p.MessageExpiryInterval = self.expiry
        return p


def publish(broker: PrivateBroker, pubs: list[Pub], window: int = 100) -> None:
    """Publish in order with MQTT 5 (properties and all); return when every message
    has been written (QoS 0) or acknowledged (QoS 1).

    At most ``window`` QoS 1 messages are unacknowledged at a time, below paho's
    in-flight limit: beyond it paho holds QoS 1 messages back and lets QoS 0 ones
    overtake them, and the broker would get them out of order."""
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    c.max_inflight_messages_set(window + 1)
    c.max_queued_messages_set(0)
    connected = threading.Event()
    c.on_connect = lambda *a: connected.set()
    c.connect(broker.host, broker.port, keepalive=30)
    c.loop_start()
    deadline = time.monotonic() + 60
    try:
        assert connected.wait(10), "publisher got no CONNACK"
        infos: list[mqtt.MQTTMessageInfo] = []
        outstanding: list[mqtt.MQTTMessageInfo] = []
        for p in pubs:
            while len(outstanding) >= window:
                outstanding[0].wait_for_publish(max(0.1, deadline - time.monotonic()))
                assert outstanding[0].is_published(), "no PUBACK"
                outstanding = [i for i in outstanding if not i.is_published()]
            info = c.publish(p.topic, p.payload, p.qos, p.retain, p.properties())
            infos.append(info)
            if p.qos:
                outstanding.append(info)
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            assert info.is_published(), "publish not completed"
    finally:
        stop(c)


def expected(pubs: list[Pub], protocol: int, *, as_retained: bool = False) -> list[Got]:
    """What a QoS 1 subscriber receives of ``pubs`` (MQTT 5: retain as published)."""
    v5 = protocol == mqtt.MQTTv5
    out = []
    for p in pubs:
        out.append(
            Got(
                p.topic,
                p.payload,
                p.qos,
                p.retain if (v5 or as_retained) else False,
                False,
                p.user_properties if v5 else (),
                p.content_type if v5 else None,
                p.response_topic if v5 else None,
                p.expiry if v5 else None,
            )
        )
    return out


def without_expiry(msgs: list[Got]) -> list[Got]:
    """Whether an expiry was sent: the broker sends the interval left, which may tick
    down while a message is queued."""
    return [dataclasses.replace(g, expiry=g.expiry is not None) for g in msgs]


SIZES = [0, 1, 2, 60, 100, 117, 118, 126, 127, 128, 129, 200, 1000, 16250, 16383, 16384]
SIZES += [20_000, 65_000, 65_535, 65_536, 65_600, 100_000, 131_072, 200_000]


def mixed_messages(root: str, n: int, seed: int) -> list[Pub]:
    """n messages: sizes from 0 B to 200 KB (1-3 byte remaining lengths, many packets
    straddling a 64 KiB read), QoS 0 and 1, some retained, some with MQTT 5 properties."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r = rng.random()
        if r < 0.55:
            size = rng.randint(0, 80)
        elif r < 0.85:
            size = rng.randint(81, 16_383)
        elif r < 0.97:
            size = rng.randint(16_384, 65_536)
        else:
            size = rng.randint(65_537, 200_000)
        if i < len(SIZES):
            size = SIZES[i]
        props: dict[str, Any] = {}
        if rng.random() < 0.3:
            k = rng.randint(1, 3)
            props["user_properties"] = tuple((f"k{j}-ключ", f"v{i}-値{j}") for j in range(k))
        if rng.random() < 0.2:
            props["content_type"] = rng.choice(["application/json", "text/plain; charset=utf-8"])
        if rng.random() < 0.1:
            props["response_topic"] = f"{root}/reply/ä"
        if rng.random() < 0.2:
            props["expiry"] = 3600
        out.append(
            Pub(
                f"{root}/{rng.choice(['det', 'gps', 'parkir-ü', '信号'])}/{i % 13}",
                rng.randbytes(size),
                rng.choice([0, 1]),
                retain=rng.random() < 0.1,
                **props,
            )
        )
    return out


# ---------------------------------------------------------------- the fast path
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fast_path_delivers_what_paho_delivers(private_broker, root, protocol):
    broker = private_broker
    # retained messages already there when the subscribers come: delivered with retain=1
    retained = [
        Pub(f"{root}/retained/{k}-ř", random.Random(k).randbytes(s), 1, retain=True)
        for k, s in enumerate([1, 5, 300, 70_000, 20, 150_000, 64, 16_400])
    ]
    publish(broker, retained)
    plain_rec, fast_rec = Recorder(), Recorder()
    ids = (f"plain-{uuid.uuid4().hex[:8]}", f"fast-{uuid.uuid4().hex[:8]}")
    args = (broker, protocol)
    plain = session_client(mqtt.Client, *args, ids[0], plain_rec, first=True, subscribe=f"{root}/#")
    fast = session_client(IngestClient, *args, ids[1], fast_rec, first=True, subscribe=f"{root}/#")
    want_retained = expected(retained, protocol, as_retained=True)
    try:
        # retained messages of several topics come in the broker's order: compare sorted
        for rec in (plain_rec, fast_rec):
            got_retained = sorted(rec.wait_for(len(retained)), key=repr)
            assert got_retained == sorted(want_retained, key=repr)
        assert plain_rec.msgs == fast_rec.msgs
    finally:
        stop(plain, fast)

    # a backlog queued in the two offline sessions, then drained: in publish order
    stream = mixed_messages(root, 2500, seed=protocol)
    publish(broker, stream)
    plain = session_client(mqtt.Client, *args, ids[0], plain_rec, first=False)
    fast = session_client(IngestClient, *args, ids[1], fast_rec, first=False)
    try:
        total = len(retained) + len(stream)
        a = plain_rec.wait_for(total)[len(retained) :]
        b = fast_rec.wait_for(total)[len(retained) :]
        time.sleep(0.2)  # nothing more may come
        assert len(plain_rec.msgs) == len(fast_rec.msgs) == total
        want = without_expiry(expected(stream, protocol))
        assert without_expiry(a) == want
        assert without_expiry(b) == want
        for x in b:
            assert x.expiry is None or 3500 <= x.expiry <= 3600
        assert isinstance(fast, IngestClient)
        assert 0 < fast.fast_delivered < len(stream), fast.fast_delivered
        kinds = {type(m) for m in fast_rec.raw[len(retained) :]}
        assert kinds == {InboundMessage, mqtt.MQTTMessage}
        # a fast-path message has paho's attributes, with the same values
        for pm, fm in zip(
            plain_rec.raw[len(retained) :], fast_rec.raw[len(retained) :], strict=True
        ):
            if isinstance(fm, InboundMessage):
                assert (fm.topic, fm._topic, fm.payload) == (pm.topic, pm._topic, pm.payload)
                assert fm.qos == pm.qos and (fm.mid != 0) == (pm.qos == 1)
                assert isinstance(fm.timestamp, float)
    finally:
        stop(plain, fast)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_live_stream_reaches_both_clients_alike(private_broker, root, protocol):
    """Subscribers online while a stream of small and large messages arrives."""
    broker = private_broker
    plain_rec, fast_rec = Recorder(), Recorder()
    args = (broker, protocol)
    plain = session_client(
        mqtt.Client,
        *args,
        f"p-{uuid.uuid4().hex[:8]}",
        plain_rec,
        first=True,
        subscribe=f"{root}/#",
    )
    fast = session_client(
        IngestClient,
        *args,
        f"f-{uuid.uuid4().hex[:8]}",
        fast_rec,
        first=True,
        subscribe=f"{root}/#",
    )
    try:
        # QoS 1 only: MQTT orders messages per QoS level, so the whole sequence is defined
        stream = [
            Pub(p.topic, p.payload, 1, p.retain, p.user_properties, p.content_type)
            for p in mixed_messages(root, 1500, seed=protocol + 100)
        ]
        publish(broker, stream)
        want = expected(stream, protocol)
        assert plain_rec.wait_for(len(stream)) == want
        assert fast_rec.wait_for(len(stream)) == want
        time.sleep(0.2)
        assert len(fast_rec.msgs) == len(stream)
        assert isinstance(fast, IngestClient) and 0 < fast.fast_delivered < len(stream)
    finally:
        stop(plain, fast)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_connection_lost_mid_backlog_leaves_nothing_behind(private_broker, root, protocol):
    """The link is cut while a backlog streams in (the read buffer holding part of a
    packet); paho reconnects and the new socket's bytes are decoded afresh."""
    broker = private_broker
    cid = f"cut-{uuid.uuid4().hex[:8]}"
    rec = Recorder()
    proxy = TcpProxy(broker.host, broker.port).start()
    try:
        c = session_client(
            IngestClient, broker, protocol, cid, rec, first=True, subscribe=f"{root}/#"
        )
        stop(c)
        stream = [  # numbered: every message distinct
            Pub(p.topic, b"%d:" % i + p.payload, 1)
            for i, p in enumerate(mixed_messages(root, 1500, seed=protocol + 200))
        ]
        publish(broker, stream)
        connects = threading.Semaphore(0)

        def setup(c: mqtt.Client) -> None:
            c.reconnect_delay_set(0.1, 0.5)

        c = session_client(
            IngestClient, broker, protocol, cid, rec, first=False, setup=setup, port=proxy.port
        )
        c.on_connect = lambda *a: connects.release()
        try:
            rec.wait_for(300)
            assert isinstance(c, IngestClient)
            before = c.fast_delivered
            proxy.cut()
            assert len(rec.msgs) < len(stream), "cut too late"
            time.sleep(0.3)
            proxy.restore()
            assert connects.acquire(timeout=10), "paho did not reconnect"
            publish(broker, [Pub(f"{root}/sentinel", b"end", 1)])
            msgs = rec.wait_topic(f"{root}/sentinel")[:-1]
            assert c.fast_delivered > before  # the fast path ran on the new socket
        finally:
            stop(c)
    finally:
        proxy.close()
    want = expected(stream, protocol)
    first_seen: dict[Got, int] = {}
    for m in msgs:
        plain = dataclasses.replace(m, dup=False)
        assert plain in set(want), f"a message nobody published: {m.topic} {len(m.payload)} B"
        if plain in first_seen:
            assert m.dup, "a second delivery without the dup flag"
        first_seen.setdefault(plain, len(first_seen))
    assert list(first_seen) == want  # everything, once at least, in publish order


# ---------------------------------------------------------------- acknowledgements
def small_batch(root: str, n: int) -> list[Pub]:
    rng = random.Random(n)
    sizes = [rng.choice([1, 40, 300, 5000]) for _ in range(n)]
    sizes[n // 2] = 90_000  # one packet paho reads itself
    return [Pub(f"{root}/q1/{i % 5}", rng.randbytes(s), 1) for i, s in enumerate(sizes)]


def acks_processed(c: mqtt.Client, root: str) -> None:
    """Return when the broker has processed everything ``c`` has queued so far: a QoS 1
    publish of its own, acknowledged, comes after it on the same connection.

    Without this, a reconnect right after a disconnect can beat PUBACKs still unread
    in the broker (Mosquitto reads a packet per connection per loop, and a session
    takeover drops the old connection's unread ones)."""
    info = c.publish(f"{root}-barrier", b"", qos=1)
    info.wait_for_publish(10)
    assert info.is_published(), "no PUBACK for the barrier"


def reconnect_and_drain(
    broker: PrivateBroker, protocol: int, client_id: str, root: str
) -> list[Got]:
    """Reconnect the session, publish a sentinel behind whatever the broker redelivers,
    and return everything received up to it (the sentinel last)."""
    rec = Recorder()
    c = session_client(IngestClient, broker, protocol, client_id, rec, first=False)
    try:
        sentinel = f"{root}/sentinel"
        publish(broker, [Pub(sentinel, b"end", 1)])
        msgs = rec.wait_topic(sentinel)
        assert msgs[-1].topic == sentinel
        acks_processed(c, root)
        return msgs
    finally:
        stop(c)


@pytest.mark.parametrize("acked", ["all", "none", "odd"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_manual_ack_with_send_pubacks(private_broker, root, protocol, acked):
    broker = private_broker
    cid = f"ack-{uuid.uuid4().hex[:8]}"
    rec = Recorder()
    c = session_client(
        IngestClient, broker, protocol, cid, rec, first=True, manual_ack=True, subscribe=f"{root}/#"
    )
    batch = small_batch(root, 400)
    try:
        publish(broker, batch)
        first = rec.wait_for(len(batch))
        assert first == expected(batch, protocol)
        assert isinstance(c, IngestClient) and c.fast_delivered > 0
        mids = [m.mid for m in rec.raw]
        assert len(set(mids)) == len(mids) and 0 not in mids
        keep = {"all": mids, "none": [], "odd": mids[1::2]}[acked]
        send_pubacks(c, keep)
        acks_processed(c, root)
    finally:
        stop(c)
    again = reconnect_and_drain(broker, protocol, cid, root)[:-1]
    acked_ids = set(keep)
    want = [
        dataclasses.replace(g, dup=True)
        for g, mid in zip(first, mids, strict=True)
        if mid not in acked_ids
    ]
    assert again == want


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_auto_ack_through_the_fast_path(private_broker, root, protocol):
    broker = private_broker
    cid = f"auto-{uuid.uuid4().hex[:8]}"
    rec = Recorder()
    c = session_client(IngestClient, broker, protocol, cid, rec, first=True, subscribe=f"{root}/#")
    batch = small_batch(root, 400)
    try:
        publish(broker, batch)
        assert rec.wait_for(len(batch)) == expected(batch, protocol)
        assert isinstance(c, IngestClient) and 0 < c.fast_delivered < len(batch)
        # a QoS 0 message behind the batch: once it is in, every PUBACK is queued
        publish(broker, [Pub(f"{root}/tail", b"", 0)])
        rec.wait_topic(f"{root}/tail")
        acks_processed(c, root)
    finally:
        stop(c)
    assert reconnect_and_drain(broker, protocol, cid, root) == [
        Got(f"{root}/sentinel", b"end", 1, False, False, (), None, None, None)
    ]


def test_send_pubacks_of_nothing_sends_nothing():
    c = IngestClient(CallbackAPIVersion.VERSION2, manual_ack=True)
    send_pubacks(c, [])
    assert not c._out_packet


# ---------------------------------------------------------------- filtered callbacks
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_message_callback_add_disables_the_fast_path(private_broker, root, protocol):
    broker = private_broker
    general, filtered = Recorder(), Recorder()

    def setup(c: mqtt.Client) -> None:
        c.message_callback_add(f"{root}/filtered/#", filtered)

    c = session_client(
        IngestClient,
        broker,
        protocol,
        f"flt-{uuid.uuid4().hex[:8]}",
        general,
        first=True,
        subscribe=f"{root}/#",
        setup=setup,
    )
    try:
        rng = random.Random(7)
        batch = [
            Pub(f"{root}/{'filtered' if i % 3 == 0 else 'other'}/{i % 4}", rng.randbytes(i % 97), 1)
            for i in range(600)
        ]
        publish(broker, batch)
        to_filter = [p for p in batch if "/filtered/" in p.topic]
        rest = [p for p in batch if "/filtered/" not in p.topic]
        assert filtered.wait_for(len(to_filter)) == expected(to_filter, protocol)
        assert general.wait_for(len(rest)) == expected(rest, protocol)
        time.sleep(0.2)
        assert len(filtered.msgs) + len(general.msgs) == len(batch)
        assert isinstance(c, IngestClient) and c.fast_delivered == 0
        assert all(isinstance(m, mqtt.MQTTMessage) for m in general.raw + filtered.raw)
    finally:
        stop(c)
