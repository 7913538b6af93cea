"""The response headers the domain's facts call for, built here for every HTTP edge.

Domain code returns and raises facts (``UploadProgress``, ``TokenChallenge``, a
``retry_after``); /v2 (``http/errors.py``, ``v2/routes.py``), the DTR APIs
(``api/common.py``), the token service and the web UI turn them into headers with these
functions, so one fact always reads the same on the wire.
"""

from __future__ import annotations

from moorage.errors import (
    MoorageError,
    RangeInvalid,
    TokenChallenge,
    TooManyRequests,
    Unauthorized,
    UploadProgress,
)


def upload_headers(upload: UploadProgress) -> dict[str, str]:
    """``Location``, ``Range`` (inclusive, ``0-0`` before the first byte) and
    ``Docker-Upload-UUID`` of an upload, as the distribution specification writes them."""
    return {
        "Location": f"/v2/{upload.repository}/blobs/uploads/{upload.upload_id}",
        "Range": f"0-{max(upload.offset - 1, 0)}",
        "Docker-Upload-UUID": upload.upload_id,
    }


def bearer_challenge(challenge: TokenChallenge) -> str:
    """The ``WWW-Authenticate: Bearer`` value of a challenge (scopes space-separated in one
    ``scope`` parameter, as distribution writes them)."""
    parts = [f'Bearer realm="{challenge.realm}"', f'service="{challenge.service}"']
    if challenge.scopes:
        parts.append(f'scope="{" ".join(challenge.scopes)}"')
    if challenge.error:
        parts.append(f'error="{challenge.error}"')
    return ",".join(parts)


def error_headers(error: MoorageError) -> dict[str, str]:
    """The headers an error's facts call for (none for most errors)."""
    headers: dict[str, str] = {}
    if isinstance(error, RangeInvalid) and error.upload is not None:
        headers.update(upload_headers(error.upload))
    elif isinstance(error, Unauthorized) and error.challenge is not None:
        headers["WWW-Authenticate"] = bearer_challenge(error.challenge)
    elif isinstance(error, TooManyRequests) and error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return headers
