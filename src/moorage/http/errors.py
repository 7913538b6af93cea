"""Map the error tree to the OCI error envelope."""

from __future__ import annotations

import json
import logging

from starlette.responses import Response

from moorage.errors import MoorageError

log = logging.getLogger("moorage.http")


def oci_error_response(error: MoorageError, *, head: bool = False) -> Response:
    entry: dict[str, object] = {"code": error.code, "message": error.message}
    entry["detail"] = error.detail if error.detail is not None else {}
    body = json.dumps({"errors": [entry]}).encode()
    headers = dict(error.headers)
    if head:
        headers["content-length"] = str(len(body))
        body = b""
    return Response(body, status_code=error.status, media_type="application/json", headers=headers)


def unexpected_error_response(exc: BaseException, *, head: bool = False) -> Response:
    log.error("unhandled error", exc_info=exc)
    err = MoorageError("internal server error")
    return oci_error_response(err, head=head)
