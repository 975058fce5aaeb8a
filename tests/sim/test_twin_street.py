"""The twin's street controller (sim.twin_street) on a scripted light.

SUMO is replaced by a small scripted stand-in (phase index, loops and areas whose
readings the test sets) so that every rule of the controller is checked exactly:
minimum and maximum greens, gap-out, rest in green, phase skipping and when a new
plan is taken. The real light runs it in the closed-loop test of test_twin.py.
"""

from __future__ import annotations

from typing import Any

from control.plans import PlanPhase, SignalPlan
from sim.twin_model import LaneInfo, TlsModel
from sim.twin_street import StreetController, controllers_for


class FakeTl:
    """The parts of libsumo.trafficlight the controller uses; SUMO's own timing of
    transition phases (a phase ends after its duration) included."""

    def __init__(self, durations: list[float]) -> None:
        self.durations = durations
        self.phase = 0
        self.left = durations[0]
        self.programs: list[str] = []

    @staticmethod
    def Phase(dur: float, state: str, lo: float, hi: float) -> tuple[float, str]:  # noqa: N802
        return (dur, state)

    @staticmethod
    def Logic(pid: str, kind: int, cur: int, phases: list[Any]) -> tuple[str, list[Any]]:  # noqa: N802
        return (pid, phases)

    def setProgramLogic(self, tid: str, logic: tuple[str, list[Any]]) -> None:  # noqa: N802
        self.durations = [d for d, _ in logic[1]]

    def setProgram(self, tid: str, pid: str) -> None:  # noqa: N802
        self.programs.append(pid)

    def setPhase(self, tid: str, i: int) -> None:  # noqa: N802
        self.phase, self.left = i, self.durations[i]

    def getPhase(self, tid: str) -> int:  # noqa: N802
        return self.phase

    def tick(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.setPhase("", (self.phase + 1) % len(self.durations))


class FakeSumo:
    def __init__(self) -> None:
        self.trafficlight = FakeTl([30.0, 3.0, 30.0, 3.0])
        self.gap: dict[str, float] = {}  # E1 id -> seconds since the last vehicle
        self.count: dict[str, int] = {}  # E2 id -> vehicles on the area
        outer = self

        class _E1:
            @staticmethod
            def getTimeSinceDetection(d: str) -> float:  # noqa: N802
                return outer.gap.get(d, 99.0)

        class _E2:
            @staticmethod
            def getLastStepVehicleNumber(d: str) -> int:  # noqa: N802
                return outer.count.get(d, 0)

        self.inductionloop = _E1
        self.lanearea = _E2


def _model() -> TlsModel:
    m = TlsModel("J", "TNG-1", [(30.0, "Gr"), (3.0, "yr"), (30.0, "rG"), (3.0, "ry")],
                 [0, 2], [3.0, 3.0])
    m.lanes = [LaneInfo("a_0", "L0", "W", 1, 200.0, 0), LaneInfo("b_0", "L1", "N", 1, 200.0, 1)]
    return m


def _plan(
    lo: float, hi: float, mode: str = "actuated", seq: int = 1, offset_s: float = 0.0
) -> SignalPlan:
    act = mode != "fixed"
    return SignalPlan(
        seq=seq, ts="2026-01-01T00:00:00Z", intersection_id="TNG-1", plan_id=f"a-{seq}",
        source="adaptive" if act else "fallback", cycle_s=2 * 20.0 + 6.0, mode=mode,  # type: ignore[arg-type]
        gap_s=2.0 if act else None, offset_s=offset_s,
        phases=[PlanPhase(phase=k, green_s=20.0, intergreen_s=3.0,
                          min_green_s=lo if act else None, max_green_s=hi if act else None)
                for k in range(2)],
    )


def _run(sumo: FakeSumo, ctl: StreetController, t0: int, t1: int) -> list[tuple[int, int]]:
    """Step from t0 to t1; returns (time, phase) at each change."""
    changes = []
    last = sumo.trafficlight.phase
    for t in range(t0, t1):
        sumo.trafficlight.tick()
        ctl.step(sumo, t)
        if sumo.trafficlight.phase != last:
            last = sumo.trafficlight.phase
            changes.append((t, last))
    return changes


def _setup(lo: float = 7.0, hi: float = 25.0) -> tuple[FakeSumo, StreetController]:
    sumo = FakeSumo()
    ctl = controllers_for([_model()])["J"]
    assert ctl.e1 == [["e1_0_0"], ["e1_0_1"]] and ctl.e2 == [["e2_0_0"], ["e2_0_1"]]
    ctl.offer(_plan(lo, hi))
    sumo.trafficlight.setPhase("J", 3)  # SUMO's own program, in its last transition
    _run(sumo, ctl, 0, 3)  # ... which ends at t=2: the cycle boundary, the plan is taken
    assert ctl.actuated and ctl.pending is None and sumo.trafficlight.programs == ["hubctl"]
    return sumo, ctl


def test_gap_out_after_the_minimum_green_when_another_phase_calls() -> None:
    sumo, ctl = _setup()
    sumo.count = {"e2_0_1": 3}  # vehicles wait on the side street
    sumo.gap = {"e1_0_0": 10.0}  # nobody over the main loop
    changes = _run(sumo, ctl, 3, 20)
    # the main green (started at t=2) ends at its 7 s minimum, not before
    assert changes[0] == (9, 1)


def test_green_extends_on_traffic_up_to_the_maximum() -> None:
    sumo, ctl = _setup(lo=7.0, hi=25.0)
    sumo.count = {"e2_0_1": 3}
    sumo.gap = {"e1_0_0": 0.5}  # a steady stream over the main loop
    changes = _run(sumo, ctl, 3, 40)
    assert changes[0] == (27, 1)  # max-out at 25 s
    assert changes[1][1] == 2  # then the side street's green after its intergreen


def test_rest_in_green_without_calls_and_skip_of_an_empty_phase() -> None:
    sumo, ctl = _setup(lo=7.0, hi=25.0)
    sumo.gap = {"e1_0_0": 10.0}
    assert _run(sumo, ctl, 3, 200) == []  # no call anywhere: the main green rests
    sumo.count = {"e2_0_1": 1}  # a side-street vehicle arrives
    changes = _run(sumo, ctl, 200, 215)
    assert changes[:2] == [(200, 1), (203, 2)]


def test_new_bounds_at_the_next_green_and_fixed_plans_at_the_cycle_boundary() -> None:
    sumo, ctl = _setup(lo=7.0, hi=25.0)
    sumo.count = {"e2_0_0": 2, "e2_0_1": 2}
    sumo.gap = {"e1_0_0": 0.5, "e1_0_1": 0.5}
    ctl.offer(_plan(7.0, 12.0, seq=2))
    changes = _run(sumo, ctl, 3, 60)
    # the green in force keeps its 25 s maximum; the next one runs to the new 12 s
    assert changes[0] == (27, 1) and changes[1] == (30, 2) and changes[2] == (42, 3)
    ctl.offer(_plan(0, 0, mode="fixed", seq=3))
    _run(sumo, ctl, 60, 120)
    assert not ctl.actuated and ctl.plan.seq == 3 and sumo.trafficlight.programs[-1] == "hub"


def test_coordinated_plan_holds_the_arterial_to_its_yield_point_and_keeps_the_offset() -> None:
    sumo, ctl = _setup()
    ctl.clock0_s = 1000.0  # epoch seconds at simulated time 0: offsets are epoch-based
    ctl.offer(_plan(7.0, 30.0, mode="coordinated", offset_s=(1000 + 10) % 46))
    sumo.count = {"e2_0_0": 2, "e2_0_1": 2}  # both approaches always have vehicles
    sumo.gap = {"e1_0_0": 0.5, "e1_0_1": 0.5}  # both loops stay busy
    changes = _run(sumo, ctl, 3, 200)
    starts = [t for t, ph in changes if ph == 0]
    # from the second cycle on, the arterial green starts at the offset point
    # (t - 10) mod 46 == 0 although the side street never gaps out (forced off) ...
    assert starts[1:] and all((t - 10) % 46 == 0 for t in starts[1:])
    # ... and it holds to its 20 s yield point, no longer
    ends = [t for t, ph in changes if ph == 1]
    assert ends[1:] and all((t - 10) % 46 == 20 for t in ends[1:])
    # once the platoon has passed (its loop gaps out) it may yield after 3/4 of it
    sumo.gap = {"e1_0_0": 10.0, "e1_0_1": 0.5}
    changes = _run(sumo, ctl, 200, 400)
    ends = [t for t, ph in changes if ph == 1]
    assert ends[1:] and all((t - 10) % 46 == 15 for t in ends[1:])
    starts = [t for t, ph in changes if ph == 0]
    assert starts[1:] and all((t - 10) % 46 == 0 for t in starts[1:])
