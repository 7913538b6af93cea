"""``GET /_ping``: DTR's health shape, 503 when the database or the store is unhealthy."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from moorage.http.services import services

log = logging.getLogger("moorage.health")


async def ping(request: Request) -> JSONResponse:
    ctx = services(request).registry
    problems = []
    try:
        await ctx.db.check_health()
    except Exception as exc:
        log.warning("database unhealthy", extra={"error": str(exc)})
        problems.append(f"database: {type(exc).__name__}")
    try:
        await ctx.storage.check_health()
    except Exception as exc:
        log.warning("storage unhealthy", extra={"error": str(exc)})
        problems.append(f"storage: {type(exc).__name__}")
    return JSONResponse(
        {"Error": "; ".join(problems), "Healthy": not problems},
        status_code=503 if problems else 200,
    )
