"""The traveler-information service: live weights on a schedule, routes, matrix, map, alerts.

One :class:`TravelerInfo` per process holds the graph and the router, and an
immutable :class:`State` that :meth:`TravelerInfo.refresh` replaces at most
every ``refresh_interval_s`` (60 s): queries read one state from start to end,
so a refresh never shows them half-updated weights. The ETag of every answer is
derived from the state's ``token``, a digest of the weights themselves, so two
API processes with the same data give the same ETag.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from traveler_info.advice import Alert, alert_message, departure_advice, find_alerts
from traveler_info.graph import RoadGraph, SnapError
from traveler_info.i18n import Lang, t
from traveler_info.network import LinkInfo, Place, graph_from_inventory, places_from_inventory
from traveler_info.routing import DEFAULT_LANDMARKS, NoRouteError, Path, Router
from traveler_info.sources import (
    ProbeMatcher,
    SpeedSource,
    StaticSpeeds,
    StoreSpeeds,
    approach_link_map,
)
from traveler_info.weights import (
    SOURCE_NAMES,
    LinkWeights,
    compute_weights,
    profile_travel_time_s,
    time_of_day_slot,
)

log = logging.getLogger(__name__)

REFRESH_INTERVAL_S = 60.0  # live weights are recomputed at most this often [s]
PROFILE_INTERVAL_S = 3600.0  # the time-of-day profile is re-read this often [s]
MAX_SNAP_M = 1000.0  # farthest a query point may be from a road node [m]
LEVEL_NAMES = ("free", "moderate", "heavy", "jammed")


def utcnow() -> datetime:
    return datetime.now(UTC)


class RouteQueryError(ValueError):
    """A route query that cannot be answered; ``code`` says why, ``message`` in the language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # "invalid" | "outside" | "far" | "no_route"
        self.message = message


@dataclass
class State:
    """One refresh: weights and everything derived from them."""

    weights: LinkWeights
    token: str
    slot: int
    matrix_s: np.ndarray
    alerts: list[Alert]
    next_refresh_at: datetime
    usual_kmh: np.ndarray
    landmarks: tuple[np.ndarray, np.ndarray]  # ALT tables on these weights
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def computed_at(self) -> datetime:
        return self.weights.computed_at


class TravelerInfo:
    """Routes, travel times, the congestion map and alerts on live link weights."""

    def __init__(
        self,
        graph: RoadGraph,
        links: LinkInfo,
        places: list[Place],
        source: SpeedSource,
        *,
        refresh_interval_s: float = REFRESH_INTERVAL_S,
        profile_interval_s: float = PROFILE_INTERVAL_S,
        landmarks: int = DEFAULT_LANDMARKS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.graph = graph
        self.links = links
        self.places = places
        self.source = source
        self.refresh_interval_s = refresh_interval_s
        self.profile_interval_s = profile_interval_s
        self.clock = clock
        self.router = Router(graph, landmarks)
        self._lock = threading.Lock()
        self._state: State | None = None
        self._version = 0
        self._profile_at: datetime | None = None
        n = graph.n_edges
        self._profile_kmh = StaticSpeeds.empty(n).profile_kmh
        self._profile_std = self._profile_kmh.copy()
        self._profile_time_s = np.ascontiguousarray(
            np.maximum(
                profile_travel_time_s(graph.length_m, links.free_flow_kmh, self._profile_kmh),
                graph.free_flow_s[:, None],
            )
        )
        self._place_nodes = np.array([p.node for p in places], dtype=np.int64)
        # street names as codes (0: unnamed) for route summaries
        self._name_list: list[str] = [""]
        codes: dict[str, int] = {"": 0}
        self._name_code = np.array(
            [codes.setdefault(nm, len(codes)) for nm in (graph.names or [""] * graph.n_edges)],
            dtype=np.int64,
        )
        self._name_list = sorted(codes, key=lambda k: codes[k])

    # ------------------------------------------------------------- building
    @classmethod
    def from_inventory(cls, inv: Any, source: SpeedSource | None = None, **kw: Any) -> TravelerInfo:
        graph, links = graph_from_inventory(inv)
        places = places_from_inventory(inv, graph)
        return cls(graph, links, places, source or StaticSpeeds.empty(graph.n_edges), **kw)

    @classmethod
    def from_store(cls, database_url: str, **kw: Any) -> TravelerInfo:
        """Build from the inventory in the store, with live speeds from its detector tables."""
        from hub.db import connect
        from hub.inventory import read_from_store

        with connect(database_url) as conn:
            inv = read_from_store(conn)
        graph, _ = graph_from_inventory(inv)
        assert graph.geom_offsets is not None and graph.geom_coords is not None
        probes = (
            ProbeMatcher(graph.geom_offsets, graph.geom_coords, graph.n_edges)
            if graph.n_edges
            else None
        )
        source = StoreSpeeds(
            database_url, approach_link_map(inv, graph.edge_ids), graph.n_edges, probes=probes
        )
        return cls.from_inventory(inv, source, **kw)

    # ------------------------------------------------------------- refresh
    @property
    def state(self) -> State:
        s = self._state
        if s is None:
            self.refresh(force=True)
            s = self._state
            assert s is not None
        return s

    @property
    def ready(self) -> bool:
        return self._state is not None

    def refresh(self, now: datetime | None = None, *, force: bool = False) -> bool:
        """Recompute the live weights (at most every ``refresh_interval_s`` unless ``force``).

        The fallback chain per link is live -> profile for this time of day -> free
        flow; a source that fails (database down) counts as having no data, so
        the service keeps answering on the profile or free flow. Returns True
        when a new state was installed.
        """
        with self._lock:
            now = now or self.clock()
            cur = self._state
            if (
                not force
                and cur is not None
                and (now - cur.computed_at).total_seconds() < self.refresh_interval_s
            ):
                return False
            n = self.graph.n_edges
            if (
                self._profile_at is None
                or (now - self._profile_at).total_seconds() >= self.profile_interval_s
            ):
                try:
                    mean, std = self.source.profile(now)
                    self._profile_kmh, self._profile_std = mean, std
                    self._profile_time_s = np.ascontiguousarray(
                        np.maximum(
                            profile_travel_time_s(
                                self.graph.length_m, self.links.free_flow_kmh, mean
                            ),
                            self.graph.free_flow_s[:, None],
                        )
                    )
                    self._profile_at = now
                except Exception:  # keep the previous profile
                    log.exception("reading the time-of-day profile failed")
            try:
                live, age = self.source.live(now)
            except Exception:
                log.exception("reading live speeds failed: falling back to the profile")
                live, age = np.full(n, np.nan), np.full(n, np.nan)
            slot = time_of_day_slot(now)
            self._version += 1
            w = compute_weights(
                version=self._version,
                computed_at=now,
                length_m=self.graph.length_m,
                free_flow_kmh=self.links.free_flow_kmh,
                live_kmh=live,
                live_age_s=age,
                profile_kmh=self._profile_kmh[:, slot],
                profile_std_kmh=self._profile_std[:, slot],
            )
            # the graph's free-flow times are the routing bounds' floor: never go below them
            time_s = np.maximum(w.time_s, self.graph.free_flow_s)
            time_s.flags.writeable = False  # shared by concurrent queries: immutable
            w = replace(w, time_s=time_s)
            matrix = self.router.matrix(w.time_s, self._place_nodes)
            # landmark distances on this refresh's weights: exact-er bounds for its queries
            lm = self.router.landmark_tables(w.time_s)
            usual = self._profile_kmh[:, slot]
            alerts = find_alerts(self.graph, w, self.links.free_flow_kmh, usual)
            h = hashlib.blake2b(digest_size=8)
            h.update(np.round(w.time_s, 1).tobytes())
            h.update(w.level.tobytes())
            h.update(w.anomaly.tobytes())
            self._state = State(
                weights=w,
                token=h.hexdigest(),
                slot=slot,
                matrix_s=matrix,
                alerts=alerts,
                next_refresh_at=now + timedelta(seconds=self.refresh_interval_s),
                usual_kmh=usual,
                landmarks=lm,
            )
            return True

    def max_age_s(self, now: datetime | None = None) -> int:
        """Seconds an answer stays valid: until the next scheduled refresh."""
        now = now or self.clock()
        left = (self.state.next_refresh_at - now).total_seconds()
        return int(max(0.0, min(self.refresh_interval_s, left)))

    # ------------------------------------------------------------- routes
    def _snap(self, lon: float, lat: float, role: str, lang: Lang) -> tuple[int, float]:
        which = t(f"which.{role}", lang)
        try:
            return self.graph.snap(lon, lat, role=role, max_distance_m=MAX_SNAP_M)
        except SnapError as exc:
            if exc.reason == "invalid":
                msg = t("err.invalid", lang, which=which, detail=str(exc))
            elif exc.reason == "outside":
                msg = t("err.outside", lang, which=which)
            else:
                msg = t("err.far", lang, which=which, distance=round(exc.distance_m))
            raise RouteQueryError(exc.reason, msg) from None

    def _route_json(self, rank: int, p: Path, w: LinkWeights, lang: Lang) -> dict[str, Any]:
        g = self.graph
        e = p.edges
        length = g.length_m[e]
        summary = ""
        if len(e) and self._name_list:
            codes = self._name_code[e]
            per_name = np.bincount(codes, weights=length, minlength=len(self._name_list))
            per_name[0] = 0.0  # unnamed
            top = np.argsort(-per_name)[:2]
            top = top[per_name[top] > 0]
            if len(top):
                first = {int(c): int(np.argmax(codes == c)) for c in top}
                order = sorted(first, key=lambda c: first[c])
                summary = t("via", lang, streets=", ".join(self._name_list[c] for c in order))
        total = float(length.sum()) or 1.0
        by_level = np.bincount(w.level[e] + 1, weights=length, minlength=5)[1:] / total
        return {
            "rank": rank,
            "travel_time_s": round(p.time_s, 1),
            "distance_m": round(p.length_m, 1),
            "free_flow_time_s": round(p.free_flow_s, 1),
            "delay_s": round(p.delay_s, 1),
            "summary": summary,
            "congestion_share": {
                name: round(float(x), 3) for name, x in zip(LEVEL_NAMES, by_level, strict=True)
            },
            "geometry": {"type": "LineString", "coordinates": g.path_coords(e)},
        }

    def route(
        self,
        origin: tuple[float, float],
        destination: tuple[float, float],
        *,
        alternatives: int = 2,
        advice: bool = True,
        lang: Lang = "id",
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Fastest route (and alternatives) between two (lon, lat) points, as a JSON dict.

        Raises :class:`RouteQueryError` for points that cannot be placed on the
        network or when there is no route.
        """
        st = self.state
        w = st.weights
        s, ds = self._snap(origin[0], origin[1], "origin", lang)
        d, dd = self._snap(destination[0], destination[1], "destination", lang)
        try:
            paths = self.router.route(w.time_s, s, d, alternatives=alternatives, lm=st.landmarks)
        except NoRouteError:
            raise RouteQueryError("no_route", t("err.no_route", lang)) from None
        g = self.graph
        out: dict[str, Any] = {
            "origin": {
                "query": [origin[0], origin[1]],
                "snapped": [round(float(g.node_lon[s]), 6), round(float(g.node_lat[s]), 6)],
                "node_id": g.node_ids[s],
                "snap_distance_m": round(ds, 1),
            },
            "destination": {
                "query": [destination[0], destination[1]],
                "snapped": [round(float(g.node_lon[d]), 6), round(float(g.node_lat[d]), 6)],
                "node_id": g.node_ids[d],
                "snap_distance_m": round(dd, 1),
            },
            "weights": self.weights_info(st),
            "routes": [self._route_json(i, p, w, lang) for i, p in enumerate(paths)],
        }
        if advice:
            adv = departure_advice(
                self._profile_time_s, [p.edges for p in paths], paths[0].time_s,
                now or st.computed_at, lang,
            )
            out["departure_advice"] = {
                "leave_now": adv.leave_now,
                "leave_at": adv.leave_at.isoformat(timespec="minutes"),
                "travel_time_s": round(adv.travel_time_s, 1),
                "saving_s": round(adv.saving_s, 1),
                "message": adv.message,
            }
        return out

    def weights_info(self, st: State | None = None) -> dict[str, Any]:
        st = st or self.state
        cached = st.cache.get("weights_info")
        if cached is None:
            cached = st.cache["weights_info"] = self._weights_info(st)
        return dict(cached)

    def _weights_info(self, st: State) -> dict[str, Any]:
        return {
            "version": st.token,
            "computed_at": st.computed_at.isoformat(timespec="seconds"),
            "next_refresh_at": st.next_refresh_at.isoformat(timespec="seconds"),
            "sources": st.weights.counts(),
        }

    # ------------------------------------------------------------- matrix, map, alerts
    def travel_times(self) -> dict[str, Any]:
        st = self.state
        m = st.matrix_s
        return {
            "places": [
                {"id": p.id, "name": p.name, "kind": p.kind, "lon": p.lon, "lat": p.lat}
                for p in self.places
            ],
            "travel_time_s": [
                [round(float(x), 1) if np.isfinite(x) else None for x in row] for row in m
            ],
            "weights": self.weights_info(st),
        }

    def congestion_geojson(self, lang: Lang = "id") -> bytes:
        """The congestion map as GeoJSON bytes (cached per state and language)."""
        st = self.state
        key = f"congestion:{lang}"
        cached = st.cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        g, w = self.graph, st.weights
        assert g.geom_offsets is not None and g.geom_coords is not None
        coords = np.round(g.geom_coords, 6).tolist()
        off = g.geom_offsets.tolist()
        speed = np.round(w.speed_kmh, 1).tolist()
        tti = np.round(w.tti, 2).tolist()
        jam = np.round(w.jam_factor, 1).tolist()
        level = w.level.tolist()
        src = w.source.tolist()
        labels = [t(f"level.{n}", lang) for n in LEVEL_NAMES]
        feats = []
        for e in range(g.n_edges):
            lv = level[e]
            feats.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": coords[off[e] : off[e + 1]]},
                    "properties": {
                        "link_id": g.edge_ids[e],
                        "name": g.names[e] if g.names else "",
                        "speed_kmh": speed[e],
                        "free_flow_kmh": float(self.links.free_flow_kmh[e]),
                        "travel_time_index": tti[e],
                        "level": LEVEL_NAMES[lv] if lv >= 0 else "unknown",
                        "level_label": labels[lv] if lv >= 0 else t("level.unknown", lang),
                        "jam_factor": jam[e],
                        "source": SOURCE_NAMES[src[e]],
                    },
                }
            )
        body = json.dumps(
            {"type": "FeatureCollection", "features": feats, "weights": self.weights_info(st)},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        st.cache[key] = body
        return body

    def alerts(self, lang: Lang = "id", limit: int = 100) -> dict[str, Any]:
        st = self.state
        g = self.graph
        out = []
        for a in st.alerts[:limit]:
            street = (g.names[a.link] if g.names else "") or t("unnamed_street", lang)
            out.append(
                {
                    "id": a.id,
                    "kind": a.kind,
                    "severity": a.severity,
                    "link_id": g.edge_ids[a.link],
                    "street": street,
                    "location": {
                        "type": "Point",
                        "coordinates": [round(a.lon, 6), round(a.lat, 6)],
                    },
                    "speed_kmh": round(a.speed_kmh, 1),
                    "usual_speed_kmh": round(a.usual_kmh, 1),
                    "jam_factor": round(a.jam_factor, 1),
                    "message": alert_message(
                        a, street, float(self.links.free_flow_kmh[a.link]), lang
                    ),
                }
            )
        return {"alerts": out, "count": len(st.alerts), "weights": self.weights_info(st)}
