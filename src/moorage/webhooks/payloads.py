"""Which events a webhook takes, the JSON it receives and its HMAC signature."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

from moorage.db.engine import as_utc
from moorage.events import store as events

REPO_EVENT = "REPO_EVENT"
TYPES = frozenset(
    {
        events.TAG_PUSH,
        events.TAG_PULL,
        events.TAG_DELETE,
        events.MANIFEST_PUSH,
        events.MANIFEST_PULL,
        events.MANIFEST_DELETE,
        events.SCAN_COMPLETED,
        events.SCAN_FAILED,
        events.SCANNER_UPDATE_COMPLETED,
        REPO_EVENT,
    }
)
# Events of no repository: DTR's payload is the event's own fields, delivered to global hooks.
GLOBAL_TYPES = frozenset({events.SCANNER_UPDATE_COMPLETED})
REPO_EVENT_TYPES = frozenset({events.CREATE_REPO, events.REPO_DELETE})
SIGNATURE_HEADER = "X-Moorage-Signature-256"


def iso(value: dt.datetime) -> str:
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def type_matches(webhook_type: str, event_type: str) -> bool:
    if webhook_type == REPO_EVENT:
        return event_type in REPO_EVENT_TYPES
    return webhook_type == event_type


def key_matches(key: str, repository: str) -> bool:
    if not key:
        return True
    if "/" in key:
        return key == repository
    return repository.split("/", 1)[0] == key if "/" in repository else False


def payload(event: events.Event) -> dict[str, Any]:
    if event.type in GLOBAL_TYPES:
        fields = {"eventID": str(event.id), **event.details}
        return {"type": event.type, "createdAt": iso(event.published_at), "contents": fields}
    namespace, _, short = event.repository.partition("/")
    contents: dict[str, Any] = {
        "namespace": namespace,
        "repository": short,
        "eventID": str(event.id),
        "actor": event.actor if event.actor is not None else events.ANONYMOUS,
        "at": iso(event.published_at),
        **event.details,
    }
    if event.object_type == events.TAG:
        contents["tag"] = event.object_id
        contents["imageName"] = f"{event.repository}:{event.object_id}"
    elif event.object_type == events.MANIFEST:
        contents["digest"] = event.object_id
        contents["imageName"] = f"{event.repository}@{event.object_id}"
    if event.type in REPO_EVENT_TYPES:
        contents["type"] = event.type
    kind = REPO_EVENT if event.type in REPO_EVENT_TYPES else event.type
    return {"type": kind, "createdAt": iso(event.published_at), "contents": contents}


def sample_payload(event_type: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "type": event_type,
        "createdAt": iso(now),
        "contents": {"test": True, "namespace": "test", "repository": "test"},
    }


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(secret: str | None, body: bytes) -> dict[str, str]:
    out = {"Content-Type": "application/json", "User-Agent": "moorage-webhooks"}
    if secret:
        out[SIGNATURE_HEADER] = sign(secret, body)
    return out
