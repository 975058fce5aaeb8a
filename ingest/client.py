"""The ingest's MQTT client: paho-mqtt 2 with a receive path built for backlogs.

paho does everything a client must (CONNECT with MQTT 5 properties, persistent
sessions, keepalive, reconnects, SUBSCRIBE, QoS 2 flows), and the hub uses it
for all of that. Its per-message receive path, though, costs more than storing
the message: three or more ``recv`` calls per packet (the command byte, the
length bytes one at a time, the body), a ``Properties`` object per MQTT 5
PUBLISH even when it has none, and an ``MQTTMessage`` with a
``threading.Condition`` inside. Draining a backlog of 100,000 messages, that was
most of the ingest process's time.

:class:`IngestClient` keeps paho and changes only how PUBLISH packets come in:

* the socket is read 64 KiB at a time and paho's small reads are served from
  that buffer;
* every complete QoS 0/1 PUBLISH packet at the head of the buffer is decoded in
  one loop and handed to ``on_message`` as an :class:`InboundMessage` (the
  attributes of paho's ``MQTTMessage`` that a subscriber reads). Anything else
  (CONNACK, SUBACK, PINGRESP, QoS 2, a packet cut by the end of the buffer, a
  malformed one) is left where it is for paho's own code, so paho's protocol
  handling and error paths stay paho's.

:func:`send_pubacks` acknowledges a committed batch's QoS 1 messages in one write.
Both lean on paho 2 internals (``_sock_recv``, ``_in_packet``, ``_packet_queue``):
the dependency is pinned below paho 3 and ``tests/ingest/test_client.py`` checks
the fast path against paho's own decoding on a real broker.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

PUBLISH = 0x30


class InboundMessage:
    """A received PUBLISH, as the fast path delivers it to ``on_message``.

    Same attribute names and meanings as paho's ``MQTTMessage`` for a receiver:
    ``topic`` (str; raises ``UnicodeDecodeError`` for a topic that is not UTF-8,
    as paho does), ``_topic`` (bytes), ``payload``, ``qos``, ``mid``, ``dup``,
    ``retain``, ``properties`` (MQTT 5 only, None when the packet has none) and
    ``timestamp`` (``time.monotonic()`` when it was decoded).
    """

    __slots__ = ("_topic", "payload", "mid", "qos", "dup", "retain", "properties", "timestamp")

    def __init__(
        self,
        topic: bytes,
        payload: bytes,
        mid: int,
        qos: int,
        dup: bool,
        retain: bool,
        properties: Properties | None,
        timestamp: float,
    ) -> None:
        self._topic = topic
        self.payload = payload
        self.mid = mid
        self.qos = qos
        self.dup = dup
        self.retain = retain
        self.properties = properties
        self.timestamp = timestamp

    @property
    def topic(self) -> str:
        return self._topic.decode("utf-8")


class IngestClient(mqtt.Client):
    """A paho client with a buffered socket and a batch decoder for PUBLISH packets.

    The fast path is used while no per-topic callback is registered
    (``message_callback_add``); with one, every message goes through paho's own
    dispatch. The read buffer belongs to one socket: a reconnect starts afresh.
    """

    READ_CHUNK = 65536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rsock: Any = None
        self._rbuf = b""
        self._rpos = 0
        self._filtered_callbacks = False
        self.fast_delivered = 0  # messages decoded by the fast path (tests, diagnostics)

    # -------------------------------------------------------------- buffering
    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rsock is not self._sock:  # a new connection: nothing carries over
            self._rsock, self._rbuf, self._rpos = self._sock, b"", 0
        buf, pos = self._rbuf, self._rpos
        if pos >= len(buf):
            data = super()._sock_recv(max(bufsize, self.READ_CHUNK))
            if not data:  # the broker closed the connection
                return data
            buf, pos = data, 0
            self._rbuf = buf
        out = buf[pos : pos + bufsize]
        self._rpos = pos + len(out)
        return out

    def _buffered(self) -> bool:
        return (
            self._sock is not None
            and self._rsock is self._sock
            and self._rpos < len(self._rbuf)
        )

    def message_callback_add(self, sub: str, callback: Any) -> None:
        self._filtered_callbacks = True
        super().message_callback_add(sub, callback)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        # paho reads (at least) one packet, which fills the buffer; then the
        # PUBLISH packets behind it are decoded in one go, and paho takes over at
        # the first packet the fast path leaves alone, until the buffer is empty
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._buffered():
            if self._in_packet["command"] == 0 and self._deliver_publishes():
                if not self._buffered():
                    break
            rc = super().loop_read(max_packets)
        return rc

    # -------------------------------------------------------------- fast path
    def _deliver_publishes(self) -> int:
        """Decode and deliver the complete QoS 0/1 PUBLISH packets at the head of
        the buffer; stop at the first packet paho must handle. Returns how many."""
        on_message = self.on_message
        if on_message is None or self._filtered_callbacks:
            return 0
        buf, pos = self._rbuf, self._rpos
        end = len(buf)
        v5 = self._protocol == MQTTProtocolVersion.MQTTv5
        auto_ack = not self._manual_ack
        now = time.monotonic()
        n = 0
        with self._in_callback_mutex:
            while pos < end:
                b0 = buf[pos]
                qos = (b0 >> 1) & 3
                if (b0 & 0xF0) != PUBLISH or qos == 2 or qos == 3:
                    break
                length, p = _varint(buf, pos + 1, end)
                if length < 0 or p + length > end:
                    break  # incomplete (paho reads the rest) or malformed (paho says so)
                body_end = p + length
                if p + 2 > body_end:
                    break
                tlen = (buf[p] << 8) | buf[p + 1]
                p += 2
                topic = buf[p : p + tlen]
                p += tlen
                if not v5 and tlen == 0:
                    break  # paho refuses an empty topic in MQTT 3
                mid = 0
                if qos:
                    if p + 2 > body_end:
                        break
                    mid = (buf[p] << 8) | buf[p + 1]
                    p += 2
                props: Properties | None = None
                if v5:
                    if p >= body_end:
                        break
                    if buf[p] == 0:  # no properties: the common case
                        p += 1
                    else:
                        try:
                            props = Properties(PacketTypes.PUBLISH)
                            _, used = props.unpack(buf[p:body_end])
                        except Exception:  # noqa: BLE001 - malformed: paho reports it
                            break
                        p += used
                if p > body_end:
                    break
                msg = InboundMessage(
                    topic, buf[p:body_end], mid, qos, bool(b0 & 0x08), bool(b0 & 0x01), props, now
                )
                pos = self._rpos = body_end
                n += 1
                try:
                    # an InboundMessage has the MQTTMessage attributes a receiver reads
                    on_message(self, self._userdata, msg)  # type: ignore[arg-type]
                except Exception as err:
                    self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                    if not self.suppress_exceptions:
                        raise
                if qos == 1 and auto_ack:
                    self._send_puback(mid)
        if n:
            self.fast_delivered += n
            with self._msgtime_mutex:  # these bytes were received by `now`
                self._last_bytes_received = now
        return n


def _varint(buf: bytes, p: int, end: int) -> tuple[int, int]:
    """The MQTT variable byte integer at ``p`` and the position after it;
    (-1, p) when it is incomplete or longer than 4 bytes."""
    value = 0
    mult = 1
    for i in range(p, min(p + 4, end)):
        byte = buf[i]
        value += (byte & 127) * mult
        if not byte & 128:
            return value, i + 1
        mult *= 128
    return -1, p


_PUBACK = struct.Struct("!BBH")  # fixed header, remaining length 2, packet id


def send_pubacks(client: mqtt.Client, mids: list[int]) -> None:
    """Acknowledge QoS 1 messages, all in one write.

    ``client.ack`` queues one PUBACK packet, wakes the network thread and costs
    it one ``send`` per message; after a batch commit the hub acks thousands at
    once, so their PUBACKs (4 bytes each, the same bytes ``ack`` sends: in MQTT 5
    a success PUBACK may leave out reason code and properties) go out as one
    buffer through paho's outgoing queue. With a paho that has no such queue, it
    falls back to ``ack`` per message.
    """
    if not mids:
        return
    queue = getattr(client, "_packet_queue", None)
    if queue is None or not getattr(client, "_manual_ack", False):
        for mid in mids:
            client.ack(mid, 1)
        return
    packet = b"".join([_PUBACK.pack(PUBACK, 2, mid) for mid in mids])
    queue(PUBACK, packet, 0, 0)
