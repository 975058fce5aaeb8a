"""An inventory of a real corridor from an OpenStreetMap extract, read in place.

``inventory_from_osm(path)`` turns an OSM XML export (``.osm`` or ``.osm.gz``) into
an inventory: drivable ways (``ROAD_CLASSES``) are split at junctions into directed
links (one direction when ``oneway=yes``), every ``highway=traffic_signals`` node on
them becomes a signalised intersection with one approach per incoming link, and
way ends become boundary nodes.

Real (from OSM): geometry, lengths, the road graph, one-way rules, street names,
signal locations, ``lanes`` and ``maxspeed`` where tagged. Approximate (marked so,
``approximate: true``): lanes and speed limits where untagged (defaults by road
class), lane widths, free-flow speeds, capacities (PKJI base capacity), turn
movements (from the geometry), phases (one per approach), detectors and fixed plans.

The repository ships no OSM data: run it on the extract in ``../shared/data``::

    tlive sim city --from-osm ../shared/data/tangerang-bsd-osm/osm_bbox.osm.xml.gz -o bsd.json

Data © OpenStreetMap contributors, ODbL 1.0 (the attribution goes into ``source``).
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from hub.inventory import (
    Approach,
    Detector,
    FixedPlan,
    Intersection,
    Inventory,
    Lane,
    LineString,
    Link,
    Node,
    Phase,
    bearing_deg,
    polyline_length_m,
)
from sim.city import BASE_CAPACITY_PCU_H_LANE, MEAN_PCU_PER_VEH, nearest_kecamatan

# OSM highway class: (our road class, lanes per direction, speed limit [km/h])
ROAD_CLASSES = {
    "trunk": ("arterial", 3, 60.0),
    "primary": ("arterial", 2, 50.0),
    "primary_link": ("collector", 1, 40.0),
    "secondary": ("collector", 2, 50.0),
    "secondary_link": ("collector", 1, 40.0),
    "tertiary": ("collector", 1, 40.0),
    "tertiary_link": ("local", 1, 30.0),
    "residential": ("local", 1, 30.0),
    "unclassified": ("local", 1, 30.0),
}
LANE_WIDTH_M = {"arterial": 3.5, "collector": 3.25, "local": 3.0}


def _open(path: Path):  # noqa: ANN202
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _compass(b: float) -> str:
    return ("N", "NE", "E", "SE", "S", "SW", "W", "NW")[int(((b + 22.5) % 360) // 45)]


def inventory_from_osm(path: str | Path, *, name: str | None = None) -> Inventory:
    """Build an inventory from the OSM extract at ``path`` (deterministic)."""
    path = Path(path)
    nodes: dict[str, tuple[float, float]] = {}
    signals: set[str] = set()
    ways: list[tuple[str, list[str], dict[str, str]]] = []
    with _open(path) as f:
        for _ev, el in ET.iterparse(f, events=("end",)):
            if el.tag == "node":
                nid = el.get("id", "")
                nodes[nid] = (float(el.get("lat", 0)), float(el.get("lon", 0)))
                for t in el.iter("tag"):
                    if t.get("k") == "highway" and t.get("v") == "traffic_signals":
                        signals.add(nid)
                el.clear()
            elif el.tag == "way":
                tags = {t.get("k", ""): t.get("v", "") for t in el.iter("tag")}
                if tags.get("highway") in ROAD_CLASSES:
                    refs = [nd.get("ref", "") for nd in el.iter("nd")]
                    ways.append((el.get("id", ""), [r for r in refs if r in nodes], tags))
                el.clear()
    if not ways:
        raise ValueError(f"{path}: no drivable ways ({', '.join(ROAD_CLASSES)})")
    use = defaultdict(int)
    for _wid, refs, _tags in ways:
        for r in refs:
            use[r] += 1
        use[refs[0]] += 1
        use[refs[-1]] += 1
    graph_nodes = {r for r, n in use.items() if n >= 2} | (signals & set(use))

    def nid(osm_id: str) -> str:
        return f"OSM-{osm_id}"

    links: list[Link] = []
    for wid, refs, tags in sorted(ways, key=lambda w: int(w[0])):
        cls, lanes_default, speed_default = ROAD_CLASSES[tags["highway"]]
        oneway = tags.get("oneway") in ("yes", "true", "1") or tags.get("junction") == "roundabout"
        reverse_only = tags.get("oneway") == "-1"
        try:
            lanes_total = int(tags.get("lanes", ""))
        except ValueError:
            lanes_total = 0
        lanes = (
            max(1, lanes_total if oneway or reverse_only else lanes_total // 2)
            if lanes_total
            else lanes_default
        )
        try:
            limit = float(tags.get("maxspeed", "").split()[0])
        except (ValueError, IndexError):
            limit = speed_default
        width = LANE_WIDTH_M[cls]
        cap = round(lanes * BASE_CAPACITY_PCU_H_LANE * (0.92 if width < 3.25 else 1.0)
                    / MEAN_PCU_PER_VEH, 0)
        street = tags.get("name", tags["highway"])
        pieces: list[list[str]] = []
        cur = [refs[0]]
        for r in refs[1:]:
            cur.append(r)
            if r in graph_nodes:
                pieces.append(cur)
                cur = [r]
        if len(cur) > 1:
            pieces.append(cur)
        for k, piece in enumerate(pieces):
            if piece[0] == piece[-1]:
                continue
            coords = [(nodes[r][1], nodes[r][0]) for r in piece]
            length = round(polyline_length_m(coords), 1)
            if length <= 0:
                continue
            dirs = [(piece, coords, "f")] if not reverse_only else []
            if not oneway:
                dirs.append((piece[::-1], coords[::-1], "r"))
            for p, c, d in dirs:
                links.append(
                    Link(
                        id=f"W{wid}-{k}{d}", name=street, from_node=nid(p[0]), to_node=nid(p[-1]),
                        geometry=LineString(coordinates=c), length_m=length, lanes=lanes,
                        speed_limit_kmh=limit, free_flow_kmh=round(limit * 0.85, 1),
                        capacity_veh_h=cap, road_class=cls,  # type: ignore[arg-type]
                    )
                )
    used = sorted({ln.from_node for ln in links} | {ln.to_node for ln in links},
                  key=lambda s: int(s[4:]))
    inc: dict[str, list[Link]] = defaultdict(list)
    out: dict[str, list[Link]] = defaultdict(list)
    for ln in links:
        inc[ln.to_node].append(ln)
        out[ln.from_node].append(ln)
    node_list = []
    intersections = []
    for n in used:
        lat, lon = nodes[n[4:]]
        is_signal = n[4:] in signals and bool(inc[n])
        degree = len({x.from_node for x in inc[n]} | {x.to_node for x in out[n]})
        kind = "signal" if is_signal else ("boundary" if degree <= 1 else "priority")
        node_list.append(Node(id=n, lat=lat, lon=lon, kind=kind))  # type: ignore[arg-type]
        if is_signal:
            intersections.append(_intersection(n, lat, lon, inc[n], out[n], nodes))
    return Inventory(
        name=name or f"OSM corridor: {path.name}",
        description=(
            "Built by sim.osm.inventory_from_osm from a real OpenStreetMap extract. Real: "
            "geometry, lengths, road graph, one-way rules, names, signal locations, tagged "
            "lanes and maxspeed. Approximate: untagged lanes and limits (class defaults), "
            "lane widths, free-flow speeds, capacities, movements, phases, detectors, plans."
        ),
        approximate=True,
        source=f"{path.name}; data (c) OpenStreetMap contributors, ODbL 1.0",
        nodes=node_list,
        links=links,
        intersections=intersections,
    )


def _intersection(
    n: str, lat: float, lon: float, inc: list[Link], out: list[Link],
    nodes: dict[str, tuple[float, float]],
) -> Intersection:
    approaches, used = [], set()
    for ln in sorted(inc, key=lambda x: x.id):
        prev_lon, prev_lat = ln.geometry.coordinates[-2]
        b_from = bearing_deg(lat, lon, prev_lat, prev_lon)
        label = _compass(b_from)
        k = 2
        while label in used:
            label = f"{_compass(b_from)}{k}"
            k += 1
        used.add(label)
        travel = (b_from + 180.0) % 360.0
        turns = set()
        for o in out:
            if o.to_node == ln.from_node:
                continue
            nxt_lon, nxt_lat = o.geometry.coordinates[1]
            delta = (bearing_deg(lat, lon, nxt_lat, nxt_lon) - travel) % 360.0
            turns.add("T" if delta < 45 or delta > 315 else ("R" if delta < 180 else "L"))
        order = [t for t in ("L", "T", "R") if t in turns] or ["U"]
        lanes = [
            Lane(index=j + 1, width_m=LANE_WIDTH_M[ln.road_class], movements=order)  # type: ignore[arg-type]
            for j in range(ln.lanes)
        ]
        approaches.append(Approach(id=label, link_id=ln.id, bearing_deg=round(b_from, 1) % 360.0,
                                   lanes=lanes))
    phases = [Phase(number=p + 1, movements=[f"{a.id}:{t}" for t in a.lanes[0].movements])
              for p, a in enumerate(approaches)]
    greens = [30.0] * len(phases)
    cycle = sum(greens) + 5.0 * len(greens)
    if cycle < 40.0:
        greens[0] += 40.0 - cycle
        cycle = 40.0
    street = sorted({ln.name for ln in inc})
    return Intersection(
        id=n,
        name="Simpang " + " / ".join(street),
        kecamatan=None if not _in_kota_tangerang(lat, lon) else nearest_kecamatan(lat, lon),
        lat=lat, lon=lon, approaches=approaches, phases=phases,
        detectors=[Detector(id=f"{n}-{a.id}{ln.index}", approach=a.id, lane=ln.index)
                   for a in approaches for ln in a.lanes],
        plan=FixedPlan(id=f"{n}-FT1", cycle_s=cycle, greens_s=greens),
    )


def _in_kota_tangerang(lat: float, lon: float) -> bool:
    from sim.city import EXTENT

    return bool(EXTENT["lat_min"] <= lat <= EXTENT["lat_max"]
                and EXTENT["lon_min"] <= lon <= EXTENT["lon_max"])

