"""The whole timing pipeline on real SCATS approach counts (VicRoads, Boroondara, Oct 2006).

Reads ../shared/data/scats-boroondara/OriginalDataset.csv in place (see
../shared/data/README.md): 40 intersections, one row per approach and day,
96 fifteen-minute counts. Source: VicRoads.

Phasing assumption (the data has no signal plans): the approaches on the same
road form one phase (both directions of WARRIGAL_RD run together), one phase
per road. The critical flow of a phase is its busiest approach. The counts have
no lane data, so each approach gets as many 1,900 pcu/h lanes (HCM base
saturation flow) as it needs to keep its month's 95th-percentile flow at
y <= 0.9, at least two -- a plausible geometry, not the real one.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from control import _reference as ref
from control.pipeline import plan_signals
from control.webster import FLAG_OVERSATURATED

DATA = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "scats-boroondara"
    / "OriginalDataset.csv"
)
ROAD_RE = re.compile(r"^(.*?)\s+(?:N|S|E|W|NE|NW|SE|SW)\s+of\s+", re.IGNORECASE)


def load_phase_flows() -> tuple[list[str], np.ndarray, np.ndarray]:
    """(site ids, phase flows [veh/h] (n_sites, n_days*96, max_phases), saturation (n, p))."""
    if not DATA.exists():
        pytest.fail(f"the real data file {DATA} is missing (see ../shared/data/README.md)")
    counts: dict[tuple[str, str, str], np.ndarray] = {}
    roads: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    days: set[str] = set()
    with DATA.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        first = header.index("0:00")
        for row in reader:
            site, location, day = row[0], row[1], row[header.index("Start Time")]
            m = ROAD_RE.match(location)
            assert m, f"unexpected location {location!r}"
            vals = np.array([float(v) if v.strip() else np.nan for v in row[first:first + 96]])
            key = (site, day, location)
            counts[key] = np.fmax(counts.get(key, vals), vals)  # duplicates: keep the max
            roads[site][m.group(1).upper()].add(location)
            days.add(day)
    sites = sorted(roads)
    day_list = sorted(days, key=lambda d: tuple(int(x) for x in reversed(d.split("/"))))
    p = max(len(r) for r in roads.values())
    n_t = len(day_list) * 96
    flow = np.full((len(sites), n_t, p), np.nan)
    sat = np.full((len(sites), p), np.nan)
    for i, site in enumerate(sites):
        for j, (_road, locs) in enumerate(sorted(roads[site].items())):
            series = []
            for loc in sorted(locs):
                s = np.concatenate(
                    [counts.get((site, d, loc), np.full(96, np.nan)) for d in day_list]
                ) * 4.0  # veh per 15 min -> veh/h
                series.append(s)
            stack = np.vstack(series)
            flow[i, :, j] = np.nanmax(np.where(np.isnan(stack), -np.inf, stack), axis=0)
            flow[i, :, j] = np.where(np.isinf(flow[i, :, j]), np.nan, flow[i, :, j])
            p95 = np.nanpercentile(stack, 95, axis=1).max()
            sat[i, j] = 1900.0 * max(2, int(np.ceil(p95 / (0.9 * 1900.0))))
    return sites, flow, sat


@pytest.fixture(scope="module")
def scats() -> tuple[list[str], np.ndarray, np.ndarray]:
    return load_phase_flows()


def test_every_plan_on_a_month_of_real_counts_is_valid_and_plausible(scats) -> None:
    sites, flow, sat = scats
    assert len(sites) == 40
    n, n_t, p = flow.shape
    mask_site = ~np.all(np.isnan(flow), axis=1)  # (n, p): phases that exist at the site
    # one row per (site, 15-minute slot) with every phase counted
    complete = np.all(np.isnan(flow) == ~mask_site[:, None, :], axis=-1)
    site_idx, slot_idx = np.nonzero(complete)
    assert site_idx.size > 0.9 * 40 * 31 * 96 * 0.9  # almost all of the month is usable
    q = np.nan_to_num(flow[site_idx, slot_idx])  # (m, p)
    counts = np.zeros(q.shape + (4,))
    counts[..., 1] = q  # car-dominated traffic: light vehicles (pcu 1.0)
    mask = mask_site[site_idx]
    plan = plan_signals(
        counts,
        np.where(mask, sat[site_idx], 1900.0),
        np.where(mask, 5.0, 0.0),  # 4 s amber + 1 s all-red
        mask,
        min_green_s=7.0,
        min_cycle_s=40.0,
        max_cycle_s=150.0,
    )
    assert plan.valid.all(), f"{(~plan.valid).sum()} plans refused"
    g = np.where(mask, plan.green_s, np.nan)
    assert np.nanmin(g) >= 7.0
    np.testing.assert_allclose(np.nansum(g, axis=-1) + 5.0 * mask.sum(-1), plan.cycle_s)
    assert np.all((plan.cycle_s >= 40.0) & (plan.cycle_s <= 150.0))
    assert np.all(np.mod(plan.green_s, 1.0) == 0.0)
    assert not np.any(np.isnan(plan.delay_s[mask]))
    assert np.all(plan.los[mask] >= 0)
    # plausibility: busier slots get longer cycles (Webster is monotone in Y) ...
    big_y = plan.flow_ratio.sum(axis=-1)
    hi, lo = big_y > np.quantile(big_y, 0.9), big_y < np.quantile(big_y, 0.1)
    assert plan.cycle_s[hi].mean() > plan.cycle_s[lo].mean() + 20.0
    # ... the AM/PM peaks (07:00-09:00, 16:00-18:00) see more delay than 02:00-04:00 ...
    tod = slot_idx % 96
    peak = ((tod >= 28) & (tod < 36)) | ((tod >= 64) & (tod < 72))
    night = (tod >= 8) & (tod < 16)
    d = plan.intersection_delay_s
    assert np.nanmean(d[peak]) > np.nanmean(d[night])
    # ... and the sized geometry keeps oversaturation rare
    assert (plan.flags & FLAG_OVERSATURATED).astype(bool).mean() < 0.01
    # the vectorized plans match the scalar reference on a sample
    rng = np.random.default_rng(2006)
    for r in rng.choice(len(site_idx), 40, replace=False):
        k = int(mask[r].sum())
        want = ref.plan_intersection(
            counts[r, :k].tolist(), sat[site_idx[r], :k].tolist(), [5.0] * k, [7.0] * k,
            cmin=40.0, cmax=150.0,
        )
        assert plan.cycle_s[r] == pytest.approx(want["cycle_s"])
        np.testing.assert_allclose(plan.green_s[r, :k], want["green_s"])
