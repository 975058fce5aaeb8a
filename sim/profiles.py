"""Demand profiles: the daily shape of traffic, calibrated on real SCATS counts.

The shape is the mean, over 2,972 weekday (1,220 weekend) approach-days of VicRoads
SCATS counts in Boroondara (``../shared/data/scats-boroondara/OriginalDataset.csv``,
October 2006, "Source: VicRoads"), of each approach-day's 15-minute counts divided
by that day's mean: a dimensionless profile with mean 1 and the AM peak at 08:00,
the PM peak at 17:30. :func:`scats_profile` recomputes it from the CSV in place;
``SCATS_WEEKDAY_96``/``SCATS_WEEKEND_96`` are its values (3 decimals), used when
the file is not there. ``tests/sim/test_profiles.py`` checks the two agree.

Tangerang's commuters leave earlier (the Jabodetabek AM peak is around 06:30–07:30),
so :func:`daily_profile` shifts the shape by ``TANGERANG_SHIFT_H`` (approximate).
Profiles are in local time, WIB (UTC+7).
"""

from __future__ import annotations

import csv
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

WIB_OFFSET_S = 7 * 3600  # Waktu Indonesia Barat, UTC+7, no DST
TANGERANG_SHIFT_H = -1.0  # earlier AM peak than Melbourne (approximate)
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SCATS_CSV = SHARED_DATA / "scats-boroondara" / "OriginalDataset.csv"

# Vehicle-class shares at Tangerang ATCS detectors (approximate; motorcycles ~70 %)
CLASS_SHARES = {"mc": 0.70, "lv": 0.25, "hv": 0.03, "um": 0.02}

SCATS_WEEKDAY_96 = (
    0.210, 0.176, 0.149, 0.122, 0.106, 0.089, 0.083, 0.073, 0.069, 0.064, 0.060, 0.059,
    0.058, 0.058, 0.060, 0.061, 0.064, 0.070, 0.085, 0.112, 0.130, 0.174, 0.254, 0.338,
    0.443, 0.643, 0.903, 1.100, 1.323, 1.621, 1.831, 1.929, 2.009, 2.003, 1.962, 1.863,
    1.654, 1.521, 1.425, 1.366, 1.296, 1.293, 1.297, 1.276, 1.263, 1.294, 1.308, 1.337,
    1.330, 1.346, 1.332, 1.315, 1.309, 1.314, 1.319, 1.311, 1.314, 1.356, 1.378, 1.437,
    1.530, 1.633, 1.693, 1.703, 1.725, 1.733, 1.774, 1.776, 1.884, 1.997, 1.999, 1.973,
    1.938, 1.855, 1.687, 1.523, 1.385, 1.279, 1.115, 0.999, 0.908, 0.836, 0.801, 0.766,
    0.786, 0.756, 0.716, 0.685, 0.673, 0.606, 0.560, 0.499, 0.453, 0.383, 0.336, 0.284,
)
SCATS_WEEKEND_96 = (
    0.656, 0.606, 0.535, 0.478, 0.422, 0.368, 0.337, 0.270, 0.244, 0.225, 0.208, 0.229,
    0.218, 0.204, 0.188, 0.174, 0.171, 0.171, 0.161, 0.168, 0.161, 0.174, 0.202, 0.229,
    0.246, 0.303, 0.390, 0.419, 0.405, 0.462, 0.558, 0.640, 0.686, 0.795, 0.933, 1.113,
    1.123, 1.242, 1.349, 1.481, 1.466, 1.533, 1.601, 1.665, 1.635, 1.695, 1.791, 1.846,
    1.876, 1.906, 1.893, 1.873, 1.831, 1.781, 1.786, 1.751, 1.729, 1.742, 1.703, 1.710,
    1.711, 1.734, 1.726, 1.733, 1.741, 1.747, 1.740, 1.730, 1.762, 1.781, 1.759, 1.680,
    1.642, 1.556, 1.479, 1.390, 1.282, 1.155, 1.053, 0.912, 0.874, 0.838, 0.819, 0.792,
    0.811, 0.779, 0.727, 0.695, 0.689, 0.640, 0.618, 0.594, 0.578, 0.531, 0.495, 0.446,
)


def scats_profile(path: str | Path = SCATS_CSV, weekend: bool = False) -> npt.NDArray[np.float64]:
    """The mean normalised 15-minute profile (96 values, mean 1) of the SCATS CSV."""
    days: list[npt.NDArray[np.float64]] = []
    with open(path, newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        first = header.index("0:00")
        for row in rows:
            day = datetime.strptime(row[header.index("Start Time")], "%d/%m/%Y")
            if (day.weekday() >= 5) != weekend:
                continue
            v = np.array([float(x or 0) for x in row[first : first + 96]])
            if v.sum() > 0:
                days.append(v / v.mean())
    prof = np.mean(days, axis=0)
    return np.asarray(prof / prof.mean())


@lru_cache(maxsize=4)
def daily_profile(
    weekend: bool = False, shift_h: float = TANGERANG_SHIFT_H
) -> npt.NDArray[np.float64]:
    """96 quarter-hour demand factors (mean 1) for Tangerang, local time."""
    base = np.asarray(SCATS_WEEKEND_96 if weekend else SCATS_WEEKDAY_96, dtype=float)
    return np.roll(base, int(round(shift_h * 4)))


def demand_factor(
    epoch_s: npt.ArrayLike, weekend: bool | None = None, shift_h: float = TANGERANG_SHIFT_H
) -> npt.NDArray[np.float64]:
    """Demand factor (mean 1 over a day) at UTC epoch seconds, linearly interpolated
    between quarter-hour midpoints; weekend taken from the date unless given."""
    t = np.asarray(epoch_s, dtype=float) + WIB_OFFSET_S
    q = (t % 86400.0) / 900.0 - 0.5  # position in quarter hours, midpoints at integers
    lo = np.floor(q).astype(int)
    f = q - lo
    if weekend is None:
        dow = ((t // 86400.0).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3)
        wk = dow >= 5
        out = np.empty_like(t)
        for flag in (False, True):
            m = wk == flag
            if np.any(m):
                p = daily_profile(flag, shift_h)
                out[m] = (1 - f[m]) * p[lo[m] % 96] + f[m] * p[(lo[m] + 1) % 96]
        return out
    p = daily_profile(weekend, shift_h)
    return np.asarray((1 - f) * p[lo % 96] + f * p[(lo + 1) % 96])
