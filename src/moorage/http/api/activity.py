"""``/api/v0/events`` and ``/api/v0/repositories/{ns}/{repo}/events``: repository activity,
newest first, limited to the repositories the caller may pull.

DTR's query parameters: ``pageStart`` (an event id, from ``X-Next-Page-Start``), ``pageSize``,
``count`` (``X-Resource-Count``), ``publishedBefore`` / ``publishedAfter`` (RFC 3339),
``actorId`` (the account's id or, Moorage's addition, its name), ``eventType``,
``objectType`` and ``excludePull`` (DTR's on the repository route; Moorage reads it on both).
A value that cannot be read is a 400 ``INVALID_PARAMETERS``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.sql.elements import ColumnElement
from starlette.responses import Response

from moorage.auth import grants
from moorage.db.engine import Database
from moorage.errors import InvalidParameters, NoSuchAccount
from moorage.events import store as events
from moorage.http.api.common import (
    Caller,
    Count,
    Db,
    PageSize,
    PageStart,
    next_page,
    query_time,
    resource_count,
)
from moorage.http.api.models.events import EventList
from moorage.services.access import repository_level
from moorage.services.accounts import resolve_account

router = APIRouter(tags=["events"])

PublishedBefore = Annotated[str | None, Query(alias="publishedBefore")]
PublishedAfter = Annotated[str | None, Query(alias="publishedAfter")]
ActorId = Annotated[str | None, Query(alias="actorId")]
EventType = Annotated[list[str] | None, Query(alias="eventType")]
ObjectType = Annotated[str | None, Query(alias="objectType")]
ExcludePull = Annotated[bool, Query(alias="excludePull")]


def _when(name: str, value: str | None) -> dt.datetime | None:
    if value is None or not value.strip():
        return None
    return query_time(name, value)


async def _actor(db: Database, actor_id: str | None) -> str | None:
    """DTR's ``actorId`` names the account by id; Moorage reads a name too (the name wins)."""
    if not actor_id:
        return None
    if actor_id == events.ANONYMOUS:
        return actor_id
    try:
        return (await resolve_account(db, actor_id)).name
    except NoSuchAccount:
        return actor_id  # matches no event


async def _filters(
    db: Database,
    before: str | None,
    after: str | None,
    actor: str | None,
    types: list[str] | None,
    object_type: str | None,
    exclude_pull: bool,
) -> events.EventFilter:
    wanted = {p.strip().upper() for v in types or [] for p in v.split(",") if p.strip()}
    unknown = wanted - events.EVENT_TYPES
    if unknown:
        raise InvalidParameters(
            "unknown event type",
            detail={"eventType": sorted(unknown), "known": sorted(events.EVENT_TYPES)},
        )
    return events.EventFilter(
        published_before=_when("publishedBefore", before),
        published_after=_when("publishedAfter", after),
        actor=await _actor(db, actor),
        event_types=frozenset(wanted),
        object_type=object_type.upper() if object_type else None,
        exclude_pull=exclude_pull,
    )


def _start(value: str | None) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise InvalidParameters("pageStart is an event id", detail={"pageStart": value[:40]})
    return int(value)


async def _answer(
    db: Database,
    response: Response,
    *,
    visible: ColumnElement[bool] | None,
    repository_id: int | None,
    filters: events.EventFilter,
    start: str | None,
    limit: int,
    count: bool,
) -> EventList:
    rows, nxt = await events.page(
        db,
        visible=visible,
        repository_id=repository_id,
        filters=filters,
        start=_start(start),
        limit=limit,
    )
    next_page(response, str(nxt) if nxt is not None else None)
    if count:
        total = await events.count(
            db, visible=visible, repository_id=repository_id, filters=filters
        )
        resource_count(response, total)
    return EventList.of(rows)


@router.get("/events")
async def list_events(
    db: Db,
    principal: Caller,
    response: Response,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    published_before: PublishedBefore = None,
    published_after: PublishedAfter = None,
    actor_id: ActorId = None,
    event_type: EventType = None,
    object_type: ObjectType = None,
    exclude_pull: ExcludePull = False,
    count: Count = False,
) -> EventList:
    filters = await _filters(
        db, published_before, published_after, actor_id, event_type, object_type, exclude_pull
    )
    return await _answer(
        db,
        response,
        visible=None if principal.is_admin else grants.visible_repositories(principal),
        repository_id=None,
        filters=filters,
        start=page_start,
        limit=page_size,
        count=count,
    )


@router.get("/repositories/{namespace}/{repo}/events")
async def repository_events(
    namespace: str,
    repo: str,
    db: Db,
    principal: Caller,
    response: Response,
    page_start: PageStart = None,
    page_size: PageSize = 10,
    published_before: PublishedBefore = None,
    published_after: PublishedAfter = None,
    actor_id: ActorId = None,
    event_type: EventType = None,
    object_type: ObjectType = None,
    exclude_pull: ExcludePull = False,
    count: Count = False,
) -> EventList:
    _, details = await repository_level(db, principal, f"{namespace}/{repo}")
    filters = await _filters(
        db, published_before, published_after, actor_id, event_type, object_type, exclude_pull
    )
    return await _answer(
        db,
        response,
        visible=None,
        repository_id=details.id,
        filters=filters,
        start=page_start,
        limit=page_size,
        count=count,
    )
