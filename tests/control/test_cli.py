"""``tlive plan``: from an inventory file and counts file, and from the store's recent counts."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from control.pipeline import plan_signals
from control.planning import inputs_from_inventory, read_counts_file
from hub.cli import app
from hub.db import connect
from hub.inventory import dump_inventory, save_to_store
from hub.store import detect_store, ensure_partitions, refresh_rollups
from sim.city import generate_city

AT = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)  # 07:30 WIB


@pytest.fixture(scope="module")
def city():
    return generate_city(6, seed=11)


def _readings(city, seed: int = 5) -> list[tuple]:
    """Three 5-minute readings per detector in the 15 minutes before AT (mc-dominated)."""
    rng = np.random.default_rng(seed)
    rows = []
    for it in city.intersections:
        for d in it.detectors:
            for k in range(3):
                ts = AT - timedelta(minutes=5 * (k + 1))
                rows.append((ts, it.id, d.id, k, d.approach, d.lane, 300,
                             int(rng.integers(20, 90)), int(rng.integers(5, 30)),
                             int(rng.integers(0, 4)), int(rng.integers(0, 2)), 20.0))
    return rows


def _write_counts(path: Path, rows: list[tuple]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["intersection_id", "detector_id", "interval_s", "mc", "lv", "hv", "um"])
        for r in rows:
            w.writerow([r[1], r[2], r[6], r[7], r[8], r[9], r[10]])
    return path


@pytest.fixture
def files(tmp_path: Path, city) -> tuple[Path, Path]:
    inv_path = tmp_path / "city.json"
    dump_inventory(city, inv_path)
    return inv_path, _write_counts(tmp_path / "counts.csv", _readings(city))


def test_help() -> None:
    res = CliRunner().invoke(app, ["plan", "--help"])
    assert res.exit_code == 0
    for opt in ("--counts", "--from-store", "--json", "--window-min", "--los"):
        assert opt in res.output


def test_plan_from_files_json_matches_the_core(files, city) -> None:
    inv_path, counts_path = files
    res = CliRunner().invoke(app, ["plan", str(inv_path), "--counts", str(counts_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    rows = out["intersections"]
    assert [r["intersection_id"] for r in rows] == [it.id for it in city.intersections]
    inputs = inputs_from_inventory(city, read_counts_file(counts_path))
    plan = plan_signals(**inputs.arrays())
    for i, r in enumerate(rows):
        assert r["valid"] and r["detectors_counted"] == r["detectors_total"] > 0
        greens = [p["green_s"] for p in r["phases"]]
        assert greens == plan.green_s[i, : len(greens)].tolist()
        lost = sum(p["intergreen_s"] for p in r["phases"])
        assert sum(greens) + lost == pytest.approx(r["cycle_s"])
        assert r["los"] in "ABCDEF"


def test_plan_table_and_filter(files) -> None:
    inv_path, counts_path = files
    res = CliRunner().invoke(
        app, ["plan", str(inv_path), "--counts", str(counts_path), "-i", "TNG-0002", "--los", "id"]
    )
    assert res.exit_code == 0, res.output
    assert "TNG-0002" in res.output and "TNG-0001" not in res.output
    assert "LOS" in res.output


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda rows: rows[1].__setitem__(3, "-4"), "row 2 mc"),
        (lambda rows: rows[2].__setitem__(1, ""), "row 3 detector_id: missing"),
        (lambda rows: rows[1].__setitem__(5, "many"), "row 2 hv: expected a number"),
    ],
)
def test_bad_counts_exit_2_naming_the_field(files, mutate, needle: str) -> None:
    inv_path, counts_path = files
    rows = list(csv.reader(counts_path.open()))
    mutate(rows)
    with counts_path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    res = CliRunner().invoke(app, ["plan", str(inv_path), "--counts", str(counts_path)])
    assert res.exit_code == 2
    assert needle in res.output


def test_bad_inventory_and_options_exit_2(files, tmp_path: Path) -> None:
    inv_path, counts_path = files
    raw = json.loads(inv_path.read_text())
    raw["intersections"][0]["phases"][0]["min_green_s"] = -3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    res = CliRunner().invoke(app, ["plan", str(bad), "--counts", str(counts_path)])
    assert res.exit_code == 2
    assert "min_green_s" in res.output
    res = CliRunner().invoke(app, ["plan", str(inv_path), "--counts", str(counts_path),
                                   "--los", "xx"])
    assert res.exit_code == 2 and "--los" in res.output
    res = CliRunner().invoke(app, ["plan", str(inv_path), "--counts", str(counts_path),
                                   "-i", "NOPE"])
    assert res.exit_code == 2 and "NOPE" in res.output
    res = CliRunner().invoke(app, ["plan"])
    assert res.exit_code == 2 and "--from-store" in res.output


def test_plan_from_the_store_equals_plan_from_the_same_counts(db_url: str, city, tmp_path) -> None:
    rows = _readings(city, seed=9)
    with connect(db_url) as conn:
        save_to_store(conn, city)
        if detect_store(conn).backend == "native":
            ensure_partitions(conn, {AT.date(), (AT - timedelta(minutes=15)).date()})
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO detector_reading (ts, intersection_id, detector_id, seq, approach,
                       lane, interval_s, mc, lv, hv, um, occupancy_pct)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                rows,
            )
            # one reading outside the window must not count
            cur.execute(
                """INSERT INTO detector_reading (ts, intersection_id, detector_id, seq, approach,
                       lane, interval_s, mc, lv, hv, um, occupancy_pct)
                   VALUES (%s, %s, %s, 99, %s, %s, 300, 5000, 0, 0, 0, 90.0)""",
                (AT - timedelta(minutes=20), rows[0][1], rows[0][2], rows[0][4], rows[0][5]),
            )
        conn.commit()
    at = AT.isoformat()
    base = ["--database-url", db_url, "--at", at, "--json"]
    res_store = CliRunner().invoke(app, ["plan", *base, "--from-store"])
    assert res_store.exit_code == 0, res_store.output
    from_store = json.loads(res_store.stdout)
    assert "detector_reading" in from_store["counts_source"]
    counts = _write_counts(tmp_path / "c.csv", rows)
    inv_path = tmp_path / "city.json"
    dump_inventory(city, inv_path)
    res_file = CliRunner().invoke(app, ["plan", str(inv_path), "--counts", str(counts), "--json"])
    from_file = json.loads(res_file.stdout)
    assert from_store["intersections"] == from_file["intersections"]
    # inventory file + store counts gives the same plans as well
    res_mixed = CliRunner().invoke(app, ["plan", str(inv_path), *base])
    assert res_mixed.exit_code == 0, res_mixed.output
    assert json.loads(res_mixed.stdout)["intersections"] == from_file["intersections"]
    # once the 5-minute rollup is refreshed, the plans come from it, unchanged
    with connect(db_url) as conn:
        assert refresh_rollups(conn, AT - timedelta(hours=1), AT + timedelta(minutes=5)) > 0
    res_rollup = CliRunner().invoke(app, ["plan", *base, "--from-store"])
    rolled = json.loads(res_rollup.stdout)
    assert rolled["counts_source"].startswith("detector_flow_5m")
    assert rolled["intersections"] == from_file["intersections"]


def test_unreachable_database_is_a_runtime_failure(files) -> None:
    inv_path, _ = files
    res = CliRunner().invoke(
        app, ["plan", str(inv_path), "--database-url", "postgresql://nobody@127.0.0.1:1/x"]
    )
    assert res.exit_code == 1 and "cannot reach the database" in res.output
