"""``tlive tis route`` against a real database."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hub.cli import app
from sim.city import generate_city
from tests.traveler_info.store_data import load_city


def test_tis_route_cli(db_url) -> None:
    city = generate_city(20, seed=5)
    load_city(db_url, city)
    a, b = city.nodes[0], city.nodes[-1]
    runner = CliRunner()
    r = runner.invoke(app, ["tis", "route", "--from", f"{a.lat},{a.lon}",
                            "--to", f"{b.lat},{b.lon}", "--lang", "en",
                            "--database-url", db_url])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["routes"][0]["travel_time_s"] > 0
    assert out["weights"]["sources"]["free_flow"] == len(city.links)  # no readings yet
    r = runner.invoke(app, ["tis", "route", "--from", "-7.8,110.36", "--to", f"{b.lat},{b.lon}",
                            "--database-url", db_url])
    assert r.exit_code == 1 and json.loads(r.output)["error"] == "outside"
    r = runner.invoke(app, ["tis", "route", "--from", "nonsense", "--to", "1,2",
                            "--database-url", db_url])
    assert r.exit_code == 2
