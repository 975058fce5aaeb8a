"""From the city inventory and detector counts to the arrays of the control core.

This is the edge between the store / files and the pure core: it reads counts
(a counts file, or the store's ``detector_flow_5m`` rollup with a fall-back to
raw ``detector_reading`` rows), maps detectors to lanes, lanes to phases, and
builds the padded (n_intersections, n_phases) arrays that
:func:`control.pipeline.plan_signals` takes.

Mapping (documented assumptions):

* the flow of an approach in a phase is the sum of its lane detectors on the
  lanes that carry one of the phase's movements from that approach (a shared
  lane counts fully in every phase it serves); a whole-approach detector
  (``lane`` 0) stands for all lanes when the approach has no lane detectors;
* the saturation flow of that approach in that phase is 600 pcu/h per metre of
  the widths of those lanes (MKJI 1997 / PKJI 2014 base, adjustment factors 1);
* the critical approach of a phase is the one with the largest flow ratio
  (computed with the Indonesian pcu), and it is what the core plans for;
* an approach is *opposed* in a phase when the phase gives it a right turn
  (crossing traffic: Indonesia drives on the left) while a roughly opposite
  approach (bearing 135-225 degrees away) runs through in the same phase;
* intergreen = the stored plan's amber + all-red; minimum green per phase
  from the inventory.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from control.pcu import BASE_SATURATION_PCU_H_PER_M, PCE_OPPOSED, PCE_PROTECTED

CLASSES = ("mc", "lv", "hv", "um")

#: counts per (intersection_id, detector_id): flow per class (mc, lv, hv, um) [veh/h]
Counts = dict[tuple[str, str], tuple[float, float, float, float]]


class CountsError(ValueError):
    """Counts that cannot be used; the message names the row and the field."""


@dataclass
class PlanInputs:
    """The padded arrays for :func:`control.pipeline.plan_signals`, plus labels."""

    ids: list[str]
    names: list[str]
    phase_count: npt.NDArray[np.int64]  # (n,)
    flow_veh_h: npt.NDArray[np.float64]  # (n, p, 4) critical approach, by class
    saturation_pcu_h: npt.NDArray[np.float64]  # (n, p)
    intergreen_s: npt.NDArray[np.float64]  # (n, p)
    min_green_s: npt.NDArray[np.float64]  # (n, p)
    opposed: npt.NDArray[np.bool_]  # (n, p)
    phase_mask: npt.NDArray[np.bool_]  # (n, p)
    entry_width_m: npt.NDArray[np.float64]  # (n, p)
    critical_approach: list[list[str]]  # per intersection, per phase
    detectors_counted: npt.NDArray[np.int64]  # (n,) detectors with counts
    detectors_total: npt.NDArray[np.int64]  # (n,)
    current_cycle_s: npt.NDArray[np.float64]  # (n,) the stored fixed plan
    notes: list[str] = field(default_factory=list)

    def arrays(self) -> dict[str, Any]:
        """Keyword arguments for :func:`control.pipeline.plan_signals`."""
        return dict(
            flow_veh_h=self.flow_veh_h,
            saturation_pcu_h=self.saturation_pcu_h,
            intergreen_s=self.intergreen_s,
            phase_mask=self.phase_mask,
            min_green_s=self.min_green_s,
            opposed=self.opposed,
            entry_width_m=self.entry_width_m,
        )


def inputs_from_inventory(
    inventory: Any, counts: Counts, intersection_ids: Iterable[str] | None = None
) -> PlanInputs:
    """Build the core's arrays for the inventory's intersections (``hub.inventory.Inventory``).

    Intersections are kept in inventory order; ``intersection_ids`` selects some
    (unknown ids raise :class:`CountsError` naming them).
    """
    its = list(inventory.intersections)
    if intersection_ids is not None:
        want = list(intersection_ids)
        by_id = {it.id: it for it in its}
        missing = [i for i in want if i not in by_id]
        if missing:
            raise CountsError(f"intersection: unknown id(s) {', '.join(missing)}")
        its = [by_id[i] for i in want]
    n = len(its)
    p = max((len(it.phases) for it in its), default=1)
    flow = np.zeros((n, p, 4))
    sat = np.full((n, p), BASE_SATURATION_PCU_H_PER_M * 3.5)
    ig = np.zeros((n, p))
    gmin = np.zeros((n, p))
    opp = np.zeros((n, p), dtype=bool)
    mask = np.zeros((n, p), dtype=bool)
    width = np.ones((n, p))
    counted = np.zeros(n, dtype=np.int64)
    total = np.zeros(n, dtype=np.int64)
    cycle_now = np.zeros(n)
    critical: list[list[str]] = []
    for i, it in enumerate(its):
        appr = {a.id: a for a in it.approaches}
        # flow per (approach, lane) from the detectors
        lane_flow: dict[tuple[str, int], np.ndarray] = {}
        whole: dict[str, np.ndarray] = {}
        for det in it.detectors:
            c = counts.get((it.id, det.id))
            total[i] += 1
            if c is None:
                continue
            counted[i] += 1
            arr = np.asarray(c, dtype=np.float64)
            if det.lane == 0:
                whole[det.approach] = whole.get(det.approach, np.zeros(4)) + arr
            else:
                key = (det.approach, det.lane)
                lane_flow[key] = lane_flow.get(key, np.zeros(4)) + arr
        crit_row: list[str] = []
        for j, ph in enumerate(it.phases):
            mask[i, j] = True
            ig[i, j] = it.plan.amber_s + it.plan.all_red_s
            gmin[i, j] = ph.min_green_s
            turns: dict[str, set[str]] = {}
            for mv in ph.movements:
                a, t = mv.split(":")
                turns.setdefault(a, set()).add(t)
            best = (-1.0, "", np.zeros(4), 0.0, False, 1.0)
            for a_id, ts in turns.items():
                a = appr[a_id]
                lanes = [ln for ln in a.lanes if ts.intersection(ln.movements)]
                w = sum(ln.width_m for ln in lanes)
                has_lane_det = any((a_id, ln.index) in lane_flow for ln in a.lanes)
                if has_lane_det:
                    q = sum((lane_flow.get((a_id, ln.index), np.zeros(4)) for ln in lanes),
                            np.zeros(4))
                else:
                    q = whole.get(a_id, np.zeros(4))
                opposed = "R" in ts and any(
                    "T" in turns.get(b_id, set())
                    and 135.0 <= (appr[b_id].bearing_deg - a.bearing_deg) % 360.0 <= 225.0
                    for b_id in turns
                    if b_id != a_id
                )
                e = PCE_OPPOSED if opposed else PCE_PROTECTED
                s = BASE_SATURATION_PCU_H_PER_M * w
                y = float(q @ e) / s
                if y > best[0]:
                    best = (y, a_id, q, s, opposed, sum(ln.width_m for ln in a.lanes))
            _, a_id, q, s, opposed, entry = best
            flow[i, j] = q
            sat[i, j] = s
            opp[i, j] = opposed
            width[i, j] = entry
            crit_row.append(a_id)
        critical.append(crit_row)
        cycle_now[i] = it.plan.cycle_s
    return PlanInputs(
        ids=[it.id for it in its],
        names=[it.name for it in its],
        phase_count=np.array([len(it.phases) for it in its], dtype=np.int64),
        flow_veh_h=flow,
        saturation_pcu_h=sat,
        intergreen_s=ig,
        min_green_s=gmin,
        opposed=opp,
        phase_mask=mask,
        entry_width_m=width,
        critical_approach=critical,
        detectors_counted=counted,
        detectors_total=total,
        current_cycle_s=cycle_now,
    )


# --------------------------------------------------------------------------- counts files


def _number(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool):
        raise CountsError(f"{where} {name}: expected a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise CountsError(f"{where} {name}: expected a number, got {value!r}") from None
    if not math.isfinite(x) or x < 0:
        raise CountsError(f"{where} {name}: must be a finite number >= 0, got {value!r}")
    return x


def _accumulate(rows: Iterable[tuple[str, Mapping[str, Any]]]) -> Counts:
    sums: dict[tuple[str, str], np.ndarray] = {}
    secs: dict[tuple[str, str], float] = {}
    for where, row in rows:
        for key in ("intersection_id", "detector_id"):
            if not str(row.get(key) or "").strip():
                raise CountsError(f"{where} {key}: missing")
        iid, did = str(row["intersection_id"]).strip(), str(row["detector_id"]).strip()
        vals = np.array([_number(row.get(c, 0) or 0, where, c) for c in CLASSES])
        interval = _number(row.get("interval_s", 3600) or 3600, where, "interval_s")
        if interval <= 0:
            raise CountsError(f"{where} interval_s: must be > 0")
        sums[(iid, did)] = sums.get((iid, did), np.zeros(4)) + vals
        secs[(iid, did)] = secs.get((iid, did), 0.0) + interval
    return {k: tuple(float(x) for x in v * 3600.0 / secs[k]) for k, v in sums.items()}  # type: ignore[misc]


def read_counts_file(path: str | Path) -> Counts:
    """Counts from a CSV or JSON file, as flows per detector [veh/h].

    CSV: a header with ``intersection_id, detector_id, mc, lv, hv, um`` and
    optionally ``interval_s`` (default 3600: the counts are hourly flows).
    JSON: a list of objects with the same fields, or ``{"counts": [...]}``.
    Several rows of one detector are added up (counts and intervals).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CountsError(f"counts file {p}: {exc.strerror}") from None
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CountsError(f"counts file {p}: not valid JSON: {exc}") from None
        if isinstance(data, dict):
            data = data.get("counts")
        if not isinstance(data, list):
            raise CountsError(f"counts file {p} counts: expected a list of objects")
        rows = []
        for k, row in enumerate(data):
            if not isinstance(row, dict):
                raise CountsError(f"counts[{k}]: expected an object")
            rows.append((f"counts[{k}]", row))
        return _accumulate(rows)
    reader = csv.DictReader(text.splitlines())
    need = {"intersection_id", "detector_id", *CLASSES}
    missing = need - set(reader.fieldnames or [])
    if missing:
        raise CountsError(f"counts file {p} header: missing column(s) {', '.join(sorted(missing))}")
    return _accumulate((f"row {k + 2}", row) for k, row in enumerate(reader))


# --------------------------------------------------------------------------- the store


def read_store_counts(conn: Any, until: datetime, window: timedelta) -> tuple[Counts, str]:
    """Recent flows per detector [veh/h] from the store, and where they came from.

    Uses the ``detector_flow_5m`` rollup buckets inside ``[until - window, until)``;
    when the rollup has none (not refreshed yet), the raw ``detector_reading`` rows.
    Flow = counted vehicles x 3600 / seconds covered.
    """
    since = until - window
    rows = conn.execute(
        """SELECT intersection_id, detector_id, sum(mc), sum(lv), sum(hv), sum(um),
                  sum(covered_s)
           FROM detector_flow_5m WHERE bucket >= %s AND bucket < %s
           GROUP BY intersection_id, detector_id""",
        (since, until),
    ).fetchall()
    source = "detector_flow_5m"
    if not rows:
        rows = conn.execute(
            """SELECT intersection_id, detector_id, sum(mc), sum(lv), sum(hv), sum(um),
                      sum(interval_s)
               FROM detector_reading WHERE ts >= %s AND ts < %s
               GROUP BY intersection_id, detector_id""",
            (since, until),
        ).fetchall()
        source = "detector_reading"
    out: Counts = {}
    for iid, did, mc, lv, hv, um, secs in rows:
        if secs and secs > 0:
            f = 3600.0 / float(secs)
            out[(iid, did)] = (float(mc) * f, float(lv) * f, float(hv) * f, float(um) * f)
    return out, source
