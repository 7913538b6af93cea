"""An OSV record (schema 1.6/1.7, https://ossf.github.io/osv-schema/) as typed data.

Fields Moorage does not use are kept where the schema defines them and ignored otherwise, so a
newer record still loads; what matching relies on is checked: an event holds exactly one of
``introduced``, ``fixed``, ``last_affected``, ``limit``; a range is ``ECOSYSTEM``, ``SEMVER`` or
``GIT`` with at least one event; ``id`` and ``modified`` are present. ``null`` lists are empty.

Parsing is on the scanner's hot path (every candidate record of every scan), so the one thing
done in Python per field is only done where it is needed: the list fields are ``NullableList``,
whose before-validator turns ``null`` into ``[]``; everything else is pydantic-core's own checks.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from moorage.errors import AdvisoryInvalid

EventKind = Literal["introduced", "fixed", "last_affected", "limit"]
EVENT_KINDS: tuple[EventKind, ...] = ("introduced", "fixed", "last_affected", "limit")


_T = TypeVar("_T")


def _empty_if_null(value: Any) -> Any:
    return [] if value is None else value


NullableList = Annotated[list[_T], BeforeValidator(_empty_if_null)]
"""A list field that may be omitted or ``null`` (both: empty)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Event(_Model):
    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    limit: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Event:
        present = [k for k in EVENT_KINDS if getattr(self, k) is not None]
        if len(present) != 1:
            raise ValueError(f"an event holds exactly one of {', '.join(EVENT_KINDS)}")
        return self

    @property
    def kind(self) -> EventKind:
        fields = self.__dict__  # read on every match: the fields themselves, no getattr
        for kind in EVENT_KINDS:
            if fields[kind] is not None:
                return kind
        raise ValueError(f"an event holds one of {', '.join(EVENT_KINDS)}")

    @property
    def value(self) -> str:
        value: str = self.__dict__[self.kind]
        return value


class Range(_Model):
    type: Literal["ECOSYSTEM", "SEMVER", "GIT"]
    repo: str | None = None
    events: list[Event] = Field(min_length=1)
    database_specific: dict[str, Any] | None = None


class Package(_Model):
    ecosystem: str = Field(min_length=1)
    name: str = Field(min_length=1)
    purl: str | None = None


class Severity(_Model):
    type: str
    score: str


class Affected(_Model):
    package: Package | None = None
    severity: NullableList[Severity] = Field(default_factory=list)
    ranges: NullableList[Range] = Field(default_factory=list)
    versions: NullableList[str] = Field(default_factory=list)
    ecosystem_specific: dict[str, Any] | None = None
    database_specific: dict[str, Any] | None = None


class Reference(_Model):
    type: str
    url: str


class Credit(_Model):
    name: str
    contact: NullableList[str] = Field(default_factory=list)
    type: str | None = None


class OsvRecord(_Model):
    schema_version: str | None = None
    id: str = Field(min_length=1)
    modified: datetime
    published: datetime | None = None
    withdrawn: datetime | None = None
    aliases: NullableList[str] = Field(default_factory=list)
    related: NullableList[str] = Field(default_factory=list)
    upstream: NullableList[str] = Field(default_factory=list)
    summary: str | None = None
    details: str | None = None
    severity: NullableList[Severity] = Field(default_factory=list)
    affected: NullableList[Affected] = Field(default_factory=list)
    references: NullableList[Reference] = Field(default_factory=list)
    credits: NullableList[Credit] = Field(default_factory=list)
    database_specific: dict[str, Any] | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        """The record's own ID, then its aliases (the same vulnerability elsewhere)."""
        return (self.id, *[a for a in self.aliases if a != self.id])


def parse_record(data: object) -> OsvRecord:
    """A decoded OSV document (a JSON object) as a record; :class:`AdvisoryInvalid` otherwise."""
    try:
        return OsvRecord.model_validate(data)
    except ValidationError as e:
        ident = data.get("id") if isinstance(data, dict) else None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
            for err in e.errors()[:5]
        )
        raise AdvisoryInvalid(
            f"OSV record {ident!r} does not follow the schema: {problems}",
            detail={"id": ident},
        ) from None


def load_record(document: str | bytes) -> OsvRecord:
    """An OSV record from its JSON text."""
    try:
        data = json.loads(document)
    except (ValueError, UnicodeDecodeError) as e:
        raise AdvisoryInvalid(f"OSV record is not JSON: {e}") from None
    return parse_record(data)
