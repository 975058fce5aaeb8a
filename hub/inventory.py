"""The city inventory: one documented format for what the city is made of.

An inventory is one JSON document (:class:`Inventory`, JSON Schema committed in
``hub/schemas/inventory.schema.json``) holding

* ``nodes``: road-graph nodes (every signalised intersection is a node with the
  same id; other nodes are priority junctions or network boundaries);
* ``links``: directed road links between nodes, with geometry (GeoJSON
  ``LineString``, ``[lon, lat]``), length, lanes, speed limit, free-flow speed and
  capacity;
* ``intersections``: signalised intersections with their approaches (the incoming
  link, lanes with widths and movements), phases (which movements run together),
  detectors and a stored fixed-time plan;
* ``lots``: parking lots with their sensored bays and tariff;
* the waste-collection fleet: ``vehicles``, ``depots``, ``landfills`` (the TPA),
  ``pickup_points`` (TPS, on a link) and ``routes`` (a closed path of links from
  the depot through pickup points to the landfill and back).

Coordinates are WGS84 degrees; units are in the field names (``_m``, ``_kmh``,
``_veh_h``, ``_s``, ``_idr``, ``_kg``). Ids follow the wire contract's id pattern
so they can appear in MQTT topics.

Use::

    from hub.inventory import Inventory, load_inventory, save_to_store, read_from_store

    inv = load_inventory("city.json")           # validate (raises InventoryError)
    save_to_store(conn, inv)                    # idempotent upsert + prune, one transaction
    inv2 = read_from_store(conn)                # lossless: inv2 == inv
    arrays = inv.link_arrays()                  # NumPy arrays of the road graph

Validation errors name the feature and the field, e.g.
``intersection 'TNG-0007' phases[1].movements[0]: unknown approach 'NE'``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from ingest.contract import ID_PATTERN

INVENTORY_VERSION: Literal["1"] = "1"
SCHEMA_PATH = Path(__file__).with_name("schemas") / "inventory.schema.json"
EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG) [m]

FeatureId = Annotated[str, Field(pattern=ID_PATTERN, description="feature id (topic-safe)")]
Lat = Annotated[float, Field(ge=-90.0, le=90.0, description="latitude WGS84 [deg]")]
Lon = Annotated[float, Field(ge=-180.0, le=180.0, description="longitude WGS84 [deg]")]
ApproachId = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9_-]{1,16}$", description="approach label, e.g. N, S, E, W")
]
Turn = Literal["L", "T", "R", "U"]
MOVEMENT_PATTERN = r"^[A-Za-z0-9_-]{1,16}:[LTRU]$"
Movement = Annotated[
    str,
    Field(
        pattern=MOVEMENT_PATTERN,
        description="'<approach>:<turn>', turn L(eft) T(hrough) R(ight) U(-turn); "
        "Indonesia drives on the left, so L is the short, often free, turn",
    ),
]


class _Feature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- road graph


class Node(_Feature):
    """A road-graph node. Signalised intersections are nodes with the same id."""

    id: FeatureId
    lat: Lat
    lon: Lon
    kind: Literal["signal", "priority", "boundary"] = "signal"


class LineString(_Feature):
    """GeoJSON LineString geometry, ``[lon, lat]`` pairs."""

    type: Literal["LineString"] = "LineString"
    coordinates: list[tuple[Lon, Lat]] = Field(min_length=2)


class Link(_Feature):
    """A directed road link from ``from_node`` to ``to_node``."""

    id: FeatureId
    name: str = Field("", max_length=200, description="street name")
    from_node: FeatureId
    to_node: FeatureId
    geometry: LineString
    length_m: float = Field(gt=0.0, description="length along the geometry [m]")
    lanes: int = Field(ge=1, le=8, description="lanes in this direction")
    speed_limit_kmh: float = Field(gt=0.0, le=130.0, description="posted limit [km/h]")
    free_flow_kmh: float = Field(gt=0.0, le=130.0, description="free-flow speed [km/h]")
    capacity_veh_h: float = Field(gt=0.0, description="capacity, all lanes [veh/h]")
    road_class: Literal["arterial", "collector", "local", "toll"] = "arterial"


# --------------------------------------------------------------------------- intersections


class Lane(_Feature):
    """One lane of an approach, numbered from the kerb (left kerb in Indonesia) from 1."""

    index: int = Field(ge=1, le=16)
    width_m: float = Field(gt=1.5, le=6.0, description="lane width [m]")
    movements: list[Turn] = Field(min_length=1, description="turns allowed from this lane")


class Approach(_Feature):
    """An approach of an intersection: traffic arriving on ``link_id``."""

    id: ApproachId
    link_id: FeatureId | None = Field(None, description="incoming link (null: not modelled)")
    bearing_deg: float = Field(ge=0.0, lt=360.0, description="direction traffic comes from")
    lanes: list[Lane] = Field(min_length=1)

    @model_validator(mode="after")
    def _lane_numbers(self) -> Approach:
        got = [ln.index for ln in self.lanes]
        if got != list(range(1, len(got) + 1)):
            raise ValueError(f"lanes must be numbered 1..{len(got)} from the kerb, got {got}")
        return self


class Phase(_Feature):
    """A signal phase: the movements that get green together."""

    number: int = Field(ge=1, le=63)
    movements: list[Movement] = Field(min_length=1)
    min_green_s: float = Field(5.0, ge=1.0, le=120.0)
    max_green_s: float = Field(90.0, ge=1.0, le=300.0)


class Detector(_Feature):
    """A detector (loop or video zone) on one lane of an approach; lane 0 = whole approach."""

    id: FeatureId
    approach: ApproachId
    lane: int = Field(ge=0, le=16)
    kind: Literal["loop", "video", "radar"] = "video"
    position_m: float = Field(
        30.0, ge=0.0, le=500.0, description="distance upstream of the stop line [m]"
    )


class FixedPlan(_Feature):
    """A stored fixed-time plan: one green per phase, in phase order.

    ``cycle_s = sum(greens_s) + n_phases * (amber_s + all_red_s)``.
    """

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    cycle_s: float = Field(ge=20.0, le=300.0)
    offset_s: float = Field(0.0, ge=0.0, le=300.0)
    greens_s: list[float] = Field(min_length=1, description="green per phase [s]")
    amber_s: float = Field(3.0, ge=0.0, le=6.0)
    all_red_s: float = Field(2.0, ge=0.0, le=10.0)

    @model_validator(mode="after")
    def _sums_to_cycle(self) -> FixedPlan:
        total = sum(self.greens_s) + len(self.greens_s) * (self.amber_s + self.all_red_s)
        if abs(total - self.cycle_s) > 0.01:
            raise ValueError(
                f"greens + amber + all-red add up to {total:g} s, not cycle_s {self.cycle_s:g} s"
            )
        if self.offset_s >= self.cycle_s:
            raise ValueError(f"offset_s {self.offset_s:g} must be below cycle_s {self.cycle_s:g}")
        return self


class Intersection(_Feature):
    """A signalised intersection (its ``id`` is also the id of its road-graph node)."""

    id: FeatureId
    name: str = Field(min_length=1, max_length=200)
    kecamatan: str | None = Field(None, description="district of Kota Tangerang")
    lat: Lat
    lon: Lon
    approaches: list[Approach] = Field(min_length=1)
    phases: list[Phase] = Field(min_length=1)
    detectors: list[Detector] = Field(default_factory=list)
    plan: FixedPlan

    @model_validator(mode="after")
    def _consistent(self) -> Intersection:
        appr = {a.id: a for a in self.approaches}
        if len(appr) != len(self.approaches):
            raise ValueError("approach ids must be unique")
        nums = [p.number for p in self.phases]
        if nums != list(range(1, len(nums) + 1)):
            raise ValueError(f"phases must be numbered 1..{len(nums)} in order, got {nums}")
        for i, ph in enumerate(self.phases):
            for j, mv in enumerate(ph.movements):
                a, turn = mv.split(":")
                if a not in appr:
                    raise ValueError(f"phases[{i}].movements[{j}]: unknown approach {a!r}")
                if not any(turn in ln.movements for ln in appr[a].lanes):
                    raise ValueError(
                        f"phases[{i}].movements[{j}]: no lane of approach {a!r} allows {turn!r}"
                    )
        seen: set[str] = set()
        for k, d in enumerate(self.detectors):
            if d.id in seen:
                raise ValueError(f"detectors[{k}].id: duplicate detector id {d.id!r}")
            seen.add(d.id)
            if d.approach not in appr:
                raise ValueError(f"detectors[{k}].approach: unknown approach {d.approach!r}")
            if d.lane > len(appr[d.approach].lanes):
                raise ValueError(
                    f"detectors[{k}].lane: approach {d.approach!r} has "
                    f"{len(appr[d.approach].lanes)} lanes, not {d.lane}"
                )
        if len(self.plan.greens_s) != len(self.phases):
            raise ValueError(
                f"plan.greens_s: {len(self.plan.greens_s)} greens for {len(self.phases)} phases"
            )
        return self


# --------------------------------------------------------------------------- parking


class Bay(_Feature):
    """A sensored parking bay."""

    id: FeatureId
    kind: Literal["car", "motorcycle", "disabled", "ev", "loading"] = "car"


class Tariff(_Feature):
    """Parking tariff (retribusi parkir) in rupiah."""

    car_first_hour_idr: int = Field(ge=0)
    car_next_hour_idr: int = Field(ge=0)
    mc_first_hour_idr: int = Field(ge=0)
    mc_next_hour_idr: int = Field(ge=0)
    daily_max_idr: int | None = Field(None, ge=0)


class Lot(_Feature):
    """A parking lot (on-street segment or off-street facility)."""

    id: FeatureId
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["on_street", "mall", "market", "office", "hospital", "station", "park"]
    kecamatan: str | None = None
    lat: Lat
    lon: Lon
    capacity: int = Field(ge=0, description="all bays, sensored or not")
    link_id: FeatureId | None = Field(None, description="link the entrance is on")
    bays: list[Bay] = Field(default_factory=list)
    tariff: Tariff
    opening_hours: str = Field("00:00-24:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")

    @model_validator(mode="after")
    def _bays_fit(self) -> Lot:
        if len(self.bays) > self.capacity:
            raise ValueError(f"bays: {len(self.bays)} bays exceed capacity {self.capacity}")
        ids = [b.id for b in self.bays]
        if len(set(ids)) != len(ids):
            raise ValueError("bays: bay ids must be unique within the lot")
        return self


# --------------------------------------------------------------------------- fleet


class Vehicle(_Feature):
    """A waste-collection vehicle with a GPS tracker."""

    id: FeatureId
    kind: Literal["compactor", "dump_truck", "arm_roll", "pickup"] = "compactor"
    plate: str | None = Field(None, max_length=16)
    capacity_kg: float = Field(gt=0.0, le=40000.0)
    depot_id: FeatureId


class Depot(_Feature):
    """A fleet depot (pool), attached to a road-graph node."""

    id: FeatureId
    name: str = Field(min_length=1, max_length=200)
    lat: Lat
    lon: Lon
    node_id: FeatureId


class Landfill(_Feature):
    """A landfill (TPA), attached to a road-graph node."""

    id: FeatureId
    name: str = Field(min_length=1, max_length=200)
    lat: Lat
    lon: Lon
    node_id: FeatureId
    approximate: bool = Field(False, description="location approximate (public sources)")


class PickupPoint(_Feature):
    """A waste pickup point (TPS) on a link."""

    id: FeatureId
    name: str = Field(min_length=1, max_length=200)
    kecamatan: str | None = None
    link_id: FeatureId
    offset_m: float = Field(ge=0.0, description="distance from the link's start [m]")
    lat: Lat
    lon: Lon
    expected_kg: float = Field(gt=0.0, description="waste per collection [kg]")
    service_s: float = Field(300.0, gt=0.0, description="time to load at the point [s]")


class CollectionRoute(_Feature):
    """A collection round: a closed path of links from the depot through pickups,
    to the landfill, and back to the depot."""

    id: FeatureId
    vehicle_id: FeatureId
    depot_id: FeatureId
    landfill_id: FeatureId
    start_time: str = Field("06:00", pattern=r"^\d{2}:\d{2}$", description="local time (WIB)")
    pickup_ids: list[FeatureId] = Field(min_length=1, description="in visiting order")
    link_ids: list[FeatureId] = Field(min_length=1, description="the path, in driving order")


# --------------------------------------------------------------------------- inventory


class Inventory(BaseModel):
    """The whole city inventory (version 1). See the module docstring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inventory_version: Literal["1"] = INVENTORY_VERSION
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    approximate: bool = Field(
        False, description="true when locations/attributes are synthetic or approximate"
    )
    source: str = Field("", description="provenance and attribution")
    nodes: list[Node] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    intersections: list[Intersection] = Field(default_factory=list)
    lots: list[Lot] = Field(default_factory=list)
    vehicles: list[Vehicle] = Field(default_factory=list)
    depots: list[Depot] = Field(default_factory=list)
    landfills: list[Landfill] = Field(default_factory=list)
    pickup_points: list[PickupPoint] = Field(default_factory=list)
    routes: list[CollectionRoute] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Inventory:
        errors = list(_reference_errors(self))
        if errors:
            raise ValueError("; ".join(errors[:20]) + (
                f" (+{len(errors) - 20} more)" if len(errors) > 20 else ""
            ))
        return self

    # ---- lookups, cached per list object (a model_copy with new lists recomputes them)
    _lookups: dict[str, tuple[Any, Any]] = PrivateAttr(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        """Equal when every field is (the lookup caches do not count)."""
        if not isinstance(other, Inventory):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def _cached(self, name: str, source: Any, build: Any) -> Any:
        hit = self._lookups.get(name)
        if hit is not None and hit[0] is source:
            return hit[1]
        value = build()
        self._lookups[name] = (source, value)
        return value

    @property
    def node_index(self) -> dict[str, int]:
        """Node id -> position in ``nodes``."""
        return self._cached("node_index", self.nodes,
                            lambda: {n.id: i for i, n in enumerate(self.nodes)})

    @property
    def link_index(self) -> dict[str, int]:
        """Link id -> position in ``links``."""
        return self._cached("link_index", self.links,
                            lambda: {ln.id: i for i, ln in enumerate(self.links)})

    @property
    def link_by_id(self) -> dict[str, Link]:
        """Link id -> link."""
        return self._cached("link_by_id", self.links, lambda: {ln.id: ln for ln in self.links})

    def link_arrays(self) -> LinkArrays:
        """The road graph as arrays (links on axis 0), for routing and the control core."""
        return LinkArrays.from_inventory(self)

    def counts(self) -> dict[str, int]:
        """Number of features per collection (bays and detectors included)."""
        return {
            "nodes": len(self.nodes),
            "links": len(self.links),
            "intersections": len(self.intersections),
            "detectors": sum(len(i.detectors) for i in self.intersections),
            "lots": len(self.lots),
            "bays": sum(len(lot.bays) for lot in self.lots),
            "vehicles": len(self.vehicles),
            "depots": len(self.depots),
            "landfills": len(self.landfills),
            "pickup_points": len(self.pickup_points),
            "routes": len(self.routes),
        }


_SINGULAR = {
    "nodes": "node",
    "links": "link",
    "intersections": "intersection",
    "lots": "lot",
    "vehicles": "vehicle",
    "depots": "depot",
    "landfills": "landfill",
    "pickup_points": "pickup point",
    "routes": "route",
}


def _dupes(kind: str, ids: Iterable[str]) -> Iterable[str]:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            yield f"{_SINGULAR[kind]} {i!r} id: duplicate id"
        seen.add(i)


def _reference_errors(inv: Inventory) -> Iterable[str]:
    for kind in _SINGULAR:
        yield from _dupes(kind, (f.id for f in getattr(inv, kind)))
    nodes = {n.id for n in inv.nodes}
    links = {ln.id: ln for ln in inv.links}
    for ln in inv.links:
        for fld in ("from_node", "to_node"):
            if getattr(ln, fld) not in nodes:
                yield f"link {ln.id!r} {fld}: unknown node {getattr(ln, fld)!r}"
        if ln.from_node == ln.to_node:
            yield f"link {ln.id!r} to_node: a link cannot end where it starts"
        if ln.free_flow_kmh > ln.speed_limit_kmh * 1.2:
            yield (
                f"link {ln.id!r} free_flow_kmh: {ln.free_flow_kmh:g} km/h is implausibly above "
                f"the {ln.speed_limit_kmh:g} km/h limit"
            )
    for it in inv.intersections:
        if it.id not in nodes:
            yield f"intersection {it.id!r} id: no node with this id"
        for k, a in enumerate(it.approaches):
            if a.link_id is None:
                continue
            inc = links.get(a.link_id)
            if inc is None:
                yield f"intersection {it.id!r} approaches[{k}].link_id: unknown link {a.link_id!r}"
            elif inc.to_node != it.id:
                yield (
                    f"intersection {it.id!r} approaches[{k}].link_id: link {a.link_id!r} "
                    f"ends at {inc.to_node!r}, not at this intersection"
                )
    for lot in inv.lots:
        if lot.link_id is not None and lot.link_id not in links:
            yield f"lot {lot.id!r} link_id: unknown link {lot.link_id!r}"
    depots = {d.id: d for d in inv.depots}
    landfills = {d.id: d for d in inv.landfills}
    for kind, feats in (("depot", inv.depots), ("landfill", inv.landfills)):
        for f in feats:
            if f.node_id not in nodes:
                yield f"{kind} {f.id!r} node_id: unknown node {f.node_id!r}"
    vehicles = {v.id: v for v in inv.vehicles}
    for v in inv.vehicles:
        if v.depot_id not in depots:
            yield f"vehicle {v.id!r} depot_id: unknown depot {v.depot_id!r}"
    pickups = {p.id: p for p in inv.pickup_points}
    for p in inv.pickup_points:
        on = links.get(p.link_id)
        if on is None:
            yield f"pickup point {p.id!r} link_id: unknown link {p.link_id!r}"
        elif p.offset_m > on.length_m + 1e-6:
            yield (
                f"pickup point {p.id!r} offset_m: {p.offset_m:g} m is beyond the end of "
                f"link {p.link_id!r} ({on.length_m:g} m)"
            )
    for r in inv.routes:
        yield from _route_errors(r, links, nodes, vehicles, depots, landfills, pickups)


def _route_errors(
    r: CollectionRoute,
    links: dict[str, Link],
    nodes: set[str],
    vehicles: dict[str, Vehicle],
    depots: dict[str, Depot],
    landfills: dict[str, Landfill],
    pickups: dict[str, PickupPoint],
) -> Iterable[str]:
    where = f"route {r.id!r}"
    if r.vehicle_id not in vehicles:
        yield f"{where} vehicle_id: unknown vehicle {r.vehicle_id!r}"
    if r.depot_id not in depots:
        yield f"{where} depot_id: unknown depot {r.depot_id!r}"
    if r.landfill_id not in landfills:
        yield f"{where} landfill_id: unknown landfill {r.landfill_id!r}"
    bad = [lid for lid in r.link_ids if lid not in links]
    if bad:
        yield f"{where} link_ids: unknown links {bad[:5]}"
        return
    path = [links[lid] for lid in r.link_ids]
    for k in range(1, len(path)):
        if path[k - 1].to_node != path[k].from_node:
            yield (
                f"{where} link_ids[{k}]: {path[k].id!r} starts at {path[k].from_node!r}, "
                f"not where {path[k - 1].id!r} ends ({path[k - 1].to_node!r})"
            )
            return
    depot = depots.get(r.depot_id)
    if depot is not None and (
        path[0].from_node != depot.node_id or path[-1].to_node != depot.node_id
    ):
        yield f"{where} link_ids: the path must start and end at the depot node {depot.node_id!r}"
    landfill = landfills.get(r.landfill_id)
    if landfill is not None and all(
        ln.to_node != landfill.node_id for ln in path
    ):
        yield f"{where} link_ids: the path never reaches the landfill node {landfill.node_id!r}"
    # pickups must lie on the path, in order
    pos = 0
    for k, pid in enumerate(r.pickup_ids):
        p = pickups.get(pid)
        if p is None:
            yield f"{where} pickup_ids[{k}]: unknown pickup point {pid!r}"
            continue
        try:
            pos = r.link_ids.index(p.link_id, pos)
        except ValueError:
            yield (
                f"{where} pickup_ids[{k}]: pickup point {pid!r} (on link {p.link_id!r}) is "
                "not on the path after the previous pickup"
            )


# --------------------------------------------------------------------------- errors


class InventoryError(ValueError):
    """An inventory that does not validate. ``errors`` lists one message per problem,
    each naming the feature (kind and id) and the field."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        head = "\n  ".join(errors[:50])
        more = f"\n  (+{len(errors) - 50} more)" if len(errors) > 50 else ""
        super().__init__(f"invalid inventory ({len(errors)} problem(s)):\n  {head}{more}")


def _loc_message(loc: tuple[Any, ...], raw: Any) -> str:
    """Turn a pydantic location into 'intersection 'X' phases[0].movements'."""
    if not loc:
        return "inventory"
    head = loc[0]
    if head in _SINGULAR and len(loc) >= 2 and isinstance(loc[1], int):
        fid: Any = None
        try:
            fid = raw[head][loc[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        who = f"{_SINGULAR[head]} {fid!r}" if fid is not None else f"{_SINGULAR[head]} #{loc[1]}"
        rest = ""
        for part in loc[2:]:
            rest += f"[{part}]" if isinstance(part, int) else (("." if rest else "") + str(part))
        return f"{who} {rest or '(feature)'}"
    return ".".join(str(x) for x in loc)


def validation_errors(exc: ValidationError, raw: Any) -> list[str]:
    """Readable messages, one per pydantic error, naming the feature and field."""
    out = []
    for e in exc.errors(include_url=False):
        msg = e["msg"].removeprefix("Value error, ")
        loc = tuple(e["loc"])
        if not loc:  # whole-inventory reference check: already '; '-joined messages
            out.extend(msg.split("; "))
            continue
        where = _loc_message(loc, raw)
        if where.endswith(" (feature)"):  # a feature-level check: its message names the field
            out.append(f"{where.removesuffix(' (feature)')} {msg}")
        else:
            out.append(f"{where}: {msg}")
    return out


def parse_inventory(data: str | bytes | dict[str, Any]) -> Inventory:
    """Validate an inventory from JSON text or a parsed object; raise :class:`InventoryError`."""
    if isinstance(data, str | bytes):
        try:
            raw = json.loads(data)
        except json.JSONDecodeError as exc:
            raise InventoryError([f"not valid JSON: {exc}"]) from None
    else:
        raw = data
    try:
        return Inventory.model_validate(raw)
    except ValidationError as exc:
        raise InventoryError(validation_errors(exc, raw)) from None


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate an inventory JSON file."""
    return parse_inventory(Path(path).read_bytes())


def dump_inventory(
    inv: Inventory, path: str | Path | None = None, *, indent: int | None = 1
) -> str:
    """The inventory as JSON text (written to ``path`` when given)."""
    text = inv.model_dump_json(indent=indent, exclude_none=False) + "\n"
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the inventory document."""
    schema = Inventory.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://tangerang-live.example/schemas/inventory.schema.json"
    return schema


def write_json_schema(path: Path = SCHEMA_PATH) -> Path:
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    return path


# --------------------------------------------------------------------------- geometry


def haversine_m(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance [m] between points given in degrees (broadcasts)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=float) - np.asarray(lon1, dtype=float))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def polyline_length_m(coords: list[tuple[float, float]] | npt.NDArray[np.float64]) -> float:
    """Length [m] of a ``[lon, lat]`` polyline."""
    c = np.asarray(coords, dtype=float)
    return float(haversine_m(c[:-1, 1], c[:-1, 0], c[1:, 1], c[1:, 0]).sum())


def point_along(coords: list[tuple[float, float]], distance_m: float) -> tuple[float, float, float]:
    """``(lat, lon, heading_deg)`` at ``distance_m`` along a ``[lon, lat]`` polyline
    (clamped to its ends); heading is the course of the segment, clockwise from north."""
    c = np.asarray(coords, dtype=float)
    seg = haversine_m(c[:-1, 1], c[:-1, 0], c[1:, 1], c[1:, 0])
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    d = min(max(distance_m, 0.0), float(cum[-1]))
    k = min(int(np.searchsorted(cum, d, side="right")) - 1, len(seg) - 1)
    f = 0.0 if seg[k] == 0 else (d - cum[k]) / seg[k]
    lon = c[k, 0] + f * (c[k + 1, 0] - c[k, 0])
    lat = c[k, 1] + f * (c[k + 1, 1] - c[k, 1])
    return float(lat), float(lon), bearing_deg(c[k, 1], c[k, 0], c[k + 1, 1], c[k + 1, 0])


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial course from point 1 to point 2 [deg clockwise from north, 0..360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


@dataclass(frozen=True)
class LinkArrays:
    """The road graph as arrays: links on axis 0, nodes indexed by ``node_ids``.

    ``from_idx``/``to_idx`` index ``node_ids``; suitable for
    ``scipy.sparse.csr_matrix((weight, (from_idx, to_idx)))``.
    """

    link_ids: list[str]
    node_ids: list[str]
    from_idx: npt.NDArray[np.int64]
    to_idx: npt.NDArray[np.int64]
    length_m: npt.NDArray[np.float64]
    lanes: npt.NDArray[np.int64]
    speed_limit_kmh: npt.NDArray[np.float64]
    free_flow_kmh: npt.NDArray[np.float64]
    capacity_veh_h: npt.NDArray[np.float64]
    node_lat: npt.NDArray[np.float64]
    node_lon: npt.NDArray[np.float64]

    @property
    def free_flow_time_s(self) -> npt.NDArray[np.float64]:
        """Free-flow travel time per link [s]."""
        return self.length_m / (self.free_flow_kmh / 3.6)

    @classmethod
    def from_inventory(cls, inv: Inventory) -> LinkArrays:
        idx = inv.node_index
        links = inv.links
        return cls(
            link_ids=[ln.id for ln in links],
            node_ids=[n.id for n in inv.nodes],
            from_idx=np.array([idx[ln.from_node] for ln in links], dtype=np.int64),
            to_idx=np.array([idx[ln.to_node] for ln in links], dtype=np.int64),
            length_m=np.array([ln.length_m for ln in links], dtype=float),
            lanes=np.array([ln.lanes for ln in links], dtype=np.int64),
            speed_limit_kmh=np.array([ln.speed_limit_kmh for ln in links], dtype=float),
            free_flow_kmh=np.array([ln.free_flow_kmh for ln in links], dtype=float),
            capacity_veh_h=np.array([ln.capacity_veh_h for ln in links], dtype=float),
            node_lat=np.array([n.lat for n in inv.nodes], dtype=float),
            node_lon=np.array([n.lon for n in inv.nodes], dtype=float),
        )


# --------------------------------------------------------------------------- the store

# Tables and the typed columns they carry; everything else of a feature rides in
# ``props`` (jsonb), so the round trip is lossless. Columns typed ``real`` (float4)
# in m0002 are kept exactly in ``props`` as well and read back from there.
_INVENTORY_TABLES = (
    "collection_route", "pickup_point", "vehicle", "landfill", "depot",
    "bay", "lot", "detector", "intersection", "link", "node",
)


def _props(model: BaseModel, exclude: set[str], position: int | None = None) -> str:
    d = model.model_dump(mode="json", exclude=exclude)
    if position is not None:  # the document's order, for tables without a position column
        d["position"] = position
    return json.dumps(d, separators=(",", ":"))


def save_to_store(conn: Any, inv: Inventory, *, prune: bool = True) -> dict[str, int]:
    """Write ``inv`` into the inventory tables in one transaction; return counts.

    Idempotent: rows are upserted by id, and with ``prune`` (the default) rows
    whose ids are not in ``inv`` are deleted, so the store then holds exactly
    ``inv``. Loading the same inventory twice changes nothing.
    """
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (0x71_1C_E0_10,))
        cur.execute(
            """INSERT INTO inventory_meta (key, value) VALUES ('document', %s::jsonb)
               ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
            (
                json.dumps(
                    inv.model_dump(
                        mode="json",
                        include={"inventory_version", "name", "description", "approximate",
                                 "source"},
                    )
                ),
            ),
        )
        cur.executemany(
            """INSERT INTO node (id, lat, lon, kind, position) VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (id) DO UPDATE SET lat = EXCLUDED.lat, lon = EXCLUDED.lon,
                 kind = EXCLUDED.kind, position = EXCLUDED.position""",
            [(n.id, n.lat, n.lon, n.kind, k) for k, n in enumerate(inv.nodes)],
        )
        cur.executemany(
            """INSERT INTO link (id, from_node, to_node, length_m, lanes, speed_limit_kmh,
                                 free_flow_kmh, capacity_veh_h, geometry, props)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)
               ON CONFLICT (id) DO UPDATE SET from_node = EXCLUDED.from_node,
                 to_node = EXCLUDED.to_node, length_m = EXCLUDED.length_m,
                 lanes = EXCLUDED.lanes, speed_limit_kmh = EXCLUDED.speed_limit_kmh,
                 free_flow_kmh = EXCLUDED.free_flow_kmh, capacity_veh_h = EXCLUDED.capacity_veh_h,
                 geometry = EXCLUDED.geometry, props = EXCLUDED.props""",
            [
                (
                    ln.id, ln.from_node, ln.to_node, ln.length_m, ln.lanes, ln.speed_limit_kmh,
                    ln.free_flow_kmh, ln.capacity_veh_h,
                    json.dumps(ln.geometry.model_dump(mode="json")),
                    _props(ln, {"id", "from_node", "to_node", "length_m", "lanes", "geometry"}, k),
                )
                for k, ln in enumerate(inv.links)
            ],
        )
        cur.executemany(
            """INSERT INTO intersection (id, name, kecamatan, lat, lon, props)
               VALUES (%s, %s, %s, %s, %s, %s::jsonb)
               ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
                 kecamatan = EXCLUDED.kecamatan, lat = EXCLUDED.lat, lon = EXCLUDED.lon,
                 props = EXCLUDED.props""",
            [
                (i.id, i.name, i.kecamatan, i.lat, i.lon,
                 _props(i, {"id", "name", "kecamatan", "lat", "lon", "detectors"}, k))
                for k, i in enumerate(inv.intersections)
            ],
        )
        det_rows = [
            (i.id, d.id, d.approach, d.lane, _props(d, {"id", "approach", "lane"}), k)
            for i in inv.intersections
            for k, d in enumerate(i.detectors)
        ]
        cur.executemany(
            """INSERT INTO detector (intersection_id, id, approach, lane, props, position)
               VALUES (%s, %s, %s, %s, %s::jsonb, %s)
               ON CONFLICT (intersection_id, id) DO UPDATE SET approach = EXCLUDED.approach,
                 lane = EXCLUDED.lane, props = EXCLUDED.props, position = EXCLUDED.position""",
            det_rows,
        )
        cur.executemany(
            """INSERT INTO lot (id, name, lat, lon, capacity, props)
               VALUES (%s, %s, %s, %s, %s, %s::jsonb)
               ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, lat = EXCLUDED.lat,
                 lon = EXCLUDED.lon, capacity = EXCLUDED.capacity, props = EXCLUDED.props""",
            [
                (lot.id, lot.name, lot.lat, lot.lon, lot.capacity,
                 _props(lot, {"id", "name", "lat", "lon", "capacity", "bays"}, k))
                for k, lot in enumerate(inv.lots)
            ],
        )
        bay_rows = [
            (lot.id, b.id, _props(b, {"id"}), k) for lot in inv.lots for k, b in enumerate(lot.bays)
        ]
        cur.executemany(
            """INSERT INTO bay (lot_id, id, props, position) VALUES (%s, %s, %s::jsonb, %s)
               ON CONFLICT (lot_id, id) DO UPDATE SET props = EXCLUDED.props,
                 position = EXCLUDED.position""",
            bay_rows,
        )
        depots: list[Depot | Landfill] = list(inv.depots)
        landfills: list[Depot | Landfill] = list(inv.landfills)
        places = (("depot", depots), ("landfill", landfills))
        cols = ("name", "lat", "lon", "node_id")
        for table, feats in places:
            cur.executemany(
                f"""INSERT INTO {table} (id, name, lat, lon, node_id, props, position)
                    VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)
                    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, lat = EXCLUDED.lat,
                      lon = EXCLUDED.lon, node_id = EXCLUDED.node_id, props = EXCLUDED.props,
                      position = EXCLUDED.position""",
                [
                    (f.id, f.name, f.lat, f.lon, f.node_id, _props(f, {"id", *cols}), k)
                    for k, f in enumerate(feats)
                ],
            )
        cur.executemany(
            """INSERT INTO vehicle (id, kind, props) VALUES (%s, %s, %s::jsonb)
               ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, props = EXCLUDED.props""",
            [
                (v.id, v.kind, _props(v, {"id", "kind"}, k))
                for k, v in enumerate(inv.vehicles)
            ],
        )
        cur.executemany(
            """INSERT INTO pickup_point (id, name, link_id, offset_m, lat, lon, props, position)
               VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s)
               ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, link_id = EXCLUDED.link_id,
                 offset_m = EXCLUDED.offset_m, lat = EXCLUDED.lat, lon = EXCLUDED.lon,
                 props = EXCLUDED.props, position = EXCLUDED.position""",
            [
                (p.id, p.name, p.link_id, p.offset_m, p.lat, p.lon,
                 _props(p, {"id", "name", "link_id", "offset_m", "lat", "lon"}), k)
                for k, p in enumerate(inv.pickup_points)
            ],
        )
        cur.executemany(
            """INSERT INTO collection_route (id, vehicle_id, depot_id, landfill_id, pickup_ids,
                                             link_ids, props, position)
               VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s)
               ON CONFLICT (id) DO UPDATE SET vehicle_id = EXCLUDED.vehicle_id,
                 depot_id = EXCLUDED.depot_id, landfill_id = EXCLUDED.landfill_id,
                 pickup_ids = EXCLUDED.pickup_ids, link_ids = EXCLUDED.link_ids,
                 props = EXCLUDED.props, position = EXCLUDED.position""",
            [
                (r.id, r.vehicle_id, r.depot_id, r.landfill_id, r.pickup_ids, r.link_ids,
                 _props(r, {"id", "vehicle_id", "depot_id", "landfill_id", "pickup_ids",
                            "link_ids"}), k)
                for k, r in enumerate(inv.routes)
            ],
        )
        if prune:
            _prune(cur, inv)
        # the detectors' live state carries the inventory's integer detector ids
        cur.execute(
            """UPDATE detector_live l SET gid = d.gid
               FROM detector_live l2
               LEFT JOIN detector d ON d.intersection_id = l2.intersection_id
                                   AND d.id = l2.detector_id
               WHERE l.intersection_id = l2.intersection_id
                 AND l.detector_id = l2.detector_id
                 AND l.gid IS DISTINCT FROM d.gid"""
        )
    return inv.counts()


def _prune(cur: Any, inv: Inventory) -> None:
    keep = {
        "collection_route": [r.id for r in inv.routes],
        "pickup_point": [p.id for p in inv.pickup_points],
        "vehicle": [v.id for v in inv.vehicles],
        "landfill": [f.id for f in inv.landfills],
        "depot": [d.id for d in inv.depots],
        "lot": [lot.id for lot in inv.lots],
        "intersection": [i.id for i in inv.intersections],
        "link": [ln.id for ln in inv.links],
        "node": [n.id for n in inv.nodes],
    }
    for table in _INVENTORY_TABLES:
        if table in keep:
            cur.execute(f"DELETE FROM {table} WHERE NOT (id = ANY(%s))", (keep[table],))
    cur.execute(
        """DELETE FROM detector d WHERE NOT EXISTS (
               SELECT 1 FROM unnest(%s::text[], %s::text[]) AS k(i, d)
               WHERE k.i = d.intersection_id AND k.d = d.id)""",
        (
            [i.id for i in inv.intersections for _ in i.detectors],
            [d.id for i in inv.intersections for d in i.detectors],
        ),
    )
    cur.execute(
        """DELETE FROM bay b WHERE NOT EXISTS (
               SELECT 1 FROM unnest(%s::text[], %s::text[]) AS k(l, b)
               WHERE k.l = b.lot_id AND k.b = b.id)""",
        (
            [lot.id for lot in inv.lots for _ in lot.bays],
            [b.id for lot in inv.lots for b in lot.bays],
        ),
    )


def read_from_store(conn: Any) -> Inventory:
    """The inventory held by the store (as saved by :func:`save_to_store`)."""
    q = conn.execute
    meta_row = q("SELECT value FROM inventory_meta WHERE key = 'document'").fetchone()
    doc: dict[str, Any] = dict(meta_row[0]) if meta_row else {"name": "empty"}
    doc["nodes"] = [
        {"id": i, "lat": lat, "lon": lon, "kind": kind}
        for i, lat, lon, kind in q("SELECT id, lat, lon, kind FROM node ORDER BY position, id")
    ]
    doc["links"] = [
        {"id": i, "from_node": f, "to_node": t, "length_m": length, "lanes": lanes,
         "geometry": geom, **_without_position(props)}
        for i, f, t, length, lanes, geom, props in q(
            """SELECT id, from_node, to_node, length_m, lanes, geometry, props FROM link
               ORDER BY (props->>'position')::int NULLS LAST, id"""
        )
    ]
    dets: dict[str, list[dict[str, Any]]] = {}
    for iid, did, appr, lane, props in q(
        """SELECT intersection_id, id, approach, lane, props FROM detector
           ORDER BY intersection_id, position, id"""
    ):
        dets.setdefault(iid, []).append({"id": did, "approach": appr, "lane": lane, **props})
    doc["intersections"] = [
        {"id": i, "name": name, "kecamatan": kec, "lat": lat, "lon": lon,
         "detectors": dets.get(i, []), **_without_position(props)}
        for i, name, kec, lat, lon, props in q(
            """SELECT id, name, kecamatan, lat, lon, props FROM intersection
               ORDER BY (props->>'position')::int NULLS LAST, id"""
        )
    ]
    bays: dict[str, list[dict[str, Any]]] = {}
    for lot_id, bid, props in q("SELECT lot_id, id, props FROM bay ORDER BY lot_id, position, id"):
        bays.setdefault(lot_id, []).append({"id": bid, **props})
    doc["lots"] = [
        {"id": i, "name": name, "lat": lat, "lon": lon, "capacity": cap,
         "bays": bays.get(i, []), **_without_position(props)}
        for i, name, lat, lon, cap, props in q(
            """SELECT id, name, lat, lon, capacity, props FROM lot
               ORDER BY (props->>'position')::int NULLS LAST, id"""
        )
    ]
    doc["vehicles"] = [
        {"id": i, "kind": kind, **_without_position(props)}
        for i, kind, props in q(
            "SELECT id, kind, props FROM vehicle ORDER BY (props->>'position')::int NULLS LAST, id"
        )
    ]
    for key, table in (("depots", "depot"), ("landfills", "landfill")):
        doc[key] = [
            {"id": i, "name": name, "lat": lat, "lon": lon, "node_id": node, **props}
            for i, name, lat, lon, node, props in q(
                f"SELECT id, name, lat, lon, node_id, props FROM {table} ORDER BY position, id"
            )
        ]
    doc["pickup_points"] = [
        {"id": i, "name": name, "link_id": link, "offset_m": off, "lat": lat, "lon": lon,
         **props}
        for i, name, link, off, lat, lon, props in q(
            """SELECT id, name, link_id, offset_m, lat, lon, props FROM pickup_point
               ORDER BY position, id"""
        )
    ]
    doc["routes"] = [
        {"id": i, "vehicle_id": v, "depot_id": d, "landfill_id": lf, "pickup_ids": list(p),
         "link_ids": list(ls), **props}
        for i, v, d, lf, p, ls, props in q(
            """SELECT id, vehicle_id, depot_id, landfill_id, pickup_ids, link_ids, props
               FROM collection_route ORDER BY position, id"""
        )
    ]
    conn.commit()
    return parse_inventory(doc)


def _without_position(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != "position"}
