"""Operations: liveness and readiness of the API process."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness and readiness")
def healthz(request: Request) -> dict[str, Any]:
    tis = getattr(request.app.state, "tis", None)
    ready = tis is not None and tis.ready
    out: dict[str, Any] = {"status": "ok", "traveler_info": "ready" if ready else "loading"}
    if tis is not None and ready:
        out["weights"] = tis.weights_info()
    return out
