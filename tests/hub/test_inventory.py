"""The inventory format: validation errors, JSON Schema, store round trip (real PostgreSQL)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hub.db import connect
from hub.inventory import (
    SCHEMA_PATH,
    Inventory,
    InventoryError,
    dump_inventory,
    json_schema,
    load_inventory,
    parse_inventory,
    read_from_store,
    save_to_store,
)
from sim.city import generate_city


@pytest.fixture(scope="module")
def city() -> Inventory:
    return generate_city(12, seed=7)


def _raw(inv: Inventory) -> dict:
    return json.loads(dump_inventory(inv))


def test_committed_schema_is_current() -> None:
    assert json.loads(SCHEMA_PATH.read_text()) == json_schema(), (
        "hub/schemas/inventory.schema.json is stale: run "
        "python -c 'from hub.inventory import write_json_schema; write_json_schema()'"
    )


def test_file_round_trip(tmp_path, city: Inventory) -> None:
    path = tmp_path / "city.json"
    dump_inventory(city, path)
    assert load_inventory(path) == city


def test_store_round_trip_is_lossless_and_idempotent(db_url: str, city: Inventory) -> None:
    with connect(db_url) as conn:
        counts = save_to_store(conn, city)
        assert counts["intersections"] == 12
        assert read_from_store(conn) == city
        n_rows = conn.execute("SELECT count(*) FROM detector").fetchone()
        save_to_store(conn, city)  # again: nothing changes
        assert conn.execute("SELECT count(*) FROM detector").fetchone() == n_rows
        back = read_from_store(conn)
        assert back == city
        assert dump_inventory(back) == dump_inventory(city)
        # typed columns carry the values consumers query in SQL
        ln = city.links[0]
        row = conn.execute(
            "SELECT from_node, to_node, length_m, lanes FROM link WHERE id = %s", (ln.id,)
        ).fetchone()
        assert row == (ln.from_node, ln.to_node, ln.length_m, ln.lanes)
        # loading a smaller city replaces the larger one entirely
        small = generate_city(3, seed=1)
        save_to_store(conn, small)
        assert read_from_store(conn) == small
        assert conn.execute("SELECT count(*) FROM intersection").fetchone() == (3,)


def _errors(raw: dict) -> list[str]:
    with pytest.raises(InventoryError) as exc:
        parse_inventory(raw)
    return exc.value.errors


def test_field_error_names_feature_and_field(city: Inventory) -> None:
    raw = _raw(city)
    iid = raw["intersections"][2]["id"]
    raw["intersections"][2]["approaches"][0]["lanes"][0]["width_m"] = 9.0
    errs = _errors(raw)
    assert len(errs) == 1
    assert errs[0].startswith(f"intersection '{iid}' approaches[0].lanes[0].width_m:")


def test_missing_field_and_bad_type(city: Inventory) -> None:
    raw = _raw(city)
    lid = raw["links"][4]["id"]
    del raw["links"][4]["capacity_veh_h"]
    raw["lots"][0]["capacity"] = "many"
    errs = _errors(raw)
    assert any(e.startswith(f"link '{lid}' capacity_veh_h: Field required") for e in errs)
    assert any(e.startswith(f"lot '{raw['lots'][0]['id']}' capacity:") for e in errs)


def test_feature_level_errors(city: Inventory) -> None:
    raw = _raw(city)
    it = raw["intersections"][1]
    it["phases"][0]["movements"].append("ZZ:T")
    lot = raw["lots"][0]
    lot["bays"].append(dict(lot["bays"][0]))
    lot["capacity"] += 1
    errs = _errors(raw)
    last = len(it["phases"][0]["movements"]) - 1
    assert f"intersection '{it['id']}' phases[0].movements[{last}]: unknown approach 'ZZ'" in errs
    assert f"lot '{lot['id']}' bays: bay ids must be unique within the lot" in errs


def test_cross_reference_errors(city: Inventory) -> None:
    raw = _raw(city)
    raw["links"][0]["to_node"] = "NOWHERE"
    raw["routes"][0]["link_ids"].pop(1)
    raw["pickup_points"][0]["link_id"] = "L99999"
    errs = _errors(raw)
    text = "\n".join(errs)
    assert f"link '{raw['links'][0]['id']}' to_node: unknown node 'NOWHERE'" in errs
    assert f"route '{raw['routes'][0]['id']}' link_ids[1]: " in text
    assert f"pickup point '{raw['pickup_points'][0]['id']}' link_id: unknown link 'L99999'" in errs


def test_plan_must_add_up(city: Inventory) -> None:
    raw = _raw(city)
    raw["intersections"][0]["plan"]["cycle_s"] += 7
    (err,) = _errors(raw)
    assert "plan" in err and "cycle_s" in err and raw["intersections"][0]["id"] in err


def test_not_json() -> None:
    with pytest.raises(InventoryError, match="not valid JSON"):
        parse_inventory(b"{nope")


def test_link_arrays(city: Inventory) -> None:
    a = city.link_arrays()
    assert a.from_idx.shape == (len(city.links),)
    k = 5
    assert a.node_ids[a.from_idx[k]] == city.links[k].from_node
    assert a.node_ids[a.to_idx[k]] == city.links[k].to_node
    np.testing.assert_allclose(
        a.free_flow_time_s[k], city.links[k].length_m / (city.links[k].free_flow_kmh / 3.6)
    )
