"""SUMO networks for the digital twin: netgenerate grids, plain-XML corridors, BSD OSM.

Every builder writes a ``*.net.xml`` into a working directory and returns its
path. SUMO comes from PyPI (``pip install -e .[sim]``: ``eclipse-sumo`` ships the
binaries, ``libsumo`` the in-process API); :func:`sumo_home` finds it.

The real BSD City extract is read in place from ``../shared/data`` (never copied
into the repository).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BSD_OSM = REPO_ROOT.parent / "shared" / "data" / "tangerang-bsd-osm" / "osm_bbox.osm.xml.gz"


class SumoMissing(RuntimeError):
    """SUMO is not installed (``pip install -e '.[sim]'``)."""


def sumo_home() -> Path:
    """The SUMO installation shipped by the ``eclipse-sumo`` wheel."""
    try:
        import sumo  # type: ignore[import-not-found]
    except ImportError:
        raise SumoMissing("SUMO is not installed: pip install -e '.[sim]'") from None
    home = Path(sumo.SUMO_HOME)
    os.environ.setdefault("SUMO_HOME", str(home))
    return home


def sumo_binary(name: str) -> str:
    return str(sumo_home() / "bin" / name)


def _run(cmd: list[str]) -> None:
    env = dict(os.environ, SUMO_HOME=str(sumo_home()))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed ({res.returncode}): {res.stderr[-2000:]}")


@dataclass(frozen=True)
class NetworkSpec:
    """How to (re)build a network: ``grid:4x4``, ``corridor:6``, ``bsd`` or a path."""

    kind: str
    size: int = 4
    cols: int = 4

    @classmethod
    def parse(cls, text: str) -> NetworkSpec:
        t = text.strip().lower()
        if t.startswith("grid"):
            dims = t.split(":", 1)[1] if ":" in t else "4x4"
            r, _, c = dims.partition("x")
            return cls("grid", int(r), int(c or r))
        if t.startswith("corridor"):
            n = int(t.split(":", 1)[1]) if ":" in t else 6
            return cls("corridor", n, 1)
        if t in ("bsd", "osm", "bsd-osm"):
            return cls("bsd", 0, 0)
        if t.startswith("inventory:"):
            return cls("inventory:" + text.split(":", 1)[1], 0, 0)
        if text.endswith(".net.xml"):
            return cls("file:" + text, 0, 0)
        raise ValueError(
            f"unknown network {text!r}: use grid:RxC, corridor:N, bsd, inventory:FILE or a .net.xml"
        )

    @property
    def name(self) -> str:
        if self.kind == "grid":
            return f"grid{self.size}x{self.cols}"
        if self.kind == "corridor":
            return f"corridor{self.size}"
        if self.kind.startswith(("file:", "inventory:")):
            return Path(self.kind.split(":", 1)[1]).name.split(".")[0]
        return self.kind

    def build(self, workdir: Path) -> Path:
        workdir.mkdir(parents=True, exist_ok=True)
        if self.kind == "grid":
            return build_grid(workdir, self.size, self.cols)
        if self.kind == "corridor":
            return build_corridor(workdir, self.size)
        if self.kind == "bsd":
            return build_bsd(workdir)
        if self.kind.startswith("inventory:"):
            from sim.sumo_inventory import build_from_inventory

            return build_from_inventory(Path(self.kind.split(":", 1)[1]), workdir)
        return Path(self.kind.split(":", 1)[1])


def build_grid(
    workdir: Path, rows: int = 4, cols: int = 4, length_m: float = 250.0, lanes: int = 2
) -> Path:
    """A signalised grid from ``netgenerate``.

    ``--tls.guess`` only puts lights on junctions with enough incoming lanes, so
    the grid has ``lanes`` lanes per direction and attached fringe links
    (``--grid.attach-length``) that give the border junctions four legs too.
    """
    out = workdir / f"grid{rows}x{cols}.net.xml"
    _run(
        [
            sumo_binary("netgenerate"),
            "--grid",
            "--grid.x-number", str(cols),
            "--grid.y-number", str(rows),
            "--grid.length", str(length_m),
            "--grid.attach-length", str(length_m),
            "--default.lanenumber", str(lanes),
            "--default.speed", "13.89",
            "--tls.guess", "true",
            "--tls.default-type", "static",
            "--no-turnarounds", "true",
            "--seed", "1",
            "-o", str(out),
        ]
    )
    return out


def build_corridor(
    workdir: Path,
    n: int = 6,
    spacing_m: float = 300.0,
    side_m: float = 200.0,
    main_lanes: int = 2,
    side_lanes: int = 1,
) -> Path:
    """An arterial of ``n`` signalised intersections from plain XML and ``netconvert``.

    The arterial runs west to east along the x axis (so x is the distance along
    the corridor, which the time-space diagram uses); each intersection has a
    two-way side street to the north and south.
    """
    if n < 2:
        raise ValueError(f"a corridor needs at least 2 intersections (got {n})")
    nodes = ET.Element("nodes")
    edges = ET.Element("edges")
    xs = [spacing_m * (i + 1) for i in range(n)]
    ET.SubElement(nodes, "node", id="W", x="0", y="0", type="priority")
    ET.SubElement(nodes, "node", id="E", x=str(xs[-1] + spacing_m), y="0", type="priority")
    for i, x in enumerate(xs):
        ET.SubElement(nodes, "node", id=f"C{i}", x=str(x), y="0", type="traffic_light")
        ET.SubElement(nodes, "node", id=f"N{i}", x=str(x), y=str(side_m), type="priority")
        ET.SubElement(nodes, "node", id=f"S{i}", x=str(x), y=str(-side_m), type="priority")
    chain = ["W"] + [f"C{i}" for i in range(n)] + ["E"]

    def edge(a: str, b: str, lanes: int, speed: float) -> None:
        ET.SubElement(
            edges, "edge", id=f"{a}_{b}", attrib={"from": a, "to": b},
            numLanes=str(lanes), speed=str(speed),
        )

    for a, b in zip(chain, chain[1:], strict=False):
        edge(a, b, main_lanes, 13.89)
        edge(b, a, main_lanes, 13.89)
    for i in range(n):
        for side in ("N", "S"):
            edge(f"{side}{i}", f"C{i}", side_lanes, 11.11)
            edge(f"C{i}", f"{side}{i}", side_lanes, 11.11)
    nod, edg = workdir / "corridor.nod.xml", workdir / "corridor.edg.xml"
    ET.ElementTree(nodes).write(nod)
    ET.ElementTree(edges).write(edg)
    out = workdir / f"corridor{n}.net.xml"
    _run(
        [
            sumo_binary("netconvert"),
            "--node-files", str(nod),
            "--edge-files", str(edg),
            "--no-turnarounds", "true",
            "--tls.default-type", "static",
            "-o", str(out),
        ]
    )
    return out


def build_bsd(workdir: Path, osm: Path = BSD_OSM) -> Path:
    """The real BSD City, Tangerang extract (OpenStreetMap) through ``netconvert``.

    © OpenStreetMap contributors (ODbL 1.0). Read in place from ../shared/data.
    """
    if not osm.exists():
        raise FileNotFoundError(f"the BSD OSM extract is missing: {osm}")
    out = workdir / "bsd.net.xml"
    _run(
        [
            sumo_binary("netconvert"),
            "--osm-files", str(osm),
            "--tls.guess-signals", "true",
            "--lefthand", "true",  # Indonesia drives on the left
            "--tls.join", "--junctions.join",
            "--geometry.remove", "--ramps.guess",
            "--remove-edges.by-vclass", "pedestrian,rail,rail_urban,tram,bicycle",
            "--no-turnarounds", "true",
            "--tls.default-type", "static",
            "--keep-edges.components", "1",
            "-o", str(out),
        ]
    )
    return out


def default_workdir() -> Path:
    """Where built networks and run outputs go (``<tempdir>/tlive-twin``)."""
    base = Path(tempfile.gettempdir()) / "tlive-twin"
    base.mkdir(parents=True, exist_ok=True)
    return base
