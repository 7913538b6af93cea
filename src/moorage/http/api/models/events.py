"""DTR's event objects (``/events``, ``/repositories/{ns}/{repo}/events``): ``responses.Events``
of ``schema.Event`` with ``schema.Object`` as its ``object`` and ``target``.

``id`` is the event's number as a string (DTR's Swagger says only "string"); ``repository`` is
the repository's full name; the object's ``name`` is what it names (the tag, the digest, the
team, or the repository itself) and its ``content`` the event's details as compact JSON ("" when
it has none). ``target`` is the repository. Moorage adds ``details`` (the details as an object)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from moorage.events import store as event_store
from moorage.http.api.models.wire import Timestamp, WireModel


class EventObject(WireModel):
    type: str
    id: str
    name: str
    content: str


class EventTarget(WireModel):
    """A ``schema.Object`` too: the repository (its id, its full name, no content)."""

    type: str
    id: str
    name: str
    content: str = ""


class Event(WireModel):
    id: str
    type: str
    published_at: Timestamp = Field(serialization_alias="publishedAt")
    actor: str
    actor_type: str = Field(serialization_alias="actorType")
    object: EventObject
    repository: str
    target: EventTarget
    details: dict[str, Any]

    @staticmethod
    def fields(event: event_store.Event) -> dict[str, Any]:
        """The model's fields as plain values: a page validates all its events in one call
        (``EventList.of``), which costs what building the JSON by hand did."""
        named = event.actor is not None
        return {
            "id": str(event.id),
            "type": event.type,
            "published_at": event.published_at,
            "actor": event.actor if named else event_store.ANONYMOUS,
            "actor_type": event_store.USER if named else event_store.ANONYMOUS,
            "object": {
                "type": event.object_type,
                "id": event.object_id,
                "name": event.object_id or event.repository,
                "content": (
                    json.dumps(event.details, separators=(",", ":"), sort_keys=True)
                    if event.details
                    else ""
                ),
            },
            "repository": event.repository,
            "target": {
                "type": event_store.REPOSITORY,
                "id": "" if event.repository_id is None else str(event.repository_id),
                "name": event.repository,
            },
            "details": event.details,
        }


class EventList(WireModel):
    events: list[Event]

    @classmethod
    def of(cls, found: list[event_store.Event]) -> EventList:
        return cls.model_validate({"events": [Event.fields(e) for e in found]})
