"""Motorcycle-heavy demand for the SUMO twin: vehicle mix, AM/PM profiles, seeded flows.

The mix follows Tangerang counts (motorcycles 60-75 % of vehicles). Vehicle
types carry their real dimensions; motorcycles are short and narrow and, with
the sublane model (``--lateral-resolution``), filter beside cars and ride
two abreast in a lane, which is why their passenger-car equivalent is ~0.2-0.4.

Demand is a set of ``<flow>`` elements between fringe edges with Poisson
arrivals (``period="exp(rate)"``), one block per 5-minute slice whose rate
follows the peak profile; the same ``seed`` gives the same file, and SUMO's
``--seed`` the same insertions, for every controller.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# name, vClass, share of vehicles, length [m], width [m], minGap [m], accel [m/s2],
# decel [m/s2], maxSpeed [m/s], sublane attributes
VEHICLE_MIX: dict[str, dict[str, str | float]] = {
    # Honda BeAT / Vario class scooters: ~1.9 m long, ~0.7 m wide
    "mc": {"vClass": "motorcycle", "share": 0.68, "length": 1.9, "width": 0.7, "minGap": 0.5,
           "accel": 3.0, "decel": 6.0, "maxSpeed": 16.7, "latAlignment": "arbitrary",
           "minGapLat": 0.3, "lcSublane": 2.0, "maxSpeedLat": 1.5, "speedDev": 0.15},
    # passenger cars and MPVs (Avanza class: 4.2 m)
    "lv": {"vClass": "passenger", "share": 0.27, "length": 4.3, "width": 1.7, "minGap": 2.0,
           "accel": 2.6, "decel": 4.5, "maxSpeed": 16.7, "latAlignment": "center",
           "minGapLat": 0.5, "lcSublane": 1.0, "maxSpeedLat": 1.0, "speedDev": 0.1},
    # trucks and buses
    "hv": {"vClass": "truck", "share": 0.05, "length": 9.0, "width": 2.4, "minGap": 2.5,
           "accel": 1.3, "decel": 4.0, "maxSpeed": 13.9, "latAlignment": "center",
           "minGapLat": 0.5, "lcSublane": 1.0, "maxSpeedLat": 0.8, "speedDev": 0.1},
}

# relative demand over a run: an AM peak (fast rise, slower fall) or a PM peak
# (slow build to the end), sampled at the middle of each 5-minute slice
PROFILES = ("am", "pm", "flat")
LEVELS: dict[str, float] = {"light": 0.5, "medium": 0.85, "near-saturated": 1.2}
SLICE_S = 300


def profile_factor(profile: str, frac: float) -> float:
    """Relative demand at ``frac`` (0..1) of the run; mean over the run is about 1."""
    if profile == "flat":
        return 1.0
    if profile == "am":
        return 0.7 + 0.55 * math.exp(-(((frac - 0.4) / 0.22) ** 2))
    if profile == "pm":
        return 0.7 + 0.55 * math.exp(-(((frac - 0.65) / 0.25) ** 2))
    raise ValueError(f"unknown profile {profile!r}: use one of {PROFILES}")


@dataclass
class Demand:
    """What a demand file holds, for reports and the offline Webster plan."""

    path: Path
    level: str
    profile: str
    seed: int
    minutes: float
    od_veh_h: dict[tuple[str, str], float] = field(default_factory=dict)  # mean rates
    mc_share: float = 0.0

    @property
    def total_veh_h(self) -> float:
        return float(sum(self.od_veh_h.values()))


def _fringe(net_root: ET.Element) -> tuple[list[str], list[str], dict[str, int], dict[str, str]]:
    """Source and sink edges at dead-end junctions, lanes per edge, edge -> from-node."""
    edges = [
        e for e in net_root.findall("edge") if e.get("function") not in ("internal", "walkingarea",
                                                                          "crossing")
    ]
    degree: dict[str, set[str]] = {}
    lanes: dict[str, int] = {}
    frm: dict[str, str] = {}
    for e in edges:
        a, b = e.get("from", ""), e.get("to", "")
        degree.setdefault(a, set()).add(b)
        degree.setdefault(b, set()).add(a)
        allowed = [
            ln for ln in e.findall("lane")
            if "passenger" not in (ln.get("disallow") or "") and (
                ln.get("allow") is None or "passenger" in (ln.get("allow") or "")
            )
        ]
        lanes[e.get("id", "")] = len(allowed)
        frm[e.get("id", "")] = a
    ends = {n for n, nb in degree.items() if len(nb) == 1}
    if len(ends) < 3:  # a closed network (e.g. an inventory of intersections only): any link
        ends = set(degree)
    ids = [(e.get("id", ""), e.get("from"), e.get("to")) for e in edges]
    sources = sorted(i for i, a, _ in ids if a in ends and lanes[i])
    sinks = sorted(i for i, _, b in ids if b in ends and lanes[i])
    return sources, sinks, lanes, frm


def make_demand(
    net: Path,
    out: Path,
    *,
    level: str = "medium",
    profile: str = "am",
    minutes: float = 60.0,
    seed: int = 42,
    veh_h_per_lane: float | None = None,
    main_axis: bool | None = None,
) -> Demand:
    """Write a route file of motorcycle-heavy flows between the network's fringe edges.

    Parameters
    ----------
    level : ``light``, ``medium`` or ``near-saturated``: scales the entry flow
    veh_h_per_lane : entry flow per source lane at level 1.0 [veh/h]
        (default 720, about what a two-phase junction clears per lane at a
        motorcycle-heavy mix with the sublane model)
    main_axis : weight the trips towards the far end of the network's longest
        axis (an arterial); default: on for corridors (networks wider than tall)
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: use one of {list(LEVELS)}")
    root = ET.parse(net).getroot()
    sources, sinks, lanes, frm = _fringe(root)
    if not sources or not sinks:
        raise ValueError(f"{net} has no fringe edges to put demand on")
    rng = np.random.default_rng(seed)
    base = (veh_h_per_lane or 300.0) * LEVELS[level]
    # positions of junctions, to favour long trips and the arterial
    pos = {
        j.get("id", ""): (float(j.get("x", 0)), float(j.get("y", 0)))
        for j in root.findall("junction")
    }
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    wide = (max(xs) - min(xs)) > 3 * (max(ys) - min(ys) + 1e-9)
    arterial = wide if main_axis is None else main_axis
    to_of = {e.get("id", ""): e.get("to", "") for e in root.findall("edge")}
    succ: dict[str, set[str]] = {}
    for c in root.findall("connection"):
        a, b = c.get("from", ""), c.get("to", "")
        if not a.startswith(":") and a in lanes and b in lanes and lanes[b]:
            succ.setdefault(a, set()).add(b)

    def reachable(src: str) -> set[str]:
        seen, todo = {src}, [src]
        while todo:
            for nxt in succ.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    od: dict[tuple[str, str], float] = {}
    for s in sources:
        sx, sy = pos.get(frm[s], (0.0, 0.0))
        # side streets of an arterial carry less than the arterial itself
        on_axis = arterial and abs(sy) < 1.0
        src_rate = base * lanes[s] * (1.0 if (on_axis or not arterial) else 0.55)
        can = reachable(s)  # one-way streets: only destinations a route exists to
        cands = [
            k for k in sinks if k in can and frm.get(k) != to_of.get(s) and to_of.get(k) != frm[s]
        ]
        if not cands:
            continue
        w = np.empty(len(cands))
        for i, k in enumerate(cands):
            kx, ky = pos.get(to_of.get(k, ""), (0.0, 0.0))
            dist = math.hypot(kx - sx, ky - sy)
            w[i] = (dist + 50.0) ** 1.0
            if arterial and on_axis and abs(ky) < 1.0:
                w[i] *= 12.0  # through traffic stays on the arterial
        w *= rng.uniform(0.6, 1.4, len(cands))
        w /= w.sum()
        for k, wi in zip(cands, w, strict=True):
            if src_rate * wi >= 1.0:
                od[(s, k)] = src_rate * wi

    routes = ET.Element("routes")
    dist_el = ET.SubElement(routes, "vTypeDistribution", id="mix")
    for name, p in VEHICLE_MIX.items():
        attrs = {k: str(v) for k, v in p.items() if k != "share"}
        ET.SubElement(dist_el, "vType", id=name, probability=str(p["share"]), **attrs)
    n_slices = max(1, math.ceil(minutes * 60 / SLICE_S))
    flows: list[tuple[float, ET.Element]] = []
    for j in range(n_slices):
        begin = j * SLICE_S
        end = min((j + 1) * SLICE_S, minutes * 60)
        f = profile_factor(profile, (begin + end) / 2 / (minutes * 60))
        for n, ((s, k), rate) in enumerate(sorted(od.items())):
            r = rate * f * rng.uniform(0.9, 1.1)
            el = ET.Element(
                "flow", id=f"f{n}_{j}", type="mix", begin=str(begin), end=str(end),
                period=f"exp({r / 3600.0:.6f})", departLane="best", departSpeed="max",
                departPosLat="random", attrib={"from": s, "to": k},
            )
            flows.append((begin, el))
    for _, el in sorted(flows, key=lambda x: x[0]):
        routes.append(el)
    ET.indent(routes)
    out.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(routes).write(out, xml_declaration=True, encoding="utf-8")
    return Demand(out, level, profile, seed, minutes, od, float(VEHICLE_MIX["mc"]["share"]))
