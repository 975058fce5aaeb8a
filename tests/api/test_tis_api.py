"""The public traveler-information endpoints, served from a real migrated database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from hub.db import connect
from sim.city import generate_city
from tests.traveler_info.store_data import approach_detectors, insert_readings, load_city

VEHICLE_ID = "TRUCK-SECRET-007"
TRUCK_LAT, TRUCK_LON = -6.1791234, 106.6312345


@pytest.fixture(scope="module")
def city():
    return generate_city(50, seed=11)


@pytest.fixture(scope="module")
def client(module_db_url, city):
    load_city(module_db_url, city)
    slow = sorted(approach_detectors(city))[0]
    insert_readings(
        module_db_url, city, datetime.now(UTC) - timedelta(seconds=30), {slow: 4.0}
    )
    # a waste truck's raw GPS fix is in the store; it must never reach a public answer
    with connect(module_db_url) as conn, conn.cursor() as cur:
        cur.execute(
            """INSERT INTO gps_position (ts, vehicle_id, seq, lat, lon, speed_kmh, heading_deg)
               VALUES (now(), %s, 1, %s, %s, 3.0, 90.0)""",
            (VEHICLE_ID, TRUCK_LAT, TRUCK_LON),
        )
        conn.commit()
    app = create_app(database_url=module_db_url, background_refresh=False,
                     rate_limit_per_s=1000.0, rate_limit_burst=1000)
    with TestClient(app) as c:
        c.slow_link = slow  # type: ignore[attr-defined]
        yield c


def _pts(city, i=0, j=-1):
    a, b = city.nodes[i], city.nodes[j]
    return {
        "origin_lat": a.lat + 0.0003, "origin_lon": a.lon,
        "destination_lat": b.lat, "destination_lon": b.lon - 0.0003,
    }


def test_route(client, city) -> None:
    r = client.get("/v1/tis/route", params=_pts(city) | {"alternatives": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    routes = body["routes"]
    assert 1 <= len(routes) <= 4
    best = routes[0]
    assert best["travel_time_s"] >= best["free_flow_time_s"] > 0
    assert best["delay_s"] == pytest.approx(best["travel_time_s"] - best["free_flow_time_s"],
                                            abs=0.2)
    assert all(x["travel_time_s"] >= best["travel_time_s"] for x in routes)
    geom = best["geometry"]
    assert geom["type"] == "LineString" and len(geom["coordinates"]) >= 2
    assert geom["coordinates"][0] == body["origin"]["snapped"]
    assert body["origin"]["node_id"] == city.nodes[0].id
    assert body["origin"]["snap_distance_m"] == pytest.approx(33.4, abs=1.0)
    assert body["departure_advice"]["message"].startswith("Berangkat")  # default: Indonesian
    assert r.headers["content-language"] == "id"
    assert "max-age=" in r.headers["cache-control"] and "public" in r.headers["cache-control"]
    assert r.headers["vary"] == "Accept-Language"


def test_accept_language_and_etag(client, city) -> None:
    p = _pts(city, 1, 20)
    en = client.get("/v1/tis/route", params=p, headers={"Accept-Language": "en-GB,en;q=0.9"})
    idn = client.get("/v1/tis/route", params=p, headers={"Accept-Language": "id"})
    assert en.json()["departure_advice"]["message"].startswith("Leave")
    assert en.json()["routes"][0]["summary"].startswith("via")
    assert idn.json()["routes"][0]["summary"].startswith("lewat")
    assert en.headers["etag"] != idn.headers["etag"]
    again = client.get("/v1/tis/route", params=p,
                       headers={"Accept-Language": "en", "If-None-Match": en.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == en.headers["etag"]
    # a new weight refresh with different weights changes the ETag
    tis = client.app.state.tis
    insert_readings(tis.source.database_url, city, datetime.now(UTC) - timedelta(seconds=5),
                    {sorted(approach_detectors(city))[1]: 3.0}, seq0=5)
    tis.refresh(force=True)
    after = client.get("/v1/tis/route", params=p,
                       headers={"Accept-Language": "en", "If-None-Match": en.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != en.headers["etag"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"origin_lat": -7.80, "origin_lon": 110.36}, 422, "outside"),  # Yogyakarta
        ({"destination_lat": -6.30, "destination_lon": 106.80}, 422, "outside"),
    ],
)
def test_points_outside_the_city(client, city, params, status, code) -> None:
    r = client.get("/v1/tis/route", params=_pts(city) | params,
                   headers={"Accept-Language": "en"})
    assert r.status_code == status
    assert r.json()["detail"]["code"] == code
    assert "outside the Kota Tangerang service area" in r.json()["detail"]["message"]


def test_bad_coordinates(client, city) -> None:
    r = client.get("/v1/tis/route", params=_pts(city) | {"origin_lat": 123.0})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "origin_lat"]
    r = client.get("/v1/tis/route", params=_pts(city) | {"origin_lon": "abc"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "origin_lon"]
    r = client.get("/v1/tis/route", params={"origin_lat": -6.2})
    assert r.status_code == 422
    r = client.get("/v1/tis/route", params=_pts(city) | {"alternatives": 9})
    assert r.status_code == 422


def test_far_from_any_road(client, city) -> None:
    lats = [n.lat for n in city.nodes]
    lons = [n.lon for n in city.nodes]
    # inside the margin around the network but ~1.5 km beyond its corner
    r = client.get("/v1/tis/route", params=_pts(city) | {
        "origin_lat": max(lats) + 0.0095, "origin_lon": max(lons) + 0.0095})
    assert r.status_code == 422 and r.json()["detail"]["code"] == "far"


def test_travel_times(client) -> None:
    r = client.get("/v1/tis/travel-times")
    assert r.status_code == 200
    body = r.json()
    k = len(body["places"])
    assert k >= 3 and len(body["travel_time_s"]) == k
    assert any(p["kind"] == "kecamatan" for p in body["places"])
    assert body["travel_time_s"][0][0] == 0.0
    assert "etag" in r.headers


def test_congestion_map(client, city) -> None:
    r = client.get("/v1/tis/congestion", headers={"Accept-Language": "en"})
    assert r.status_code == 200
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(city.links)
    props = {f["properties"]["link_id"]: f["properties"] for f in fc["features"]}
    slow = props[client.slow_link]
    assert slow["level"] == "jammed" and slow["level_label"] == "jammed"
    assert slow["source"] == "live" and slow["speed_kmh"] == pytest.approx(4.0)
    assert slow["travel_time_index"] > 5 and slow["jam_factor"] > 9
    assert {p["source"] for p in props.values()} >= {"live", "free_flow"}
    idn = client.get("/v1/tis/congestion", headers={"Accept-Language": "id"}).json()
    assert {f["properties"]["level_label"] for f in idn["features"]} >= {"macet", "lancar"}


def test_alerts(client) -> None:
    r = client.get("/v1/tis/alerts", headers={"Accept-Language": "en"})
    assert r.status_code == 200
    alerts = r.json()["alerts"]
    jam = next(a for a in alerts if a["link_id"] == client.slow_link)
    assert jam["kind"] == "jam" and jam["severity"] == "high"
    assert jam["location"]["type"] == "Point" and len(jam["location"]["coordinates"]) == 2
    assert jam["message"].startswith("Traffic jam on")
    r = client.get("/v1/tis/alerts", params={"limit": 0})
    assert r.status_code == 422


def test_no_public_answer_exposes_a_vehicle(client, city) -> None:
    bodies = [
        client.get(path, params=params).text
        for path, params in (
            ("/v1/tis/route", _pts(city)),
            ("/v1/tis/travel-times", {}),
            ("/v1/tis/congestion", {}),
            ("/v1/tis/alerts", {}),
            ("/openapi.json", {}),
        )
    ]
    for text in bodies:
        assert VEHICLE_ID not in text
        assert str(TRUCK_LAT) not in text and str(TRUCK_LON) not in text
        assert "vehicle_id" not in text


def test_openapi_has_examples(client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/v1/tis/route", "/v1/tis/travel-times", "/v1/tis/congestion", "/v1/tis/alerts"):
        assert p in paths
    schemas = spec["components"]["schemas"]
    assert schemas["RoutePublic"]["examples"][0]["routes"]
    assert "422" in paths["/v1/tis/route"]["get"]["responses"]
    assert "429" in paths["/v1/tis/route"]["get"]["responses"]


def test_rate_limit(module_db_url, client) -> None:
    app = create_app(tis_service=client.app.state.tis, background_refresh=False,
                     rate_limit_per_s=0.5, rate_limit_burst=3)
    with TestClient(app) as c:
        codes = [c.get("/v1/tis/alerts", headers={"Accept-Language": "en"}) for _ in range(5)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
    assert int(codes[-1].headers["retry-after"]) >= 1
    assert codes[-1].json()["detail"]["code"] == "rate_limited"
    assert "Too many requests" in codes[-1].json()["detail"]["message"]


def test_no_route_is_404() -> None:
    import numpy as np

    from traveler_info.graph import RoadGraph
    from traveler_info.network import LinkInfo
    from traveler_info.service import TravelerInfo
    from traveler_info.sources import StaticSpeeds

    # two one-way streets that do not meet
    g = RoadGraph([106.60, 106.61, 106.62, 106.63], [-6.20, -6.20, -6.20, -6.20],
                  [0, 2], [1, 3], [1100.0, 1100.0], [80.0, 80.0])
    links = LinkInfo(np.full(2, 50.0), np.ones(2), np.full(2, 1800.0), ["local"] * 2)
    tis = TravelerInfo(g, links, [], StaticSpeeds.empty(2), landmarks=2)
    with TestClient(create_app(tis_service=tis, background_refresh=False)) as c:
        r = c.get("/v1/tis/route", params={"origin_lat": -6.20, "origin_lon": 106.60,
                                           "destination_lat": -6.20, "destination_lon": 106.63},
                  headers={"Accept-Language": "en"})
    assert r.status_code == 404
    assert r.json()["detail"] == {
        "code": "no_route", "message": "There is no route from the origin to the destination."
    }
