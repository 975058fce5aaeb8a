"""The signal-plan payload: what the control service publishes, retained, per intersection.

Topic: ``{root}/v1/atcs/{intersection_id}/plan`` (built with
:func:`ingest.contract.topic_for` and ``Kind.PLAN``), QoS 1, retained, so a
controller (or the SUMO twin) that connects later gets the plan in force.

The plan is a fixed-time plan for one cycle pattern: phases in their running
order, each with its green and the intergreen (amber + all-red) that follows it;
``cycle_s`` equals the sum of greens and intergreens. ``offset_s`` is the start
of phase 0 relative to the coordination reference (epoch seconds modulo the
cycle). A controller switches to a new plan at its next cycle boundary.

``mode`` says how the street controller runs it: ``fixed`` runs the greens as
they are; ``actuated`` lets the controller's own stop-line detectors end a green
early (after ``min_green_s``, on a gap of ``gap_s`` seconds) or extend it up to
``max_green_s`` (the hub sets the envelope every cycle; the controller acts on
the second, as SCATS' strategic/tactical split). ``coordinated`` is actuated
operation linked to neighbours (a corridor): phase 0 is the coordinated phase,
it holds its green from the offset point of the common ``cycle_s`` to its yield
point (``green_s`` of phase 0); the other phases run at most once per cycle,
between their minimum and maximum, end on a gap, and are forced off so that
phase 0 starts again at ``offset_s``. Fallback and override plans are always
``fixed``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ingest.contract import ID_PATTERN, Kind, Timestamp, topic_for

PLAN_SOURCES = ("adaptive", "fixed", "fallback", "override")
PlanSource = Literal["adaptive", "fixed", "fallback", "override"]


class PlanPhase(BaseModel):
    """One phase of a plan."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    phase: int = Field(ge=0, le=63, description="phase number, as in the inventory")
    green_s: float = Field(ge=0.0, le=600.0, description="green time [s]")
    intergreen_s: float = Field(ge=0.0, le=60.0, description="amber + all-red after it [s]")
    min_green_s: float | None = Field(
        None, ge=0.0, le=600.0, description="actuated: earliest end of the green [s]"
    )
    max_green_s: float | None = Field(
        None, ge=0.0, le=600.0, description="actuated: latest end of the green [s]"
    )


class SignalPlan(BaseModel):
    """``{root}/v1/atcs/{intersection_id}/plan`` (contract v1, published by control)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    seq: int = Field(ge=0, lt=2**63, description="plan sequence number of this intersection")
    ts: Timestamp
    intersection_id: str = Field(pattern=ID_PATTERN)
    plan_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="plan identifier")
    source: PlanSource = Field(description="adaptive, fixed (stored), fallback or override")
    cycle_s: float = Field(gt=0.0, le=600.0, description="cycle length [s]")
    offset_s: float = Field(0.0, ge=0.0, le=600.0, description="offset of phase 0 [s]")
    phases: list[PlanPhase] = Field(min_length=1, max_length=16)
    mode: Literal["fixed", "actuated", "coordinated"] = Field(
        "fixed", description="how the controller runs it"
    )
    gap_s: float | None = Field(
        None, gt=0.0, le=10.0, description="actuated: gap that ends a green early [s]"
    )
    reason: str = Field("", max_length=500, description="why this plan (audit text)")
    valid_until: datetime | None = Field(
        None, description="overrides: when the control room's plan expires (UTC)"
    )

    @model_validator(mode="after")
    def _greens_fill_cycle(self) -> SignalPlan:
        total = sum(p.green_s + p.intergreen_s for p in self.phases)
        if abs(total - self.cycle_s) > 0.51:
            raise ValueError(
                f"greens + intergreens ({total:.1f} s) must equal cycle_s ({self.cycle_s:.1f} s)"
            )
        return self

    @property
    def greens_s(self) -> list[float]:
        return [p.green_s for p in self.phases]


def plan_topic(intersection_id: str, root: str) -> str:
    """Where the plan of ``intersection_id`` is published (retained)."""
    return topic_for(Kind.PLAN, intersection_id, root=root)


def plan_json_schema() -> dict[str, object]:
    return SignalPlan.model_json_schema(mode="validation")
