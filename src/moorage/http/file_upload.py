"""A file sent to an API route or a web UI form, streamed to disk as it arrives, never held in
memory (shared by both edges: ``imagescan``'s offline update and the UI's upload of it).

A ``multipart/form-data`` body is parsed as it streams (``python_multipart``'s push parser,
in a worker thread with the file writes): the first part whose field is one of ``fields`` is
written to ``dest``, every other part is read and dropped; at most ``MAX_PARTS`` parts. Small
text fields named in ``text_fields`` that come before the file (a form's CSRF token) are kept
(at most ``MAX_TEXT_FIELD`` bytes each) and handed to ``before_file`` when the file's part
begins, before a byte of it is written: a check that raises refuses the upload there. A body
of type ``application/zip`` or ``application/octet-stream`` is the file itself. The request gate
bounds the body (``moorage.http.gate``); ``max_bytes`` bounds it here too.
"""

from __future__ import annotations

import asyncio
import os
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from moorage.errors import InvalidInput, RequestTooLarge

MAX_PARTS = 16
MAX_TEXT_FIELD = 1024
RAW_TYPES = frozenset(
    {"application/zip", "application/x-zip-compressed", "application/octet-stream"}
)


class _Parts:
    """The parser's callbacks: headers of each part, the chosen part's bytes into ``out``."""

    def __init__(
        self,
        out: IO[bytes],
        fields: tuple[str, ...],
        text_fields: tuple[str, ...] = (),
        before_file: Callable[[Mapping[str, str]], None] | None = None,
    ) -> None:
        self.out = out
        self.fields = fields
        self.text_fields = text_fields
        self.before_file = before_file
        self.texts: dict[str, str] = {}
        self.text: bytearray | None = None
        self.text_name = ""
        self.parts = 0
        self.field = b""
        self.value = b""
        self.headers: dict[bytes, bytes] = {}
        self.writing = False
        self.found = False
        self.filename = ""
        self.ended = False

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidInput(f"more than {MAX_PARTS} parts in the form")
        self.headers = {}

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.field.strip().lower()] = self.value.strip()
        self.field, self.value = b"", b""

    def headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if not self.found and name in self.fields:
            if self.before_file is not None:
                self.before_file(dict(self.texts))
            self.found = self.writing = True
            self.filename = params.get(b"filename", b"").decode("utf-8", "replace")
        elif not self.found and name in self.text_fields and name not in self.texts:
            self.text, self.text_name = bytearray(), name

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.writing:
            self.out.write(data[start:end])
        elif self.text is not None:
            self.text += data[start:end]
            if len(self.text) > MAX_TEXT_FIELD:
                raise InvalidInput(f"the form field {self.text_name!r} is too long")

    def part_end(self) -> None:
        self.writing = False
        if self.text is not None:
            self.texts[self.text_name] = self.text.decode("utf-8", "replace")
            self.text = None

    def end(self) -> None:
        self.ended = True


def plain_name(name: str) -> str:
    """A client's file name fit for logs and status: its last path part, printable, short."""
    last = PureWindowsPath(PurePosixPath(name).name).name
    kept = "".join(c for c in last if unicodedata.category(c)[0] not in "CZ" or c == " ")
    return kept.strip()[:200]


async def receive_file(
    request: Request,
    dest: Path,
    *,
    max_bytes: int,
    fields: tuple[str, ...],
    text_fields: tuple[str, ...] = (),
    before_file: Callable[[Mapping[str, str]], None] | None = None,
) -> str:
    """Write the request's file to ``dest`` (created 0600); returns the name the client gave.
    InvalidInput when the body holds no such file. With ``before_file``, only a multipart body
    is accepted (a raw body has no fields to check)."""
    media, params = parse_options_header(request.headers.get("content-type", ""))
    kind = media.decode("latin-1").lower()
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        received = 0
        if kind in RAW_TYPES and before_file is None:
            async for chunk in request.stream():
                received += len(chunk)
                if received > max_bytes:
                    raise RequestTooLarge(f"request body over the limit of {max_bytes} bytes")
                await asyncio.to_thread(out.write, chunk)
            return ""
        boundary = params.get(b"boundary")
        if kind != "multipart/form-data" or not boundary:
            raise InvalidInput(
                f"send the file as multipart/form-data (field {fields[0]!r}) or as application/zip"
            )
        parts = _Parts(out, fields, text_fields, before_file)
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": parts.part_begin,
                "on_header_field": parts.header_field,
                "on_header_value": parts.header_value,
                "on_header_end": parts.header_end,
                "on_headers_finished": parts.headers_finished,
                "on_part_data": parts.part_data,
                "on_part_end": parts.part_end,
                "on_end": parts.end,
            },
        )
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > max_bytes:
                    raise RequestTooLarge(f"request body over the limit of {max_bytes} bytes")
                await asyncio.to_thread(parser.write, chunk)
            parser.finalize()
        except MultipartParseError as exc:
            raise InvalidInput(f"the multipart body is malformed: {exc}") from exc
    if not parts.ended:
        raise InvalidInput("the multipart body ended before its closing boundary")
    if not parts.found:
        raise InvalidInput(f"the form has no file field named {fields[0]!r}")
    return plain_name(parts.filename)
