"""The synthetic city's devices in one engine: windows of messages in time order.

:class:`DeviceEngine` owns one simulator per device family (ATCS controllers,
parking-bay sensors, truck trackers), all driven by one seeded random generator,
and produces the messages of a time window ``[t0, t1)`` sorted by timestamp as
``(ts_ms, topic, payload_bytes)``. Payloads are JSON that validates against the
wire contract (:mod:`ingest.contract`); topics come from
:func:`ingest.contract.topic_for`. Same inventory + seed + start = same messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hub.inventory import Inventory
from sim.atcs import AtcsSim
from sim.fleet import FleetSim
from sim.parking import ParkingSim

Msg = tuple[int, str, bytes]
FAMILIES = ("detectors", "signal", "parking", "gps")


@dataclass(frozen=True)
class EngineConfig:
    seed: int = 0
    root: str = "tlive"
    detector_interval_s: int = 60
    heartbeat_s: float = 300.0
    gps_interval_s: float = 10.0
    window_s: float = 10.0
    families: tuple[str, ...] = FAMILIES
    record_truth: bool = False


class DeviceEngine:
    """Every synthetic device of ``inv`` from simulated time ``start_s`` (epoch seconds)."""

    def __init__(self, inv: Inventory, start_s: float, config: EngineConfig | None = None) -> None:
        cfg = config or EngineConfig()
        unknown = set(cfg.families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown device families {sorted(unknown)}; known: {FAMILIES}")
        self.config = cfg
        self.inv = inv
        self.t = float(start_s)
        self.start_s = float(start_s)
        ss = np.random.SeedSequence(cfg.seed)
        r_atcs, r_park, r_fleet = (np.random.default_rng(s) for s in ss.spawn(3))
        fam = set(cfg.families)
        self.atcs = (
            AtcsSim(inv, r_atcs, interval_s=cfg.detector_interval_s, root=cfg.root,
                    signals="signal" in fam)
            if fam & {"detectors", "signal"}
            else None
        )
        self.detectors_on = "detectors" in fam
        self.parking = (
            ParkingSim(inv, r_park, start_s, heartbeat_s=cfg.heartbeat_s, root=cfg.root)
            if "parking" in fam
            else None
        )
        self.fleet = (
            FleetSim(inv, r_fleet, start_s, gps_interval_s=cfg.gps_interval_s, root=cfg.root,
                     record_truth=cfg.record_truth)
            if "gps" in fam
            else None
        )

    def window(self, t1: float) -> list[Msg]:
        """Advance to ``t1`` and return the messages of ``[t, t1)`` in time order."""
        t0 = self.t
        out: list[Msg] = []
        if t1 <= t0:
            return out
        if self.atcs is not None:
            if self.detectors_on:
                self.atcs.window(t0, t1, out)
            elif self.atcs.signals:
                self.atcs._signals(t0, t1, out)
        if self.parking is not None:
            self.parking.window(t0, t1, out)
        if self.fleet is not None:
            self.fleet.window(t0, t1, out)
        out.sort(key=_ts)
        self.t = t1
        return out

    def windows(self, until_s: float | None = None) -> Iterator[list[Msg]]:
        """Successive windows of ``config.window_s`` (endless when ``until_s`` is None)."""
        step = self.config.window_s
        while until_s is None or self.t < until_s:
            t1 = self.t + step if until_s is None else min(self.t + step, until_s)
            yield self.window(t1)

    def real_time_rate(self) -> dict[str, float]:
        """Expected messages per simulated second, by family (approximate)."""
        cfg, inv = self.config, self.inv
        rate = {"detectors": 0.0, "signal": 0.0, "parking": 0.0, "gps": 0.0}
        if self.atcs is not None and self.detectors_on:
            rate["detectors"] = len(inv.intersections) / cfg.detector_interval_s
        if self.atcs is not None and self.atcs.signals:
            rate["signal"] = sum(3 * len(i.phases) / i.plan.cycle_s for i in inv.intersections)
        if self.parking is not None:
            rate["parking"] = self.parking.n_bays / cfg.heartbeat_s
        if self.fleet is not None:
            rate["gps"] = len(self.fleet.trucks) / cfg.gps_interval_s
        return rate


def _ts(m: Msg) -> int:
    return m[0]
