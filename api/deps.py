"""Dependencies of the API routes, as ``Annotated`` aliases (FastAPI full-stack template style)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from api.ratelimit import RateLimiter
from traveler_info.i18n import Lang, parse_accept_language, t
from traveler_info.service import TravelerInfo


async def get_lang(
    accept_language: Annotated[
        str | None,
        Header(
            description="`id` (Bahasa Indonesia, the default) or `en` for human messages",
            examples=["id", "en", "en-US,en;q=0.9,id;q=0.8"],
        ),
    ] = None,
) -> Lang:
    return parse_accept_language(accept_language)


LangDep = Annotated[Lang, Depends(get_lang)]


async def get_tis(request: Request, lang: LangDep) -> TravelerInfo:
    tis: TravelerInfo | None = getattr(request.app.state, "tis", None)
    if tis is None or not tis.ready:
        raise HTTPException(
            status_code=503,
            detail={"code": "not_ready", "message": t("err.not_ready", lang)},
            headers={"Retry-After": "5"},
        )
    return tis


TisDep = Annotated[TravelerInfo, Depends(get_tis)]


async def rate_limit(request: Request, lang: LangDep) -> None:
    """Public endpoints: a token bucket per client address (no login)."""
    limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
    if limiter is None:
        return
    client = request.client.host if request.client else "unknown"
    wait_s = limiter.acquire(client)
    if wait_s > 0:
        seconds = max(1, int(wait_s + 0.999))
        raise HTTPException(
            status_code=429,
            detail={
                "code": "rate_limited",
                "message": t("err.rate_limited", lang, seconds=seconds),
            },
            headers={"Retry-After": str(seconds)},
        )


RateLimitDep = Depends(rate_limit)
