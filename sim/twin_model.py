"""What the twin knows about a SUMO network's traffic lights, read from the ``.net.xml``.

For every traffic light: its static program, which phases are green phases
(the plan's phases), the intergreen after each, the incoming lanes and the green
phase that serves each lane (the critical movement of that phase), and
detectors (E1 counts, E2 queues) placed on those lanes. From these the twin
derives the hub's control configuration (:class:`control.loop.IntersectionConfig`),
the ids it publishes under, and the offline Webster plan.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from control.loop import IntersectionConfig, PhaseConfig

_BAD = re.compile(r"[^A-Za-z0-9_.:-]")

#: saturation flow of one 3.2-3.5 m lane [pcu/h of green] (PKJI: S0 = 600 We)
SAT_PCU_H_PER_LANE = 1900.0
MIN_GREEN_S = 7.0


@dataclass
class LaneInfo:
    lane_id: str
    detector_id: str  # id on the wire (DetectorCount.detector_id)
    approach: str  # N/E/S/W: where the traffic comes from
    lane_no: int  # from the kerb, 1-based
    length_m: float
    phase: int | None  # index into TlsModel.greens, None = never critical


@dataclass
class TlsModel:
    tls_id: str
    intersection_id: str
    phases: list[tuple[float, str]]  # (duration_s, state) of the static program
    greens: list[int]  # program indices of the green phases
    intergreen_s: list[float]  # per green phase: the non-green time after it
    lanes: list[LaneInfo] = field(default_factory=list)
    link_lanes: dict[int, str] = field(default_factory=dict)  # linkIndex -> incoming lane

    @property
    def default_greens_s(self) -> list[float]:
        return [self.phases[i][0] for i in self.greens]

    def config(self, sat_pcu_h: float = SAT_PCU_H_PER_LANE) -> IntersectionConfig:
        phases = []
        for k, _ in enumerate(self.greens):
            dets = tuple(ln.detector_id for ln in self.lanes if ln.phase == k)
            phases.append(
                PhaseConfig(
                    phase=k,
                    detectors=dets,
                    min_green_s=MIN_GREEN_S,
                    intergreen_s=self.intergreen_s[k],
                    saturation_pcu_h=sat_pcu_h,
                )
            )
        return IntersectionConfig(
            intersection_id=self.intersection_id,
            phases=tuple(phases),
            fixed_greens_s=tuple(self.default_greens_s),
            # the twin has no pedestrian phases: the shortest cycle is the minimum greens
            # plus the intergreens, as for SUMO's own actuated controller
            min_cycle_s=sum(self.intergreen_s) + MIN_GREEN_S * len(self.greens),
            max_cycle_s=140.0,
        )

    def program(self, greens_s: list[float]) -> list[tuple[float, str]]:
        """The static program with the green phases' durations replaced."""
        out = list(self.phases)
        for k, i in enumerate(self.greens):
            out[i] = (float(greens_s[k]), self.phases[i][1])
        return out


def corridor_links(
    net: Path, models: list[TlsModel], name: str = "arterial", speed_m_s: float | None = None
) -> dict[str, dict[str, object]]:
    """Corridor fields of the control configuration for the lights of an arterial.

    The lights are ordered west to east (the corridor networks of
    :func:`sim.sumo_net.build_corridor` run along x); the travel time between
    neighbours is their distance at the arterial's speed limit (or ``speed_m_s``).
    Only lights whose phase 0 serves the arterial (approaches E/W) are linked.
    """
    root = ET.parse(net).getroot()
    x = {j.get("id", ""): float(j.get("x", "0")) for j in root.findall("junction")}
    speeds = [float(ln.get("speed", "13.89")) for e in root.findall("edge")
              if e.get("function") != "internal" and e.get("from", "").startswith("C")
              and e.get("to", "").startswith("C") for ln in e.findall("lane")]
    v = speed_m_s or (max(speeds) if speeds else 13.89)
    arterial = [m for m in models
                if {ln.approach for ln in m.lanes if ln.phase == 0} <= {"E", "W"}]
    arterial.sort(key=lambda m: x.get(m.tls_id, 0.0))
    out: dict[str, dict[str, object]] = {}
    for pos, m in enumerate(arterial):
        travel = (x[m.tls_id] - x[arterial[pos - 1].tls_id]) / v if pos else 0.0
        out[m.intersection_id] = {"corridor": name, "corridor_pos": pos,
                                  "travel_s": round(travel, 1)}
    return out


def _is_green(state: str) -> bool:
    return any(c in "Gg" for c in state) and not any(c in "yY" for c in state)


def _compass(shape: str) -> str:
    pts = [tuple(map(float, p.split(","))) for p in shape.split()]
    (x0, y0), (x1, y1) = pts[-2][:2], pts[-1][:2]
    ang = math.degrees(math.atan2(y1 - y0, x1 - x0)) % 360  # direction of travel
    # travelling east means coming from the west
    return ["W", "S", "E", "N"][int(((ang + 45) % 360) // 90)]


def sanitize_id(raw: str, taken: set[str]) -> str:
    s = _BAD.sub(".", raw)
    if not s[:1].isalnum():
        s = "J" + s
    s = s[:60]
    base, k = s, 1
    while s in taken:
        s = f"{base[:56]}-{k}"
        k += 1
    taken.add(s)
    return s


def read_tls(
    net: Path, detector_names: dict[str, tuple[str, str, int]] | None = None
) -> list[TlsModel]:
    """The traffic lights of ``net`` with their phases, lanes and detectors.

    ``detector_names`` maps a SUMO lane id to (detector id, approach, lane) where
    the inventory names its detectors; other lanes get ``L<n>`` and a compass
    approach.
    """
    names = detector_names or {}
    root = ET.parse(net).getroot()
    lane_len: dict[str, float] = {}
    lane_shape: dict[str, str] = {}
    for e in root.findall("edge"):
        if e.get("function") == "internal":
            continue
        for ln in e.findall("lane"):
            lane_len[ln.get("id", "")] = float(ln.get("length", "0"))
            lane_shape[ln.get("id", "")] = ln.get("shape", "0,0 1,0")
    links: dict[str, dict[int, str]] = defaultdict(dict)
    for c in root.findall("connection"):
        tl = c.get("tl")
        if tl is None or c.get("from", "").startswith(":"):
            continue
        links[tl][int(c.get("linkIndex", "0"))] = f"{c.get('from')}_{c.get('fromLane')}"
    models: list[TlsModel] = []
    taken: set[str] = set()
    for tl in root.findall("tlLogic"):
        tid = tl.get("id", "")
        phases = [(float(p.get("duration", "0")), p.get("state", "")) for p in tl.findall("phase")]
        greens = [i for i, (_, s) in enumerate(phases) if _is_green(s)]
        if not greens or tid not in links:
            continue
        inter = []
        for k, g in enumerate(greens):
            nxt = greens[(k + 1) % len(greens)]
            j, t = (g + 1) % len(phases), 0.0
            while j != nxt:
                t += phases[j][0]
                j = (j + 1) % len(phases)
            inter.append(t)
        m = TlsModel(tid, sanitize_id(tid, taken), phases, greens, inter, link_lanes=links[tid])
        by_lane: dict[str, list[int]] = defaultdict(list)
        for idx, lane in links[tid].items():
            by_lane[lane].append(idx)
        for n, lane in enumerate(sorted(by_lane)):
            idxs = by_lane[lane]
            score = np.zeros(len(greens))
            for k, g in enumerate(greens):
                st = phases[g][1]
                score[k] = sum(2.0 if st[i] == "G" else 1.0 if st[i] == "g" else 0.0
                               for i in idxs if i < len(st))
            served = score > 0
            if len(greens) > 1 and served.all() and np.ptp(score) == 0:
                phase = None  # green throughout: never the critical movement
            else:
                phase = int(np.argmax(score)) if served.any() else None
            lane_no = int(lane.rsplit("_", 1)[1]) + 1
            det, appr, no = names.get(
                lane, (f"L{n}", _compass(lane_shape.get(lane, "0,0 1,0")), min(lane_no, 16))
            )
            m.lanes.append(LaneInfo(lane, det, appr, no, lane_len.get(lane, 50.0), phase))
        # a phase must have at least one detector: give it the lanes it serves at all
        for k in range(len(greens)):
            if not any(ln.phase == k for ln in m.lanes):
                st = phases[greens[k]][1]
                for ln in m.lanes:
                    if any(st[i] in "Gg" for i in by_lane[ln.lane_id] if i < len(st)):
                        ln.phase = k
                        break
        models.append(m)
    return models


def write_detectors(models: list[TlsModel], out: Path, period_s: int) -> Path:
    """E1 loops (counts, occupancy, speed) and E2 areas (queues) on every controlled lane."""
    add = ET.Element("additional")
    for t, m in enumerate(models):
        for k, ln in enumerate(m.lanes):
            pos = max(0.5, ln.length_m - 30.0) if ln.length_m > 40 else ln.length_m * 0.5
            ET.SubElement(add, "inductionLoop", id=f"e1_{t}_{k}", lane=ln.lane_id,
                          pos=f"{pos:.1f}", period=str(period_s), file="NUL")
            e2_len = min(ln.length_m - 1.0, 120.0)
            ET.SubElement(add, "laneAreaDetector", id=f"e2_{t}_{k}", lane=ln.lane_id,
                          endPos=f"{ln.length_m - 0.1:.1f}", length=f"{max(e2_len, 1.0):.1f}",
                          period=str(period_s), file="NUL")
    ET.indent(add)
    ET.ElementTree(add).write(out)
    return out


def write_sumo_programs(models: list[TlsModel], out: Path, kind: str) -> Path:
    """SUMO's own ``actuated`` or ``delay_based`` programs built on the static phases."""
    add = ET.Element("additional")
    for m in models:
        tl = ET.SubElement(add, "tlLogic", id=m.tls_id, type=kind, programID=kind, offset="0")
        if kind == "actuated":
            ET.SubElement(tl, "param", key="max-gap", value="3.0")
            ET.SubElement(tl, "param", key="detector-gap", value="2.0")
            ET.SubElement(tl, "param", key="passing-time", value="1.9")
        else:
            ET.SubElement(tl, "param", key="detectorRange", value="100")
        for i, (dur, state) in enumerate(m.phases):
            attrs = {"duration": f"{dur:g}", "state": state}
            if i in m.greens:
                attrs |= {"minDur": f"{MIN_GREEN_S:g}", "maxDur": "50"}  # netconvert default
            ET.SubElement(tl, "phase", attrs)
    ET.indent(add)
    ET.ElementTree(add).write(out)
    return out
