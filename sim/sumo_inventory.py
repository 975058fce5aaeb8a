"""A SUMO network from the hub's city inventory (``hub.inventory``): plain XML + netconvert.

Nodes become SUMO nodes (signalised intersections ``traffic_light``), links
become edges with their lanes, speed limit and geometry; coordinates are
projected onto a local plane (equirectangular about the inventory's centre,
good to centimetres over a city). Indonesia drives on the left, so the network
is built ``--lefthand``. The traffic-light ids are the intersection ids, so the
twin publishes under the inventory's ids.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from hub.inventory import EARTH_RADIUS_M, Inventory, load_inventory
from sim.sumo_net import _run, sumo_binary


def _projector(inv: Inventory) -> tuple[float, float, float]:
    lats = [n.lat for n in inv.nodes]
    lons = [n.lon for n in inv.nodes]
    lat0, lon0 = sum(lats) / len(lats), sum(lons) / len(lons)
    return lat0, lon0, math.cos(math.radians(lat0))


def build_from_inventory(path: Path | Inventory, workdir: Path) -> Path:
    """Write nodes/edges for ``path`` (an inventory file or object) and run netconvert."""
    inv = path if isinstance(path, Inventory) else load_inventory(path)
    if not inv.nodes or not inv.links:
        raise ValueError("the inventory has no road graph (nodes and links) to build from")
    lat0, lon0, k = _projector(inv)
    deg = math.pi / 180.0 * EARTH_RADIUS_M

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (lon - lon0) * k * deg, (lat - lat0) * deg

    signals = {ix.id for ix in inv.intersections}
    nodes = ET.Element("nodes")
    for n in inv.nodes:
        x, y = xy(n.lat, n.lon)
        ET.SubElement(nodes, "node", id=n.id, x=f"{x:.2f}", y=f"{y:.2f}",
                      type="traffic_light" if n.id in signals else "priority")
    edges = ET.Element("edges")
    for ln in inv.links:
        shape = " ".join(
            "{:.2f},{:.2f}".format(*xy(lat, lon)) for lon, lat in ln.geometry.coordinates
        )
        ET.SubElement(edges, "edge", id=ln.id, attrib={"from": ln.from_node, "to": ln.to_node},
                      numLanes=str(ln.lanes), speed=f"{ln.speed_limit_kmh / 3.6:.2f}",
                      shape=shape)
    workdir.mkdir(parents=True, exist_ok=True)
    nod, edg = workdir / "inventory.nod.xml", workdir / "inventory.edg.xml"
    ET.ElementTree(nodes).write(nod)
    ET.ElementTree(edges).write(edg)
    out = workdir / "inventory.net.xml"
    _run(
        [
            sumo_binary("netconvert"),
            "--node-files", str(nod), "--edge-files", str(edg),
            "--lefthand", "true",
            "--no-turnarounds", "true",
            "--tls.default-type", "static",
            "-o", str(out),
        ]
    )
    return out
