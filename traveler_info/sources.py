"""Where the link speeds come from: detector readings in the store, through the control core.

:func:`detector_link_speeds` is pure (arrays in, arrays out); :class:`StoreSpeeds`
reads the store (the detectors' live state kept by ingest, the 5-minute rollups
for the time-of-day profile) and hands the arrays to it. Only aggregated speeds leave
this module: no individual vehicle, and no GPS position, is ever read here.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from control.congestion import (
    detector_speed_kmh,
    effective_vehicle_length_m,
    fuse_speeds,
    local_xy_m,
    map_match,
    probe_link_speed,
)
from hub.pgarray import epoch_s, fetch_records
from traveler_info.weights import SLOT_S, SLOTS_PER_DAY

LIVE_WINDOW_S = 600.0  # readings older than this are not part of the live state [s]
PROFILE_DAYS = 28  # history behind the time-of-day profile [days]


# the detectors' live state and the GPS fixes as the refresh reads them (hub.pgarray):
# (field, PostgreSQL type, expression)
LIVE_COLUMNS = (
    ("gid", "int4", "coalesce(gid, -1)"), ("mc", "int4", "mc"), ("lv", "int4", "lv"),
    ("hv", "int4", "hv"), ("um", "int4", "um"), ("interval_s", "int4", "interval_s"),
    ("occupancy_pct", "float4", "occupancy_pct"),
    ("speed_kmh", "float4", "coalesce(speed_kmh, 'NaN')"), ("ts", "timestamptz", "ts"),
)
GPS_COLUMNS = (
    ("lat", "float8", "lat"), ("lon", "float8", "lon"), ("speed_kmh", "float4", "speed_kmh"),
    ("heading_deg", "float4", "heading_deg"), ("ts", "timestamptz", "ts"),
)
UNKNOWN_GID = -2  # in the id -> link map: an id the map has not seen (re-read it)


class SpeedSource(Protocol):
    """Anything that gives live and historical link speeds (links on axis 0)."""

    def live(self, now: datetime) -> tuple[np.ndarray, np.ndarray]:
        """(speed_kmh, age_s) per link; NaN where there is no live estimate."""
        ...

    def profile(self, now: datetime) -> tuple[np.ndarray, np.ndarray]:
        """(mean_kmh, std_kmh), each (n_links, SLOTS_PER_DAY); NaN where unknown."""
        ...


def detector_link_speeds(
    link_idx: npt.ArrayLike,
    counts: npt.ArrayLike,
    covered_s: npt.ArrayLike,
    occupancy_pct: npt.ArrayLike,
    reported_speed_kmh: npt.ArrayLike,
    n_links: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Space-mean speed per link from per-lane detector aggregates.

    Parameters
    ----------
    link_idx : (n_det,) link each detector measures (-1: none)
    counts : (n_det, 4) vehicles per class (mc, lv, hv, um) in the period [veh]
    covered_s : (n_det,) seconds of reporting behind the counts [s]
    occupancy_pct : (n_det,) mean time occupancy [%]
    reported_speed_kmh : (n_det,) speed reported by the detector [km/h]; NaN = none
    n_links : number of links

    Returns
    -------
    speed_kmh : (n_links,) [km/h]; NaN where no detector gave a speed
    samples : (n_links,) vehicles behind it [veh]

    Notes
    -----
    A detector's own speed is used when it reports one, otherwise the speed from
    flow and occupancy with the effective length of the current class mix
    (:func:`control.congestion.detector_speed_kmh`); the link's speed is the
    vehicle-weighted harmonic mean of its lanes' speeds (a space-mean speed).
    """
    link = np.asarray(link_idx, dtype=np.int64)
    c = np.asarray(counts, dtype=np.float64).reshape(-1, 4)
    cov = np.asarray(covered_s, dtype=np.float64)
    occ = np.clip(np.asarray(occupancy_pct, dtype=np.float64), 0.0, 100.0)
    rep = np.asarray(reported_speed_kmh, dtype=np.float64)
    veh = c.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        flow = np.where(cov > 0, veh * 3600.0 / cov, np.nan)
    est = detector_speed_kmh(
        np.nan_to_num(flow, nan=0.0), np.nan_to_num(occ), effective_vehicle_length_m(c)
    )
    est = np.where(np.isfinite(flow), est, np.nan)
    v = np.where(np.isfinite(rep) & (rep > 0), rep, est)
    ok = (link >= 0) & (link < n_links) & np.isfinite(v) & (v > 0)
    w = np.maximum(veh, 1.0)[ok]
    inv = np.bincount(link[ok], weights=w / v[ok], minlength=n_links)
    tot = np.bincount(link[ok], weights=w, minlength=n_links)
    samples = np.bincount(link[ok], weights=veh[ok], minlength=n_links)
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(inv > 0, tot / inv, np.nan)
    return speed, samples


def approach_link_map(inventory: Any, link_ids: list[str]) -> dict[tuple[str, str], int]:
    """(intersection id, approach id) -> index of the incoming link the approach is on."""
    pos = {lid: i for i, lid in enumerate(link_ids)}
    out: dict[tuple[str, str], int] = {}
    for inter in inventory.intersections:
        for appr in inter.approaches:
            if appr.link_id is not None and appr.link_id in pos:
                out[(inter.id, appr.id)] = pos[appr.link_id]
    return out


@dataclass
class StoreSpeeds:
    """Link speeds from the store's detector tables (see the module docstring)."""

    database_url: str
    approach_link: dict[tuple[str, str], int]
    n_links: int
    live_window_s: float = LIVE_WINDOW_S
    profile_days: int = PROFILE_DAYS
    probes: ProbeMatcher | None = None  # GPS probes (waste trucks), aggregated per link
    # detector integer id -> link index (-1: none; UNKNOWN_GID: not an id seen yet)
    _gid_link: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64), init=False, repr=False
    )
    _executor: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    def _connect(self) -> Any:
        from hub.db import connect

        return connect(self.database_url, autocommit=True)

    def _links(self, rows: list[tuple[Any, ...]]) -> np.ndarray:
        return np.array(
            [self.approach_link.get((r[0], r[1]), -1) for r in rows], dtype=np.int64
        )

    def live(self, now: datetime) -> tuple[np.ndarray, np.ndarray]:
        since = now - timedelta(seconds=self.live_window_s)
        window = {"now": now, "since": since}
        probes = self.probes
        # the two reads run at once, each on its own connection (and server process)
        gps_future = self._pool().submit(self._read_gps, window) if probes else None
        try:
            with self._connect() as conn:
                # the detectors' live state (one row per detector, kept by ingest)
                rows = fetch_records(
                    conn,
                    LIVE_COLUMNS,
                    "FROM detector_live WHERE ts > %(since)s AND ts <= %(now)s",
                    window,
                )
                link = self._detector_links(conn, rows["gid"].astype(np.int64))
        finally:
            gps = gps_future.result() if gps_future is not None else None
        now_s = now.timestamp()
        cols = np.empty((rows.size, 8))
        for j, f in enumerate(("mc", "lv", "hv", "um", "interval_s", "occupancy_pct",
                               "speed_kmh")):
            cols[:, j] = rows[f]
        cols[:, 7] = now_s - epoch_s(rows["ts"])
        speed, age, n_det = self._live_arrays(link, cols)
        if probes is None or gps is None or gps.size == 0:
            return speed, age
        lat, lon = gps["lat"].astype(np.float64), gps["lon"].astype(np.float64)
        heading = gps["heading_deg"].astype(np.float64)
        p_speed, p_n, p_age = probes.link_speeds(
            lat, lon, gps["speed_kmh"].astype(np.float64), heading,
            now_s - epoch_s(gps["ts"]), fix_keys(gps["ts"], lat, lon, heading),
        )
        fused = fuse_speeds(
            np.stack([speed, p_speed], axis=1),
            np.stack([n_det, p_n], axis=1),
            np.stack([np.nan_to_num(age, nan=0.0), np.nan_to_num(p_age, nan=0.0)], axis=1),
        )
        fused_age = np.fmin(age, p_age)
        return fused, np.where(np.isfinite(fused), fused_age, np.nan)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="tis-store")
        return self._executor

    def _read_gps(self, window: dict[str, datetime]) -> np.ndarray:
        """The moving GPS fixes in the window (positions and times only: no vehicle id)."""
        assert self.probes is not None
        with self._connect() as conn:
            return fetch_records(
                conn,
                GPS_COLUMNS,
                """FROM gps_position
                   WHERE ts > %(since)s AND ts <= %(now)s AND speed_kmh >= %(moving)s""",
                {**window, "moving": self.probes.min_speed_kmh},
            )

    def _detector_links(self, conn: Any, gid: np.ndarray) -> np.ndarray:
        """Link index per live row (-1: none) from the detectors' integer ids; the
        id -> link map is read once and again only when an id it lacks shows up."""
        known = gid[gid >= 0]
        gl = self._gid_link
        if known.size and (known.max() >= gl.size or (gl[known] == UNKNOWN_GID).any()):
            rows = conn.execute("SELECT gid, intersection_id, approach FROM detector").fetchall()
            gl = np.full(max((r[0] for r in rows), default=-1) + 1, UNKNOWN_GID, np.int64)
            for g, inter, appr in rows:
                gl[g] = self.approach_link.get((inter, appr), -1)
            self._gid_link = gl
        ok = (gid >= 0) & (gid < gl.size)
        link = np.full(gid.shape, -1, dtype=np.int64)
        link[ok] = gl[gid[ok]]
        return np.maximum(link, -1)  # an id still unknown: no link

    def _live_arrays(
        self, link: np.ndarray, a: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        speed, samples = detector_link_speeds(
            link, a[:, 0:4], a[:, 4], a[:, 5], a[:, 6], self.n_links
        )
        ok = link >= 0
        age = np.full(self.n_links, np.inf)
        np.minimum.at(age, link[ok], a[ok, 7])
        age = np.where(np.isfinite(age) & np.isfinite(speed), age, np.nan)
        return speed, age, np.maximum(samples, np.where(np.isfinite(speed), 1.0, 0.0))

    def profile(self, now: datetime) -> tuple[np.ndarray, np.ndarray]:
        with self._connect() as conn:
            rows = conn.execute(
                """SELECT r.intersection_id, d.approach,
                          sum(r.mc), sum(r.lv), sum(r.hv), sum(r.um), sum(r.covered_s),
                          avg(r.occupancy_pct), avg(r.speed_kmh), stddev_samp(r.speed_kmh),
                          floor(extract(epoch FROM (r.bucket AT TIME ZONE 'Asia/Jakarta')::time)
                                / %(slot)s)::int AS slot
                   FROM detector_flow_5m r
                   JOIN detector d ON d.intersection_id = r.intersection_id
                                   AND d.id = r.detector_id
                   WHERE r.bucket > %(since)s AND r.bucket <= %(now)s
                   GROUP BY r.intersection_id, d.approach, r.detector_id, slot""",
                {
                    "now": now,
                    "since": now - timedelta(days=self.profile_days),
                    "slot": SLOT_S,
                },
            ).fetchall()
        return self._profile_arrays(rows)

    def _profile_arrays(self, rows: list[tuple[Any, ...]]) -> tuple[np.ndarray, np.ndarray]:
        mean = np.full((self.n_links, SLOTS_PER_DAY), np.nan)
        std = np.full((self.n_links, SLOTS_PER_DAY), np.nan)
        if not rows:
            return mean, std
        link = self._links(rows)
        a = np.array([r[2:10] for r in rows], dtype=np.float64)
        slot = np.array([r[10] for r in rows], dtype=np.int64) % SLOTS_PER_DAY
        # one "link" per (link, slot) pair: aggregate with the same function
        key = np.where(link >= 0, link * SLOTS_PER_DAY + slot, -1)
        n = self.n_links * SLOTS_PER_DAY
        speed, _ = detector_link_speeds(key, a[:, 0:4], a[:, 4], a[:, 5], a[:, 6], n)
        mean = speed.reshape(self.n_links, SLOTS_PER_DAY)
        ok = (key >= 0) & np.isfinite(a[:, 7])
        if ok.any():
            # spread of the 5-minute speeds: the mean of the lanes' standard deviations
            s = np.bincount(key[ok], weights=a[ok, 7], minlength=n)
            c = np.bincount(key[ok], minlength=n)
            with np.errstate(divide="ignore", invalid="ignore"):
                std = np.where(c > 0, s / c, np.nan).reshape(self.n_links, SLOTS_PER_DAY)
        return mean, std


class ProbeMatcher:
    """GPS probe points -> per-link speeds with the control core's map matching.

    Every segment of every link's geometry is a piece of the
    :func:`control.congestion.build_link_index` index (built once); a fix is
    matched with its heading (keeps the two directions apart), stopped fixes
    (below ``min_speed_kmh``: a truck loading at a pickup point is not traffic)
    are left out, and the rest aggregated by
    :func:`control.congestion.probe_link_speed`. Only the per-link aggregate
    leaves this class; no vehicle id ever reaches it, and of the fixes it keeps
    only, for the current window, a 64-bit key and the matched link.
    """

    def __init__(
        self,
        geom_offsets: np.ndarray,
        geom_coords: np.ndarray,
        n_links: int,
        max_distance_m: float = 30.0,
        min_speed_kmh: float = 5.0,
    ) -> None:
        from control.congestion import build_link_index

        self.n_links = n_links
        self.min_speed_kmh = min_speed_kmh
        self.lat0 = float(np.mean(geom_coords[:, 1]))
        self.lon0 = float(np.mean(geom_coords[:, 0]))
        x, y = local_xy_m(geom_coords[:, 1], geom_coords[:, 0], self.lat0, self.lon0)
        starts = np.arange(len(geom_coords) - 1)
        # a segment joins point i to i+1 when both belong to the same link
        link_of_point = np.repeat(np.arange(n_links), np.diff(geom_offsets))
        same = link_of_point[:-1] == link_of_point[1:]
        seg = starts[same]
        self.segment_link = link_of_point[:-1][same]
        self.index = build_link_index(x[seg], y[seg], x[seg + 1], y[seg + 1], max_distance_m)
        # the last window's fixes: sorted keys and their links (see match())
        self._keys = np.zeros(0, dtype=np.uint64)
        self._links = np.zeros(0, dtype=np.int64)

    def link_speeds(
        self,
        lat: np.ndarray,
        lon: np.ndarray,
        speed_kmh: np.ndarray,
        heading_deg: np.ndarray,
        age_s: np.ndarray,
        fix_key: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(speed_kmh, samples, mean age_s) per link from probe fixes.

        ``fix_key`` (uint64, one per fix, e.g. :func:`fix_keys`) lets the matcher
        remember each fix's link from one call to the next: a refresh every minute
        over a 10-minute window then map-matches only the fixes that are new.
        """
        moving = np.isfinite(speed_kmh) & (speed_kmh >= self.min_speed_kmh)
        link = self.match(
            lat[moving], lon[moving], heading_deg[moving],
            None if fix_key is None else fix_key[moving],
        )
        return probe_link_speed(link, speed_kmh[moving], age_s[moving], self.n_links)

    def match(
        self,
        lat: np.ndarray,
        lon: np.ndarray,
        heading_deg: np.ndarray,
        fix_key: np.ndarray | None = None,
    ) -> np.ndarray:
        """Link index per fix (-1: no link near enough in a matching direction)."""
        link = np.full(lat.shape, -1, dtype=np.int64)
        todo = np.ones(lat.shape, dtype=bool)
        if fix_key is not None and self._keys.size:
            pos = np.minimum(np.searchsorted(self._keys, fix_key), self._keys.size - 1)
            hit = self._keys[pos] == fix_key
            link[hit] = self._links[pos[hit]]
            todo = ~hit
        if todo.any():
            x, y = local_xy_m(lat[todo], lon[todo], self.lat0, self.lon0)
            seg, _, _ = map_match(x, y, self.index, heading_deg[todo])
            link[todo] = np.where(seg >= 0, self.segment_link[np.maximum(seg, 0)], -1)
        if fix_key is not None:  # remember this window's fixes (and only them)
            order = np.argsort(fix_key, kind="stable")
            self._keys, self._links = fix_key[order], link[order]
        return link


def fix_keys(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """A 64-bit key per GPS fix from its time, position and heading (no vehicle id):
    what :meth:`ProbeMatcher.match` remembers a fix by. Two distinct fixes share a
    key with probability about n^2 / 2^64 (1e-10 for 65,000 fixes in a window)."""
    def bits(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)

    with np.errstate(over="ignore"):
        h = np.asarray(ts).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        for part, mult in ((bits(lat), 0xC2B2AE3D27D4EB4F), (bits(lon), 0x165667B19E3779F9),
                           (bits(heading), 0xD6E8FEB86659FD93)):
            h ^= part * np.uint64(mult)
            h ^= h >> np.uint64(29)
    return h


@dataclass
class StaticSpeeds:
    """Fixed arrays as a speed source (tests, benchmarks, a city without detectors yet)."""

    live_kmh: np.ndarray
    live_age_s: np.ndarray
    profile_kmh: np.ndarray
    profile_std_kmh: np.ndarray

    @classmethod
    def empty(cls, n_links: int) -> StaticSpeeds:
        nan = np.full(n_links, np.nan)
        prof = np.full((n_links, SLOTS_PER_DAY), np.nan)
        return cls(nan, nan.copy(), prof, prof.copy())

    def live(self, now: datetime) -> tuple[np.ndarray, np.ndarray]:
        return self.live_kmh, self.live_age_s

    def profile(self, now: datetime) -> tuple[np.ndarray, np.ndarray]:
        return self.profile_kmh, self.profile_std_kmh
