"""Map the error tree to the OCI error envelope (headers from the error's facts:
``moorage.http.headers``)."""

from __future__ import annotations

import json
import logging

from starlette.responses import Response

from moorage.errors import MoorageError
from moorage.http.headers import error_headers

log = logging.getLogger("moorage.http")


def oci_error_response(
    error: MoorageError, *, head: bool = False, headers: dict[str, str] | None = None
) -> Response:
    """``error`` in the OCI envelope; ``headers``: the edge's own (``Allow`` of a 405)."""
    entry: dict[str, object] = {"code": error.code, "message": error.message}
    entry["detail"] = error.detail if error.detail is not None else {}
    body = json.dumps({"errors": [entry]}).encode()
    headers = {**(headers or {}), **error_headers(error)}
    if head:
        headers["content-length"] = str(len(body))
        body = b""
    return Response(body, status_code=error.status, media_type="application/json", headers=headers)


def unexpected_error_response(exc: BaseException, *, head: bool = False) -> Response:
    log.error("unhandled error", exc_info=exc)
    err = MoorageError("internal server error")
    return oci_error_response(err, head=head)
