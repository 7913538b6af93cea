"""DTR's event object (``/events``, ``/repositories/{ns}/{repo}/events``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from moorage.events import store as event_store
from moorage.http.api.models.wire import Timestamp, WireModel


class EventObject(WireModel):
    type: str
    id: str


class EventTarget(WireModel):
    type: str
    id: str
    name: str


class Event(WireModel):
    id: str
    type: str
    published_at: Timestamp = Field(serialization_alias="publishedAt")
    actor: str
    object: EventObject
    target: EventTarget
    details: dict[str, Any]

    @staticmethod
    def fields(event: event_store.Event) -> dict[str, Any]:
        """The model's fields as plain values: a page validates all its events in one call
        (``EventList.of``), which costs what building the JSON by hand did."""
        return {
            "id": str(event.id),
            "type": event.type,
            "published_at": event.published_at,
            "actor": event.actor if event.actor is not None else event_store.ANONYMOUS,
            "object": {"type": event.object_type, "id": event.object_id},
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
