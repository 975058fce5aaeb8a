"""Passenger-car units and saturation flow for Indonesian mixed traffic.

Vehicle classes follow the Indonesian manuals and the wire contract
(``ingest/contract.py``), always in this order on the last axis:

====  ==========================================================
 mc   motorcycles (sepeda motor, SM)
 lv   light vehicles: cars, vans, angkot (kendaraan ringan, KR/LV)
 hv   heavy vehicles: buses, trucks (kendaraan berat, KB/HV)
 um   unmotorised: bicycles, becak, carts (kendaraan tak bermotor)
====  ==========================================================
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from control._arrays import FloatArray, as_bool, as_float, non_negative

VEHICLE_CLASSES: tuple[str, ...] = ("mc", "lv", "hv", "um")

#: Passenger-car equivalents on a *protected* approach (no opposing flow during
#: its green), order (mc, lv, hv, um). Source: Bång & Palgunadi (1994), the
#: field study behind the Indonesian HCM (IHCM 1993 / MKJI 1997 chapter 2):
#: "for protected approaches ... pcu for heavy vehicles 1.3, motorcycles 0.2,
#: and unmotorised vehicles 0.5".
PCE_PROTECTED: FloatArray = np.array([0.2, 1.0, 1.3, 0.5])

#: Passenger-car equivalents on an *opposed* approach (right turns filter through
#: the opposing stream; Indonesia drives on the left). Same source: "higher
#: pcu-values were also obtained for MC (0.4) and UM (1.0)"; HV stays 1.3.
PCE_OPPOSED: FloatArray = np.array([0.4, 1.0, 1.3, 1.0])

#: Base saturation flow per metre of effective approach width on a protected
#: approach [pcu/h of green/m]. Bång & Palgunadi (1994): "for protected
#: approaches, the saturation flow was approximately 600 pcu/hg/m"; MKJI 1997
#: uses S0 = 600 x We.
BASE_SATURATION_PCU_H_PER_M = 600.0


def passenger_car_flow(
    flow_veh_h: npt.ArrayLike,
    opposed: npt.ArrayLike = False,
    pce_protected: npt.ArrayLike = PCE_PROTECTED,
    pce_opposed: npt.ArrayLike = PCE_OPPOSED,
) -> FloatArray:
    r"""Convert class counts to passenger-car units with the Indonesian equivalents.

    Parameters
    ----------
    flow_veh_h : (n_intersections, n_phases, 4) flow per vehicle class
        (mc, lv, hv, um) [veh/h]. A (n_phases, 4) array is one intersection.
    opposed : (n_intersections, n_phases) True where the approach runs opposed
        (permitted right turns against oncoming traffic) [-]; scalar broadcasts.
    pce_protected : passenger-car equivalents on protected approaches, shape (4,)
        or (n_intersections, 4) to override per intersection [pcu/veh].
    pce_opposed : equivalents on opposed approaches, shape (4,) or
        (n_intersections, 4) [pcu/veh].

    Returns
    -------
    flow_pcu_h : (n_intersections, n_phases) [pcu/h]; NaN where any class count is NaN.

    Notes
    -----
    .. math:: Q = \sum_k e_k\,q_k,\qquad e = e^{\mathrm{prot}} \text{ or } e^{\mathrm{opp}}

    Motorcycles are 60-75 % of vehicles in Tangerang, so the motorcycle equivalent
    dominates the result: 1,000 mc/h is 200 pcu/h on a protected approach but
    400 pcu/h on an opposed one.

    References
    ----------
    Bång, K. L., & Palgunadi (1994). Capacity and driver behaviour in Indonesian
    signalised intersections. Proc. 2nd Int. Symposium on Highway Capacity,
    Sydney, Vol. 1, pp. 71-90.
    Direktorat Jenderal Bina Marga (1997). Manual Kapasitas Jalan Indonesia (MKJI),
    chapter 2, Simpang bersinyal.
    """
    q = as_float("flow_veh_h", flow_veh_h)
    if q.ndim == 2:
        q = q[np.newaxis]
    if q.ndim != 3 or q.shape[-1] != len(VEHICLE_CLASSES):
        raise ValueError(
            f"flow_veh_h has shape {q.shape}, expected (n_intersections, n_phases, 4) "
            "with classes (mc, lv, hv, um) last"
        )
    non_negative("flow_veh_h", q)
    n = q.shape[0]
    opp = as_bool("opposed", opposed, q.shape[:2])
    e_p = _pce("pce_protected", pce_protected, n)
    e_o = _pce("pce_opposed", pce_opposed, n)
    any_opp = bool(opp.any())
    # left to right over the classes, each approach with its own table: the
    # arithmetic of the scalar reference and of the compiled pipeline, bit for bit
    flow = np.empty(q.shape[:2])
    for c in range(len(VEHICLE_CLASSES)):
        e = np.where(opp, e_o[:, c, None], e_p[:, c, None]) if any_opp else e_p[:, c, None]
        if c == 0:
            np.multiply(q[..., 0], e, out=flow)
        else:
            flow += q[..., c] * e
    return flow


def _pce(name: str, value: npt.ArrayLike, n: int) -> FloatArray:
    e = as_float(name, value)
    if e.ndim == 1:
        e = e[np.newaxis, :]
    if e.ndim != 2 or e.shape[-1] != len(VEHICLE_CLASSES) or e.shape[0] not in (1, n):
        raise ValueError(f"{name} has shape {e.shape}, expected (4,) or ({n}, 4)")
    non_negative(name, e)
    return np.broadcast_to(e, (n, len(VEHICLE_CLASSES)))


def saturation_flow(
    effective_width_m: npt.ArrayLike,
    adjustment: npt.ArrayLike = 1.0,
    base_pcu_h_per_m: float = BASE_SATURATION_PCU_H_PER_M,
) -> FloatArray:
    r"""Saturation flow of a protected approach from its effective width.

    Parameters
    ----------
    effective_width_m : effective approach width We [m], any shape.
    adjustment : product of the adjustment factors (city size, side friction,
        gradient, parking, turning) [-], broadcast against ``effective_width_m``.
    base_pcu_h_per_m : base saturation flow per metre of width [pcu/h/m].

    Returns
    -------
    saturation_pcu_h : [pcu/h of green]; NaN where the width is NaN.

    Notes
    -----
    .. math:: S = S_0\,F_{CS}\,F_{SF}\,F_G\,F_P\,F_{RT}\,F_{LT},\qquad S_0 = 600\,W_e

    Opposed approaches in MKJI use a separate chart of S0 against opposing and
    right-turning flow; pass that saturation flow directly to the timing
    functions instead.

    References
    ----------
    Direktorat Jenderal Bina Marga (1997). MKJI, chapter 2, step C-3/C-4.
    Bång, K. L., & Palgunadi (1994), op. cit. (600 pcu/hg/m).
    """
    we = as_float("effective_width_m", effective_width_m)
    f = as_float("adjustment", adjustment)
    try:
        shape = np.broadcast_shapes(we.shape, f.shape)
    except ValueError:
        raise ValueError(
            f"adjustment has shape {f.shape}, expected one broadcastable to "
            f"effective_width_m's {we.shape}"
        ) from None
    if np.any(we <= 0):
        raise ValueError("effective_width_m must be > 0")
    non_negative("adjustment", f)
    return np.broadcast_to(base_pcu_h_per_m * we * f, shape).astype(np.float64)
