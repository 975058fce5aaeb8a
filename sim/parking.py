"""Synthetic parking-bay sensors: arrivals, departures, heartbeats and sensor faults.

For each kind of lot a target occupancy by hour of day ``o(h)`` and a mean dwell
time ``D`` are given (:data:`LOT_PROFILES`, approximate). By Little's law the
arrival rate per bay is ``lambda(h) = o(h) / D`` [1/h]; arrivals are Poisson, each
takes a random bay that is free, or is turned away when the lot is full (so
occupancy never exceeds the sensored bays, and those never exceed capacity). Dwell
times are log-normal with mean ``D`` (sigma 0.6).

Each bay sensor reports every change (``kind: change``) and a heartbeat every
``heartbeat_s`` (``kind: heartbeat``, with ``battery_pct``). Faults as real
magnetometer/radar bay sensors show them: *stuck* (the sensor keeps reporting its
last state while the bay changes), *offline* (no messages at all for a while) and
*battery low* (some sensors start near 15 % and drain). Faults start at random
per bay-day rates given in :data:`FAULTS`.
"""

from __future__ import annotations

import numpy as np

from hub.inventory import Inventory
from ingest.contract import Kind, topic_for
from sim.profiles import WIB_OFFSET_S

# kind: (target occupancy for hours 0..23 (WIB), mean dwell [h]) -- approximate
LOT_PROFILES: dict[str, tuple[tuple[float, ...], float]] = {
    "mall": ((0.02,) * 9 + (0.10, 0.35, 0.55, 0.70, 0.70, 0.60, 0.60, 0.65, 0.75, 0.85, 0.85,
             0.70, 0.45, 0.10, 0.03), 2.0),
    "office": ((0.05,) * 6 + (0.15, 0.50, 0.85, 0.92, 0.92, 0.92, 0.88, 0.90, 0.90, 0.85, 0.60,
               0.30, 0.15, 0.10, 0.05, 0.05, 0.05, 0.05), 6.0),
    "market": ((0.10,) * 4 + (0.40, 0.75, 0.85, 0.85, 0.75, 0.60, 0.55, 0.50, 0.40, 0.35, 0.35,
               0.40, 0.45, 0.50, 0.45, 0.35, 0.25, 0.15, 0.10, 0.10), 1.0),
    "on_street": ((0.10,) * 6 + (0.25, 0.45, 0.60, 0.65, 0.70, 0.80, 0.85, 0.75, 0.70, 0.70,
                  0.75, 0.85, 0.85, 0.75, 0.55, 0.35, 0.20, 0.15), 0.75),
    "hospital": ((0.30,) * 6 + (0.45, 0.70, 0.90, 0.95, 0.95, 0.90, 0.85, 0.75, 0.70, 0.65,
                 0.65, 0.70, 0.65, 0.55, 0.45, 0.40, 0.35, 0.30), 2.5),
    "station": ((0.10,) * 5 + (0.25, 0.60, 0.85, 0.90, 0.90, 0.90, 0.90, 0.90, 0.90, 0.90,
                0.85, 0.75, 0.60, 0.45, 0.35, 0.25, 0.15, 0.10, 0.10), 9.0),
    "park": ((0.05,) * 5 + (0.30, 0.50, 0.40, 0.25, 0.20, 0.20, 0.20, 0.20, 0.25, 0.35, 0.50,
             0.65, 0.70, 0.60, 0.40, 0.20, 0.10, 0.05, 0.05), 1.5),
}
DWELL_SIGMA = 0.6
# fault: (starts per bay-day, (min, max) duration [h])
FAULTS = {"stuck": (0.002, (1.0, 12.0)), "offline": (0.005, (0.5, 6.0))}
BATTERY_DRAIN_PCT_DAY = 0.3
LOW_BATTERY_SHARE = 0.02  # sensors that start near the low-battery threshold


class ParkingSim:
    """All sensored bays of an inventory."""

    def __init__(
        self,
        inv: Inventory,
        rng: np.random.Generator,
        start_s: float,
        *,
        heartbeat_s: float = 300.0,
        root: str = "tlive",
    ) -> None:
        self.rng = rng
        self.heartbeat_s = heartbeat_s
        lot_of, topics = [], []
        self.lot_ids = [lot.id for lot in inv.lots]
        self.lot_capacity = np.array([lot.capacity for lot in inv.lots], dtype=np.int64)
        self.lot_occ = np.array(
            [LOT_PROFILES[lot.kind][0] for lot in inv.lots], dtype=float
        ).reshape(len(inv.lots), 24)
        self.lot_dwell_h = np.array([LOT_PROFILES[lot.kind][1] for lot in inv.lots], dtype=float)
        for k, lot in enumerate(inv.lots):
            for b in lot.bays:
                lot_of.append(k)
                topics.append(topic_for(Kind.PARKING, lot.id, b.id, root=root))
        n = len(lot_of)
        self.n_bays = n
        self.lot_of = np.asarray(lot_of, dtype=np.int64)
        self.bays_per_lot = np.bincount(self.lot_of, minlength=len(inv.lots))
        ends = np.cumsum(self.bays_per_lot)
        self.lot_slice = [
            (int(e - c), int(e)) for e, c in zip(ends, self.bays_per_lot, strict=True)
        ]
        self.topics = topics
        self.seq = np.zeros(n, dtype=np.int64)
        # initial state: occupied with the lot's target occupancy at the start hour
        h0 = _hour(start_s)
        p0 = self.lot_occ[self.lot_of, h0] if n else np.zeros(0)
        self.occupied = rng.random(n) < p0
        self.depart_s = np.full(n, np.inf)
        dwell_left = self._dwell_h(n) * rng.random(n) * 3600.0
        self.depart_s[self.occupied] = start_s + dwell_left[self.occupied]
        self.reported = self.occupied.copy()
        self.battery = rng.uniform(40.0, 100.0, n)
        low = rng.random(n) < LOW_BATTERY_SHARE
        self.battery[low] = rng.uniform(14.0, 17.0, int(low.sum()))
        self.next_hb_s = start_s + rng.random(n) * heartbeat_s
        self.stuck_until = np.full(n, -np.inf)
        self.offline_until = np.full(n, -np.inf)
        self.turned_away = np.zeros(len(inv.lots), dtype=np.int64)
        self.arrivals = np.zeros(len(inv.lots), dtype=np.int64)

    def _dwell_h(self, n: int, lots: np.ndarray | None = None) -> np.ndarray:
        mean = self.lot_dwell_h[self.lot_of if lots is None else lots][:n]
        mu = np.log(mean) - DWELL_SIGMA**2 / 2.0
        return np.exp(mu + DWELL_SIGMA * self.rng.standard_normal(len(mean)))

    def occupancy(self) -> np.ndarray:
        """True occupied bays per lot (never above the lot's capacity)."""
        return np.bincount(self.lot_of, weights=self.occupied, minlength=len(self.lot_ids))

    def window(self, t0: float, t1: float, out: list[tuple[int, str, bytes]]) -> None:
        """Advance the bays over ``[t0, t1)`` and append the sensors' messages to ``out``."""
        if self.n_bays == 0:
            return
        rng, dt = self.rng, t1 - t0
        events: list[tuple[float, int, int]] = []  # (t, bay, 1 arrival / 0 departure / -1 hb)
        # faults starting in this window
        for name, (per_day, (lo, hi)) in FAULTS.items():
            starts = np.flatnonzero(rng.random(self.n_bays) < per_day * dt / 86400.0)
            if len(starts):
                until = t0 + rng.uniform(lo, hi, len(starts)) * 3600.0
                arr = self.stuck_until if name == "stuck" else self.offline_until
                arr[starts] = np.maximum(arr[starts], until)
        # departures (a very short stay may have ended just before t0: report it at t0)
        dep = np.flatnonzero(self.depart_s < t1)
        dep_t = np.maximum(self.depart_s[dep], t0)
        self.occupied[dep] = False
        self.depart_s[dep] = np.inf
        events += [(t, b, 0) for t, b in zip(dep_t.tolist(), dep.tolist(), strict=True)]
        # arrivals per lot (Poisson, Little's law); a bay freed in this window is not
        # taken again before the next one, so each bay changes at most once per window
        taken = ~self.occupied
        taken[dep] = False
        h = _hour(t0)
        lam = self.lot_occ[:, h] / self.lot_dwell_h * self.bays_per_lot * dt / 3600.0
        n_arr = rng.poisson(lam)
        for k in np.flatnonzero(n_arr).tolist():
            self.arrivals[k] += n_arr[k]
            lo, hi = self.lot_slice[k]
            free = lo + np.flatnonzero(taken[lo:hi])
            take = min(int(n_arr[k]), len(free))
            self.turned_away[k] += int(n_arr[k]) - take
            if take == 0:
                continue
            bays = rng.choice(free, size=take, replace=False)
            t_arr = t0 + rng.random(take) * dt
            self.occupied[bays] = True
            self.depart_s[bays] = t_arr + self._dwell_h(take, self.lot_of[bays]) * 3600.0
            events += [(t, b, 1) for t, b in zip(t_arr.tolist(), bays.tolist(), strict=True)]
        # heartbeats
        hb = np.flatnonzero(self.next_hb_s < t1)
        events += [(t, b, -1) for t, b in zip(self.next_hb_s[hb].tolist(), hb.tolist(),
                                               strict=True)]
        self.next_hb_s[hb] += self.heartbeat_s
        self.battery -= BATTERY_DRAIN_PCT_DAY * dt / 86400.0
        np.maximum(self.battery, 0.0, out=self.battery)
        events.sort()
        offline, stuck, reported = self.offline_until, self.stuck_until, self.reported
        for t, b, what in events:
            if t < offline[b]:
                continue  # offline: nothing reaches the broker
            if what >= 0:
                state = what == 1
                if t < stuck[b] or state == reported[b]:
                    continue  # a stuck sensor does not see the change
                reported[b] = state
                body = f'"occupied":{"true" if state else "false"},"kind":"change"'
            else:  # heartbeat: the sensor's view (stale when stuck) and its battery
                body = (
                    f'"occupied":{"true" if reported[b] else "false"},"kind":"heartbeat",'
                    f'"battery_pct":{self.battery[b]:.1f}'
                )
            seq = int(self.seq[b])
            self.seq[b] = seq + 1
            ts = int(t * 1000)
            out.append((ts, self.topics[b], f'{{"seq":{seq},"ts":{ts},{body}}}'.encode()))


def _hour(t_s: float) -> int:
    return int(((t_s + WIB_OFFSET_S) % 86400.0) // 3600.0)


def lot_target_occupancy(kind: str, t_s: float | np.ndarray) -> np.ndarray:
    """The target occupancy share of a lot kind at UTC epoch seconds."""
    h = ((np.asarray(t_s, dtype=float) + WIB_OFFSET_S) % 86400.0 // 3600.0).astype(int)
    return np.asarray(LOT_PROFILES[kind][0])[h]

