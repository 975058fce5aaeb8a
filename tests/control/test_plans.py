"""The plan payload (``{root}/v1/atcs/{id}/plan``)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from control.plans import PlanPhase, SignalPlan, plan_json_schema, plan_topic


def _plan(**kw: object) -> SignalPlan:
    base: dict[str, object] = {
        "seq": 3, "ts": "2026-11-28T08:00:00+07:00", "intersection_id": "TNG-0001",
        "plan_id": "adaptive-3", "source": "adaptive", "cycle_s": 60.0,
        "phases": [PlanPhase(phase=1, green_s=30.0, intergreen_s=5.0),
                   PlanPhase(phase=2, green_s=20.0, intergreen_s=5.0)],
    }
    return SignalPlan(**(base | kw))  # type: ignore[arg-type]


def test_round_trip_and_topic() -> None:
    p = _plan(mode="actuated", gap_s=2.0)
    assert SignalPlan.model_validate_json(p.model_dump_json()) == p
    assert p.greens_s == [30.0, 20.0]
    assert plan_topic("TNG-0001", "tlive") == "tlive/v1/atcs/TNG-0001/plan"
    assert "phases" in plan_json_schema()["properties"]  # type: ignore[operator]


def test_greens_must_fill_the_cycle() -> None:
    with pytest.raises(ValidationError, match="must equal cycle_s"):
        _plan(cycle_s=90.0)


@pytest.mark.parametrize(
    "bad",
    [{"source": "magic"}, {"intersection_id": "bad id"}, {"mode": "chaos"}, {"seq": -1},
     {"cycle_s": 0.0}, {"extra": 1}],
)
def test_contract_refuses_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _plan(**bad)
