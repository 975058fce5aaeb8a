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
    _Message,
    check_ts,
    check_unique_detectors,
    decode_payload,
)

# model_config keys the fast decoder honours (strict types, extra="forbid" and no
# inf/nan are required, see _struct); any other key could change what pydantic
# accepts or returns (str_to_lower, str_max_length, ...), so it fails the build
_CONFIG_KEYS = {"strict", "extra", "frozen", "allow_inf_nan", "title", "json_schema_extra"}
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
        items = types.GenericAlias(list, (_field_type(item, [], structs),))
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
        return _struct(annotation, structs, top_level=False)
    raise TypeError(f"fastdecode: unsupported field type {annotation!r}")


def _function(decorator: Any) -> Any:
    func = decorator.func
    return getattr(func, "__func__", func)


# the models' validators that the fast path re-applies, recognised by identity
_TS_RULE = _function(_Message.__pydantic_decorators__.field_validators["_ts_in_range"])
_UNIQUE_RULE = _function(
    MODELS[Kind.DETECTORS].__pydantic_decorators__.model_validators["_unique_detectors"]
)


def _validators(model: type[BaseModel], top_level: bool) -> tuple[bool, bool]:
    """(ts rule, unique-detectors rule) of the model; TypeError for anything else."""
    d = model.__pydantic_decorators__
    if d.root_validators or d.validators or d.field_serializers or d.model_serializers:
        raise TypeError(f"fastdecode: {model.__name__} has validators or serializers")
    if d.computed_fields:
        raise TypeError(f"fastdecode: {model.__name__} has computed fields")
    ts_rule = unique_rule = False
    for name, dec in d.field_validators.items():
        if not (
            top_level
            and _function(dec) is _TS_RULE
            and dec.info.fields == ("ts",)
            and dec.info.mode == "after"
        ):
            raise TypeError(f"fastdecode: {model.__name__} has an unknown field validator {name}")
        ts_rule = True
    for name, mdec in d.model_validators.items():
        if not (top_level and _function(mdec) is _UNIQUE_RULE and mdec.info.mode == "after"):
            raise TypeError(f"fastdecode: {model.__name__} has an unknown model validator {name}")
        unique_rule = True
    return ts_rule, unique_rule


def _struct(model: type[BaseModel], structs: dict[type, Any], top_level: bool = True) -> Any:
    """A msgspec Struct with the model's fields (cached per model).

    Raises TypeError for a model whose rules it would not apply exactly as
    pydantic does (the rules it re-applies after decoding: :func:`_validators`).
    """
    if model in structs:
        return structs[model]
    cfg = model.model_config
    if cfg.get("extra") != "forbid" or not cfg.get("strict") or cfg.get("allow_inf_nan", True):
        raise TypeError(f"fastdecode: {model.__name__} is not strict, extra=forbid, no inf/nan")
    if set(cfg) - _CONFIG_KEYS:
        raise TypeError(f"fastdecode: {model.__name__} sets {sorted(set(cfg) - _CONFIG_KEYS)}")
    ts_rule, unique_rule = _validators(model, top_level)
    fields: list[tuple[Any, ...]] = []
    epoch_fields = []
    for name, f in model.model_fields.items():
        if any(isinstance(m, BeforeValidator) for m in f.metadata):
            before = f.metadata
            if (
                len(before) != 1
                or not isinstance(before[0], BeforeValidator)
                or before[0].func is not _epoch_ms
                or f.annotation is not datetime
                or name != "ts"
            ):
                raise TypeError(f"fastdecode: {model.__name__}.{name} has an unknown validator")
            tp: Any = int | float | str  # converted by _epoch_ms after decoding, like pydantic
            epoch_fields.append(name)
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
    if epoch_fields != (["ts"] if ts_rule else []):
        raise TypeError(f"fastdecode: {model.__name__}: ts must have both its conversion and rule")
    if unique_rule and "detectors" not in model.model_fields:
        raise TypeError(f"fastdecode: {model.__name__}: unique-detectors rule without detectors")
    struct = msgspec.defstruct(
        f"Fast{model.__name__}", fields, forbid_unknown_fields=True, kw_only=True, gc=False
    )
    structs[model] = struct
    return struct


_STRUCTS: dict[type, Any] = {}
DECODERS: dict[Kind, msgspec.json.Decoder[Any]] = {
    kind: msgspec.json.Decoder(_struct(model, _STRUCTS)) for kind, model in MODELS.items()
}
# per kind: (convert and check ts, check unique detector ids), as its model does
_RULES: dict[Kind, tuple[bool, bool]] = {
    kind: _validators(model, top_level=True) for kind, model in MODELS.items()
}


def _fast(t: Topic, payload: bytes, now: datetime, max_future: timedelta) -> Any | None:
    """The message as a Struct when every rule holds, else None (ask pydantic)."""
    ts_rule, unique_rule = _RULES[t.kind]
    try:
        msg = DECODERS[t.kind].decode(payload)
        if ts_rule:
            msg.ts = check_ts(_epoch_ms(msg.ts), now, max_future)
        if unique_rule:
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

