"""Helpers that put a generated city and detector readings into a real test database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.db import connect
from hub.inventory import save_to_store
from hub.store import detect_store, ensure_partitions, refresh_rollups
from ingest.contract import Kind, topic_for
from ingest.writer import store_messages


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
    """One reading per detector of each link in ``speed_kmh`` at ``at``, stored the way
    ingest stores ATCS messages (readings and the detectors' live state); returns rows."""
    dets = approach_detectors(inv)
    per_inter: dict[str, list[dict[str, Any]]] = {}
    for link_id, v in speed_kmh.items():
        for iid, did, appr, lane in dets[link_id]:
            per_inter.setdefault(iid, []).append(
                {"detector_id": did, "approach": appr, "lane": max(lane, 0),
                 "mc": int(veh * 0.7), "lv": veh - int(veh * 0.7), "hv": 0, "um": 0,
                 "occupancy_pct": 12.0, "speed_kmh": v}
            )
    messages = [
        (topic_for(Kind.DETECTORS, iid),
         json.dumps({"seq": seq0, "ts": at.isoformat(), "interval_s": interval_s,
                     "detectors": d}).encode())
        for iid, d in per_inter.items()
    ]
    with connect(url) as conn:
        store = detect_store(conn)
        if store.backend == "native":
            ensure_partitions(conn, {at.date(), (at - timedelta(days=1)).date(),
                                     (at + timedelta(days=1)).date()})
        res = store_messages(conn, store, messages, now=max(at, datetime.now(UTC)))
        assert res.dead_letters == 0, "the test's own messages break the contract"
        if rollups:
            refresh_rollups(conn, at - timedelta(minutes=10), at + timedelta(minutes=10))
    return sum(len(d) for d in per_inter.values())
