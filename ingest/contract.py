"""The wire contract: MQTT topics and JSON payloads of the city's devices, version 1.

This module is the one place that knows the contract. Devices (and ``sim/``) build
topics with :func:`topic_for` and payloads that validate against the models here;
the ingest consumer turns raw bytes into validated models with :func:`decode`.

Topics (``{root}`` is ``tlive`` unless ``TLIVE_MQTT_TOPIC_ROOT`` says otherwise)::

    {root}/v1/atcs/{intersection_id}/detectors   DetectorReport
    {root}/v1/atcs/{intersection_id}/signal      SignalEvent
    {root}/v1/atcs/{intersection_id}/plan        signal plan (published by control)
    {root}/v1/parking/{lot_id}/{bay_id}          BayEvent
    {root}/v1/fleet/{vehicle_id}/gps             GpsFix

Every payload is a JSON object in UTF-8 with the device's sequence number ``seq``
and the sample time ``ts`` (RFC 3339 with an offset, or epoch milliseconds).
Unknown fields are refused (the contract is versioned by topic: a new field means
``v2``), types are strict (``"5"`` is not a count), values are range-checked.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

CONTRACT_VERSION = "v1"
DEFAULT_ROOT = "tlive"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_ID_RE = re.compile(ID_PATTERN)
_RFC3339_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(minutes=5)
MAX_PAYLOAD_BYTES = 64 * 1024

DeviceId = Annotated[str, Field(pattern=ID_PATTERN, description="device or entity id")]


class Kind(enum.StrEnum):
    """Topic families."""

    DETECTORS = "detectors"
    SIGNAL = "signal"
    PLAN = "plan"
    PARKING = "parking"
    GPS = "gps"


def _epoch_ms(value: Any) -> Any:
    """Accept epoch milliseconds as well as RFC 3339 strings."""
    if isinstance(value, bool):
        raise ValueError("ts must be an RFC 3339 string or epoch milliseconds, not a boolean")
    if isinstance(value, int | float):
        if not (0 <= value < 10**14):
            raise ValueError(f"ts epoch milliseconds out of range: {value}")
        return datetime.fromtimestamp(value / 1000.0, tz=UTC)
    if isinstance(value, str):
        if not _RFC3339_RE.match(value):
            raise ValueError(f"ts {value!r} is not RFC 3339 (e.g. 2026-11-28T08:00:00+07:00)")
        if value[-1] == "z":  # RFC 3339 allows a lowercase z; fromisoformat does not
            value = value[:-1] + "Z"
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"ts {value!r} is not a valid date and time") from None
    raise ValueError("ts must be an RFC 3339 string or epoch milliseconds")


Timestamp = Annotated[
    datetime,
    BeforeValidator(_epoch_ms, json_schema_input_type=str | int),
    Field(description="sample time: RFC 3339 with offset, or epoch milliseconds (UTC)"),
]


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)

    seq: int = Field(ge=0, lt=2**63, description="device sequence number, increasing")
    ts: Timestamp

    @field_validator("ts")
    @classmethod
    def _ts_in_range(cls, v: datetime, info: ValidationInfo) -> datetime:
        ctx = info.context or {}
        now, max_future = ctx.get("now"), ctx.get("max_future")
        return check_ts(
            v,
            datetime.now(UTC) if now is None else now,
            MAX_FUTURE if max_future is None else max_future,
        )


def check_ts(v: datetime, now: datetime, max_future: timedelta) -> datetime:
    """The sample time's rules: an offset, not before 2000, not beyond ``now + max_future``;
    returned in UTC. Raises ValueError with the reason."""
    if v.tzinfo is None:
        raise ValueError("ts must carry a UTC offset (RFC 3339), e.g. 2026-11-28T08:00:00+07:00")
    if v < EARLIEST_TS:
        raise ValueError(f"ts {v.isoformat()} is before 2000-01-01")
    if v > now + max_future:
        raise ValueError(
            f"ts {v.isoformat()} is more than {max_future.total_seconds():.0f} s in the future"
        )
    return v.astimezone(UTC)


class DetectorCount(BaseModel):
    """One detector's counts over the reporting interval."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)

    detector_id: DeviceId
    approach: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,16}$", description="approach label, e.g. N, S, E, W"
    )
    lane: int = Field(ge=0, le=16, description="lane number from the kerb, 0 = whole approach")
    mc: int = Field(ge=0, le=20000, description="motorcycles counted [veh]")
    lv: int = Field(ge=0, le=20000, description="light vehicles (cars, vans) counted [veh]")
    hv: int = Field(ge=0, le=20000, description="heavy vehicles (trucks, buses) counted [veh]")
    um: int = Field(ge=0, le=20000, description="non-motorised (bicycles, becak) counted [veh]")
    occupancy_pct: float = Field(ge=0.0, le=100.0, description="time occupancy [%]")
    speed_kmh: float | None = Field(
        ge=0.0, le=250.0, description="mean spot speed [km/h]; null when nothing passed"
    )
    queue_m: float | None = Field(None, ge=0.0, le=5000.0, description="queue length [m]")


class DetectorReport(_Message):
    """``{root}/v1/atcs/{intersection_id}/detectors``: one reporting interval."""

    interval_s: int = Field(ge=1, le=3600, description="length of the counting interval [s]")
    detectors: list[DetectorCount] = Field(min_length=1, max_length=128)

    @model_validator(mode="after")
    def _unique_detectors(self) -> DetectorReport:
        check_unique_detectors(self.detectors)
        return self


def check_unique_detectors(detectors: list[Any]) -> None:
    """A report names each detector once. Raises ValueError."""
    ids = [d.detector_id for d in detectors]
    if len(set(ids)) != len(ids):
        raise ValueError("detector_id values must be unique within a report")


class SignalEvent(_Message):
    """``{root}/v1/atcs/{intersection_id}/signal``: a phase/state change."""

    phase: int = Field(ge=0, le=63, description="phase number")
    state: Literal["green", "amber", "red", "all_red", "flashing", "off"]
    plan_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="running plan")


class BayEvent(_Message):
    """``{root}/v1/parking/{lot_id}/{bay_id}``: a bay change or heartbeat."""

    occupied: bool
    kind: Literal["change", "heartbeat"] = "change"
    battery_pct: float | None = Field(None, ge=0.0, le=100.0, description="sensor battery [%]")


class GpsFix(_Message):
    """``{root}/v1/fleet/{vehicle_id}/gps``: one GPS fix of a fleet vehicle."""

    lat: float = Field(ge=-90.0, le=90.0, description="latitude WGS84 [deg]")
    lon: float = Field(ge=-180.0, le=180.0, description="longitude WGS84 [deg]")
    speed_kmh: float = Field(ge=0.0, le=300.0, description="ground speed [km/h]")
    heading_deg: float = Field(ge=0.0, le=360.0, description="course over ground [deg]")
    ignition: bool | None = None
    load_kg: float | None = Field(None, ge=0.0, le=100000.0, description="payload mass [kg]")
    hdop: float | None = Field(None, ge=0.0, le=100.0, description="horizontal DOP [-]")


MODELS: dict[Kind, type[_Message]] = {
    Kind.DETECTORS: DetectorReport,
    Kind.SIGNAL: SignalEvent,
    Kind.PARKING: BayEvent,
    Kind.GPS: GpsFix,
}


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: its family and the ids it names."""

    kind: Kind
    source_id: str  # intersection, lot or vehicle id
    sub_id: str | None = None  # bay id for parking


class ContractError(ValueError):
    """A message that breaks the contract; ``str()`` is the dead-letter reason."""


def topic_for(
    kind: Kind, source_id: str, sub_id: str | None = None, root: str = DEFAULT_ROOT
) -> str:
    """The topic a device publishes ``kind`` messages on."""
    if kind in (Kind.DETECTORS, Kind.SIGNAL, Kind.PLAN):
        return f"{root}/{CONTRACT_VERSION}/atcs/{source_id}/{kind.value}"
    if kind is Kind.PARKING:
        if sub_id is None:
            raise ValueError("parking topics need a bay id")
        return f"{root}/{CONTRACT_VERSION}/parking/{source_id}/{sub_id}"
    return f"{root}/{CONTRACT_VERSION}/fleet/{source_id}/gps"


def subscription(root: str = DEFAULT_ROOT, shared_group: str | None = None) -> str:
    """The ingest subscription, optionally as an MQTT 5 shared subscription."""
    base = f"{root}/{CONTRACT_VERSION}/#"
    return f"$share/{shared_group}/{base}" if shared_group else base


def _check_id(value: str, what: str) -> str:
    if not _ID_RE.match(value):
        raise ContractError(f"malformed {what} in topic: {value!r} (expected {ID_PATTERN})")
    return value


def parse_topic(topic: str, root: str = DEFAULT_ROOT) -> Topic:
    """Parse a topic name; raise :class:`ContractError` for unknown or malformed ones."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != root or parts[1] != CONTRACT_VERSION:
        raise ContractError(f"unknown topic {topic!r}: expected {root}/{CONTRACT_VERSION}/...")
    family = parts[2]
    if family == "atcs" and len(parts) == 5:
        leaf = parts[4]
        if leaf not in ("detectors", "signal", "plan"):
            raise ContractError(f"unknown topic {topic!r}: atcs/<id>/{leaf} is not in the contract")
        return Topic(Kind(leaf), _check_id(parts[3], "intersection_id"))
    if family == "parking" and len(parts) == 5:
        return Topic(Kind.PARKING, _check_id(parts[3], "lot_id"), _check_id(parts[4], "bay_id"))
    if family == "fleet" and len(parts) == 5 and parts[4] == "gps":
        return Topic(Kind.GPS, _check_id(parts[3], "vehicle_id"))
    raise ContractError(f"unknown topic {topic!r}")


@dataclass(frozen=True, slots=True)
class Decoded:
    """A message that passed the contract."""

    topic: Topic
    message: _Message


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "payload"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def decode(
    topic: str,
    payload: bytes,
    *,
    root: str = DEFAULT_ROOT,
    now: datetime | None = None,
    max_future: timedelta = MAX_FUTURE,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> Decoded:
    """Validate one raw message against the contract.

    Raises
    ------
    ContractError
        with a human-readable reason naming the field, for anything that breaks
        the contract: unknown topic, malformed id, oversize, bad UTF-8 or JSON,
        wrong type, missing or unknown field, value out of range.
    """
    return decode_payload(
        parse_topic(topic, root), payload, now=now, max_future=max_future, max_bytes=max_bytes
    )


def decode_payload(
    t: Topic,
    payload: bytes,
    *,
    now: datetime | None = None,
    max_future: timedelta = MAX_FUTURE,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> Decoded:
    """:func:`decode` for a topic already parsed with :func:`parse_topic`."""
    model = MODELS.get(t.kind)
    if model is None:
        raise ContractError(f"{t.kind.value} messages are not ingested")
    if len(payload) > max_bytes:
        raise ContractError(f"payload of {len(payload)} bytes exceeds the {max_bytes} byte limit")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(
            f"payload is not valid UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    try:
        msg = model.model_validate_json(
            payload, context={"now": now or datetime.now(UTC), "max_future": max_future}
        )
    except ValidationError as exc:
        raise ContractError(_reason(exc)) from None
    return Decoded(t, msg)


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every payload, keyed by file name."""
    return {
        f"{kind.value}.schema.json": model.model_json_schema(mode="validation")
        for kind, model in MODELS.items()
    }


def _write_schemas() -> None:  # pragma: no cover - used by developers
    import json
    from pathlib import Path

    out = Path(__file__).with_name("schemas")
    out.mkdir(exist_ok=True)
    for name, schema in json_schemas().items():
        (out / name).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":  # pragma: no cover
    _write_schemas()
