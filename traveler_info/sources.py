"""Where the link speeds come from: detector readings in the store, through the control core.

:func:`detector_link_speeds` is pure (arrays in, arrays out); :class:`StoreSpeeds`
reads the store (raw readings for the live state, the 5-minute rollups for the
time-of-day profile) and hands the arrays to it. Only aggregated speeds leave
this module: no individual vehicle, and no GPS position, is ever read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from control.congestion import (
    detector_speed_kmh,
    effective_vehicle_length_m,
    fuse_speeds,
    local_xy_m,
)
from traveler_info.weights import SLOT_S, SLOTS_PER_DAY

LIVE_WINDOW_S = 600.0  # readings older than this are not part of the live state [s]
PROFILE_DAYS = 28  # history behind the time-of-day profile [days]


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

    def _connect(self) -> Any:
        from hub.db import connect

        return connect(self.database_url, autocommit=True)

    def _links(self, rows: list[tuple[Any, ...]]) -> np.ndarray:
        return np.array(
            [self.approach_link.get((r[0], r[1]), -1) for r in rows], dtype=np.int64
        )

    def live(self, now: datetime) -> tuple[np.ndarray, np.ndarray]:
        # one row of arrays instead of a row per detector: much less client work at scale
        with self._connect() as conn:
            row = conn.execute(
                """SELECT array_agg(intersection_id), array_agg(approach),
                          array_agg(mc), array_agg(lv), array_agg(hv), array_agg(um),
                          array_agg(cov), array_agg(occ), array_agg(spd), array_agg(age)
                   FROM (SELECT intersection_id, approach, sum(mc)::float8 AS mc,
                                sum(lv)::float8 AS lv, sum(hv)::float8 AS hv,
                                sum(um)::float8 AS um, sum(interval_s)::float8 AS cov,
                                avg(occupancy_pct)::float8 AS occ,
                                avg(speed_kmh)::float8 AS spd,
                                extract(epoch FROM %(now)s::timestamptz - max(ts))::float8 AS age
                         FROM detector_reading
                         WHERE ts > %(since)s AND ts <= %(now)s
                         GROUP BY intersection_id, detector_id, approach) AS d""",
                {"now": now, "since": now - timedelta(seconds=self.live_window_s)},
            ).fetchone()
        if row is None or row[0] is None:
            speed, age = np.full(self.n_links, np.nan), np.full(self.n_links, np.nan)
            n_det = np.zeros(self.n_links)
        else:
            keys = list(zip(row[0], row[1], strict=True))
            cols = np.array(row[2:], dtype=np.float64).T  # (n_det, 8); NULL -> nan
            speed, age, n_det = self._live_arrays(keys, cols)
        if self.probes is None:
            return speed, age
        with self._connect() as conn:
            gps = conn.execute(
                """SELECT array_agg(lat), array_agg(lon), array_agg(speed_kmh::float8),
                          array_agg(heading_deg::float8),
                          array_agg(extract(epoch FROM %(now)s::timestamptz - ts)::float8)
                   FROM gps_position WHERE ts > %(since)s AND ts <= %(now)s""",
                {"now": now, "since": now - timedelta(seconds=self.live_window_s)},
            ).fetchone()
        if gps is None or gps[0] is None:
            return speed, age
        p_speed, p_n, p_age = self.probes.link_speeds(*(np.asarray(a, float) for a in gps))
        fused = fuse_speeds(
            np.stack([speed, p_speed], axis=1),
            np.stack([n_det, p_n], axis=1),
            np.stack([np.nan_to_num(age, nan=0.0), np.nan_to_num(p_age, nan=0.0)], axis=1),
        )
        fused_age = np.fmin(age, p_age)
        return fused, np.where(np.isfinite(fused), fused_age, np.nan)

    def _live_arrays(
        self, keys: list[tuple[str, str]], a: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        link = np.array([self.approach_link.get(k, -1) for k in keys], dtype=np.int64)
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
    leaves this class; fixes and vehicle ids are never kept.
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

    def link_speeds(
        self,
        lat: np.ndarray,
        lon: np.ndarray,
        speed_kmh: np.ndarray,
        heading_deg: np.ndarray,
        age_s: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(speed_kmh, samples, mean age_s) per link from probe fixes."""
        from control.congestion import map_match, probe_link_speed

        moving = np.isfinite(speed_kmh) & (speed_kmh >= self.min_speed_kmh)
        x, y = local_xy_m(lat[moving], lon[moving], self.lat0, self.lon0)
        seg, _, _ = map_match(x, y, self.index, heading_deg[moving])
        link = np.where(seg >= 0, self.segment_link[np.maximum(seg, 0)], -1)
        return probe_link_speed(link, speed_kmh[moving], age_s[moving], self.n_links)


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
