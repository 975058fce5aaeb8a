"""Synthetic waste trucks with GPS trackers.

Each truck drives its collection route (a closed path of links) once a day from
the route's ``start_time`` (WIB): along the links at a speed that follows
congestion, stopping ``service_s`` at each pickup point (loading its waste), then
to the landfill (TPA) to unload (:data:`UNLOAD_S`), and back to the depot, where it
parks with the ignition off until the next day.

Speed on a link is ``min(v_f, TRUCK_MAX_KMH) * (1 - 0.5 (f / f_peak)^2) * u`` with
``f`` the time-of-day demand factor (the same profile as the detectors), so trucks
are about half as fast in the peaks, and ``u ~ U(0.85, 1.05)`` drawn per link.

The tracker reports a fix every ``gps_interval_s`` while the ignition is on and every
:data:`PARKED_INTERVAL_S` while parked, with the artefacts real trackers produce:
position noise scaled by HDOP, rare jumps (multipath: hundreds of metres, high
HDOP), dropouts (no fix for tens of seconds to minutes; the sequence number does
not advance) and duplicates (the same fix sent twice, same ``seq`` and ``ts``, as a
tracker does when it missed an acknowledgement). The truth is kept for tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hub.inventory import Inventory, haversine_m
from ingest.contract import Kind, topic_for
from sim.profiles import WIB_OFFSET_S, daily_profile, demand_factor

TRUCK_MAX_KMH = 50.0
UNLOAD_S = 1200.0
PARKED_INTERVAL_S = 300.0
GPS_SIGMA_M_PER_HDOP = 2.5
P_JUMP = 0.003
P_DROPOUT = 0.002
DROPOUT_S = (30.0, 300.0)
P_DUPLICATE = 0.01
METRES_PER_DEG_LAT = 111_320.0


@dataclass
class Stop:
    dist_m: float
    kind: str  # "pickup" | "landfill"
    service_s: float
    ref: str
    kg: float = 0.0


@dataclass
class Truck:
    id: str
    topic: str
    capacity_kg: float
    start_tod_s: float  # round start, seconds after local midnight
    lon: np.ndarray  # route polyline vertices
    lat: np.ndarray
    cum: np.ndarray  # cumulative distance at vertices [m]
    link_end: np.ndarray  # cumulative distance at each link's end [m]
    link_ids: list[str]
    link_vf_kmh: np.ndarray
    stops: list[Stop]
    # state
    mode: str = "parked"  # parked | driving | service
    t: float = 0.0
    dist: float = 0.0
    next_stop: int = 0
    service_until: float = 0.0
    round_start: float = 0.0
    link_k: int = 0
    link_u: float = 1.0
    load_kg: float = 0.0
    heading: float = 0.0
    seq: int = 0
    next_fix: float = 0.0
    dropout_until: float = -math.inf
    visited: list[tuple[float, str]] = field(default_factory=list)


class FleetSim:
    """All trucks of an inventory that have a collection route."""

    def __init__(
        self,
        inv: Inventory,
        rng: np.random.Generator,
        start_s: float,
        *,
        gps_interval_s: float = 10.0,
        root: str = "tlive",
        record_truth: bool = False,
    ) -> None:
        self.rng = rng
        self.gps_interval_s = gps_interval_s
        self.f_peak = float(daily_profile(False).max())
        self.truth: list[tuple[int, str, float, float, str, str]] | None = (
            [] if record_truth else None
        )
        links = inv.link_by_id
        vehicles = {v.id: v for v in inv.vehicles}
        pickups = {p.id: p for p in inv.pickup_points}
        landfills = {f.id: f for f in inv.landfills}
        self.trucks: list[Truck] = []
        for r in inv.routes:
            v = vehicles[r.vehicle_id]
            lon: list[float] = []
            lat: list[float] = []
            link_end, vfs = [], []
            total = 0.0
            starts = []
            for lid in r.link_ids:
                ln = links[lid]
                coords = ln.geometry.coordinates
                if not lon:
                    lon.append(coords[0][0])
                    lat.append(coords[0][1])
                starts.append(total)
                for x, y in coords[1:]:
                    lon.append(x)
                    lat.append(y)
                # scale the polyline so its measure equals the link's length_m
                total += ln.length_m
                link_end.append(total)
                vfs.append(ln.free_flow_kmh)
            alon, alat = np.array(lon), np.array(lat)
            seg = haversine_m(alat[:-1], alon[:-1], alat[1:], alon[1:])
            raw_cum = np.concatenate([[0.0], np.cumsum(seg)])
            # rescale vertex measures link by link to the links' stated lengths
            cum = np.empty_like(raw_cum)
            vi = 0
            cum[0] = 0.0
            for j, lid in enumerate(r.link_ids):
                n_seg = len(links[lid].geometry.coordinates) - 1
                a, b = raw_cum[vi], raw_cum[vi + n_seg]
                scale = (link_end[j] - starts[j]) / (b - a) if b > a else 0.0
                sl = slice(vi + 1, vi + n_seg + 1)
                cum[sl] = starts[j] + (raw_cum[sl] - a) * scale
                vi += n_seg
            stops: list[Stop] = []
            pos = 0
            for pid in r.pickup_ids:
                p = pickups[pid]
                pos = r.link_ids.index(p.link_id, pos)
                stops.append(Stop(starts[pos] + p.offset_m, "pickup", p.service_s, pid,
                                  p.expected_kg))
            lf = landfills[r.landfill_id]
            at_lf = [j for j, lid in enumerate(r.link_ids) if links[lid].to_node == lf.node_id]
            k = next((j for j in at_lf if j >= pos), at_lf[0])
            stops.append(Stop(link_end[k], "landfill", UNLOAD_S, lf.id))
            stops.sort(key=lambda s: s.dist_m)
            hh, mm = (int(x) for x in r.start_time.split(":"))
            self.trucks.append(
                Truck(
                    id=v.id, topic=topic_for(Kind.GPS, v.id, root=root),
                    capacity_kg=v.capacity_kg, start_tod_s=hh * 3600.0 + mm * 60.0,
                    lon=alon, lat=alat, cum=cum, link_end=np.array(link_end),
                    link_ids=list(r.link_ids), link_vf_kmh=np.array(vfs), stops=stops,
                )
            )
        for tr in self.trucks:
            self._init_state(tr, start_s)

    # ---------------------------------------------------------------- kinematics
    def _round_start_on_or_before(self, tr: Truck, t: float) -> float:
        local_midnight = math.floor((t + WIB_OFFSET_S) / 86400.0) * 86400.0 - WIB_OFFSET_S
        s = local_midnight + tr.start_tod_s
        return s if s <= t else s - 86400.0

    def _init_state(self, tr: Truck, start_s: float) -> None:
        rs = self._round_start_on_or_before(tr, start_s)
        tr.mode, tr.t, tr.dist, tr.round_start = "parked", rs, tr.cum[-1], rs
        self._begin_round(tr, rs)
        self._advance(tr, start_s)  # fast-forward silently to the start
        tr.visited.clear()
        tr.next_fix = start_s + float(self.rng.random()) * self.gps_interval_s

    def _begin_round(self, tr: Truck, t: float) -> None:
        tr.mode, tr.t, tr.dist, tr.next_stop, tr.link_k, tr.load_kg = "driving", t, 0.0, 0, 0, 0.0
        tr.round_start = t
        tr.link_u = float(self.rng.uniform(0.85, 1.05))

    def speed_mps(self, tr: Truck, t: float) -> float:
        f = float(demand_factor(t)) / self.f_peak
        vf = min(float(tr.link_vf_kmh[tr.link_k]), TRUCK_MAX_KMH)
        return max(vf * (1.0 - 0.5 * min(f, 1.0) ** 2) * tr.link_u, 3.0) / 3.6

    def _advance(self, tr: Truck, t: float) -> None:
        """Move ``tr`` from ``tr.t`` to ``t``."""
        while tr.t < t:
            if tr.mode == "parked":
                nxt = tr.round_start + 86400.0
                if nxt > t:
                    tr.t = t
                    return
                self._begin_round(tr, nxt)
                continue
            if tr.mode == "service":
                if tr.service_until > t:
                    tr.t = t
                    return
                tr.t = tr.service_until
                tr.mode = "driving"
                continue
            # driving: to the next boundary (link end, stop or route end)
            v = self.speed_mps(tr, tr.t)
            stop = tr.stops[tr.next_stop] if tr.next_stop < len(tr.stops) else None
            bound = float(tr.link_end[tr.link_k])
            if stop is not None and stop.dist_m <= bound:
                bound = stop.dist_m
            need = (bound - tr.dist) / v
            if tr.t + need > t:
                tr.dist += v * (t - tr.t)
                tr.t = t
                return
            tr.t += need
            tr.dist = bound
            if stop is not None and bound == stop.dist_m:
                tr.next_stop += 1
                tr.mode = "service"
                tr.service_until = tr.t + stop.service_s
                tr.visited.append((tr.t, stop.ref))
                if stop.kind == "pickup":
                    kg = stop.kg * float(self.rng.uniform(0.8, 1.2))
                    tr.load_kg = min(tr.load_kg + kg, tr.capacity_kg)
                else:
                    tr.load_kg = 0.0
                continue
            if tr.link_k + 1 >= len(tr.link_ids):
                tr.mode = "parked"  # back at the depot
                tr.dist = float(tr.cum[-1])
                continue
            tr.link_k += 1
            tr.link_u = float(self.rng.uniform(0.85, 1.05))

    def position(self, tr: Truck) -> tuple[float, float, float]:
        """True ``(lat, lon, course_deg)`` of ``tr`` on its route."""
        cum = tr.cum
        k = int(min(max(np.searchsorted(cum, tr.dist, side="right") - 1, 0), len(cum) - 2))
        seg = cum[k + 1] - cum[k]
        f = 0.0 if seg <= 0 else (tr.dist - cum[k]) / seg
        lat = tr.lat[k] + f * (tr.lat[k + 1] - tr.lat[k])
        lon = tr.lon[k] + f * (tr.lon[k + 1] - tr.lon[k])
        dx = (tr.lon[k + 1] - tr.lon[k]) * math.cos(math.radians(lat))
        dy = tr.lat[k + 1] - tr.lat[k]
        course = math.degrees(math.atan2(dx, dy)) % 360.0 if (dx or dy) else tr.heading
        return float(lat), float(lon), course

    # ---------------------------------------------------------------- messages
    def window(self, t0: float, t1: float, out: list[tuple[int, str, bytes]]) -> None:
        rng = self.rng
        for tr in self.trucks:
            while tr.next_fix < t1:
                t = tr.next_fix
                self._advance(tr, t)
                moving = tr.mode == "driving"
                on = tr.mode != "parked"
                tr.next_fix = t + (self.gps_interval_s if on else PARKED_INTERVAL_S)
                lat, lon, course = self.position(tr)
                if moving:
                    tr.heading = course
                if self.truth is not None:
                    link = tr.link_ids[tr.link_k]
                    self.truth.append((int(t * 1000), tr.id, lat, lon, link, tr.mode))
                if t < tr.dropout_until:
                    continue
                if rng.random() < P_DROPOUT:
                    tr.dropout_until = t + rng.uniform(*DROPOUT_S)
                    continue
                hdop = float(np.clip(rng.lognormal(0.0, 0.3), 0.6, 4.0))
                sigma = GPS_SIGMA_M_PER_HDOP * hdop
                dn, de = rng.normal(0.0, sigma, 2)
                if rng.random() < P_JUMP:
                    r, a = rng.uniform(150.0, 800.0), rng.uniform(0.0, 2 * math.pi)
                    dn, de = r * math.cos(a), r * math.sin(a)
                    hdop = float(rng.uniform(5.0, 20.0))
                glat = lat + dn / METRES_PER_DEG_LAT
                glon = lon + de / (METRES_PER_DEG_LAT * math.cos(math.radians(lat)))
                if moving:
                    speed = max(self.speed_mps(tr, t) * 3.6 + rng.normal(0.0, 1.0), 0.0)
                    heading = (tr.heading + rng.normal(0.0, 3.0)) % 360.0
                else:
                    speed, heading = 0.0, tr.heading
                ts = int(t * 1000)
                payload = (
                    f'{{"seq":{tr.seq},"ts":{ts},"lat":{glat:.6f},"lon":{glon:.6f},'
                    f'"speed_kmh":{speed:.1f},"heading_deg":{heading:.1f},'
                    f'"ignition":{"true" if on else "false"},"load_kg":{tr.load_kg:.0f},'
                    f'"hdop":{hdop:.1f}}}'
                ).encode()
                tr.seq += 1
                out.append((ts, tr.topic, payload))
                if rng.random() < P_DUPLICATE:
                    out.append((ts, tr.topic, payload))
