"""What every response model shares: DTR's camelCase names (aliases, sent ``by_alias``) and the
one date format on the wire, RFC 3339 in UTC with milliseconds (``2026-12-02T01:18:30.123Z``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema


def rfc3339(value: dt.datetime) -> str:
    """The one date format of the API: UTC, milliseconds, ``Z`` (a naive value is UTC)."""
    utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    dt.datetime,
    PlainSerializer(rfc3339, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2026-12-02T01:18:30.123Z"}
    ),
]


class WireModel(BaseModel):
    """A response body: built from domain values at the edge, sent by alias, never read back."""

    model_config = ConfigDict(serialize_by_alias=True)


def omitted_when_none(value: Any) -> bool:
    return value is None


def optional(alias: str | None = None) -> Any:
    """A key DTR sends only when it has a value (absent, not ``null``, otherwise)."""
    return Field(default=None, serialization_alias=alias, exclude_if=omitted_when_none)
