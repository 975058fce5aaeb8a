"""Helpers that put a generated city and detector readings into a real test database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hub.db import connect
from hub.inventory import save_to_store
from hub.store import detect_store, ensure_partitions, refresh_rollups


def load_city(url: str, inv: Any) -> None:
    with connect(url) as conn:
        save_to_store(conn, inv)


def approach_detectors(inv: Any) -> dict[str, list[tuple[str, str, str, int]]]:
    """link id -> [(intersection id, detector id, approach, lane)] measuring it."""
    out: dict[str, list[tuple[str, str, str, int]]] = {}
    for it in inv.intersections:
        link_of = {a.id: a.link_id for a in it.approaches if a.link_id}
        for d in it.detectors:
            if d.approach in link_of:
                out.setdefault(link_of[d.approach], []).append((it.id, d.id, d.approach, d.lane))
    return out


def insert_readings(
    url: str,
    inv: Any,
    at: datetime,
    speed_kmh: dict[str, float],
    *,
    interval_s: int = 60,
    veh: int = 20,
    seq0: int = 0,
    rollups: bool = False,
) -> int:
    """One reading per detector of each link in ``speed_kmh`` at ``at``; returns rows."""
    dets = approach_detectors(inv)
    rows = []
    for link_id, v in speed_kmh.items():
        for iid, did, appr, lane in dets[link_id]:
            rows.append(
                (at, iid, did, seq0, appr, max(lane, 0), interval_s, int(veh * 0.7),
                 veh - int(veh * 0.7), 0, 0, 12.0, v)
            )
    with connect(url) as conn:
        if detect_store(conn).backend == "native":
            ensure_partitions(conn, {at.date(), (at - timedelta(days=1)).date(),
                                     (at + timedelta(days=1)).date()})
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO detector_reading (ts, intersection_id, detector_id, seq,
                       approach, lane, interval_s, mc, lv, hv, um, occupancy_pct, speed_kmh)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT DO NOTHING""",
                rows,
            )
        if rollups:
            refresh_rollups(conn, at - timedelta(minutes=10), at + timedelta(minutes=10))
    return len(rows)
