"""The hub's HTTP API: one FastAPI app, one router per audience.

* ``/v1/tis/...``: public traveler information for the citizen app (no login,
  rate-limited per client, cached by ETag);
* ``/healthz``: operations.

Run it with ``tlive api serve`` (uvicorn). The traveler-information service is
built from the store's inventory at startup and refreshes its live weights in the
background every ``refresh_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.ratelimit import RateLimiter
from api.routers import health, tis
from traveler_info.service import REFRESH_INTERVAL_S, TravelerInfo

log = logging.getLogger(__name__)

RATE_LIMIT_PER_S = 5.0  # sustained requests per second per client on public endpoints
RATE_LIMIT_BURST = 30

DESCRIPTION = """Tangerang LIVE mobility hub.

Public traveler information (`/v1/tis`): routes on live traffic, travel times between
places, the congestion map and alerts. Send `Accept-Language: id` (default) or `en`
for human messages. Answers carry an `ETag` tied to the live-weight refresh (at most
once a minute) and `Cache-Control: max-age` until the next one. No public answer
exposes the position of an individual vehicle.
"""


async def _refresh_loop(service: TravelerInfo, interval_s: float) -> None:
    while True:
        await asyncio.sleep(max(1.0, interval_s / 4))
        try:
            await run_in_threadpool(service.refresh)
        except Exception:  # keep serving the last weights
            log.exception("traveler-info refresh failed")


def create_app(
    *,
    tis_service: TravelerInfo | None = None,
    database_url: str | None = None,
    rate_limit_per_s: float | None = RATE_LIMIT_PER_S,
    rate_limit_burst: int = RATE_LIMIT_BURST,
    background_refresh: bool = True,
) -> FastAPI:
    """The app. ``tis_service`` given: use it; else build one from the store at startup.

    ``rate_limit_per_s`` None disables the per-client limit.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service: TravelerInfo | None = app.state.tis
        if service is None:
            from hub.settings import get_settings

            url = database_url or get_settings().database_url
            service = await run_in_threadpool(TravelerInfo.from_store, url)
            app.state.tis = service
        if not service.ready:
            await run_in_threadpool(service.refresh)
        task = (
            asyncio.create_task(_refresh_loop(service, service.refresh_interval_s))
            if background_refresh
            else None
        )
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="Tangerang LIVE Mobility Hub API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "traveler information", "description": "public, for the citizen app"},
            {"name": "operations", "description": "health"},
        ],
    )
    app.state.tis = tis_service
    app.state.limiter = (
        RateLimiter(rate_limit_per_s, rate_limit_burst) if rate_limit_per_s else None
    )
    app.include_router(tis.router)
    app.include_router(health.router)
    return app


__all__ = ["create_app", "REFRESH_INTERVAL_S"]
