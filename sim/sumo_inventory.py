"""A SUMO network from the hub's city inventory (``hub.inventory``): plain XML + netconvert.

Nodes become SUMO nodes (signalised intersections ``traffic_light``), links
become edges with their lanes, speed limit and geometry; coordinates are
projected onto a local plane (equirectangular about the inventory's centre,
good to centimetres over a city). Indonesia drives on the left, so the network
is built ``--lefthand``. The traffic-light ids are the intersection ids, so the
twin publishes under the inventory's ids.

The lights then get the inventory's own programs (:func:`inventory_programs`):
one green per inventory phase, in order, giving green to the connections whose
movement (approach + turn, from SUMO's ``dir``) the phase lists, each followed by
the stored plan's amber and all-red; the network is rebuilt with them
(``netconvert --tllogic-files``). Detector ids and approach labels come from the
inventory too (:func:`inventory_detectors`), so the twin's reports match the
control configuration derived from the same inventory.
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
    guessed = workdir / "inventory-guessed.net.xml"
    _run(
        [
            sumo_binary("netconvert"),
            "--node-files", str(nod), "--edge-files", str(edg),
            "--lefthand", "true",
            "--no-turnarounds", "true",
            "--tls.default-type", "static",
            "-o", str(guessed),
        ]
    )
    tls = inventory_programs(inv, guessed, workdir / "inventory.tll.xml")
    out = workdir / "inventory.net.xml"
    _run([sumo_binary("netconvert"), "-s", str(guessed), "--tllogic-files", str(tls),
          "--lefthand", "true", "-o", str(out)])
    return out


#: SUMO connection ``dir`` -> the inventory's turn letter
SUMO_DIR_TURN = {"s": "T", "l": "L", "L": "L", "r": "R", "R": "R", "t": "U", "T": "U"}


def inventory_programs(inv: Inventory, net: Path, out: Path) -> Path:
    """tlLogic for every light of ``net`` from the inventory's phases and stored plans."""
    root = ET.parse(net).getroot()
    by_tl: dict[str, list[ET.Element]] = {}
    for c in root.findall("connection"):
        if c.get("tl") and not c.get("from", "").startswith(":"):
            by_tl.setdefault(c.get("tl", ""), []).append(c)
    add = ET.Element("tlLogics")
    for ix in inv.intersections:
        conns = by_tl.get(ix.id)
        if not conns:
            continue
        n_links = 1 + max(int(c.get("linkIndex", "0")) for c in conns)
        approach_of = {a.link_id: a.id for a in ix.approaches if a.link_id}
        green = [["r"] * n_links for _ in ix.phases]
        for c in conns:
            idx = int(c.get("linkIndex", "0"))
            a = approach_of.get(c.get("from", ""))
            mv = f"{a}:{SUMO_DIR_TURN.get(c.get('dir', 's'), 'T')}"
            served = [k for k, ph in enumerate(ix.phases) if mv in ph.movements]
            if not served:  # a connection no phase lists: permissive with its approach
                served = [next((k for k, ph in enumerate(ix.phases)
                                if any(m.startswith(f"{a}:") for m in ph.movements)), 0)]
                for k in served:
                    green[k][idx] = "g"
                continue
            for k in served:
                green[k][idx] = "G"
        tl = ET.SubElement(add, "tlLogic", id=ix.id, type="static", programID="0",
                           offset=f"{ix.plan.offset_s:g}")
        for k, g in enumerate(ix.plan.greens_s):
            state = "".join(green[k])
            nxt = "".join(green[(k + 1) % len(green)])
            amber = "".join("y" if s in "Gg" and n not in "Gg" else s
                            for s, n in zip(state, nxt, strict=True))
            ET.SubElement(tl, "phase", duration=f"{g:g}", state=state)
            if ix.plan.amber_s > 0:
                ET.SubElement(tl, "phase", duration=f"{ix.plan.amber_s:g}", state=amber)
            if ix.plan.all_red_s > 0:
                red = "".join("r" if s in "y" else s for s in amber)
                ET.SubElement(tl, "phase", duration=f"{ix.plan.all_red_s:g}", state=red)
    ET.indent(add)
    ET.ElementTree(add).write(out)
    return out


def inventory_detectors(inv: Inventory) -> dict[str, tuple[str, str, int]]:
    """SUMO lane id -> (detector id, approach, lane) for the inventory's per-lane detectors.

    Lanes are numbered from the kerb in both (lane index 0 is the kerb lane of a
    left-hand SUMO network).
    """
    out: dict[str, tuple[str, str, int]] = {}
    for ix in inv.intersections:
        link = {a.id: a.link_id for a in ix.approaches}
        for d in ix.detectors:
            if d.lane >= 1 and link.get(d.approach):
                out[f"{link[d.approach]}_{d.lane - 1}"] = (d.id, d.approach, d.lane)
    return out
