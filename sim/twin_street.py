"""The street controller of the twin: runs the hub's plans as an ATCS field controller would.

The hub plans once a minute (cycle, splits, the green envelope, offsets); the
controller in the cabinet acts on the second with its own stop-line detectors.
This module emulates such a controller for every SUMO light of an adaptive run:

* ``fixed`` plans (fallback, override, the stored plan) run as they are: a
  static program with the plan's greens, switched in at the cycle boundary;
* ``actuated`` plans run in *actuated* mode, the NEMA/SCATS-style behaviour
  of a field controller that receives a plan with per-phase minimum and
  maximum greens:

  - a green never ends before the plan's ``min_green_s`` (the hub raises it to
    clear the standing queue) and never runs past its ``max_green_s`` while
    another phase has a call;
  - between the two it ends on a *gap*: no vehicle over the phase's loops
    (30 m before the stop line) for ``gap_s`` seconds;
  - a phase with no vehicle on its approaches (no *call*) is skipped, and a
    green with no call on any other phase *rests* (stays green) instead of
    cycling for nobody;
  - a new plan is taken at the start of a green (its bounds apply from that
    green on), or at once while the light rests; a ``fixed`` plan replaces an
    actuated one at the start of the first phase (the cycle boundary);

* ``coordinated`` plans (a linked corridor) run in *actuated-coordinated* mode:
  phase 0 (the arterial) holds its green from the offset point of the common
  cycle (``(clock - offset_s) mod cycle_s == 0``) to its yield point (its
  ``green_s``), or gaps out after ``EARLY_YIELD_SHARE`` of it; the other phases
  run once per cycle, end on a gap or their maximum, and are forced off so that
  phase 0 starts again at the offset. A green that started late holds on to the
  next yield point (early return to green). The cabinets of a corridor share
  one clock (here: simulated time).

The field controller must support these modes (actuated and actuated-coordinated
operation with plan downloads of per-phase minimum/maximum greens, gap, cycle and
offset, phase skipping and rest in green: standard in NEMA TS2 / ATC controllers
and in SCATS' tactical layer); a cabinet that only runs fixed plans gets the
plans' greens as ``fixed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.twin_model import TlsModel

#: the longest a green is held in the controller's program while it rests [s]
REST_S = 3600.0
#: coordinated: the arterial may yield once this share of its green has run and it
#: gaps out (the band has passed); the side phases get the slack. Measured in the
#: twin's corridor (3 seeds): 0 let a medium-demand side street break down, 0.5
#: cost too much band near saturation
EARLY_YIELD_SHARE = 0.75


@dataclass
class StreetController:
    """One light's field controller (see the module docstring)."""

    m: TlsModel
    e1: list[list[str]]  # per green phase: the E1 loop ids of its lanes
    e2: list[list[str]]  # per green phase: the E2 area ids of its lanes (calls)
    plan: Any = None  # the plan in force (control.plans.SignalPlan)
    pending: Any = None  # the next plan, taken at the next cycle boundary
    actuated: bool = False
    green_idx: int = -1  # program index of the green in force, -1 = in a transition
    green_start: float = 0.0
    target: int | None = None  # the green phase (index into m.greens) to go to next
    switches: int = field(default=0)
    # the coordination reference at simulated time 0 [s]: the cabinets of a corridor
    # share it (in the street: a synchronised clock, e.g. epoch seconds)
    clock0_s: float = 0.0
    served_cycle: int = -1  # coordinated: the cycle in which the side phases last ran

    # ------------------------------------------------------------ plan changes
    def offer(self, plan: Any) -> None:
        self.pending = plan

    def _install_actuated(self, tl: Any) -> None:
        phases = []
        for i, (dur, state) in enumerate(self.m.phases):
            d = REST_S if i in self.m.greens else dur
            phases.append(tl.Phase(d, state, d, d))
        tl.setProgramLogic(self.m.tls_id, tl.Logic("hubctl", 0, 0, phases))
        tl.setProgram(self.m.tls_id, "hubctl")

    def _take_pending(self, libsumo: Any, idx: int, now: float) -> None:
        """Switch to the pending plan; the light is at the start of green ``idx``."""
        from sim.twin import apply_program

        tl = libsumo.trafficlight
        plan, self.pending = self.pending, None
        self.plan = plan
        if plan.mode in ("actuated", "coordinated"):
            if not self.actuated:
                self._install_actuated(tl)
                tl.setPhase(self.m.tls_id, idx)
                self.actuated = True
        else:
            apply_program(libsumo, self.m, plan.greens_s, "hub")
            self.actuated = False
        self.green_idx, self.green_start = idx, now
        self.target = None

    # ----------------------------------------------------------------- a step
    def step(self, libsumo: Any, now: float) -> None:
        tl = libsumo.trafficlight
        tid = self.m.tls_id
        idx = tl.getPhase(tid)
        greens = self.m.greens
        if idx not in greens:
            self.green_idx = -1
            return
        entering = idx != self.green_idx
        if not self.actuated:
            # fixed plans (and SUMO's program before the first plan): the cycle
            # boundary is the start of the first green
            if self.pending is not None and entering and idx == greens[0]:
                self._take_pending(libsumo, idx, now)
            else:
                self.green_idx = idx
            return
        k = greens.index(idx)
        if entering:
            # a transition has just ended: go to the phase chosen when it began,
            # skipping those without a call
            if self.target is not None and self.target != k:
                k, idx = self.target, greens[self.target]
                tl.setPhase(tid, idx)
            self.target = None
            self.green_idx, self.green_start = idx, now
            if self.pending is not None and (self.pending.mode != "fixed" or k == 0):
                self._take_pending(libsumo, idx, now)
            return
        ph = self.plan.phases[k]
        elapsed = now - self.green_start
        lo = ph.min_green_s if ph.min_green_s is not None else ph.green_s
        hi = ph.max_green_s if ph.max_green_s is not None else ph.green_s
        if elapsed < lo:
            return
        if self.plan.mode == "coordinated":
            self._coordinated(libsumo, k, idx, now, elapsed, hi)
            return
        calls = [j for j in range(len(greens)) if j != k and self._called(libsumo, j)]
        if not calls:
            if self.pending is not None and self.pending.mode != "fixed":
                self.plan, self.pending = self.pending, None  # resting: new bounds now
            return  # rest in green: nobody waits elsewhere
        if elapsed >= hi or self._gap(libsumo, k) >= (self.plan.gap_s or 3.0):
            n = len(greens)
            self._end(libsumo, idx, next((k + s) % n for s in range(1, n) if (k + s) % n in calls))

    def _coordinated(
        self, libsumo: Any, k: int, idx: int, now: float, elapsed: float, hi: float
    ) -> None:
        """Actuated-coordinated: phase 0 holds its green to the yield point of the common
        cycle (or gaps out after ``EARLY_YIELD_SHARE`` of it); the side phases run once
        per cycle, gap out, and are forced off so that phase 0 starts at the offset."""
        plan = self.plan
        greens = self.m.greens
        t = now + self.clock0_s - plan.offset_s
        cycle = int(t // plan.cycle_s)
        pos = t - cycle * plan.cycle_s
        if k == 0:
            # an early (or late) return to green holds on to the next cycle's yield point
            start = self.green_start + self.clock0_s - plan.offset_s
            on_time = start // plan.cycle_s < cycle or start % plan.cycle_s <= 1.0
            g0 = plan.phases[0].green_s
            early = (pos >= EARLY_YIELD_SHARE * g0
                     and self._gap(libsumo, 0) >= (plan.gap_s or 3.0))
            if not on_time or (pos < g0 - 0.5 and not early) or self.served_cycle == cycle:
                return  # before the yield point, or the side phases had their turn
            calls = [j for j in range(1, len(greens)) if self._called(libsumo, j)]
            if calls:
                self.served_cycle = cycle
                self._end(libsumo, idx, calls[0])
            return
        left = plan.cycle_s - pos  # until phase 0 must be green again
        if left > plan.phases[k].intergreen_s + 0.5 and elapsed < hi and (
            self._gap(libsumo, k) < (plan.gap_s or 3.0)
        ):
            return
        nxt = 0
        budget = left - plan.phases[k].intergreen_s
        for j in range(k + 1, len(greens)):
            need = (plan.phases[j].min_green_s or 0.0) + plan.phases[j].intergreen_s
            if self._called(libsumo, j) and budget >= need:
                nxt = j
                break
        self._end(libsumo, idx, nxt)

    def _end(self, libsumo: Any, idx: int, target: int) -> None:
        """End the green at program index ``idx``; ``target`` (a green phase) is next."""
        self.target = target
        libsumo.trafficlight.setPhase(self.m.tls_id, idx + 1 if idx + 1 < len(self.m.phases)
                                      else 0)
        self.green_idx = -1
        self.switches += 1

    def _called(self, libsumo: Any, k: int) -> bool:
        e2 = libsumo.lanearea
        return any(e2.getLastStepVehicleNumber(d) > 0 for d in self.e2[k])

    def _gap(self, libsumo: Any, k: int) -> float:
        e1 = libsumo.inductionloop
        if not self.e1[k]:
            return 1e9
        return min(e1.getTimeSinceDetection(d) for d in self.e1[k])


def controllers_for(models: list[TlsModel]) -> dict[str, StreetController]:
    """A street controller per light, wired to the twin's detector ids (``e1_t_k``)."""
    out = {}
    for t, m in enumerate(models):
        e1: list[list[str]] = [[] for _ in m.greens]
        e2: list[list[str]] = [[] for _ in m.greens]
        for k, ln in enumerate(m.lanes):
            if ln.phase is not None:
                e1[ln.phase].append(f"e1_{t}_{k}")
                e2[ln.phase].append(f"e2_{t}_{k}")
        out[m.tls_id] = StreetController(m, e1, e2)
    return out

