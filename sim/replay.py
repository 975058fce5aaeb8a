"""Replay: stored messages of a time range, rebuilt as wire-contract payloads in time order.

Detector rows sharing ``(intersection_id, ts, seq)`` become one report again. Each
table is streamed with a server-side cursor ordered by ``ts`` and the streams are
merged, so a day of the city replays in constant memory. Timestamps are written
as RFC 3339 with microseconds, so a replay without ``retime`` reproduces the stored
keys exactly (the ingest stores nothing new); with ``retime_speed`` every message
is stamped with the wall-clock time at which the replay publishes it.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from hub.db import connect
from ingest.contract import Kind, topic_for

Msg = tuple[int, str, bytes]
BATCH = 2000


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def _stream(conn: Any, name: str, query: str, args: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    with conn.cursor(name=name) as cur:
        cur.itersize = BATCH
        cur.execute(query, args)
        yield from cur


def stored_messages(
    database_url: str,
    t0_s: float,
    t1_s: float,
    *,
    root: str = "tlive",
    families: tuple[str, ...] = ("detectors", "signal", "parking", "gps"),
    retime_speed: float | None = None,
    window: int = 2000,
) -> Iterator[list[Msg]]:
    """Yield lists of ``(ts_ms, topic, payload)`` in time order for ``[t0_s, t1_s)``."""
    a = datetime.fromtimestamp(t0_s, UTC)
    b = datetime.fromtimestamp(t1_s, UTC)
    conn = connect(database_url)
    streams = []
    try:
        if "detectors" in families:
            streams.append(_detector_reports(conn, a, b, root))
        if "signal" in families:
            streams.append(
                (ts, topic_for(Kind.SIGNAL, iid, root=root),
                 {"seq": seq, "ts": ts, "phase": ph, "state": st, "plan_id": plan})
                for ts, iid, seq, ph, st, plan in _stream(
                    conn, "replay_sig",
                    """SELECT ts, intersection_id, seq, phase, state, plan_id FROM signal_event
                       WHERE ts >= %s AND ts < %s ORDER BY ts, intersection_id, seq""", (a, b))
            )
        if "parking" in families:
            streams.append(
                (ts, topic_for(Kind.PARKING, lot, bay, root=root),
                 {"seq": seq, "ts": ts, "occupied": occ, "kind": kind}
                 | ({"battery_pct": batt} if batt is not None else {}))
                for ts, lot, bay, seq, occ, kind, batt in _stream(
                    conn, "replay_bay",
                    """SELECT ts, lot_id, bay_id, seq, occupied, kind, battery_pct
                       FROM parking_event WHERE ts >= %s AND ts < %s
                       ORDER BY ts, lot_id, bay_id, seq""", (a, b))
            )
        if "gps" in families:
            streams.append(
                (ts, topic_for(Kind.GPS, vid, root=root),
                 {k: v for k, v in (("seq", seq), ("ts", ts), ("lat", lat), ("lon", lon),
                                    ("speed_kmh", sp), ("heading_deg", hd), ("ignition", ign),
                                    ("load_kg", kg), ("hdop", hdop)) if v is not None})
                for ts, vid, seq, lat, lon, sp, hd, ign, kg, hdop in _stream(
                    conn, "replay_gps",
                    """SELECT ts, vehicle_id, seq, lat, lon, speed_kmh, heading_deg, ignition,
                              load_kg, hdop
                       FROM gps_position WHERE ts >= %s AND ts < %s
                       ORDER BY ts, vehicle_id, seq""", (a, b))
            )
        wall0 = time.time()
        out: list[Msg] = []
        for ts, topic, body in heapq.merge(*streams, key=lambda m: m[0]):
            ts_ms = int(ts.timestamp() * 1000)
            if retime_speed:
                new = wall0 + (ts.timestamp() - t0_s) / retime_speed
                body["ts"] = int(new * 1000)
                ts_ms = body["ts"]
            else:
                body["ts"] = _iso(ts)
            out.append((ts_ms, topic, json.dumps(body, separators=(",", ":")).encode()))
            if len(out) >= window:
                yield out
                out = []
        if out:
            yield out
    finally:
        conn.close()


def _detector_reports(
    conn: Any, a: datetime, b: datetime, root: str
) -> Iterator[tuple[datetime, str, dict[str, Any]]]:
    rows = _stream(
        conn, "replay_det",
        """SELECT ts, intersection_id, seq, interval_s, detector_id, approach, lane,
                  mc, lv, hv, um, occupancy_pct, speed_kmh, queue_m
           FROM detector_reading WHERE ts >= %s AND ts < %s
           ORDER BY ts, intersection_id, seq, detector_id""", (a, b),
    )
    key = None
    report: dict[str, Any] = {}
    for ts, iid, seq, iv, did, appr, lane, mc, lv, hv, um, occ, sp, q in rows:
        if (ts, iid, seq) != key:
            if key is not None:
                yield key[0], topic_for(Kind.DETECTORS, key[1], root=root), report
            key = (ts, iid, seq)
            report = {"seq": seq, "ts": ts, "interval_s": iv, "detectors": []}
        det = {"detector_id": did, "approach": appr, "lane": lane, "mc": mc, "lv": lv,
               "hv": hv, "um": um, "occupancy_pct": occ, "speed_kmh": sp}
        if q is not None:
            det["queue_m"] = q
        report["detectors"].append(det)
    if key is not None:
        yield key[0], topic_for(Kind.DETECTORS, key[1], root=root), report
