"""The body of a Notary publish: ``multipart/form-data``, one file per role (``<role>.json``),
as the notary client sends it, parsed in memory with python-multipart's push parser.

The body is bounded before it gets here (the request gate's ``max_request_body``), so it is read
whole and parsed without temporary files; a part without a file name, a role Notary does not
know, a role sent twice, JSON that does not parse (or nests too deep), or a message that ends
before its closing boundary is refused before anything is validated or stored.
"""

from __future__ import annotations

from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from moorage.trust import canonical
from moorage.trust.errors import InvalidRole, MalformedJSON, MalformedUpload, NoFilename
from moorage.trust.metadata import valid_role

MAX_PARTS = 64  # root, targets, snapshot and delegations: far fewer in practice


class _Parts:
    """Collects (headers, bytes) of each part from the parser's callbacks."""

    def __init__(self) -> None:
        self.parts: list[tuple[dict[bytes, bytes], bytearray]] = []
        self.field = bytearray()
        self.value = bytearray()
        self.ended = False

    def callbacks(self) -> Any:
        def part_begin() -> None:
            if len(self.parts) >= MAX_PARTS:
                raise MalformedUpload(f"more than {MAX_PARTS} parts")
            self.parts.append(({}, bytearray()))

        def header_field(data: bytes, start: int, end: int) -> None:
            self.field += data[start:end]

        def header_value(data: bytes, start: int, end: int) -> None:
            self.value += data[start:end]

        def header_end() -> None:
            self.parts[-1][0][bytes(self.field).lower()] = bytes(self.value)
            self.field.clear()
            self.value.clear()

        def part_data(data: bytes, start: int, end: int) -> None:
            self.parts[-1][1].extend(data[start:end])

        def end() -> None:
            self.ended = True

        return {
            "on_part_begin": part_begin,
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_part_data": part_data,
            "on_end": end,
        }


async def read_uploads(request: Request) -> dict[str, bytes]:
    """The roles of a publish: ``<role>`` → the bytes of ``<role>.json``."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise MalformedUpload("the body must be multipart/form-data with a boundary")
    collected = _Parts()
    parser = MultipartParser(boundary, collected.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise MalformedUpload(detail={"reason": str(exc)[:200]}) from exc
    if not collected.ended:
        raise MalformedUpload("the body ends before its closing boundary")
    uploads: dict[str, bytes] = {}
    for headers, payload in collected.parts:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        filename = disposition.get(b"filename", b"").decode("utf-8", "replace")
        role = filename.removesuffix(".json")
        if not role:
            raise NoFilename()
        if not valid_role(role):
            raise InvalidRole(detail=role[:255])
        if role in uploads:
            raise MalformedUpload(f"{role} sent twice", detail={"role": role})
        try:
            canonical.parse(bytes(payload))
        except ValueError as exc:
            raise MalformedJSON(detail={"role": role}) from exc
        uploads[role] = bytes(payload)
    if not uploads:
        raise MalformedUpload("no metadata in the update")
    return uploads
