"""Synthetic ATCS controllers: detector counts by class and signal phase changes.

Detectors
---------
Each detector watches one lane of an approach. Its expected flow is

    q(t) = q_mean * f(t)   [veh/h],

where ``f`` is the daily demand factor (:func:`sim.profiles.demand_factor`, mean 1,
SCATS-calibrated) and ``q_mean`` is drawn so that the lane's peak demand is 55-95 %
of its capacity. Counts per interval are Poisson with mean ``q(t) * interval_s /
3600`` and split over the classes ``mc, lv, hv, um`` by a multinomial draw around
the detector's own shares (Dirichlet around :data:`sim.profiles.CLASS_SHARES`, 70 %
motorcycles).

Occupancy and speed follow Greenshields' fundamental diagram of the lane:

    q = v_f k (1 - k / k_j),   q_c = v_f k_j / 4,
    k = k_j / 2 (1 -/+ sqrt(1 - q / q_c)),   v = q / k,
    occupancy_pct = 95 k / k_j

with ``v_f`` the link's free-flow speed, ``q_c`` the lane capacity (link capacity /
lanes). The uncongested root is used, except near capacity where an interval is
congested (upper root: slow, high occupancy) with probability rising from 0 at
q/q_c = 0.85 to 0.5 at 1. A detector sees 95 % occupancy at jam density (the
effective vehicle length is 0.95/k_j). ``speed_kmh`` is null when nothing passed;
video detectors also report ``queue_m``.

Signals
-------
Each controller runs its stored fixed plan: phase ``p`` turns green, amber and red
at fixed offsets in the cycle, each change one ``signal`` message.

References
----------
Greenshields, B. D. (1935). A study of traffic capacity. HRB Proceedings 14.
"""

from __future__ import annotations

import math

import numpy as np

from hub.inventory import Inventory
from ingest.contract import Kind, topic_for
from sim.profiles import CLASS_SHARES, daily_profile, demand_factor

CLASSES = ("mc", "lv", "hv", "um")
OCCUPANCY_AT_JAM_PCT = 95.0
QUEUE_AT_JAM_M = 250.0  # queue length reported at jam density by video detectors [m]
PEAK_DEMAND_RATIO = (0.55, 0.95)  # peak demand / lane capacity, per approach


class AtcsSim:
    """All ATCS controllers of an inventory (detector reports and signal events)."""

    def __init__(
        self,
        inv: Inventory,
        rng: np.random.Generator,
        *,
        interval_s: int = 60,
        root: str = "tlive",
        signals: bool = True,
    ) -> None:
        if not 1 <= interval_s <= 3600:
            raise ValueError(f"interval_s must be 1..3600 s, got {interval_s}")
        self.rng = rng
        self.interval_s = interval_s
        self.signals = signals
        links = inv.link_by_id
        peak = float(daily_profile(weekend=False).max())
        self.peak_factor = peak
        ints = inv.intersections
        self.ids = [i.id for i in ints]
        self.det_topic = [topic_for(Kind.DETECTORS, i.id, root=root) for i in ints]
        self.sig_topic = [topic_for(Kind.SIGNAL, i.id, root=root) for i in ints]
        owner, prefix, qc, vf, q_mean, video = [], [], [], [], [], []
        for k, it in enumerate(ints):
            appr = {a.id: a for a in it.approaches}
            ratio = {a.id: rng.uniform(*PEAK_DEMAND_RATIO) for a in it.approaches}
            for d in it.detectors:
                a = appr[d.approach]
                ln = links.get(a.link_id) if a.link_id else None
                lanes = len(a.lanes) if d.lane == 0 else 1
                cap = (ln.capacity_veh_h / ln.lanes if ln else 1800.0) * lanes
                owner.append(k)
                qc.append(cap)
                vf.append(ln.free_flow_kmh if ln else 40.0)
                # kerb lane 1 carries fewer vehicles (turning, parking): 0.8
                lane_f = 0.8 if d.lane == 1 and len(a.lanes) > 1 else 1.0
                q_mean.append(ratio[d.approach] * lane_f * cap / peak)
                video.append(d.kind == "video")
                prefix.append(
                    f'{{"detector_id":"{d.id}","approach":"{d.approach}","lane":{d.lane},'
                )
        self.owner = np.asarray(owner, dtype=np.int64)
        self.prefix = prefix
        self.qc_veh_h = np.asarray(qc, dtype=float)
        self.vf_kmh = np.asarray(vf, dtype=float)
        self.kj_veh_km = 4.0 * self.qc_veh_h / self.vf_kmh
        self.q_mean_veh_h = np.asarray(q_mean, dtype=float)
        self.video = np.asarray(video, dtype=bool)
        alpha = np.array([CLASS_SHARES[c] for c in CLASSES]) * 300.0
        self.shares = rng.dirichlet(alpha, size=len(owner)) if owner else np.zeros((0, 4))
        # per-intersection report jitter so controllers do not all report at once [ms]
        self.jitter_ms = rng.integers(0, 2000, size=len(ints))
        self.det_seq = np.zeros(len(ints), dtype=np.int64)
        self.sig_seq = np.zeros(len(ints), dtype=np.int64)
        # detectors grouped by intersection (contiguous, in inventory order)
        bounds = np.searchsorted(self.owner, np.arange(len(ints) + 1))
        self.slices = [(int(bounds[k]), int(bounds[k + 1])) for k in range(len(ints))]
        # signal timetable per intersection: (offset in cycle [s], phase, state)
        self.plans = []
        for it in ints:
            p = it.plan
            events = []
            t = 0.0
            for ph, g in zip(it.phases, p.greens_s, strict=True):
                events.append((t, ph.number, "green"))
                events.append((t + g, ph.number, "amber"))
                events.append((t + g + p.amber_s, ph.number, "red"))
                t += g + p.amber_s + p.all_red_s
            self.plans.append((p.cycle_s, p.offset_s, events, p.id))

    def expected_counts(self, t_end_s: float) -> np.ndarray:
        """Expected vehicles per detector in the interval ending at ``t_end_s`` [veh]."""
        f = float(demand_factor(t_end_s - self.interval_s / 2.0))
        return self.q_mean_veh_h * f * self.interval_s / 3600.0

    def window(self, t0: float, t1: float, out: list[tuple[int, str, bytes]]) -> None:
        """Append the messages with ``t0 <= ts < t1`` (epoch seconds) to ``out``."""
        if len(self.owner):
            iv = self.interval_s
            b = math.ceil(t0 / iv) * iv
            while b < t1:
                self._reports(b, out)
                b += iv
        if self.signals:
            self._signals(t0, t1, out)

    def _reports(self, t_end: float, out: list[tuple[int, str, bytes]]) -> None:
        rng, iv = self.rng, self.interval_s
        lam = self.expected_counts(t_end)
        n = rng.poisson(lam)
        by_class = rng.multinomial(n, self.shares)
        q = n * (3600.0 / iv)
        x = np.minimum(q / self.qc_veh_h, 0.999)
        x_exp = lam * (3600.0 / iv) / self.qc_veh_h
        congested = (rng.random(len(n)) < np.clip((x_exp - 0.85) / 0.3, 0.0, 0.5)) & (n > 0)
        root = np.sqrt(1.0 - x)
        k = self.kj_veh_km / 2.0 * np.where(congested, 1.0 + root, 1.0 - root)
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.where(n > 0, q / k, np.nan)
        occ = np.round(OCCUPANCY_AT_JAM_PCT * k / self.kj_veh_km, 1)
        queue = np.round(QUEUE_AT_JAM_M * (k / self.kj_veh_km) ** 1.5, 1)
        ts_base = int(t_end * 1000)
        cls = by_class.tolist()
        occ_l, v_l, q_l, video = occ.tolist(), v.tolist(), queue.tolist(), self.video.tolist()
        prefix = self.prefix
        for i, (a, z) in enumerate(self.slices):
            if a == z:
                continue
            parts = []
            for d in range(a, z):
                mc, lv, hv, um = cls[d]
                sp = v_l[d]
                speed = "null" if sp != sp else f"{min(sp, 250.0):.1f}"
                tail = f',"queue_m":{q_l[d]}}}' if video[d] else "}"
                parts.append(
                    f'{prefix[d]}"mc":{mc},"lv":{lv},"hv":{hv},"um":{um},'
                    f'"occupancy_pct":{occ_l[d]},"speed_kmh":{speed}{tail}'
                )
            seq = int(self.det_seq[i])
            self.det_seq[i] = seq + 1
            ts = ts_base + int(self.jitter_ms[i])
            payload = (
                f'{{"seq":{seq},"ts":{ts},"interval_s":{iv},"detectors":[{",".join(parts)}]}}'
            )
            out.append((ts, self.det_topic[i], payload.encode()))

    def _signals(self, t0: float, t1: float, out: list[tuple[int, str, bytes]]) -> None:
        for i, (cycle, offset, events, plan_id) in enumerate(self.plans):
            c = math.floor((t0 - offset) / cycle)
            while True:
                start = offset + c * cycle
                if start >= t1:
                    break
                for dt, phase, state in events:
                    t = start + dt
                    if t0 <= t < t1:
                        ts = int(round(t * 1000))
                        seq = int(self.sig_seq[i])
                        self.sig_seq[i] = seq + 1
                        out.append((
                            ts,
                            self.sig_topic[i],
                            (
                                f'{{"seq":{seq},"ts":{ts},"phase":{phase},"state":"{state}",'
                                f'"plan_id":"{plan_id}"}}'
                            ).encode(),
                        ))
                c += 1
