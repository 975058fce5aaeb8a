"""Departure-time advice from the time-of-day profile, and alerts from the congestion state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from traveler_info.graph import RoadGraph
from traveler_info.i18n import Lang, t
from traveler_info.weights import SLOT_S, SLOTS_PER_DAY, WIB, LinkWeights, time_of_day_slot

ADVICE_HORIZON_S = 2 * 3600  # how far ahead departures are considered [s]
ADVICE_MIN_SAVING_S = 300.0  # advise waiting only when it saves at least this [s] ...
ADVICE_MIN_SAVING_FRAC = 0.10  # ... and at least this share of the trip [-]


@dataclass(frozen=True)
class DepartureAdvice:
    leave_now: bool
    leave_at: datetime  # UTC
    travel_time_s: float  # if leaving at leave_at
    saving_s: float  # against leaving now
    message: str


def departure_advice(
    profile_time_s: np.ndarray,
    routes: list[np.ndarray],
    now_time_s: float,
    now: datetime,
    lang: Lang,
    horizon_s: int = ADVICE_HORIZON_S,
) -> DepartureAdvice:
    """When to leave: now, or at the start of a later profile slot if it saves enough.

    Parameters
    ----------
    profile_time_s : (n_links, SLOTS_PER_DAY) link travel times of the time-of-day profile [s]
    routes : link indices of the candidate routes (the fastest and the alternatives)
    now_time_s : the fastest route's time on the live weights [s]
    now : the query time (timezone-aware)

    Notes
    -----
    Each later departure (the next slot boundaries up to ``horizon_s``) is costed
    on the given routes with that slot's profile times, the trip taken as lasting
    within one slot (a static approximation of time-dependent routing); the best
    is advised when it saves at least ``ADVICE_MIN_SAVING_S`` and
    ``ADVICE_MIN_SAVING_FRAC`` of the trip.
    """
    if profile_time_s.ndim != 2 or profile_time_s.shape[1] != SLOTS_PER_DAY:
        raise ValueError(
            f"profile_time_s has shape {profile_time_s.shape}, expected (n_links, {SLOTS_PER_DAY})"
        )
    slot_now = time_of_day_slot(now)
    local = now.astimezone(WIB)
    slot_start = local.replace(minute=0, second=0, microsecond=0) + timedelta(
        seconds=(slot_now * SLOT_S) % 3600
    )
    k = np.arange(1, horizon_s // SLOT_S + 1)
    slots = (slot_now + k) % SLOTS_PER_DAY
    # (n_routes, n_candidates) route times per candidate departure slot
    times = np.array([profile_time_s[e][:, slots].sum(axis=0) for e in routes if len(e)])
    best_t, best_at = now_time_s, now
    if times.size:
        per_slot = times.min(axis=0)
        j = int(np.argmin(per_slot))
        if per_slot[j] < now_time_s:
            best_t = float(per_slot[j])
            best_at = slot_start + timedelta(seconds=int(k[j]) * SLOT_S)
    saving = now_time_s - best_t
    if best_at is now or saving < max(ADVICE_MIN_SAVING_S, ADVICE_MIN_SAVING_FRAC * now_time_s):
        return DepartureAdvice(True, now.astimezone(WIB), now_time_s, 0.0, t("leave_now", lang))
    minutes = int(round(saving / 60.0))
    msg = t("leave_at", lang, time=best_at.astimezone(WIB).strftime("%H:%M"), minutes=minutes)
    return DepartureAdvice(False, best_at.astimezone(WIB), best_t, saving, msg)


@dataclass(frozen=True)
class Alert:
    id: str
    kind: str  # "jam" | "anomaly"
    severity: str  # "medium" | "high"
    link: int
    lon: float
    lat: float
    speed_kmh: float
    usual_kmh: float
    jam_factor: float


def find_alerts(
    graph: RoadGraph,
    weights: LinkWeights,
    free_flow_kmh: np.ndarray,
    usual_kmh: np.ndarray,
    anomaly_high_z: float = 5.0,
) -> list[Alert]:
    """Alerts from the live congestion state: anomalies (incidents) and jammed links.

    Only links with a live estimate can raise an alert (a jam in the profile is
    the usual state, not news). Anomalies come first, then jams, each by
    decreasing jam factor; ``severity`` is "high" for an anomaly with z >=
    ``anomaly_high_z`` or a jam factor >= 9, else "medium".
    """
    live = weights.source == 0
    anomaly = live & weights.anomaly
    jam = live & (weights.level == 3) & ~anomaly
    mid = graph.link_midpoints
    out: list[Alert] = []
    for kind, mask in (("anomaly", anomaly), ("jam", jam)):
        idx = np.flatnonzero(mask)
        idx = idx[np.argsort(-weights.jam_factor[idx], kind="stable")]
        if kind == "anomaly":
            high = weights.anomaly_z[idx] >= anomaly_high_z
        else:
            high = weights.jam_factor[idx] >= 9.0
        usual = np.where(np.isfinite(usual_kmh[idx]), usual_kmh[idx], free_flow_kmh[idx])
        rows = zip(
            idx.tolist(), high.tolist(), mid[idx, 0].tolist(), mid[idx, 1].tolist(),
            weights.speed_kmh[idx].tolist(), usual.tolist(), weights.jam_factor[idx].tolist(),
            strict=True,
        )
        out.extend(
            Alert(f"{kind}-{graph.edge_ids[e]}", kind, "high" if h else "medium", e, x, y, v, u, j)
            for e, h, x, y, v, u, j in rows
        )
    return out


def alert_message(alert: Alert, street: str, free_flow_kmh: float, lang: Lang) -> str:
    if alert.kind == "anomaly":
        return t(
            "anomaly", lang, street=street, speed=round(alert.speed_kmh),
            usual=round(alert.usual_kmh),
        )
    return t("jam", lang, street=street, speed=round(alert.speed_kmh), free=round(free_flow_kmh))
