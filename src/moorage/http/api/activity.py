"""``/api/v0/events`` and ``/api/v0/repositories/{ns}/{repo}/events``: repository activity,
newest first, limited to the repositories the caller may pull."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from moorage.auth import grants
from moorage.errors import InvalidInput
from moorage.events import store as events
from moorage.http.api.common import Caller, Db, PageSize, PageStart, next_page
from moorage.http.api.models.events import EventList
from moorage.services.access import repository_level

router = APIRouter(tags=["events"])

PublishedBefore = Annotated[dt.datetime | None, Query(alias="publishedBefore")]
PublishedAfter = Annotated[dt.datetime | None, Query(alias="publishedAfter")]
ActorId = Annotated[str | None, Query(alias="actorId")]
EventType = Annotated[list[str] | None, Query(alias="eventType")]
ObjectType = Annotated[str | None, Query(alias="objectType")]
ExcludePull = Annotated[bool, Query(alias="excludePull")]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _filters(
    before: dt.datetime | None,
    after: dt.datetime | None,
    actor: str | None,
    types: list[str] | None,
    object_type: str | None,
    exclude_pull: bool,
) -> events.EventFilter:
    wanted = {p.strip().upper() for v in types or [] for p in v.split(",") if p.strip()}
    unknown = wanted - events.EVENT_TYPES
    if unknown:
        raise InvalidInput(
            "unknown event type",
            detail={"eventType": sorted(unknown), "known": sorted(events.EVENT_TYPES)},
        )
    return events.EventFilter(
        published_before=_utc(before),
        published_after=_utc(after),
        actor=actor or None,
        event_types=frozenset(wanted),
        object_type=object_type.upper() if object_type else None,
        exclude_pull=exclude_pull,
    )


def _start(value: str | None) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput("pageStart is an event id", detail={"pageStart": value[:40]})
    return int(value)


def _response(response: Response, rows: list[events.Event], nxt: int | None) -> EventList:
    next_page(response, str(nxt) if nxt is not None else None)
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
) -> EventList:
    filters = _filters(
        published_before, published_after, actor_id, event_type, object_type, exclude_pull
    )
    rows, nxt = await events.page(
        db,
        visible=None if principal.is_admin else grants.visible_repositories(principal),
        repository_id=None,
        filters=filters,
        start=_start(page_start),
        limit=page_size,
    )
    return _response(response, rows, nxt)


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
) -> EventList:
    _, details = await repository_level(db, principal, f"{namespace}/{repo}")
    filters = _filters(
        published_before, published_after, actor_id, event_type, object_type, exclude_pull
    )
    rows, nxt = await events.page(
        db,
        visible=None,
        repository_id=details.id,
        filters=filters,
        start=_start(page_start),
        limit=page_size,
    )
    return _response(response, rows, nxt)
