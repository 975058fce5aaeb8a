"""The contract's validator, compiled: msgspec decoders derived from the pydantic models.

:mod:`ingest.contract` is the one definition of the wire contract (its pydantic
models give the JSON Schemas, the documentation and the dead-letter reasons).
Validating with pydantic costs 12-50 µs a message, as much as everything else
the ingest does with it; msgspec's C decoder checks the same types and
constraints in a few µs. This module builds, at import, one ``msgspec.Struct``
per model from the model's own field definitions (types, ``ge``/``gt``/``le``/
``lt``, lengths, patterns, defaults, ``extra="forbid"``, strict types), and
re-applies the models' Python validators (the ``ts`` rules and unique detector
ids) with the same functions the models use.

A message the fast decoder accepts is accepted by pydantic with the same
values; one it refuses goes through pydantic, whose error is the dead-letter
reason (so reasons read the same whichever path ran, and a message the fast
decoder is wrongly strict about is still stored). ``tests/ingest/test_fastdecode.py``
checks this on generated and mutated payloads. A model with a field type,
constraint or validator that this module does not know fails at import, not
silently.
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.functional_validators import BeforeValidator

from ingest.contract import (
    MAX_FUTURE,
    MAX_PAYLOAD_BYTES,
    MODELS,
    Decoded,
    Kind,
    Topic,
    _epoch_ms,
    check_ts,
    check_unique_detectors,
    decode_payload,
)

# the models' own validators, and what the fast path does instead (same functions)
_KNOWN_FIELD_VALIDATORS = {"_ts_in_range"}
_KNOWN_MODEL_VALIDATORS = {"_unique_detectors"}
_INT64_MAX = 2**63 - 1


def _python_pattern(pattern: str) -> str:
    # pydantic matches with Rust's regex, where ``$`` is the end of the text; in
    # Python's ``re`` it also matches before a final newline, ``\Z`` does not
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + r"\Z"
    return pattern


def _meta(metadata: list[Any], base: type) -> msgspec.Meta | None:
    kw: dict[str, Any] = {}
    for m in metadata:
        if isinstance(m, Ge):
            kw["ge"] = m.ge
        elif isinstance(m, Gt):
            kw["gt"] = m.gt
        elif isinstance(m, Le):
            kw["le"] = m.le
        elif isinstance(m, Lt):
            if base is int and m.lt == _INT64_MAX + 1:
                kw["le"] = _INT64_MAX  # msgspec bounds must fit in an int64
            else:
                kw["lt"] = m.lt
        elif isinstance(m, MinLen):
            kw["min_length"] = m.min_length
        elif isinstance(m, MaxLen):
            kw["max_length"] = m.max_length
        elif getattr(m, "pattern", None) is not None and type(m).__name__.endswith("Metadata"):
            kw["pattern"] = _python_pattern(m.pattern)
            extra = {k for k, v in vars(m).items() if v is not None and k != "pattern"}
            if extra:
                raise TypeError(f"fastdecode: unsupported constraints {extra}")
        else:
            raise TypeError(f"fastdecode: unsupported constraint {m!r}")
    return msgspec.Meta(**kw) if kw else None


def _constrain(tp: Any, meta: msgspec.Meta | None) -> Any:
    return Annotated[tp, meta] if meta is not None else tp


def _field_type(annotation: Any, metadata: list[Any], structs: dict[type, Any]) -> Any:
    """The msgspec type of one pydantic field (constraints applied where pydantic
    applies them: to the inner type of an optional)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1 or len(args) != 2:
            raise TypeError(f"fastdecode: unsupported union {annotation!r}")
        return _field_type(inner[0], metadata, structs) | None
    if origin is list:
        (item,) = typing.get_args(annotation)
        items = types.GenericAlias(list, (_item_type(item, structs),))
        return _constrain(items, _meta(metadata, list))
    if origin is Literal:
        if metadata:
            raise TypeError("fastdecode: constraints on a Literal")
        return annotation
    if annotation in (int, float, str, bool):
        return _constrain(annotation, _meta(metadata, annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if metadata:
            raise TypeError("fastdecode: constraints on a nested model")
        return _struct(annotation, structs)
    raise TypeError(f"fastdecode: unsupported field type {annotation!r}")


def _item_type(item: Any, structs: dict[type, Any]) -> Any:
    if isinstance(item, type) and issubclass(item, BaseModel):
        return _struct(item, structs)
    return _field_type(item, [], structs)


def _struct(model: type[BaseModel], structs: dict[type, Any]) -> Any:
    """A msgspec Struct with the model's fields (cached per model)."""
    if model in structs:
        return structs[model]
    cfg = model.model_config
    if cfg.get("extra") != "forbid" or not cfg.get("strict") or cfg.get("allow_inf_nan", True):
        raise TypeError(f"fastdecode: {model.__name__} is not strict, extra=forbid, no inf/nan")
    decorators = model.__pydantic_decorators__
    unknown = (set(decorators.field_validators) - _KNOWN_FIELD_VALIDATORS) | (
        set(decorators.model_validators) - _KNOWN_MODEL_VALIDATORS
    )
    if unknown or decorators.field_serializers or decorators.validators:
        raise TypeError(f"fastdecode: {model.__name__} has validators it does not know: {unknown}")
    fields: list[tuple[Any, ...]] = []
    for name, f in model.model_fields.items():
        before = [m for m in f.metadata if isinstance(m, BeforeValidator)]
        if before:
            if [b.func for b in before] != [_epoch_ms] or f.annotation is not datetime:
                raise TypeError(f"fastdecode: {model.__name__}.{name} has an unknown validator")
            tp: Any = int | float | str  # converted by _epoch_ms after decoding, like pydantic
        else:
            tp = _field_type(f.annotation, f.metadata, structs)
        if f.alias is not None and f.alias != name:
            raise TypeError(f"fastdecode: {model.__name__}.{name} has an alias")
        if f.is_required():
            fields.append((name, tp))
        else:
            if f.default_factory is not None:
                raise TypeError(f"fastdecode: {model.__name__}.{name} has a default factory")
            fields.append((name, tp, f.default))
    struct = msgspec.defstruct(
        f"Fast{model.__name__}", fields, forbid_unknown_fields=True, kw_only=True, gc=False
    )
    structs[model] = struct
    return struct


_STRUCTS: dict[type, Any] = {}
DECODERS: dict[Kind, msgspec.json.Decoder[Any]] = {
    kind: msgspec.json.Decoder(_struct(model, _STRUCTS)) for kind, model in MODELS.items()
}


def _fast(t: Topic, payload: bytes, now: datetime, max_future: timedelta) -> Any | None:
    """The message as a Struct when every rule holds, else None (ask pydantic)."""
    try:
        msg = DECODERS[t.kind].decode(payload)
        msg.ts = check_ts(_epoch_ms(msg.ts), now, max_future)
        if t.kind is Kind.DETECTORS:
            check_unique_detectors(msg.detectors)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError, OverflowError, OSError):
        return None
    return msg


def decode_payload_fast(
    t: Topic,
    payload: bytes,
    *,
    now: datetime | None = None,
    max_future: timedelta = MAX_FUTURE,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> Decoded:
    """:func:`ingest.contract.decode_payload`, fast for messages that keep the contract.

    The returned ``Decoded.message`` has the model's attribute names and values
    (a msgspec Struct when the fast path took it, the pydantic model otherwise).

    Raises
    ------
    ingest.contract.ContractError
        with pydantic's reason, exactly as :func:`~ingest.contract.decode_payload`.
    """
    if t.kind in DECODERS and len(payload) <= max_bytes:
        msg = _fast(t, payload, now or datetime.now(UTC), max_future)
        if msg is not None:
            return Decoded(t, msg)
    return decode_payload(t, payload, now=now, max_future=max_future, max_bytes=max_bytes)

