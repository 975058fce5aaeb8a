"""The wire contract: what is accepted, what is refused and why, schemas in sync."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.contract import (
    ContractError,
    Kind,
    decode,
    json_schemas,
    parse_topic,
    subscription,
    topic_for,
)

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
TS = int(NOW.timestamp() * 1000) - 60_000

GPS = {"seq": 1, "ts": TS, "lat": -6.2, "lon": 106.6, "speed_kmh": 20.0, "heading_deg": 90.0}
DET = {
    "seq": 4,
    "ts": TS,
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
        }
    ],
}


def dec(topic: str, body: object) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return decode(topic, raw, now=NOW)


def test_topics_round_trip():
    for kind, ids in [
        (Kind.DETECTORS, ("INT-1", None)),
        (Kind.SIGNAL, ("INT-1", None)),
        (Kind.PARKING, ("LOT-1", "B-3")),
        (Kind.GPS, ("TRK-9", None)),
        (Kind.PLAN, ("INT-1", None)),
    ]:
        t = parse_topic(topic_for(kind, *ids))
        assert (t.kind, t.source_id, t.sub_id) == (kind, *ids)
    assert subscription() == "tlive/v1/#"
    assert subscription("tlive", "ingest") == "$share/ingest/tlive/v1/#"


@pytest.mark.parametrize(
    "topic, reason",
    [
        ("tlive/v2/fleet/T1/gps", "unknown topic"),
        ("other/v1/fleet/T1/gps", "unknown topic"),
        ("tlive/v1/fleet/T1/speed", "unknown topic"),
        ("tlive/v1/atcs/I1/lamps", "not in the contract"),
        ("tlive/v1/fleet/T 1/gps", "malformed vehicle_id"),
        ("tlive/v1/parking/L1/-x", "malformed bay_id"),
        ("tlive/v1/atcs/" + "x" * 80 + "/detectors", "malformed intersection_id"),
    ],
)
def test_bad_topics_are_refused_with_reason(topic, reason):
    with pytest.raises(ContractError, match=reason):
        dec(topic, GPS)


def test_valid_messages_decode_with_units():
    d = dec("tlive/v1/fleet/TRK-1/gps", GPS)
    assert d.message.lat == -6.2 and d.message.ts == datetime.fromtimestamp(TS / 1000, UTC)
    r = dec("tlive/v1/atcs/INT-1/detectors", DET)
    assert r.message.detectors[0].mc == 30 and r.message.detectors[0].queue_m is None
    iso = dict(GPS, ts="2026-11-28T14:59:00+07:00")
    assert dec("tlive/v1/fleet/TRK-1/gps", iso).message.ts == datetime(
        2026, 11, 28, 7, 59, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"lat": -91.0}, "lat"),
        ({"lon": 181.0}, "lon"),
        ({"seq": "1"}, "seq"),
        ({"seq": -1}, "seq"),
        ({"ts": "2026-11-28T08:00:00"}, "RFC 3339"),
        ({"ts": int((NOW + timedelta(hours=1)).timestamp() * 1000)}, "in the future"),
        ({"ts": "1999-12-31T23:59:59Z"}, "before 2000"),
        ({"ts": 1_700_000_000}, "before 2000"),  # epoch seconds, not milliseconds
        ({"speed_kmh": True}, "speed_kmh"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_gps_payloads_are_refused_naming_the_field(change, reason):
    with pytest.raises(ContractError, match=reason):
        dec("tlive/v1/fleet/TRK-1/gps", {**GPS, **change})


def test_missing_field_and_detector_rules():
    with pytest.raises(ContractError, match="heading_deg: Field required"):
        dec("tlive/v1/fleet/TRK-1/gps", {k: v for k, v in GPS.items() if k != "heading_deg"})
    bad_det = json.loads(json.dumps(DET))
    bad_det["detectors"][0]["mc"] = -3
    with pytest.raises(ContractError, match=r"detectors\.0\.mc"):
        dec("tlive/v1/atcs/INT-1/detectors", bad_det)
    bad_det["detectors"][0]["mc"] = 3
    bad_det["detectors"][0]["occupancy_pct"] = 100.5
    with pytest.raises(ContractError, match="occupancy_pct"):
        dec("tlive/v1/atcs/INT-1/detectors", bad_det)
    twice = dict(DET, detectors=DET["detectors"] * 2)
    with pytest.raises(ContractError, match="unique"):
        dec("tlive/v1/atcs/INT-1/detectors", twice)


def test_bytes_level_refusals():
    with pytest.raises(ContractError, match="UTF-8"):
        dec("tlive/v1/fleet/TRK-1/gps", b'{"seq": 1, "x": "\xc3"}')
    with pytest.raises(ContractError, match="Invalid JSON"):
        dec("tlive/v1/fleet/TRK-1/gps", b'{"seq": 1,')
    with pytest.raises(ContractError, match="NaN|finite|valid number|Invalid JSON"):
        dec("tlive/v1/fleet/TRK-1/gps", json.dumps({**GPS, "lat": float("nan")}).encode())
    with pytest.raises(ContractError, match="exceeds"):
        decode("tlive/v1/fleet/TRK-1/gps", b" " * 70_000, now=NOW)


def test_committed_json_schemas_match_the_models():
    folder = Path(__file__).resolve().parents[2] / "ingest" / "schemas"
    for name, schema in json_schemas().items():
        committed = json.loads((folder / name).read_text())
        assert committed == json.loads(json.dumps(schema)), f"{name} is stale: regenerate it"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_gps(draw):
    body = dict(GPS)
    for key in draw(st.lists(st.sampled_from(sorted(GPS) + ["hdop", "extra"]), max_size=3)):
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(json_values)
    return json.dumps(body).encode()


payloads = (
    st.binary(max_size=200) | mutated_gps() | json_values.map(lambda v: json.dumps(v).encode())
)


@settings(max_examples=400, deadline=None)
@given(
    payload=payloads,
    topic=st.sampled_from(
        [
            "tlive/v1/fleet/TRK-1/gps",
            "tlive/v1/atcs/I-1/detectors",
            "tlive/v1/parking/L-1/B-1",
            "tlive/v1/atcs/I-1/signal",
        ]
    ),
)
def test_decode_only_ever_accepts_or_raises_contract_error(payload, topic):
    try:
        d = decode(topic, payload, now=NOW)
    except ContractError as exc:
        assert str(exc)
    else:
        assert d.message.seq >= 0 and d.message.ts.tzinfo is not None
