"""Public schemas of the traveler-information endpoints (what the citizen app receives).

Only aggregated link state and routes appear here: no schema carries a vehicle
id or a GPS position of an individual vehicle.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

LineCoords = list[list[float]]


class LineStringPublic(BaseModel):
    type: Literal["LineString"] = "LineString"
    coordinates: LineCoords = Field(description="[lon, lat] pairs (WGS84)")


class PointPublic(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: list[float] = Field(description="[lon, lat] (WGS84)")


class WeightsPublic(BaseModel):
    version: str = Field(description="digest of the live weights; part of every ETag")
    computed_at: str = Field(description="when the weights were computed (UTC, ISO 8601)")
    next_refresh_at: str
    sources: dict[str, int] = Field(description="links per weight source: live, profile, free_flow")


class EndpointPublic(BaseModel):
    query: list[float] = Field(description="[lon, lat] as asked")
    snapped: list[float] = Field(description="[lon, lat] of the road node used")
    node_id: str
    snap_distance_m: float


class RouteOptionPublic(BaseModel):
    rank: int = Field(description="0: the fastest; then alternatives")
    travel_time_s: float = Field(description="on the live weights [s]")
    distance_m: float
    free_flow_time_s: float
    delay_s: float = Field(description="travel time minus free-flow time [s]")
    summary: str = Field(description="main streets, in the requested language")
    congestion_share: dict[str, float] = Field(description="share of length per congestion level")
    geometry: LineStringPublic


class DepartureAdvicePublic(BaseModel):
    leave_now: bool
    leave_at: str = Field(description="local time (WIB, UTC+7), ISO 8601")
    travel_time_s: float
    saving_s: float
    message: str


ROUTE_EXAMPLE: dict[str, Any] = {
    "origin": {
        "query": [106.6319, -6.1783],
        "snapped": [106.63101, -6.17844],
        "node_id": "TNG-0140",
        "snap_distance_m": 99.4,
    },
    "destination": {
        "query": [106.7120, -6.2330],
        "snapped": [106.71156, -6.23246],
        "node_id": "TNG-0287",
        "snap_distance_m": 77.0,
    },
    "weights": {
        "version": "3d7ae94d68730957",
        "computed_at": "2026-11-27T00:30:00+00:00",
        "next_refresh_at": "2026-11-27T00:31:00+00:00",
        "sources": {"live": 950, "profile": 60, "free_flow": 16},
    },
    "routes": [
        {
            "rank": 0,
            "travel_time_s": 1912.6,
            "distance_m": 10559.5,
            "free_flow_time_s": 734.0,
            "delay_s": 1178.6,
            "summary": "lewat Jl. Daan Mogot, Jl. Ciledug Raya",
            "congestion_share": {"free": 0.2, "moderate": 0.17, "heavy": 0.53, "jammed": 0.1},
            "geometry": {"type": "LineString", "coordinates": [[106.63101, -6.17844],
                                                                [106.71156, -6.23246]]},
        }
    ],
    "departure_advice": {
        "leave_now": False,
        "leave_at": "2026-11-27T09:45+07:00",
        "travel_time_s": 1190.0,
        "saving_s": 722.6,
        "message": "Berangkat pukul 09:45 untuk menghemat 12 menit.",
    },
}


class RoutePublic(BaseModel):
    model_config = {"json_schema_extra": {"examples": [ROUTE_EXAMPLE]}}

    origin: EndpointPublic
    destination: EndpointPublic
    weights: WeightsPublic
    routes: list[RouteOptionPublic] = Field(description="the fastest first, then alternatives")
    departure_advice: DepartureAdvicePublic | None = None


class PlacePublic(BaseModel):
    id: str
    name: str
    kind: str = Field(description="kecamatan, mall, station, hospital, market or landfill")
    lon: float
    lat: float


class TravelTimesPublic(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "places": [
                        {"id": "kec-batuceper", "name": "Kecamatan Batuceper",
                         "kind": "kecamatan", "lon": 106.6613, "lat": -6.159},
                        {"id": "kec-benda", "name": "Kecamatan Benda", "kind": "kecamatan",
                         "lon": 106.687, "lat": -6.1426},
                    ],
                    "travel_time_s": [[0.0, 412.5], [398.1, 0.0]],
                    "weights": ROUTE_EXAMPLE["weights"],
                }
            ]
        }
    }

    places: list[PlacePublic]
    travel_time_s: list[list[float | None]] = Field(
        description="row i, column j: from place i to place j [s]; null when unreachable"
    )
    weights: WeightsPublic


class CongestionPropertiesPublic(BaseModel):
    link_id: str
    name: str
    speed_kmh: float
    free_flow_kmh: float
    travel_time_index: float
    level: Literal["free", "moderate", "heavy", "jammed", "unknown"]
    level_label: str = Field(description="the level in the requested language")
    jam_factor: float = Field(description="0 (free) to 10 (standstill)")
    source: Literal["live", "profile", "free_flow"]


class CongestionFeaturePublic(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: LineStringPublic
    properties: CongestionPropertiesPublic


class CongestionPublic(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "geometry": {"type": "LineString",
                                         "coordinates": [[106.6310, -6.1784],
                                                         [106.6402, -6.1790]]},
                            "properties": {
                                "link_id": "L00012", "name": "Jl. Daan Mogot",
                                "speed_kmh": 14.2, "free_flow_kmh": 50.0,
                                "travel_time_index": 3.52, "level": "heavy",
                                "level_label": "padat", "jam_factor": 7.2, "source": "live",
                            },
                        }
                    ],
                    "weights": ROUTE_EXAMPLE["weights"],
                }
            ]
        }
    }

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[CongestionFeaturePublic]
    weights: WeightsPublic


class AlertPublic(BaseModel):
    id: str
    kind: Literal["jam", "anomaly"]
    severity: Literal["medium", "high"]
    link_id: str
    street: str
    location: PointPublic = Field(description="middle of the affected link")
    speed_kmh: float
    usual_speed_kmh: float
    jam_factor: float
    message: str


class AlertsPublic(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "alerts": [
                        {
                            "id": "anomaly-L00270", "kind": "anomaly", "severity": "high",
                            "link_id": "L00270", "street": "Jl. Cipete Raya",
                            "location": {"type": "Point", "coordinates": [106.6679, -6.188]},
                            "speed_kmh": 4.0, "usual_speed_kmh": 31.8, "jam_factor": 9.0,
                            "message": "Gangguan lalu lintas di Jl. Cipete Raya: 4 km/jam, "
                            "jauh di bawah biasanya (32 km/jam) pada jam ini.",
                        }
                    ],
                    "count": 1,
                    "weights": ROUTE_EXAMPLE["weights"],
                }
            ]
        }
    }

    alerts: list[AlertPublic]
    count: int = Field(description="alerts in force (the list may be limited)")
    weights: WeightsPublic


class ErrorDetail(BaseModel):
    code: str = Field(description="invalid, outside, far, no_route, rate_limited, not_ready")
    message: str = Field(description="in the requested language")


class ErrorPublic(BaseModel):
    detail: ErrorDetail
