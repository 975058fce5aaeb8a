"""Live link weights with fallbacks: live estimate, then time-of-day profile, then free flow.

Pure functions on link arrays (links on axis 0, time-of-day slots on the last axis).
The live speeds come from the control core's congestion estimates
(:mod:`control.congestion`); this module only decides, link by link, which speed
to trust and turns it into a travel time that routing can use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import numpy.typing as npt

from control.congestion import congestion_level, travel_time_index

SLOT_S = 900  # time-of-day profile resolution: 15 minutes [s]
SLOTS_PER_DAY = 86_400 // SLOT_S
WIB = timezone(timedelta(hours=7), "WIB")  # Kota Tangerang local time (UTC+7)
MIN_SPEED_KMH = 2.0  # a link is never slower than walking pace in the weights [km/h]
LIVE_MAX_AGE_S = 900.0  # a live estimate older than this is not live any more [s]

#: Source of each link's weight, as stored in ``LinkWeights.source``.
SOURCE_LIVE, SOURCE_PROFILE, SOURCE_FREE_FLOW = 0, 1, 2
SOURCE_NAMES = ("live", "profile", "free_flow")


def time_of_day_slot(when: datetime, slot_s: int = SLOT_S) -> int:
    """The profile slot (0 .. 86400/slot_s - 1) of ``when`` in local time (WIB)."""
    if when.tzinfo is None:
        raise ValueError("when must be timezone-aware")
    local = when.astimezone(WIB)
    return (local.hour * 3600 + local.minute * 60 + local.second) // slot_s


def select_speed_kmh(
    live_kmh: npt.ArrayLike,
    live_age_s: npt.ArrayLike,
    profile_kmh: npt.ArrayLike,
    free_flow_kmh: npt.ArrayLike,
    max_age_s: float = LIVE_MAX_AGE_S,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """Speed per link by the fallback chain, and where it came from.

    Parameters
    ----------
    live_kmh : (n_links,) live speed estimate [km/h]; NaN = none
    live_age_s : (n_links,) age of the live estimate [s]; NaN = none
    profile_kmh : (n_links,) historical speed for this time of day [km/h]; NaN = none
    free_flow_kmh : (n_links,) free-flow speed [km/h], > 0
    max_age_s : live estimates older than this fall back [s]

    Returns
    -------
    speed_kmh : (n_links,) [km/h], in [MIN_SPEED_KMH, free_flow_kmh]
    source : (n_links,) int8, SOURCE_LIVE / SOURCE_PROFILE / SOURCE_FREE_FLOW

    Notes
    -----
    A usable value is finite and > 0; speeds above free flow are capped at free
    flow so that travel times never drop below the free-flow time (the routing
    bounds rely on it).
    """
    vf = np.asarray(free_flow_kmh, dtype=np.float64)
    live = np.asarray(live_kmh, dtype=np.float64)
    age = np.asarray(live_age_s, dtype=np.float64)
    prof = np.asarray(profile_kmh, dtype=np.float64)
    for name, a in (("live_kmh", live), ("live_age_s", age), ("profile_kmh", prof)):
        if a.shape != vf.shape:
            raise ValueError(f"{name} has shape {a.shape}, expected {vf.shape}")
    if np.any(~(vf > 0)):
        raise ValueError("free_flow_kmh must be > 0 on every link")
    live_ok = np.isfinite(live) & (live > 0) & np.isfinite(age) & (age <= max_age_s)
    prof_ok = np.isfinite(prof) & (prof > 0)
    source = np.where(
        live_ok, SOURCE_LIVE, np.where(prof_ok, SOURCE_PROFILE, SOURCE_FREE_FLOW)
    ).astype(np.int8)
    speed = np.where(live_ok, live, np.where(prof_ok, prof, vf))
    speed = np.clip(speed, np.minimum(MIN_SPEED_KMH, vf), vf)
    return speed, source


def link_travel_time_s(length_m: npt.ArrayLike, speed_kmh: npt.ArrayLike) -> np.ndarray:
    """Travel time [s] of links of ``length_m`` [m] at ``speed_kmh`` [km/h]: t = L / (v/3.6)."""
    return np.asarray(length_m, dtype=np.float64) / (np.asarray(speed_kmh) / 3.6)


@dataclass(frozen=True)
class LinkWeights:
    """One refresh of the live link state (links on axis 0)."""

    version: int  # increases with every refresh
    computed_at: datetime  # UTC
    time_s: np.ndarray  # routing weight [s], >= free-flow time
    speed_kmh: np.ndarray
    source: np.ndarray  # int8 SOURCE_*
    tti: np.ndarray  # travel-time index [-]
    level: np.ndarray  # int8 0 free, 1 moderate, 2 heavy, 3 jammed
    jam_factor: np.ndarray  # [0, 10]
    anomaly: np.ndarray  # bool: much slower than its own history now
    anomaly_z: np.ndarray  # standard score, positive when slower than usual

    def counts(self) -> dict[str, int]:
        """Links per weight source."""
        return {
            name: int(np.count_nonzero(self.source == i)) for i, name in enumerate(SOURCE_NAMES)
        }


def compute_weights(
    *,
    version: int,
    computed_at: datetime,
    length_m: npt.ArrayLike,
    free_flow_kmh: npt.ArrayLike,
    live_kmh: npt.ArrayLike,
    live_age_s: npt.ArrayLike,
    profile_kmh: npt.ArrayLike,
    profile_std_kmh: npt.ArrayLike | None = None,
    max_age_s: float = LIVE_MAX_AGE_S,
) -> LinkWeights:
    """All link weights and congestion indicators for one refresh.

    The travel-time index, level and jam factor are the control core's
    (:func:`control.congestion.travel_time_index`, :func:`~control.congestion.congestion_level`);
    the anomaly flag compares live speeds with the profile
    (:func:`control.congestion.anomaly_flag`) and is False where either is missing.
    """
    from control.congestion import anomaly_flag

    vf = np.asarray(free_flow_kmh, dtype=np.float64)
    speed, source = select_speed_kmh(live_kmh, live_age_s, profile_kmh, vf, max_age_s)
    length = np.asarray(length_m, dtype=np.float64)
    time_s = np.maximum(link_travel_time_s(length, speed), link_travel_time_s(length, vf))
    tti = travel_time_index(speed, vf)
    level, jam = congestion_level(speed, vf)
    prof = np.asarray(profile_kmh, dtype=np.float64)
    std = (
        np.full_like(prof, np.nan)
        if profile_std_kmh is None
        else np.asarray(profile_std_kmh, dtype=np.float64)
    )
    live_speed = np.where(source == SOURCE_LIVE, speed, np.nan)
    # unknown history spread -> z is NaN -> not flagged (no guessing on noise)
    flag, z = anomaly_flag(live_speed, prof, std)
    return LinkWeights(
        version=version,
        computed_at=computed_at,
        time_s=time_s,
        speed_kmh=speed,
        source=source,
        tti=tti,
        level=level,
        jam_factor=jam,
        anomaly=flag,
        anomaly_z=np.where(np.isfinite(z), z, np.nan),
    )


def profile_travel_time_s(
    length_m: npt.ArrayLike, free_flow_kmh: npt.ArrayLike, profile_kmh: npt.ArrayLike
) -> np.ndarray:
    """Travel time [s] per link and slot from a (n_links, n_slots) speed profile.

    Missing profile values fall back to free flow; speeds are capped as in
    :func:`select_speed_kmh`. Returns (n_links, n_slots).
    """
    vf = np.asarray(free_flow_kmh, dtype=np.float64)[:, None]
    prof = np.asarray(profile_kmh, dtype=np.float64)
    if prof.ndim != 2 or prof.shape[0] != vf.shape[0]:
        raise ValueError(f"profile_kmh has shape {prof.shape}, expected ({vf.shape[0]}, n_slots)")
    v = np.where(np.isfinite(prof) & (prof > 0), prof, vf)
    v = np.clip(v, np.minimum(MIN_SPEED_KMH, vf), vf)
    return np.asarray(length_m, dtype=np.float64)[:, None] / (v / 3.6)
