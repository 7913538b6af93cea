"""``GET /ca``: the registry's own CA certificate (PEM), as DTR serves it, without authentication.

It is what clients put in ``/etc/docker/certs.d/<host>/ca.crt`` or a ``--cert-dir`` for skopeo
and podman (docs/tls.md). The route exists only when the registry uses its own CA
(``tls: auto`` and no certificate supplied: ``moorage serve`` hands the workers ``tls: manual``
when the operator's certificate wins); otherwise ``/ca`` is an unknown path, answered like any
other by the web UI's 404 page (as ``/metrics`` is when it is off).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from moorage.auth import own_ca
from moorage.config import Settings
from moorage.http.services import services

MEDIA_TYPE = "application/x-pem-file"
log = logging.getLogger("moorage.http")


async def ca_certificate(request: Request) -> Response:
    try:
        pem = await own_ca.stored_certificate(services(request).registry.db)
    except own_ca.OwnCaUnreadable as exc:
        log.error("the stored CA cannot be read", extra={"error": exc.message})
        return PlainTextResponse(f"{exc.message}\n", status_code=exc.status)
    if pem is None:
        # Only if the row went away after this replica started (serve makes it first).
        return PlainTextResponse("this registry has no CA of its own\n", status_code=404)
    return Response(pem, media_type=MEDIA_TYPE, headers={"Cache-Control": "no-cache"})


def routes(settings: Settings) -> list[Route]:
    """``/ca`` when the registry serves certificates from its own CA, else none."""
    if settings.tls != "auto":
        return []
    return [Route("/ca", ca_certificate, methods=["GET", "HEAD"])]
