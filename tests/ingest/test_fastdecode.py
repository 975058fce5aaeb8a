"""The msgspec fast decoder against its oracle, the pydantic contract.

The property (``ingest/fastdecode.py``): whenever the fast path accepts a payload,
pydantic accepts it with the same values and the writer makes the same COPY rows
of it; when the fast path refuses, the result is pydantic's (its model, or its
ContractError reason). Checked on generated valid payloads of every topic kind,
on field-level mutations (missing/extra fields, wrong types, range edges, patterns,
duplicate keys and ids, timestamps) and on byte-level mutations.
"""

from __future__ import annotations

import json
import math
import struct
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest
from annotated_types import Ge, Le, Lt
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from ingest import fastdecode
from ingest.contract import (
    EARLIEST_TS,
    MAX_FUTURE,
    MAX_PAYLOAD_BYTES,
    MODELS,
    ContractError,
    Decoded,
    DetectorCount,
    Kind,
    _epoch_ms,
    check_ts,
    decode_payload,
    parse_topic,
    topic_for,
)
from ingest.fastdecode import decode_payload_fast
from ingest.writer import copy_rows

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
LO_MS = int(EARLIEST_TS.timestamp() * 1000)
HI_MS = int((NOW + MAX_FUTURE).timestamp() * 1000)
TS = int(NOW.timestamp() * 1000) - 60_000

TOPICS = {
    Kind.DETECTORS: parse_topic(topic_for(Kind.DETECTORS, "INT-0001")),
    Kind.SIGNAL: parse_topic(topic_for(Kind.SIGNAL, "INT-0001")),
    Kind.PARKING: parse_topic(topic_for(Kind.PARKING, "LOT-7", "B.12")),
    Kind.GPS: parse_topic(topic_for(Kind.GPS, "TRK-9")),
}
KINDS = sorted(TOPICS)

HYPO = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------- JSON writer
@dataclass(frozen=True)
class Raw:
    """Literal JSON text (numbers the way a device might write them, NaN, ...)."""

    text: str


@dataclass(frozen=True)
class Obj:
    """A JSON object as key/value pairs, so a key may appear twice."""

    pairs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Style:
    ws: str = ""  # after "{", "[", ",", ":" and before "}" and "]"
    ascii_only: bool = True


def dump(v: Any, s: Style = Style()) -> str:
    if isinstance(v, Raw):
        return v.text
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return json.dumps(v)  # repr: exact; NaN/Infinity for non-finite
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=s.ascii_only)
    w = s.ws
    if isinstance(v, list):
        return "[" + w + f",{w}".join(dump(x, s) for x in v) + w + "]"
    pairs = v.pairs if isinstance(v, Obj) else tuple(v.items())
    items = [f"{json.dumps(k)}{w}:{w}{dump(x, s)}" for k, x in pairs]
    return "{" + w + f",{w}".join(items) + w + "}"


def encode(v: Any, s: Style = Style()) -> bytes:
    return dump(v, s).encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- the property
def _outcome(fn: Any, kind: Kind, raw: bytes, **kw: Any) -> Decoded | str:
    try:
        return fn(TOPICS[kind], raw, **kw)
    except ContractError as exc:
        return "ContractError: " + str(exc)


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def assert_same_value(fast: Any, slow: Any, where: str) -> None:
    if isinstance(slow, BaseModel):
        assert not isinstance(fast, BaseModel), f"{where}: a model inside a fast Struct"
        assert set(fast.__struct_fields__) == set(type(slow).model_fields), where
        for name in type(slow).model_fields:
            assert_same_value(getattr(fast, name), getattr(slow, name), f"{where}.{name}")
    elif isinstance(slow, list):
        assert type(fast) is list and len(fast) == len(slow), where
        for i, (a, b) in enumerate(zip(fast, slow, strict=True)):
            assert_same_value(a, b, f"{where}[{i}]")
    elif isinstance(slow, datetime):
        assert type(fast) is datetime, where
        assert fast.tzinfo is not None and fast.utcoffset() == timedelta(0), where
        assert fast == slow and fast.isoformat() == slow.isoformat(), where
        assert fast.tzinfo == slow.tzinfo == UTC, where
    elif isinstance(slow, float):
        assert type(fast) is float, f"{where}: {fast!r} is not a float like {slow!r}"
        assert _bits(fast) == _bits(slow), f"{where}: {fast!r} != {slow!r}"
    else:
        assert type(fast) is type(slow) and fast == slow, f"{where}: {fast!r} != {slow!r}"


def check(
    kind: Kind,
    raw: bytes,
    *,
    max_future: timedelta = MAX_FUTURE,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> str:
    """Assert the fast decoder's contract on one payload; return which path decided:
    "fast", "pydantic" (fast path refused, pydantic accepted) or "refused"."""
    kw: dict[str, Any] = dict(now=NOW, max_future=max_future, max_bytes=max_bytes)
    fast = _outcome(decode_payload_fast, kind, raw, **kw)
    slow = _outcome(decode_payload, kind, raw, **kw)
    if isinstance(fast, str):
        assert fast == slow, f"{raw!r}: fast said {fast!r}, pydantic {slow!r}"
        return "refused"
    assert not isinstance(slow, str), f"fast path accepted what pydantic refuses: {raw!r}: {slow}"
    assert fast.topic == slow.topic
    if isinstance(fast.message, BaseModel):
        assert fast.message == slow.message
        return "pydantic"
    assert_same_value(fast.message, slow.message, "message")
    assert copy_rows(fast, "1.0") == copy_rows(slow, "1.0"), raw
    return "fast"


# ---------------------------------------------------------------- strategies
def bounds(model: type[BaseModel], name: str) -> tuple[float, float]:
    """(lowest, highest) allowed value of a numeric field, read from the contract."""
    lo, hi = -math.inf, math.inf
    for m in model.model_fields[name].metadata:
        if isinstance(m, Ge):
            lo = m.ge
        elif isinstance(m, Le):
            hi = m.le
        elif isinstance(m, Lt):
            hi = m.lt - 1
    return lo, hi


def _exact(x: float) -> str:
    return format(Decimal(x), "f")


def _halfway(x: float) -> str:
    # the decimal halfway between x and the next float up: round-half-even territory
    return format((Decimal(x) + Decimal(math.nextafter(x, math.inf))) / 2, "f")


@st.composite
def float_text(draw: st.DrawFn, x: float) -> Any:
    """x, or the same number written another way a JSON producer may write it."""
    way = draw(st.integers(0, 6))
    if way == 0 or not math.isfinite(x):
        return x
    if way == 1:
        return Raw(f"{x:.17e}")
    if way == 2:
        return Raw(f"{x:.17E}".replace("E+", "E"))
    if way == 3:
        return Raw(_exact(x))
    if way == 4 and x != 0.0:
        return Raw(_halfway(x))
    if way == 5:
        return Raw(f"{x:.25f}")
    return x


def floats_in(lo: float, hi: float) -> st.SearchStrategy[Any]:
    specials = [lo, hi, math.nextafter(hi, -math.inf), math.nextafter(lo, math.inf)]
    if lo == 0.0:
        specials.append(-0.0)
    return st.one_of(
        st.floats(lo, hi, allow_nan=False).flatmap(float_text),
        st.integers(math.ceil(lo), math.floor(hi)),
        st.sampled_from(specials),
    )


def number(model: type[BaseModel], name: str) -> st.SearchStrategy[Any]:
    lo, hi = bounds(model, name)
    return floats_in(lo, hi)


def integer(model: type[BaseModel], name: str) -> st.SearchStrategy[int]:
    lo, hi = bounds(model, name)
    return st.one_of(st.integers(int(lo), int(hi)), st.sampled_from([int(lo), int(hi)]))


ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", fullmatch=True)
approaches = st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True)
plan_ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
OFFSETS = [timedelta(0), timedelta(hours=7), timedelta(hours=-3, minutes=-30)]
OFFSETS += [timedelta(hours=14), timedelta(hours=-12), timedelta(hours=5, minutes=45)]


@st.composite
def rfc3339(draw: st.DrawFn, dt: datetime) -> str:
    """dt written as RFC 3339, in the spellings the contract admits."""
    sep = draw(st.sampled_from("T t".split(" ") + [" "]))
    digits = draw(st.integers(0, 9))
    frac = ""
    if digits:
        us = f"{dt.microsecond:06d}"
        extra = draw(st.text("0123456789", min_size=3, max_size=3))
        frac = "." + (us + extra)[:digits]
    off = dt.utcoffset()
    assert off is not None
    if off == timedelta(0) and draw(st.booleans()):
        tz = "Z"
    else:
        sign = "-" if off < timedelta(0) else "+"
        minutes = abs(int(off.total_seconds())) // 60
        tz = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return f"{dt:%Y-%m-%d}{sep}{dt:%H:%M:%S}{frac}{tz}"


def aware_datetimes(lo: datetime, hi: datetime) -> st.SearchStrategy[datetime]:
    """Instants in [lo, hi] (naive UTC), at one of OFFSETS."""
    return st.builds(
        lambda d, off: (d + off).replace(tzinfo=timezone(off)),
        st.datetimes(min_value=lo, max_value=hi),
        st.sampled_from(OFFSETS),
    )


# an instant in [2000-01-01, NOW + MAX_FUTURE): kept a second inside the bounds so that
# truncating the written fraction cannot move it out
valid_instants = aware_datetimes(datetime(2000, 1, 1, 0, 0, 1), datetime(2026, 11, 28, 8, 4, 59))
valid_ts = st.one_of(
    st.integers(LO_MS, HI_MS),
    st.floats(LO_MS, HI_MS),
    st.sampled_from([LO_MS, HI_MS, float(HI_MS), TS, "2000-01-01T00:00:00Z"]),
    valid_instants.flatmap(rfc3339),
)


@st.composite
def detector(draw: st.DrawFn, detector_id: str) -> dict[str, Any]:
    M = DetectorCount

    d: dict[str, Any] = {
        "detector_id": detector_id,
        "approach": draw(approaches),
        "lane": draw(integer(M, "lane")),
    }
    for f in ("mc", "lv", "hv", "um"):
        d[f] = draw(integer(M, f))
    d["occupancy_pct"] = draw(number(M, "occupancy_pct"))
    d["speed_kmh"] = draw(st.none() | number(M, "speed_kmh"))
    if draw(st.booleans()):
        d["queue_m"] = draw(st.none() | number(M, "queue_m"))
    return d


@st.composite
def valid_body(draw: st.DrawFn, kind: Kind) -> dict[str, Any]:
    model = MODELS[kind]
    body: dict[str, Any] = {"seq": draw(integer(model, "seq")), "ts": draw(valid_ts)}
    if kind is Kind.DETECTORS:
        names = draw(st.lists(ids, min_size=1, max_size=6, unique=True))
        body["interval_s"] = draw(integer(model, "interval_s"))
        body["detectors"] = [draw(detector(n)) for n in names]
    elif kind is Kind.SIGNAL:
        body["phase"] = draw(integer(model, "phase"))
        body["state"] = draw(
            st.sampled_from(["green", "amber", "red", "all_red", "flashing", "off"])
        )
        body["plan_id"] = draw(plan_ids)
    elif kind is Kind.PARKING:
        body["occupied"] = draw(st.booleans())
        if draw(st.booleans()):
            body["kind"] = draw(st.sampled_from(["change", "heartbeat"]))
        if draw(st.booleans()):
            body["battery_pct"] = draw(st.none() | number(model, "battery_pct"))
    else:
        for f in ("lat", "lon", "speed_kmh", "heading_deg"):
            body[f] = draw(number(model, f))
        if draw(st.booleans()):
            body["ignition"] = draw(st.none() | st.booleans())
        for f in ("load_kg", "hdop"):
            if draw(st.booleans()):
                body[f] = draw(st.none() | number(model, f))
    keys = draw(st.permutations(list(body)))
    return {k: body[k] for k in keys}


styles = st.builds(
    Style,
    ws=st.sampled_from(["", " ", "\n", "\t", "\r\n", "  \n\t"]),
    ascii_only=st.booleans(),
)

JUNK: list[Any] = [
    True, False, None, 0, -1, 1, 1.0, 0.5, -0.0, "5", "", "D1\n", [], {}, [1], {"a": 1},
    2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**30, 1e308, -1e308, 5e-324,
    Raw("1e400"), Raw("-1e400"), Raw("1e-400"), Raw("NaN"), Raw("Infinity"), Raw("-Infinity"),
    Raw("-0"), Raw("-0.0"), Raw("1E2"), Raw("1e0"), Raw("01"), Raw("1."), Raw(".5"), Raw("+1"),
    Raw("0x10"), Raw("1" * 5000), Raw("0." + "0" * 400 + "1"), Raw('"\\ud800"'), Raw('"\\u0000"'),
]  # fmt: skip
TS_JUNK: list[Any] = [
    HI_MS, HI_MS + 1, LO_MS, LO_MS - 1, float(HI_MS), HI_MS + 0.5, HI_MS + 0.0001, -1, -0.0,
    Raw("-0"), 0, True, False, None, 10**14, 10**14 - 1, 1e14, 99999999999999.99, 2**63, 2**64,
    1e308, Raw("1e400"), Raw("NaN"), Raw("1795852740000e0"), Raw("1.79585274e12"), [], {},
    "2026-11-28T08:05:00Z", "2026-11-28T08:05:00.000001Z", "2026-11-28T15:05:00+07:00",
    "2026-11-28T15:05:00.0000001+07:00", "2026-11-28T15:05:00.000001+07:00",
    "2026-11-28T07:59:00", "2026-11-28T07:59:00z", "2026-11-28t07:59:00Z",
    "2026-11-28 07:59:00Z", "2026-11-28T07:59:00Z\n", "2026-11-28T07:59:00+0700",
    "2026-11-28T07:59:00+07", "2026-11-28T07:59Z", "2026-11-28", "1999-12-31T23:59:59.999999Z",
    "1999-12-31T23:59:59.9999999Z", "2000-01-01T00:00:00Z", "2000-01-01T07:00:00+07:00",
    "2000-01-01T06:59:59+07:00", "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z",
    "2026-11-28T24:00:00Z", "2026-11-28T07:59:60Z", "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00", "2026-11-28T07:59:00.1234567891Z", "2026-11-28T07:59:00.Z",
    "", "1795852740000", str(HI_MS), " 2026-11-28T07:59:00Z", "2026-11-28T07:59:00+24:00",
    "2026-11-28T07:59:00-00:00", "\uff12026-11-28T07:59:00Z", "2026-11-28T07:59:00+07:00\n",
]  # fmt: skip
any_ts = st.one_of(
    st.sampled_from(TS_JUNK),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    aware_datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1)).flatmap(rfc3339),
)


def _edges(model: type[BaseModel], name: str, value: Any) -> list[Any]:
    """Values at and just beyond the field's limits, in its type and the other ones."""
    ann = model.model_fields[name].annotation
    if name == "ts":
        return TS_JUNK
    if ann is int:
        lo, hi = bounds(model, name)
        return [int(lo) - 1, int(lo), int(hi), int(hi) + 1, float(lo), float(hi), True]
    if ann in (float, float | None):
        lo, hi = bounds(model, name)
        out = [lo, hi, math.nextafter(hi, math.inf), math.nextafter(lo, -math.inf), -0.0]
        out += [int(lo), int(hi), int(hi) + 1, Raw(_halfway(hi)), Raw(_exact(hi) + "0001")]
        return out
    if isinstance(value, str):
        s = value
        return [
            s + "\n", s + "\r", "\n" + s, s + " ", " " + s, s + "\x00", s.upper(), s + "\u00e9",
            "x" * 16, "x" * 17, "x" * 64, "x" * 65, "-" + s, "_x", "", s + "\\", Raw('"D\\u0031"'),
        ]  # fmt: skip
    return [not value if isinstance(value, bool) else True, 0, 1, "true"]


def _targets(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The body and its detector objects: where a change can go."""
    dets = body.get("detectors")
    return [body, *(d for d in dets if isinstance(d, dict))] if isinstance(dets, list) else [body]


@st.composite
def mutated_body(draw: st.DrawFn, kind: Kind) -> Any:
    """A valid body with one to three contract-relevant changes."""
    body = draw(valid_body(kind))

    for _ in range(draw(st.integers(1, 3))):
        targets = _targets(body)
        i = draw(st.integers(0, len(targets) - 1))
        target = targets[i]
        model = MODELS[kind] if i == 0 else DetectorCount
        fields = list(model.model_fields)
        op = draw(st.sampled_from(["drop", "extra", "junk", "edge", "ts", "dup_id", "list"]))
        name = draw(st.sampled_from(fields))
        if op == "drop":
            target.pop(name, None)
        elif op == "extra":
            extra = draw(st.sampled_from(["extra", "Seq", "seq ", "detector", "_id", "ts\n"]))
            target[extra] = draw(st.sampled_from(JUNK))
        elif op == "junk":
            target[name] = draw(st.sampled_from(JUNK))
        elif op == "edge":
            target[name] = draw(st.sampled_from(_edges(model, name, target.get(name))))
        elif op == "ts":
            body["ts"] = draw(any_ts)
        elif op == "dup_id" and len(targets) > 2:
            targets[2]["detector_id"] = targets[1].get("detector_id")
        elif op == "list" and kind is Kind.DETECTORS:
            dets = body.get("detectors")
            one = dets[0] if isinstance(dets, list) and dets and isinstance(dets[0], dict) else {}
            many = [[dict(one, detector_id=f"D{n}") for n in range(k)] for k in (127, 128, 129)]
            body["detectors"] = draw(
                st.sampled_from([[], None, {}, "D1", [1], [[]], [one] * 2, *many])
            )
    if draw(st.integers(0, 3)) == 0:  # a key twice: the other value first or last
        targets = _targets(body)
        target = draw(st.sampled_from(targets))
        if target:
            key = draw(st.sampled_from(sorted(target)))
            other = draw(st.sampled_from([*JUNK[:12], target[key]]))
            pairs = list(target.items())
            at = draw(st.integers(0, len(pairs)))
            pairs.insert(at, (key, other))
            obj = Obj(tuple(pairs))
            if target is body:
                return obj
            body["detectors"] = [obj if d is target else d for d in body["detectors"]]
    return body


INVALID_BYTES = [
    b"\xff", b"\xc3", b"\xc0\x80", b"\xc1\x81", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf8",
    b"\x00", b" ", b"\n", b"\t", b"\r", b"\x0b", b"\x0c", b"\xc2\xa0", b"\xe2\x80\xa8",
    b"\xef\xbb\xbf", b"NaN", b"Infinity", b",", b"}", b"]", b'"', b"\\", b"{", b"1", b"-",
]  # fmt: skip


@st.composite
def mutated_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    op = draw(st.integers(0, 7))
    i = draw(st.integers(0, len(raw)))
    if op == 0:
        return raw[:i]
    if op == 1:
        return raw[:i] + draw(st.sampled_from(INVALID_BYTES)) + raw[i:]
    if op == 2:
        return b"\xef\xbb\xbf" + raw
    if op == 3:
        return raw + draw(st.sampled_from([b"\n", b" \r\n\t", b"x", b"{}", b"\x00", b"\n\n"]))
    if op == 4 and i < len(raw):
        return raw[:i] + bytes([draw(st.integers(0, 255))]) + raw[i + 1 :]
    if op == 5 and i < len(raw):
        return raw[:i] + raw[i + 1 :]
    if op == 6:  # a number replaced by a non-finite literal
        for lit in (b"NaN", b"Infinity", b"-Infinity", b"1e999"):
            if draw(st.booleans()):
                return raw.replace(b": 1", b": " + lit, 1).replace(b":1", b":" + lit, 1)
        return raw
    return draw(st.sampled_from([b"", b"null", b"[]", b"{}", b'""', b"0", b" ", b"\n"]))


# ---------------------------------------------------------------- properties
@settings(HYPO, max_examples=200)
@given(kind=st.sampled_from(KINDS), data=st.data(), style=styles)
def test_valid_payloads_take_the_fast_path_with_pydantic_values(kind, data, style):
    raw = encode(data.draw(valid_body(kind)), style)
    assert check(kind, raw) == "fast", raw


@settings(HYPO, max_examples=500)
@given(
    kind=st.sampled_from(KINDS),
    data=st.data(),
    style=styles,
    max_future=st.sampled_from([MAX_FUTURE, timedelta(seconds=1), timedelta(days=36500)]),
)
def test_mutated_payloads_fast_path_never_disagrees_with_pydantic(kind, data, style, max_future):
    raw = encode(data.draw(mutated_body(kind)), style)
    event(check(kind, raw, max_future=max_future))


@settings(HYPO, max_examples=300)
@given(kind=st.sampled_from(KINDS), data=st.data(), style=styles)
def test_byte_mutations_fast_path_never_disagrees_with_pydantic(kind, data, style):
    raw = encode(data.draw(valid_body(kind) | mutated_body(kind)), style)
    raw = data.draw(mutated_bytes(raw))
    max_bytes = data.draw(st.sampled_from([MAX_PAYLOAD_BYTES, len(raw), max(len(raw) - 1, 0)]))
    event(check(kind, raw, max_bytes=max_bytes))


@settings(HYPO, max_examples=150)
@given(kind=st.sampled_from(KINDS), raw=st.binary(max_size=120))
def test_random_bytes_fast_path_never_disagrees_with_pydantic(kind, raw):
    check(kind, raw)


# ---------------------------------------------------------------- examples
GPS = {"seq": 1, "ts": TS, "lat": -6.2, "lon": 106.6, "speed_kmh": 20.0, "heading_deg": 90.0}
DET = {
    "seq": 4,
    "ts": "2026-11-28T14:59:00+07:00",
    "interval_s": 60,
    "detectors": [
        {
            "detector_id": "D1",
            "approach": "N",
            "lane": 1,
            "mc": 30,
            "lv": 10,
            "hv": 2,
            "um": 0,
            "occupancy_pct": 14.0,
            "speed_kmh": 28.0,
        },
        {
            "detector_id": "D2",
            "approach": "S",
            "lane": 0,
            "mc": 0,
            "lv": 0,
            "hv": 0,
            "um": 0,
            "occupancy_pct": 0,
            "speed_kmh": None,
            "queue_m": 120.5,
        },
    ],
}
SIG = {"seq": 9, "ts": "2026-11-28T07:59:00Z", "phase": 2, "state": "all_red", "plan_id": "P-AM"}
BAY = {"seq": 2**63 - 1, "ts": float(TS), "occupied": True}
VALID = {Kind.GPS: GPS, Kind.DETECTORS: DET, Kind.SIGNAL: SIG, Kind.PARKING: BAY}


@pytest.mark.parametrize("kind", KINDS)
def test_a_valid_message_of_each_kind_is_fast_decoded(kind):
    raw = json.dumps(VALID[kind]).encode()
    d = decode_payload_fast(TOPICS[kind], raw, now=NOW)
    assert not isinstance(d.message, BaseModel)
    assert d.topic == TOPICS[kind]
    assert check(kind, raw) == "fast"


def test_fast_values_and_rows_are_the_models():
    d = decode_payload_fast(TOPICS[Kind.DETECTORS], json.dumps(DET).encode(), now=NOW)
    m = d.message
    assert m.ts == datetime(2026, 11, 28, 7, 59, tzinfo=UTC) and m.ts.tzinfo is UTC
    assert [c.detector_id for c in m.detectors] == ["D1", "D2"]
    assert m.detectors[0].queue_m is None and m.detectors[1].speed_kmh is None
    assert type(m.detectors[1].occupancy_pct) is float
    table, rows, n = copy_rows(d, "1.0")
    assert (table, n) == ("detector_reading", 2)
    assert rows.splitlines()[1] == (
        "2026-11-28T07:59:00+00:00\tINT-0001\tD2\t4\tS\t0\t60\t0\t0\t0\t0\t0.0\t\\N\t120.5\t1.0"
    )
    bay = decode_payload_fast(TOPICS[Kind.PARKING], json.dumps(BAY).encode(), now=NOW).message
    assert (bay.kind, bay.battery_pct, bay.seq) == ("change", None, 2**63 - 1)


@pytest.mark.parametrize(
    "kind, body, reason",
    [
        (
            Kind.GPS,
            {**GPS, "lat": 90.00000000000001},
            "lat: Input should be less than or equal to 90",
        ),
        (Kind.GPS, {**GPS, "seq": 2**63}, "seq: Input should be less than 9223372036854775808"),
        (Kind.GPS, {**GPS, "seq": True}, "seq: Input should be a valid integer"),
        (Kind.GPS, {**GPS, "speed_kmh": "20"}, "speed_kmh: Input should be a valid number"),
        (Kind.GPS, {**GPS, "hdop": 1, "x": 1}, "x: Extra inputs are not permitted"),
        (
            Kind.GPS,
            {**GPS, "ts": "2026-11-28T08:05:00.000001Z"},
            "ts: Value error, ts 2026-11-28T08:05:00.000001+00:00 is more than 300 s in the future",
        ),
        (
            Kind.GPS,
            {**GPS, "ts": True},
            "ts: Value error, ts must be an RFC 3339 string or epoch milliseconds, not a boolean",
        ),
        (
            Kind.GPS,
            {**GPS, "ts": 10**14},
            "ts: Value error, ts epoch milliseconds out of range: 100000000000000",
        ),
        (
            Kind.SIGNAL,
            {**SIG, "ts": "1999-12-31T23:59:59.999999Z"},
            "ts: Value error, ts 1999-12-31T23:59:59.999999+00:00 is before 2000-01-01",
        ),
        (
            Kind.DETECTORS,
            {**DET, "detectors": [DET["detectors"][0]] * 2},
            "payload: Value error, detector_id values must be unique within a report",
        ),
        (
            Kind.DETECTORS,
            {**DET, "detectors": [{**DET["detectors"][0], "detector_id": "D1\n"}]},
            "detectors.0.detector_id: String should match pattern "
            "'^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'",
        ),
        (
            Kind.DETECTORS,
            {**DET, "detectors": [{**DET["detectors"][0], "approach": "N\n"}]},
            "detectors.0.approach: String should match pattern '^[A-Za-z0-9_-]{1,16}$'",
        ),
        (Kind.PARKING, {**BAY, "kind": "Change"}, "kind: Input should be 'change' or 'heartbeat'"),
    ],
)
def test_invalid_messages_get_pydantics_reason(kind, body, reason):
    raw = json.dumps(body).encode()
    with pytest.raises(ContractError) as exc:
        decode_payload_fast(TOPICS[kind], raw, now=NOW)
    assert str(exc.value) == reason
    assert check(kind, raw) == "refused"


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"\xef\xbb\xbf{}", "payload: Invalid JSON: expected value at line 1 column 1"),
        (b'{"seq": \xff}', "payload is not valid UTF-8: invalid start byte at byte 8"),
        (b'{"seq": 1,', "payload: Invalid JSON: EOF while parsing a value at line 1 column 10"),
        (b" " * (MAX_PAYLOAD_BYTES + 1), "payload of 65537 bytes exceeds the 65536 byte limit"),
    ],
)
def test_byte_level_refusals_get_pydantics_reason(raw, reason):
    with pytest.raises(ContractError) as exc:
        decode_payload_fast(TOPICS[Kind.GPS], raw, now=NOW)
    assert str(exc.value) == reason


def test_plan_messages_are_not_ingested_by_either_path():
    t = parse_topic(topic_for(Kind.PLAN, "INT-1"))
    with pytest.raises(ContractError, match="^plan messages are not ingested$"):
        decode_payload_fast(t, b"{}", now=NOW)


FULL = {  # every optional field present
    Kind.GPS: {**GPS, "ignition": False, "load_kg": 800.5, "hdop": 1.2},
    Kind.DETECTORS: DET,
    Kind.SIGNAL: SIG,
    Kind.PARKING: {**BAY, "kind": "heartbeat", "battery_pct": 55.5},
}


def _field_cases() -> list[tuple[Kind, str | None, str, list[Any]]]:
    """(kind, where (None: the message, "det": its first detector), field, values)."""
    cases = []
    for kind in KINDS:
        body = FULL[kind]
        for name in MODELS[kind].model_fields:
            if name != "detectors":
                cases.append((kind, None, name, _edges(MODELS[kind], name, body.get(name))))
    det = DET["detectors"][1]
    for name in DetectorCount.model_fields:
        cases.append((Kind.DETECTORS, "det", name, _edges(DetectorCount, name, det.get(name))))
    return cases


@pytest.mark.parametrize("kind, where, name, edges", _field_cases())
def test_every_field_at_its_edges_and_with_junk(kind, where, name, edges):
    """Exhaustive where hypothesis samples: each field missing, null, at and beyond its
    limits, and replaced by every junk value, on a full message of its kind."""
    seen = set()
    for value in [*edges, *JUNK, "missing"]:
        body = json.loads(json.dumps(FULL[kind]))
        target = body["detectors"][1] if where == "det" else body
        if value == "missing":
            target.pop(name)
        else:
            target[name] = value
        for style in (Style(), Style(" \n", ascii_only=False)):
            seen.add(check(kind, encode(body, style)))
    assert "refused" in seen


def test_fast_path_refusal_falls_back_to_pydantic(monkeypatch):
    # the real contract has no message the fast path refuses and pydantic takes (that
    # is what the properties above check); make the fast path refuse everything
    monkeypatch.setattr(fastdecode, "_fast", lambda *a: None)
    raw = json.dumps(GPS).encode()
    d = decode_payload_fast(TOPICS[Kind.GPS], raw, now=NOW)
    assert isinstance(d.message, BaseModel)
    expected = decode_payload(TOPICS[Kind.GPS], raw, now=NOW).message
    assert d.message.model_dump() == expected.model_dump()


def test_every_ingested_kind_has_a_decoder():
    assert set(fastdecode.DECODERS) == set(MODELS)


# ---------------------------------------------------------------- found by these tests
def test_max_future_zero_refuses_any_future_ts():
    raw = json.dumps({**GPS, "ts": int(NOW.timestamp() * 1000) + 1000}).encode()
    with pytest.raises(ContractError, match="in the future"):
        decode_payload_fast(TOPICS[Kind.GPS], raw, now=NOW, max_future=timedelta(0))


def test_lowercase_z_is_accepted_as_the_contract_pattern_says():
    raw = json.dumps({**GPS, "ts": "2026-11-28T07:59:00z"}).encode()
    d = decode_payload_fast(TOPICS[Kind.GPS], raw, now=NOW)
    assert d.message.ts == datetime(2026, 11, 28, 7, 59, tzinfo=UTC)


# ---------------------------------------------------------------- build-time refusals
STRICT = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


def _multiple_of() -> type[BaseModel]:
    class M(BaseModel):
        model_config = STRICT
        n: int = Field(multiple_of=5)

    return M


def _unknown_field_validator() -> type[BaseModel]:
    class M(BaseModel):
        model_config = STRICT
        n: int

        @field_validator("n")
        @classmethod
        def _even(cls, v: int) -> int:
            if v % 2:
                raise ValueError("odd")
            return v

    return M


def _unknown_model_validator() -> type[BaseModel]:
    class M(BaseModel):
        model_config = STRICT
        n: int

        @model_validator(mode="after")
        def _check(self) -> M:
            return self

    return M


def _after_validator() -> type[BaseModel]:
    class M(BaseModel):
        model_config = STRICT
        n: Annotated[int, AfterValidator(lambda v: v)]

    return M


def _other_before_validator() -> type[BaseModel]:
    class M(BaseModel):
        model_config = STRICT
        ts: Annotated[datetime, BeforeValidator(lambda v: v)]

    return M


def _not_strict() -> type[BaseModel]:
    class M(BaseModel):
        model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
        n: int

    return M


def _extra_allowed() -> type[BaseModel]:
    class M(BaseModel):
        model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)
        n: int

    return M


def _inf_nan() -> type[BaseModel]:
    class M(BaseModel):
        model_config = STRICT
        x: float = Field(allow_inf_nan=True)

    return M


def _alias() -> type[BaseModel]:
    class M(BaseModel):
        model_config = STRICT
        n: int = Field(alias="N")

    return M


def _default_factory() -> type[BaseModel]:
    class M(BaseModel):
        model_config = STRICT
        n: list[int] = Field(default_factory=list)

    return M


def _union() -> type[BaseModel]:
    class M(BaseModel):
        model_config = STRICT
        n: int | str

    return M


def _unknown_type() -> type[BaseModel]:
    class M(BaseModel):
        model_config = STRICT
        d: dict[str, int]

    return M


def _pattern_and_strip() -> type[BaseModel]:
    class M(BaseModel):
        model_config = STRICT
        s: Annotated[str, StringConstraints(strip_whitespace=True, pattern="^a$")]

    return M


@pytest.mark.parametrize(
    "build",
    [
        _multiple_of,
        _unknown_field_validator,
        _unknown_model_validator,
        _after_validator,
        _other_before_validator,
        _not_strict,
        _extra_allowed,
        _inf_nan,
        _alias,
        _default_factory,
        _union,
        _unknown_type,
    ],
)
def test_a_model_the_fast_decoder_cannot_honour_fails_at_build_time(build):
    with pytest.raises(TypeError, match="^fastdecode: "):
        fastdecode._struct(build(), {})


def test_pattern_with_another_constraint_fails_at_build_time():
    with pytest.raises(TypeError, match="fastdecode: unsupported constraint"):
        fastdecode._struct(_pattern_and_strip(), {})


def _ts_after_validator() -> type[BaseModel]:
    def not_before_2020(v: datetime) -> datetime:
        if v.year < 2020:
            raise ValueError("before 2020")
        return v

    class M(BaseModel):
        model_config = STRICT
        ts: Annotated[datetime, BeforeValidator(_epoch_ms), AfterValidator(not_before_2020)]

    return M


def _ts_constraint() -> type[BaseModel]:
    class M(BaseModel):
        model_config = STRICT
        ts: Annotated[
            datetime, BeforeValidator(_epoch_ms), Field(gt=datetime(2020, 1, 1, tzinfo=UTC))
        ]

    return M


def _root_validator() -> type[BaseModel]:
    from pydantic import root_validator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        class M(BaseModel):
            model_config = STRICT
            n: int

            @root_validator(skip_on_failure=True)
            def _never(cls, values: dict[str, Any]) -> dict[str, Any]:
                raise ValueError("refused")

    return M


def _str_to_lower() -> type[BaseModel]:
    class M(BaseModel):
        model_config = ConfigDict(**STRICT, str_to_lower=True)
        s: str

    return M


def _str_max_length() -> type[BaseModel]:
    class M(BaseModel):
        model_config = ConfigDict(**STRICT, str_max_length=3)
        s: str

    return M


@pytest.mark.parametrize(
    "build, raw",
    [
        (_ts_after_validator, b'{"ts": "2010-01-01T00:00:00Z"}'),
        (_ts_constraint, b'{"ts": "2010-01-01T00:00:00Z"}'),
        (_root_validator, b'{"n": 1}'),
        (_str_to_lower, b'{"s": "ABC"}'),
        (_str_max_length, b'{"s": "abcd"}'),
    ],
)
def test_a_struct_built_from_a_model_decodes_like_the_model(build, raw):
    model = build()
    try:
        fast_type = fastdecode._struct(model, {})
    except TypeError:
        return  # refusing to build is a fix too
    try:
        expected: dict[str, Any] | None = model.model_validate_json(raw).model_dump()
    except ValidationError:
        expected = None
    try:  # what _fast does: the Struct, then the contract's ts rules
        got: dict[str, Any] | None = msgspec.structs.asdict(
            msgspec.json.decode(raw, type=fast_type)
        )
        if got is not None and "ts" in got:
            got["ts"] = check_ts(_epoch_ms(got["ts"]), NOW, MAX_FUTURE)
    except (msgspec.ValidationError, ValueError):
        got = None
    assert got == expected
