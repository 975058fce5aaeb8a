"""A real corridor from the BSD City OpenStreetMap extract (read in place)."""

from __future__ import annotations

import json

import numpy as np

from hub.inventory import dump_inventory, parse_inventory
from sim.engine import DeviceEngine, EngineConfig
from sim.osm import inventory_from_osm


def test_bsd_corridor(shared_data) -> None:
    inv = inventory_from_osm(shared_data / "tangerang-bsd-osm" / "osm_bbox.osm.xml.gz")
    assert inv.approximate and "OpenStreetMap" in inv.source
    # the extract has 7 traffic_signals nodes on the two boulevards
    assert len(inv.intersections) == 7
    names = {ln.name for ln in inv.links}
    assert {"Jalan BSD Grand Boulevard", "Jalan BSD Raya Utama"} <= names
    for it in inv.intersections:
        assert -6.3009 <= it.lat <= -6.2970 and 106.6378 <= it.lon <= 106.6438
    # link lengths are the real geometry: the extract is ~660 m x 420 m
    a = inv.link_arrays()
    assert 0 < a.length_m.min() and a.length_m.max() < 800
    # lanes come from the OSM tags where present (the boulevards are wide)
    assert a.lanes.max() >= 3
    assert parse_inventory(dump_inventory(inv)) == inv
    # and its devices run
    eng = DeviceEngine(inv, 1764522000.0, EngineConfig(seed=1, families=("detectors",)))
    msgs = eng.window(1764522000.0 + 300)
    assert len(msgs) == 5 * 7
    assert all(json.loads(p)["detectors"] for _, _, p in msgs)
    assert np.all(np.isfinite(a.free_flow_time_s))
