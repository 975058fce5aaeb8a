"""Public traveler-information endpoints for the citizen app: no login, rate-limited, cached.

Every answer carries an ``ETag`` derived from the live weights' digest (and the
query and language), ``Cache-Control: public, max-age=<seconds to the next weight
refresh>`` and ``Vary: Accept-Language``; a matching ``If-None-Match`` gets 304.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from api.deps import LangDep, RateLimitDep, TisDep
from api.schemas.tis import (
    AlertsPublic,
    CongestionPublic,
    ErrorPublic,
    RoutePublic,
    TravelTimesPublic,
)
from traveler_info.service import RouteQueryError, TravelerInfo

router = APIRouter(prefix="/v1/tis", tags=["traveler information"], dependencies=[RateLimitDep])

ERRORS: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorPublic, "description": "rate limit exceeded (see Retry-After)"},
    503: {"model": ErrorPublic, "description": "traffic data not loaded yet"},
}
JSON = "application/json"


def _cached(
    request: Request,
    tis: TravelerInfo,
    lang: str,
    key: str,
    body: Callable[[], bytes],
) -> Response:
    token = tis.state.token
    digest = hashlib.blake2b(f"{key}|{lang}".encode(), digest_size=6).hexdigest()
    etag = f'"{token}-{digest}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={tis.max_age_s()}",
        "Vary": "Accept-Language",
        "Content-Language": lang,
    }
    inm = request.headers.get("if-none-match")
    if inm and (inm.strip() == "*" or etag in [v.strip() for v in inm.split(",")]):
        return Response(status_code=304, headers=headers)
    return Response(content=body(), media_type=JSON, headers=headers)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@router.get(
    "/route",
    response_model=RoutePublic,
    summary="Fastest route on live traffic, alternatives and departure advice",
    responses={
        **ERRORS,
        304: {"description": "not modified (If-None-Match matched the ETag)"},
        404: {"model": ErrorPublic, "description": "no route between the points"},
        422: {
            "model": ErrorPublic,
            "description": "a point outside the city or too far from a road (this shape); "
            "a missing or malformed parameter gets FastAPI's validation list instead, "
            "each entry naming the parameter in `loc`",
            "content": {
                JSON: {
                    "example": {
                        "detail": {
                            "code": "outside",
                            "message": "Titik asal berada di luar wilayah layanan Kota Tangerang.",
                        }
                    }
                }
            },
        },
    },
)
async def get_route(
    request: Request,
    tis: TisDep,
    lang: LangDep,
    origin_lat: Annotated[float, Query(ge=-90, le=90, examples=[-6.1783])],
    origin_lon: Annotated[float, Query(ge=-180, le=180, examples=[106.6319])],
    destination_lat: Annotated[float, Query(ge=-90, le=90, examples=[-6.2330])],
    destination_lon: Annotated[float, Query(ge=-180, le=180, examples=[106.7120])],
    alternatives: Annotated[
        int, Query(ge=0, le=3, description="meaningfully different alternatives wanted")
    ] = 2,
    advice: Annotated[bool, Query(description="include departure-time advice")] = True,
) -> Response:
    """Route between two WGS84 points, each snapped to the nearest road node (<= 1 km).

    The fastest route on the live link weights comes first, with travel time,
    distance, free-flow time and delay and its geometry as a GeoJSON LineString;
    then up to ``alternatives`` routes that share at most 60 % of their length
    with a route already listed and take at most 40 % longer. The departure advice
    compares leaving now with the next two hours of the time-of-day profile.
    """
    o = (round(origin_lon, 6), round(origin_lat, 6))
    d = (round(destination_lon, 6), round(destination_lat, 6))
    key = f"route|{o}|{d}|{alternatives}|{int(advice)}"

    def body() -> bytes:
        try:
            data = tis.route(o, d, alternatives=alternatives, advice=advice, lang=lang)
        except RouteQueryError as exc:
            status = 404 if exc.code == "no_route" else 422
            raise HTTPException(
                status_code=status, detail={"code": exc.code, "message": exc.message}
            ) from None
        return _dumps(data)

    return _cached(request, tis, lang, key, body)


@router.get(
    "/travel-times",
    response_model=TravelTimesPublic,
    summary="Travel times between named places (kecamatan centres, main destinations)",
    responses=ERRORS,
)
async def get_travel_times(request: Request, tis: TisDep, lang: LangDep) -> Response:
    """The travel-time matrix on the live weights, recomputed with every weight refresh."""
    return _cached(request, tis, lang, "travel-times", lambda: _dumps(tis.travel_times()))


@router.get(
    "/congestion",
    response_model=CongestionPublic,
    summary="The congestion map: a GeoJSON FeatureCollection of links",
    responses=ERRORS,
)
async def get_congestion(request: Request, tis: TisDep, lang: LangDep) -> Response:
    """Every link with its speed, travel-time index, congestion level and jam factor.

    ``source`` tells whether a link's state is live, from the time-of-day profile
    or free flow (no data).
    """
    return _cached(request, tis, lang, "congestion", lambda: tis.congestion_geojson(lang))


@router.get(
    "/alerts",
    response_model=AlertsPublic,
    summary="Incidents (anomalies) and jammed links, with location and severity",
    responses=ERRORS,
)
async def get_alerts(
    request: Request,
    tis: TisDep,
    lang: LangDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Links much slower than their own history now (anomaly) and jammed links, live only."""
    return _cached(
        request, tis, lang, f"alerts|{limit}", lambda: _dumps(tis.alerts(lang, limit))
    )
