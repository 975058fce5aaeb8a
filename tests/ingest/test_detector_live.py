"""The detectors' live state (``detector_live``) that ingest keeps beside the readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hub.db import connect
from hub.inventory import save_to_store
from hub.store import detect_store, ensure_partitions
from ingest.contract import Kind, topic_for
from ingest.writer import store_messages
from sim.city import generate_city


def report(iid: str, seq: int, ts: datetime, dets: list[tuple[str, str, int]]) -> tuple[str, bytes]:
    return topic_for(Kind.DETECTORS, iid), json.dumps({
        "seq": seq, "ts": ts.isoformat(), "interval_s": 60,
        "detectors": [
            {"detector_id": d, "approach": a, "lane": 1, "mc": mc, "lv": 2, "hv": 0, "um": 0,
             "occupancy_pct": 10.0, "speed_kmh": None}
            for d, a, mc in dets
        ],
    }).encode()


def live_rows(url: str) -> dict[tuple[str, str], tuple]:
    with connect(url) as conn:
        return {
            (r[0], r[1]): r[2:]
            for r in conn.execute(
                "SELECT intersection_id, detector_id, seq, mc, gid, speed_kmh FROM detector_live"
            ).fetchall()
        }


def test_newest_reading_wins_and_late_or_repeated_messages_do_not_turn_it_back(db_url) -> None:
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    with connect(db_url) as conn:
        store = detect_store(conn)
        if store.backend == "native":
            ensure_partitions(conn, {t.date(), (t + timedelta(days=1)).date()})
        msgs = [
            report("X-1", 1, t, [("D1", "N", 10), ("D2", "S", 20)]),
            report("X-1", 3, t + timedelta(minutes=2), [("D1", "N", 30)]),
            # in one batch with the newer one, and again in a later batch: late arrivals
            report("X-1", 2, t + timedelta(minutes=1), [("D1", "N", 99), ("D2", "S", 21)]),
        ]
        res = store_messages(conn, store, msgs)
        assert res.rows_inserted == 5 and res.dead_letters == 0
        store_messages(conn, store, msgs[2:] + msgs[:1])  # redelivered: duplicates
        n = conn.execute("SELECT count(*) FROM detector_reading").fetchone()[0]
    assert n == 5
    live = live_rows(db_url)
    # D1's newest is seq 3 (mc 30); D2's newest is seq 2 (mc 21); speed null stays null
    assert live == {("X-1", "D1"): (3, 30, None, None), ("X-1", "D2"): (2, 21, None, None)}


def test_live_state_carries_the_inventory_detector_ids(db_url) -> None:
    city = generate_city(4, seed=3)
    it = city.intersections[0]
    d0 = it.detectors[0]
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    with connect(db_url) as conn:
        store = detect_store(conn)
        if store.backend == "native":
            ensure_partitions(conn, {t.date(), (t + timedelta(days=1)).date()})
        # readings before the inventory knows the intersection: no id yet
        store_messages(conn, store, [report(it.id, 1, t, [(d0.id, d0.approach, 5),
                                                          ("NEW-DET", "N", 1)])])
        assert {k: v[2] for k, v in live_rows(db_url).items()} == {
            (it.id, d0.id): None, (it.id, "NEW-DET"): None}
        save_to_store(conn, city)  # the inventory arrives: the live state gets its ids
        gid = conn.execute("SELECT gid FROM detector WHERE intersection_id = %s AND id = %s",
                           (it.id, d0.id)).fetchone()[0]
        assert {k: v[2] for k, v in live_rows(db_url).items()} == {
            (it.id, d0.id): gid, (it.id, "NEW-DET"): None}
        # and later readings keep it
        store_messages(conn, store, [report(it.id, 2, t + timedelta(seconds=30),
                                            [(d0.id, d0.approach, 6)])])
    assert live_rows(db_url)[(it.id, d0.id)] == (2, 6, gid, None)
