"""``tlive inventory load/export`` and ``tlive sim city`` end to end (real PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]


def tlive(*args: str, db_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    if db_url:
        env["TLIVE_DATABASE_URL"] = db_url
    return subprocess.run(
        [sys.executable, "-c", "from hub.cli import main; main()", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )


def test_city_load_export_round_trip(tmp_path, db_url) -> None:
    city = tmp_path / "city.json"
    r = tlive("sim", "city", "--intersections", "25", "--seed", "3", "--out", str(city))
    assert r.returncode == 0, r.stderr
    doc = json.loads(city.read_text())
    assert len(doc["intersections"]) == 25 and doc["approximate"] is True
    kec = {i["kecamatan"] for i in doc["intersections"]}
    assert kec and kec <= {
        "Tangerang", "Batuceper", "Benda", "Cibodas", "Ciledug", "Cipondoh", "Jatiuwung",
        "Karangtengah", "Karawaci", "Larangan", "Neglasari", "Periuk", "Pinang",
    }
    for _ in range(2):  # idempotent
        r = tlive("inventory", "load", str(city), "--json", db_url=db_url)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["loaded"]["intersections"] == 25
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM intersection").fetchone() == (25,)
    out = tmp_path / "export.json"
    r = tlive("inventory", "export", "--out", str(out), db_url=db_url)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == city.read_text()  # lossless, byte for byte
    r = tlive("inventory", "export", db_url=db_url)
    assert r.stdout == city.read_text()


def test_load_reports_feature_and_field(tmp_path, db_url) -> None:
    r = tlive("sim", "city", "--intersections", "4", "--seed", "1")
    doc = json.loads(r.stdout)
    bad_int = doc["intersections"][1]
    bad_int["approaches"][0]["lanes"][0]["width_m"] = -1
    doc["lots"][0]["tariff"]["car_first_hour_idr"] = "murah"
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(doc))
    r = tlive("inventory", "load", str(f), db_url=db_url)
    assert r.returncode == 1
    assert f"intersection '{bad_int['id']}' approaches[0].lanes[0].width_m:" in r.stderr
    assert f"lot '{doc['lots'][0]['id']}' tariff.car_first_hour_idr:" in r.stderr
    with psycopg.connect(db_url) as c:  # nothing was loaded
        assert c.execute("SELECT count(*) FROM intersection").fetchone() == (0,)
    r = tlive("inventory", "validate", str(f))
    assert r.returncode == 1 and "2 problem(s)" in r.stderr


def test_schema_command_matches_committed_schema() -> None:
    r = tlive("inventory", "schema")
    assert r.returncode == 0
    committed = json.loads((ROOT / "hub" / "schemas" / "inventory.schema.json").read_text())
    assert json.loads(r.stdout) == committed
