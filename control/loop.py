"""The adaptive control loop: store counts -> control core -> constraints -> plans.

One :meth:`ControlLoop.tick` does, for every configured intersection at once:

1. read the recent detector counts from ``detector_reading`` (the ingest's table);
2. turn them into critical flows per phase [pcu/h] with the Indonesian
   equivalents, plus a queue term (the residual queue the E2/queue detectors
   report, to be cleared over ``queue_clear_s``), smoothed from tick to tick;
3. compute cycle and splits with the control core (Webster on live flows),
   limit the change from the plan in force (rate limits), round to the
   controller resolution and validate (minimum greens, clearances, bounds);
4. fall back to the intersection's stored fixed plan, with an alert, when its
   data are stale or missing, a value is NaN, or validation fails; a
   control-room override that has not expired wins over everything;
5. publish changed plans retained on ``{root}/v1/atcs/{id}/plan`` and record
   each change with its inputs and reason in ``signal_plan_audit``.

The clock is an argument (``now``), so the same loop runs on wall-clock time in
``tlive control run`` and in lock-step with the SUMO twin's simulated clock.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.types.json import Jsonb

from control.plans import PlanPhase, SignalPlan, plan_topic

log = logging.getLogger(__name__)

#: average jam spacing of one passenger-car unit in a queue [m/pcu]; motorcycles
#: queue side by side (0.2 pcu each), so a metre of queue holds more vehicles
QUEUE_M_PER_PCU = 6.5


@dataclass(frozen=True)
class PhaseConfig:
    """One signal phase of an intersection as the loop sees it."""

    phase: int
    detectors: tuple[str, ...]  # one detector per lane served by the phase
    min_green_s: float = 7.0
    intergreen_s: float = 5.0  # amber + all-red after the phase
    saturation_pcu_h: float = 1900.0  # per lane [pcu/h of green]


@dataclass(frozen=True)
class IntersectionConfig:
    """How the loop controls one intersection, with its stored fixed plan."""

    intersection_id: str
    phases: tuple[PhaseConfig, ...]
    fixed_greens_s: tuple[float, ...]
    min_cycle_s: float = 40.0
    max_cycle_s: float = 150.0
    max_cycle_step_s: float = 12.0
    max_split_step_pct: float = 12.0
    offset_s: float = 0.0
    # corridor linking: signals sharing a ``corridor`` name, in ``corridor_pos`` order,
    # run a common cycle with green-wave offsets when the corridor is busy; phase 0
    # is then the coordinated (arterial) phase. ``travel_s``/``travel_in_s``: travel
    # time from/to the previous signal of the corridor at the progression speed [s]
    corridor: str | None = None
    corridor_pos: int = 0
    travel_s: float = 0.0
    travel_in_s: float | None = None

    @property
    def fixed_cycle_s(self) -> float:
        return float(sum(self.fixed_greens_s) + sum(p.intergreen_s for p in self.phases))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["phases"] = [asdict(p) | {"detectors": list(p.detectors)} for p in self.phases]
        d["fixed_greens_s"] = list(self.fixed_greens_s)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> IntersectionConfig:
        phases = tuple(
            PhaseConfig(**(p | {"detectors": tuple(p["detectors"])})) for p in d["phases"]
        )
        rest = {k: v for k, v in d.items() if k not in ("phases", "fixed_greens_s")}
        return cls(phases=phases, fixed_greens_s=tuple(d["fixed_greens_s"]), **rest)


@dataclass(frozen=True)
class LoopParams:
    """Tuning of the loop (the service passes these in; nothing here reads settings)."""

    window_s: float = 120.0  # counts older than this are not used
    stale_after_s: float = 150.0  # newest count older than this: fall back
    min_coverage: float = 0.5  # share of an intersection's detectors that must report
    smoothing: float = 0.6  # weight of the new measurement in the EWMA of flows
    queue_weight: float = 1.0  # 0 disables the queue term
    queue_clear_s: float = 180.0  # clear the residual queue over this horizon [s]
    resolution_s: float = 1.0
    pce: tuple[float, float, float, float] = (0.2, 1.0, 1.3, 0.5)  # mc, lv, hv, um
    change_threshold_s: float = 0.5  # publish only when a green or the cycle moves this much
    # the envelope for actuated street controllers (mode "actuated"); None: fixed-time plans
    actuated: bool = True
    max_green_factor: float = 4.0  # max green >= this x the planned green
    # max green >= the phase's Webster share of this cycle (demand-proportional caps) [s]
    envelope_cycle_s: float = 0.0
    gap_s: float = 2.0  # motorcycle-heavy platoons: shorter headways than the 3 s car default
    queue_min_green: bool = True  # raise the earliest end of a green to clear the queue
    # corridor linking (SCATS' "marriage"): link a corridor when the largest flow ratio
    # Y of its signals reaches link_y_on, unlink below link_y_off (hysteresis)
    link_y_on: float = 0.30
    link_y_off: float = 0.25
    link_x_target: float = 0.85  # the common cycle keeps every member below this X
    link_search_s: float = 40.0  # cycles tried above the shortest feasible one [s]


class Publisher(Protocol):
    def publish_plan(self, topic: str, payload: bytes) -> None: ...


@dataclass
class Decision:
    """What the loop decided for one intersection in one tick."""

    plan: SignalPlan
    inputs: dict[str, Any]
    alert: tuple[str, str] | None = None  # (kind, message)
    changed: bool = False


@dataclass
class TickResult:
    now: datetime
    decisions: dict[str, Decision] = field(default_factory=dict)

    @property
    def published(self) -> list[SignalPlan]:
        return [d.plan for d in self.decisions.values() if d.changed]


# ---------------------------------------------------------------- the core call
def compute_timing(
    flow_pcu_h: npt.NDArray[np.float64],
    saturation_pcu_h: npt.NDArray[np.float64],
    intergreen_s: npt.NDArray[np.float64],
    min_green_s: npt.NDArray[np.float64],
    mask: npt.NDArray[np.bool_],
    min_cycle_s: npt.NDArray[np.float64],
    max_cycle_s: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.uint8]]:
    """Webster cycle and splits for every intersection at once (the control core).

    Returns ``cycle_s`` (n,), ``green_s`` (n, p) and the core's flags (n,). The
    cycle is raised where the minimum greens would not fit.
    """
    from control.webster import flow_ratio, green_splits, webster_cycle_length

    y = flow_ratio(flow_pcu_h, saturation_pcu_h, mask)
    lost = np.where(mask, intergreen_s, 0.0).sum(axis=-1)
    cycle, flags = webster_cycle_length(y, lost, min_cycle_s, max_cycle_s)
    need = lost + np.where(mask, min_green_s, 0.0).sum(axis=-1)
    cycle = np.maximum(cycle, need)
    green = green_splits(y, cycle, intergreen_s, min_green_s, mask)
    return cycle, green, flags


def actuation_envelope(
    green_s: npt.NDArray[np.float64],
    min_green_s: npt.NDArray[np.float64],
    queue_pcu: npt.NDArray[np.float64],
    saturation_pcu_h: npt.NDArray[np.float64],
    max_green_factor: float,
    intergreen_s: npt.NDArray[np.float64] | None = None,
    envelope_cycle_s: float = 0.0,
) -> tuple[list[float], list[float]]:
    """Earliest and latest end of each green for an actuated street controller.

    The earliest end is the minimum green, raised to what clears the reported
    standing queue at saturation flow (plus 2 s start-up); the latest end is
    ``max_green_factor`` times the planned green, never below the earliest + 2 s,
    and at least the phase's share of the green of an ``envelope_cycle_s`` cycle
    (so a busy phase may run longer than a light one, in proportion to demand).
    """
    clear = 2.0 + np.nan_to_num(queue_pcu) * 3600.0 / saturation_pcu_h
    lo = np.minimum(np.maximum(min_green_s, np.round(clear)), np.maximum(green_s, min_green_s))
    hi = np.maximum(np.round(green_s * max_green_factor), lo + 2.0)
    if envelope_cycle_s > 0 and intergreen_s is not None and green_s.sum() > 0:
        share = green_s / green_s.sum()
        hi = np.maximum(hi, np.round(share * (envelope_cycle_s - intergreen_s.sum())))
    return [float(x) for x in lo], [float(x) for x in hi]


def corridor_timing(
    flow_ratio: npt.NDArray[np.float64],
    intergreen_s: npt.NDArray[np.float64],
    min_green_s: npt.NDArray[np.float64],
    mask: npt.NDArray[np.bool_],
    travel_s: npt.NDArray[np.float64],
    travel_in_s: npt.NDArray[np.float64],
    min_cycle_s: float,
    max_cycle_s: float,
    x_target: float = 0.85,
    search_s: float = 40.0,
) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64], float, float]:
    """Common cycle, greens and green-wave offsets for the signals of one corridor.

    ``flow_ratio``, ``intergreen_s``, ``min_green_s``, ``mask``: (n_signals, n_phases)
    in corridor order; ``travel_s``/``travel_in_s``: (n_signals - 1,) outbound and
    inbound travel times between consecutive signals [s]. Phase 0 is coordinated.

    The shortest feasible cycle keeps every signal's degree of saturation at most
    ``x_target`` (C >= L / (1 - Y / x)) and fits the minimum greens; among the
    whole-second cycles from there to ``search_s`` longer, the one whose
    two-way band (the narrower of the two directions, as a share of the cycle)
    is widest wins, the shortest on ties. Greens are Webster's splits at that cycle
    and offsets the control core's two-way green wave
    (:func:`control.coordination.green_wave_offsets`).

    Returns ``cycle_s``, ``green_s`` (n_signals, n_phases), ``offset_s`` (n_signals,)
    and the outbound and inbound bandwidths [s].
    """
    from control.coordination import green_wave_offsets
    from control.webster import green_splits

    lost = np.where(mask, intergreen_s, 0.0).sum(axis=-1)
    y = np.where(mask, flow_ratio, 0.0).sum(axis=-1)
    need = np.maximum(lost + np.where(mask, min_green_s, 0.0).sum(axis=-1),
                      lost / np.maximum(1.0 - y / x_target, 0.05))
    lo = float(np.ceil(max(need.max(), min_cycle_s)))
    hi = float(np.floor(min(max(lo, max_cycle_s), lo + search_s)))
    cands = np.arange(lo, hi + 1.0)
    n, k = flow_ratio.shape
    m = len(cands)
    greens = green_splits(
        np.tile(flow_ratio, (m, 1)), np.repeat(cands, n), np.tile(intergreen_s, (m, 1)),
        np.tile(min_green_s, (m, 1)), np.tile(mask, (m, 1)),
    ).reshape(m, n, k)
    off, b_out, b_in = green_wave_offsets(
        np.tile(travel_s, (m, 1)), greens[:, :, 0], cands, two_way=True,
        inbound_link_travel_s=np.tile(travel_in_s, (m, 1)),
    )
    score = np.round(np.minimum(b_out, b_in) / cands, 3)
    best = int(np.argmax(score))
    return (float(cands[best]), greens[best], off[best], float(b_out[best]),
            float(b_in[best]))


def constrain(
    cycle_s: npt.NDArray[np.float64],
    green_s: npt.NDArray[np.float64],
    intergreen_s: npt.NDArray[np.float64],
    min_green_s: npt.NDArray[np.float64],
    mask: npt.NDArray[np.bool_],
    prev_cycle_s: npt.NDArray[np.float64],
    prev_green_s: npt.NDArray[np.float64],
    max_cycle_step_s: npt.NDArray[np.float64],
    max_split_step_pct: npt.NDArray[np.float64],
    min_cycle_s: npt.NDArray[np.float64],
    max_cycle_s: npt.NDArray[np.float64],
    resolution_s: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_], list[str]]:
    """Deployment constraints of the control core: rate limits, rounding, validation."""
    from control.constraints import (
        describe_reasons,
        limit_plan_change,
        round_plan,
        validate_plan,
    )

    n = cycle_s.shape[0]
    c = np.empty(n)
    g = np.empty_like(green_s)
    # the core takes scalar step limits: group intersections by their limits
    keys = np.stack([max_cycle_step_s, max_split_step_pct], axis=-1)
    for key in np.unique(keys, axis=0):
        sel = np.all(keys == key, axis=-1)
        c[sel], g[sel] = limit_plan_change(
            cycle_s[sel], green_s[sel], intergreen_s[sel], prev_cycle_s[sel], prev_green_s[sel],
            max_cycle_step_s=float(key[0]), max_split_step_pct=float(key[1]),
            phase_mask=mask[sel],
        )
    c, g = round_plan(g, intergreen_s, resolution_s, min_green_s, mask)
    valid, reasons = validate_plan(
        c, g, intergreen_s, min_green_s, intergreen_s, min_cycle_s, max_cycle_s, mask,
    )
    text = ["; ".join(describe_reasons(int(r))) for r in reasons]
    return c, g, valid, text


# ------------------------------------------------------------------- the loop
class ControlLoop:
    """The adaptive loop over every configured intersection (see module docstring)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        publisher: Publisher,
        root: str,
        params: LoopParams | None = None,
    ) -> None:
        self.conn = conn
        self.publisher = publisher
        self.root = root
        self.params = params or LoopParams()
        self._smoothed: dict[str, npt.NDArray[np.float64]] = {}
        self._mode: dict[str, str] = {}  # last alert state per intersection
        self._linked: dict[str, bool] = {}  # corridor -> linked in the last tick
        self._corridor_cycle: dict[str, float] = {}  # corridor -> its common cycle [s]

    # ------------------------------------------------------------- store I/O
    def configs(self) -> list[IntersectionConfig]:
        rows = self.conn.execute(
            "SELECT config FROM signal_config ORDER BY intersection_id"
        ).fetchall()
        self.conn.commit()
        return [IntersectionConfig.from_json(r[0]) for r in rows]

    def _counts(
        self, ids: Sequence[str], now: datetime
    ) -> dict[tuple[str, str], tuple[npt.NDArray[np.float64], float, datetime, float | None]]:
        """Per (intersection, detector): class counts (4,), covered seconds, newest ts,
        latest queue [m]."""
        rows = self.conn.execute(
            """SELECT intersection_id, detector_id,
                      sum(mc)::float8, sum(lv)::float8, sum(hv)::float8, sum(um)::float8,
                      sum(interval_s)::float8, max(ts),
                      (array_agg(queue_m::float8 ORDER BY ts DESC))[1]
               FROM detector_reading
               WHERE intersection_id = ANY(%s) AND ts > %s AND ts <= %s
               GROUP BY intersection_id, detector_id""",
            (list(ids), now - timedelta(seconds=self.params.window_s), now),
        ).fetchall()
        self.conn.commit()
        return {
            (r[0], r[1]): (np.array(r[2:6], dtype=np.float64), float(r[6]), r[7], r[8])
            for r in rows
        }

    def _current(self) -> dict[str, tuple[int, SignalPlan]]:
        rows = self.conn.execute(
            "SELECT intersection_id, seq, plan FROM signal_plan_current"
        ).fetchall()
        self.conn.commit()
        return {r[0]: (int(r[1]), SignalPlan.model_validate(r[2], strict=False)) for r in rows}

    def _overrides(self, now: datetime) -> dict[str, tuple[int, float, list[float], str, datetime]]:
        rows = self.conn.execute(
            """SELECT DISTINCT ON (intersection_id) intersection_id, id, cycle_s, greens_s,
                      reason || ' (by ' || created_by || ')', expires_at
               FROM signal_override
               WHERE cancelled_at IS NULL AND starts_at <= %s AND expires_at > %s
               ORDER BY intersection_id, created_at DESC""",
            (now, now),
        ).fetchall()
        self.conn.commit()
        return {r[0]: (int(r[1]), float(r[2]), [float(x) for x in r[3]], r[4], r[5]) for r in rows}

    # ------------------------------------------------------------------ tick
    def tick(self, now: datetime | None = None) -> TickResult:
        now = now or datetime.now(UTC)
        p = self.params
        cfgs = self.configs()
        result = TickResult(now)
        if not cfgs:
            return result
        ids = [c.intersection_id for c in cfgs]
        counts = self._counts(ids, now)
        current = self._current()
        overrides = self._overrides(now)

        n, width = len(cfgs), max(len(c.phases) for c in cfgs)
        mask = np.zeros((n, width), dtype=bool)
        flow = np.zeros((n, width))
        sat = np.ones((n, width))
        ig = np.zeros((n, width))
        gmin = np.zeros((n, width))
        queue_pcu = np.zeros((n, width))
        prev_c = np.full(n, np.nan)
        prev_g = np.full((n, width), np.nan)
        why: list[str | None] = [None] * n
        inputs: list[dict[str, Any]] = [{} for _ in range(n)]
        pce = np.asarray(p.pce)
        for i, cfg in enumerate(cfgs):
            k = len(cfg.phases)
            mask[i, :k] = True
            sat[i, :k] = [ph.saturation_pcu_h for ph in cfg.phases]
            ig[i, :k] = [ph.intergreen_s for ph in cfg.phases]
            gmin[i, :k] = [ph.min_green_s for ph in cfg.phases]
            if cfg.intersection_id in current:
                cur = current[cfg.intersection_id][1]
                if len(cur.phases) == k:
                    prev_c[i] = cur.cycle_s
                    prev_g[i, :k] = cur.greens_s
            dets = [d for ph in cfg.phases for d in ph.detectors]
            iid = cfg.intersection_id
            seen = [counts[(iid, d)] for d in dets if (iid, d) in counts]
            newest = max((s[2] for s in seen), default=None)
            inputs[i] = {
                "detectors_expected": len(dets),
                "detectors_reporting": len(seen),
                "newest_count": newest.isoformat() if newest else None,
            }
            if not seen or newest is None:
                why[i] = "missing: no detector counts in the window"
                continue
            if (now - newest).total_seconds() > p.stale_after_s:
                why[i] = f"stale: newest count {(now - newest).total_seconds():.0f} s old"
                continue
            if len(seen) < p.min_coverage * len(dets):
                why[i] = f"missing: {len(seen)} of {len(dets)} detectors reporting"
                continue
            phase_flows = []
            for j, ph in enumerate(cfg.phases):
                lane_pcu = []
                qmax = 0.0
                for d in ph.detectors:
                    c = counts.get((cfg.intersection_id, d))
                    if c is None:
                        continue
                    cls, covered, _ts, queue_m = c
                    q = float(cls @ pce) * 3600.0 / max(covered, 1.0)
                    if queue_m is not None:
                        qmax = max(qmax, queue_m) if math.isfinite(queue_m) else math.nan
                        if p.queue_weight:
                            q_pcu = queue_m / QUEUE_M_PER_PCU
                            q += p.queue_weight * q_pcu * 3600.0 / p.queue_clear_s
                    lane_pcu.append(q)
                queue_pcu[i, j] = qmax / QUEUE_M_PER_PCU
                flow[i, j] = max(lane_pcu, default=0.0) if lane_pcu else 0.0
                phase_flows.append(flow[i, j])
            prev = self._smoothed.get(cfg.intersection_id)
            if prev is not None and prev.shape == flow[i, :k].shape and np.all(np.isfinite(prev)):
                flow[i, :k] = p.smoothing * flow[i, :k] + (1 - p.smoothing) * prev
            self._smoothed[cfg.intersection_id] = flow[i, :k].copy()
            inputs[i]["flow_pcu_h"] = [round(float(x), 1) if math.isfinite(x) else None
                                       for x in flow[i, :k]]
            if not np.all(np.isfinite(flow[i, :k])):
                why[i] = "nan: a detector reported a value that is not a number"
                self._smoothed.pop(cfg.intersection_id, None)

        ok = np.array([w is None for w in why])
        cycle = np.full(n, np.nan)
        green = np.full((n, width), np.nan)
        valid = np.zeros(n, dtype=bool)
        vtext = [""] * n
        offsets = np.full(n, np.nan)  # green-wave offsets of linked corridors
        if ok.any():
            cmin = np.array([c.min_cycle_s for c in cfgs])
            cmax = np.array([c.max_cycle_s for c in cfgs])
            safe_flow = np.where(np.isfinite(flow) & ok[:, None], flow, 0.0)
            c0, g0, flags = compute_timing(safe_flow, sat, ig, gmin, mask, cmin, cmax)
            c_web = c0.copy()
            prev_lim = prev_c.copy()
            linked = self._link(cfgs, ok, safe_flow, sat, ig, gmin, mask, cmin, cmax,
                                c0, g0, prev_lim, offsets, inputs)
            c1, g1, v1, t1 = constrain(
                c0, g0, ig, gmin, mask, prev_lim, prev_g,
                np.array([c.max_cycle_step_s for c in cfgs]),
                np.array([c.max_split_step_pct for c in cfgs]),
                cmin, cmax, p.resolution_s,
            )
            for name, sel in linked.items():
                # one cycle for the whole corridor (rounding may differ by a second)
                good = sel[v1[sel] & ok[sel]]
                if len(good):
                    common = float(c1[good].max())
                    g1[good, 0] += common - c1[good]
                    c1[good] = common
                    self._corridor_cycle[name] = common
            cycle, green, valid, vtext = c1, g1, v1, t1
            for i in range(n):
                if ok[i]:
                    inputs[i]["webster_cycle_s"] = round(float(c_web[i]), 1)
                    inputs[i]["core_flags"] = int(flags[i])
        for i, cfg in enumerate(cfgs):
            iid = cfg.intersection_id
            k = len(cfg.phases)
            cur = current.get(iid)
            seq = (cur[0] + 1) if cur else 1
            alert = None
            if iid in overrides:
                oid, oc, og, oreason, oexp = overrides[iid]
                plan = self._plan(cfg, seq, now, "override", og, f"override #{oid}: {oreason}",
                                  valid_until=oexp, plan_id=f"override-{oid}")
                mode = f"override-{oid}"
            elif why[i] is None and valid[i] and np.all(np.isfinite(green[i, :k])):
                envelope = None
                if p.actuated:
                    envelope = actuation_envelope(
                        green[i, :k], gmin[i, :k],
                        queue_pcu[i, :k] if p.queue_min_green else np.zeros(k), sat[i, :k],
                        p.max_green_factor, ig[i, :k], p.envelope_cycle_s,
                    )
                linked_here = bool(np.isfinite(offsets[i]))
                plan = self._plan(
                    cfg, seq, now, "adaptive", [float(x) for x in green[i, :k]],
                    "adaptive: Webster on live flows"
                    + (" + queue" if p.queue_weight else "")
                    + f", cycle {cycle[i]:.0f} s"
                    + (f", linked in corridor {cfg.corridor} (offset {offsets[i]:.0f} s)"
                       if linked_here else "")
                    + (", actuated envelope" if envelope else ""),
                    envelope=envelope,
                    offset_s=float(offsets[i]) if linked_here else None,
                )
                mode = "adaptive"
            else:
                reason = why[i] or (
                    "nan: the computed plan is not finite"
                    if not np.all(np.isfinite(green[i, :k]))
                    else f"invalid: {vtext[i]}"
                )
                kind = reason.split(":", 1)[0]
                plan = self._plan(cfg, seq, now, "fallback", list(cfg.fixed_greens_s),
                                  f"fallback to the stored fixed plan ({reason})",
                                  plan_id="fixed")
                mode = f"fallback-{kind}"
                if self._mode.get(iid) != mode:
                    alert = (kind, f"{iid}: {reason}; running the stored fixed plan")
            self._mode[iid] = mode
            changed = cur is None or _differs(cur[1], plan, p.change_threshold_s)
            inputs[i]["mode"] = mode
            result.decisions[iid] = Decision(plan, inputs[i], alert, changed)
        self._commit(result)
        return result

    # -------------------------------------------------------- corridor linking
    def _link(
        self,
        cfgs: Sequence[IntersectionConfig],
        ok: npt.NDArray[np.bool_],
        flow: npt.NDArray[np.float64],
        sat: npt.NDArray[np.float64],
        ig: npt.NDArray[np.float64],
        gmin: npt.NDArray[np.float64],
        mask: npt.NDArray[np.bool_],
        cmin: npt.NDArray[np.float64],
        cmax: npt.NDArray[np.float64],
        cycle: npt.NDArray[np.float64],
        green: npt.NDArray[np.float64],
        prev_cycle: npt.NDArray[np.float64],
        offsets: npt.NDArray[np.float64],
        inputs: list[dict[str, Any]],
    ) -> dict[str, npt.NDArray[np.intp]]:
        """Link busy corridors: replace their members' cycle and greens (in place) by a
        common cycle with green-wave offsets; returns the linked members per corridor.

        A corridor is linked while the largest flow ratio Y of its signals (with
        live data) is at least ``link_y_on`` (and stays linked down to
        ``link_y_off``); the rate limits then apply from the corridor's previous
        common cycle. Members without live data keep their place in the wave but
        run their fallback plan.
        """
        p = self.params
        groups: dict[str, list[int]] = {}
        for i, c in enumerate(cfgs):
            if c.corridor:
                groups.setdefault(c.corridor, []).append(i)
        y = np.where(mask, flow / sat, 0.0)
        out: dict[str, npt.NDArray[np.intp]] = {}
        for name, members in groups.items():
            members.sort(key=lambda i: cfgs[i].corridor_pos)
            sel = np.array(members)
            live = sel[ok[sel]]
            y_max = float(y[live].sum(axis=-1).max()) if len(live) else 0.0
            was = self._linked.get(name, False)
            on = len(live) >= 2 and y_max >= (p.link_y_off if was else p.link_y_on)
            self._linked[name] = on
            if not on:
                self._corridor_cycle.pop(name, None)
                continue
            t_out = np.array([cfgs[i].travel_s for i in members[1:]])
            t_in = np.array([cfgs[i].travel_s if cfgs[i].travel_in_s is None
                             else cfgs[i].travel_in_s for i in members[1:]])
            c, g, off, b_out, b_in = corridor_timing(
                y[sel], ig[sel], gmin[sel], mask[sel], t_out, t_in,
                float(cmin[sel].max()), float(cmax[sel].min()), p.link_x_target,
                p.link_search_s,
            )
            cycle[sel] = c
            green[sel] = g
            offsets[sel] = off
            if name in self._corridor_cycle:
                prev_cycle[sel] = self._corridor_cycle[name]
            for j, i in enumerate(members):
                inputs[i]["corridor"] = {
                    "name": name, "y_max": round(y_max, 3), "cycle_s": c,
                    "offset_s": round(float(off[j]), 1),
                    "band_s": [round(b_out, 1), round(b_in, 1)],
                }
            out[name] = sel
        return out

    def _plan(
        self,
        cfg: IntersectionConfig,
        seq: int,
        now: datetime,
        source: str,
        greens: Iterable[float],
        reason: str,
        *,
        valid_until: datetime | None = None,
        plan_id: str | None = None,
        envelope: tuple[list[float], list[float]] | None = None,
        offset_s: float | None = None,
    ) -> SignalPlan:
        """The plan payload; with ``offset_s`` (a linked corridor) it is ``coordinated``."""
        phases = [
            PlanPhase(
                phase=ph.phase, green_s=round(float(g), 2), intergreen_s=ph.intergreen_s,
                min_green_s=envelope[0][j] if envelope else None,
                max_green_s=envelope[1][j] if envelope else None,
            )
            for j, (ph, g) in enumerate(zip(cfg.phases, greens, strict=True))
        ]
        cycle = sum(x.green_s + x.intergreen_s for x in phases)
        return SignalPlan(
            seq=seq,
            ts=now.astimezone(UTC).isoformat(),
            intersection_id=cfg.intersection_id,
            plan_id=plan_id or f"{source}-{seq}",
            source=source,  # type: ignore[arg-type]
            cycle_s=round(cycle, 2),
            offset_s=float((cfg.offset_s if offset_s is None else offset_s) % cycle)
            if cycle > 0 else 0.0,
            phases=phases,
            reason=reason[:500],
            valid_until=valid_until,
            mode=("coordinated" if offset_s is not None else "actuated") if envelope else "fixed",
            gap_s=self.params.gap_s if envelope else None,
        )

    def _commit(self, result: TickResult) -> None:
        """Publish the changed plans (retained), then record them and the alerts."""
        for d in result.decisions.values():
            if d.changed:
                self.publisher.publish_plan(
                    plan_topic(d.plan.intersection_id, self.root),
                    d.plan.model_dump_json().encode(),
                )
        with self.conn.transaction(), self.conn.cursor() as cur:
            for iid, d in result.decisions.items():
                if d.alert:
                    cur.execute(
                        """INSERT INTO control_alert (ts, intersection_id, kind, message, details)
                           VALUES (%s, %s, %s, %s, %s)""",
                        (result.now, iid, d.alert[0], d.alert[1], Jsonb(d.inputs)),
                    )
                if not d.changed:
                    continue
                body = json.loads(d.plan.model_dump_json())
                cur.execute(
                    """INSERT INTO signal_plan_current (intersection_id, seq, source, plan,
                                                        published_at)
                       VALUES (%s, %s, %s, %s, %s)
                       ON CONFLICT (intersection_id) DO UPDATE SET seq = EXCLUDED.seq,
                         source = EXCLUDED.source, plan = EXCLUDED.plan,
                         published_at = EXCLUDED.published_at""",
                    (iid, d.plan.seq, d.plan.source, Jsonb(body), result.now),
                )
                cur.execute(
                    """INSERT INTO signal_plan_audit (ts, intersection_id, seq, plan_id, source,
                                                      reason, inputs, plan)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
                    (result.now, iid, d.plan.seq, d.plan.plan_id, d.plan.source, d.plan.reason,
                     Jsonb(d.inputs), Jsonb(body)),
                )


def _differs(old: SignalPlan, new: SignalPlan, threshold_s: float) -> bool:
    if old.source != new.source or old.plan_id.split("-")[0] != new.plan_id.split("-")[0]:
        return True
    if len(old.phases) != len(new.phases) or abs(old.cycle_s - new.cycle_s) >= threshold_s:
        return True
    if old.valid_until != new.valid_until:
        return True
    return any(abs(a - b) >= threshold_s for a, b in zip(old.greens_s, new.greens_s, strict=True))


# ------------------------------------------------------------ control-room API
def save_configs(conn: psycopg.Connection, configs: Iterable[IntersectionConfig]) -> int:
    """Store (upsert) the control configuration of intersections; returns how many."""
    n = 0
    with conn.transaction(), conn.cursor() as cur:
        for c in configs:
            cur.execute(
                """INSERT INTO signal_config (intersection_id, config) VALUES (%s, %s)
                   ON CONFLICT (intersection_id) DO UPDATE SET config = EXCLUDED.config,
                     updated_at = now()""",
                (c.intersection_id, Jsonb(c.to_json())),
            )
            n += 1
    return n


def add_override(
    conn: psycopg.Connection,
    intersection_id: str,
    greens_s: Sequence[float],
    *,
    expires_at: datetime,
    reason: str,
    created_by: str,
    starts_at: datetime | None = None,
) -> int:
    """Record a control-room override after checking it against the validator.

    Raises ``ValueError`` naming the problem when the intersection is unknown or
    the plan violates minimum greens or clearances.
    """
    from control.constraints import describe_reasons, validate_plan

    row = conn.execute(
        "SELECT config FROM signal_config WHERE intersection_id = %s", (intersection_id,)
    ).fetchone()
    if row is None:
        conn.rollback()
        raise ValueError(f"intersection {intersection_id!r} has no control configuration")
    cfg = IntersectionConfig.from_json(row[0])
    if len(greens_s) != len(cfg.phases):
        conn.rollback()
        raise ValueError(
            f"greens_s has {len(greens_s)} values, {intersection_id} has {len(cfg.phases)} phases"
        )
    ig = np.array([[ph.intergreen_s for ph in cfg.phases]])
    g = np.array([list(greens_s)], dtype=np.float64)
    cycle = g.sum() + ig.sum()
    ok, reasons = validate_plan(
        np.array([cycle]), g, ig, np.array([[ph.min_green_s for ph in cfg.phases]]), ig,
    )
    if not ok[0]:
        conn.rollback()
        raise ValueError(f"override refused: {'; '.join(describe_reasons(int(reasons[0])))}")
    start = starts_at or datetime.now(UTC)
    oid = conn.execute(
        """INSERT INTO signal_override (intersection_id, cycle_s, greens_s, reason, created_by,
                                        starts_at, expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (intersection_id, float(cycle), [float(x) for x in greens_s], reason, created_by, start,
         expires_at),
    ).fetchone()
    conn.commit()
    assert oid is not None
    return int(oid[0])


def cancel_override(
    conn: psycopg.Connection, override_id: int, when: datetime | None = None
) -> bool:
    cur = conn.execute(
        "UPDATE signal_override SET cancelled_at = %s WHERE id = %s AND cancelled_at IS NULL",
        (when or datetime.now(UTC), override_id),
    )
    conn.commit()
    return cur.rowcount == 1


# ------------------------------------------------------------- from the inventory
def config_from_inventory(ix: Any, base_pcu_h_per_m: float = 600.0) -> IntersectionConfig:
    """The loop's configuration of one inventory intersection (``hub.inventory.Intersection``).

    A phase's detectors are those on the lanes that carry its movements (lane 0
    detectors count the whole approach); its saturation flow per lane is the
    PKJI base of ``base_pcu_h_per_m`` times the mean width of those lanes; its
    intergreen is the stored plan's amber + all-red; the fixed plan is the
    stored plan.
    """
    appr = {a.id: a for a in ix.approaches}
    ig = float(ix.plan.amber_s + ix.plan.all_red_s)
    phases = []
    for ph in ix.phases:
        turns: dict[str, set[str]] = {}
        for mv in ph.movements:
            a, t = mv.split(":")
            turns.setdefault(a, set()).add(t)
        dets, widths = [], []
        for d in ix.detectors:
            if d.approach not in turns:
                continue
            lanes = appr[d.approach].lanes
            if d.lane == 0:
                dets.append(d.id)
                widths.append(sum(ln.width_m for ln in lanes) / len(lanes))
            elif set(lanes[d.lane - 1].movements) & turns[d.approach]:
                dets.append(d.id)
                widths.append(lanes[d.lane - 1].width_m)
        width = sum(widths) / len(widths) if widths else 3.0
        phases.append(PhaseConfig(
            phase=ph.number, detectors=tuple(dets), min_green_s=float(ph.min_green_s),
            intergreen_s=ig, saturation_pcu_h=base_pcu_h_per_m * width,
        ))
    need = sum(p.min_green_s + p.intergreen_s for p in phases)
    return IntersectionConfig(
        intersection_id=ix.id, phases=tuple(phases),
        fixed_greens_s=tuple(float(g) for g in ix.plan.greens_s),
        min_cycle_s=max(30.0, need), max_cycle_s=max(150.0, float(ix.plan.cycle_s)),
        offset_s=float(ix.plan.offset_s),
    )


def sync_inventory(conn: psycopg.Connection) -> int:
    """(Re)derive the control configuration of every intersection in the store's inventory."""
    from hub.inventory import read_from_store

    row = conn.execute("SELECT count(*) FROM intersection").fetchone()
    conn.commit()
    if not row or not row[0]:
        return 0
    inv = read_from_store(conn)
    conn.commit()
    return save_configs(conn, [config_from_inventory(ix) for ix in inv.intersections])
