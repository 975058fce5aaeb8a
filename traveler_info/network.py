"""The road graph and the named places, built from the city inventory (:mod:`hub.inventory`).

The inventory has no list of "named places" of its own; the traveler-info
screen's places are derived from it:

* the centre of each kecamatan: the signalised intersection nearest to the mean
  position of that kecamatan's intersections;
* the main destinations: the largest mall, station, hospital and market lots
  (their entrance link's downstream node), and the landfill (TPA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from traveler_info.graph import RoadGraph

DESTINATION_KINDS = ("mall", "station", "hospital", "market")
DESTINATIONS_PER_KIND = 3


@dataclass(frozen=True)
class Place:
    """A named place on the road graph."""

    id: str
    name: str
    kind: str  # "kecamatan" | a lot kind | "landfill"
    node: int
    lon: float
    lat: float


@dataclass(frozen=True)
class LinkInfo:
    """Per-link attributes the service needs beside the graph (links on axis 0)."""

    free_flow_kmh: np.ndarray
    lanes: np.ndarray
    capacity_veh_h: np.ndarray
    road_class: list[str]


def graph_from_inventory(inv: Any) -> tuple[RoadGraph, LinkInfo]:
    """The routable road graph of an inventory, with its link attributes."""
    arrays = inv.link_arrays()
    offsets = [0]
    coords: list[tuple[float, float]] = []
    for ln in inv.links:
        coords.extend((float(x), float(y)) for x, y in ln.geometry.coordinates)
        offsets.append(len(coords))
    graph = RoadGraph(
        node_lon=arrays.node_lon,
        node_lat=arrays.node_lat,
        edge_from=arrays.from_idx,
        edge_to=arrays.to_idx,
        length_m=arrays.length_m,
        free_flow_s=arrays.free_flow_time_s,
        node_ids=list(arrays.node_ids),
        edge_ids=list(arrays.link_ids),
        geom_offsets=np.asarray(offsets, dtype=np.int64),
        geom_coords=np.asarray(coords, dtype=np.float64).reshape(-1, 2),
        names=[ln.name for ln in inv.links],
    )
    info = LinkInfo(
        free_flow_kmh=np.asarray(arrays.free_flow_kmh, dtype=np.float64),
        lanes=np.asarray(arrays.lanes),
        capacity_veh_h=np.asarray(arrays.capacity_veh_h, dtype=np.float64),
        road_class=[ln.road_class for ln in inv.links],
    )
    return graph, info


def places_from_inventory(inv: Any, graph: RoadGraph) -> list[Place]:
    """Kecamatan centres and main destinations (see the module docstring)."""
    places: list[Place] = []
    by_kec: dict[str, list[Any]] = {}
    for it in inv.intersections:
        if it.kecamatan and it.id in graph._id_to_node:
            by_kec.setdefault(it.kecamatan, []).append(it)
    for kec in sorted(by_kec):
        its = by_kec[kec]
        lat = np.array([i.lat for i in its])
        lon = np.array([i.lon for i in its])
        d = (lat - lat.mean()) ** 2 + ((lon - lon.mean()) * np.cos(np.radians(lat.mean()))) ** 2
        c = its[int(np.argmin(d))]
        node = graph.node_index(c.id)
        places.append(
            Place(f"kec-{_slug(kec)}", f"Kecamatan {kec}", "kecamatan", node, c.lon, c.lat)
        )
    for kind in DESTINATION_KINDS:
        lots = sorted(
            (lot for lot in inv.lots if lot.kind == kind and lot.link_id),
            key=lambda lot: (-lot.capacity, lot.id),
        )[:DESTINATIONS_PER_KIND]
        for lot in lots:
            if lot.link_id not in graph._id_to_edge:
                continue
            node = int(graph.edge_to[graph.edge_index(lot.link_id)])
            places.append(Place(lot.id, lot.name, kind, node, lot.lon, lot.lat))
    for lf in getattr(inv, "landfills", []):
        if lf.node_id in graph._id_to_node:
            places.append(
                Place(lf.id, lf.name, "landfill", graph.node_index(lf.node_id), lf.lon, lf.lat)
            )
    return places


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in s.lower()).strip("-")
