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

from control.congestion import detector_speed_kmh, effective_vehicle_length_m
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
            nan = np.full(self.n_links, np.nan)
            return nan, nan.copy()
        keys = list(zip(row[0], row[1], strict=True))
        cols = np.array(row[2:], dtype=np.float64).T  # (n_det, 8); NULL -> nan
        return self._live_arrays(keys, cols)

    def _live_arrays(
        self, keys: list[tuple[str, str]], a: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        link = np.array([self.approach_link.get(k, -1) for k in keys], dtype=np.int64)
        speed, _ = detector_link_speeds(link, a[:, 0:4], a[:, 4], a[:, 5], a[:, 6], self.n_links)
        ok = link >= 0
        age = np.full(self.n_links, np.inf)
        np.minimum.at(age, link[ok], a[ok, 7])
        age = np.where(np.isfinite(age) & np.isfinite(speed), age, np.nan)
        return speed, age

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
