"""Which events a webhook takes, the JSON it receives (DTR 2.7's shapes) and its HMAC signature.

Every payload is DTR's wrapper ``{type, createdAt, contents}``. ``contents`` is what DTR's
documentation gives per type (``ee/dtr/admin/manage-webhooks/use-the-api.md``): a tag event has
``namespace, repository, tag, digest, imageName, os, architecture, author`` and its time
(``pushedAt``, ``deletedAt``, ``pulledAt``); a manifest event the same without ``tag``; a
``REPO_EVENT`` has ``event`` (``REPO_CREATED``, ``REPO_UPDATED``, ``REPO_DELETED``), ``author``
and ``data``, the repository as ``/api/v0/repositories/{namespace}/{repository}`` answers. Moorage
adds ``eventID`` (and the event's own details, e.g. ``mediaType``) where no DTR name clashes.

A payload is made in two steps: ``payload`` when the event becomes a delivery (from the event
and ``Facts`` read from SQL then), and ``complete`` before its first attempt, which needs the
registry: ``imageName`` fully qualified with the registry's host, ``os`` and ``architecture``
from the image's config. ``complete`` recomputes both from ``contents``, so it may run twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from moorage.db.engine import as_utc
from moorage.events import store as events

REPO_EVENT = "REPO_EVENT"
# Accepted and stored like DTR's; nothing in Moorage emits them yet (no promotion, no mirroring).
PROMOTION = "PROMOTION"
PUSH_MIRRORING = "PUSH_MIRRORING"
POLL_MIRRORING = "POLL_MIRRORING"
# DTR's order (its ``forms.Webhook`` enum).
TYPE_ORDER = (
    events.TAG_PUSH,
    events.TAG_PULL,
    events.TAG_DELETE,
    PROMOTION,
    PUSH_MIRRORING,
    POLL_MIRRORING,
    events.MANIFEST_PUSH,
    events.MANIFEST_PULL,
    events.MANIFEST_DELETE,
    REPO_EVENT,
    events.SCAN_COMPLETED,
    events.SCAN_FAILED,
    events.SCANNER_UPDATE_COMPLETED,
)
TYPES = frozenset(TYPE_ORDER)
# Events of no repository: DTR's payload is the event's own fields, delivered to global hooks.
GLOBAL_TYPES = frozenset({events.SCANNER_UPDATE_COMPLETED})
# Moorage's repository events → DTR's ``REPO_EVENT`` ``event``.
REPO_EVENTS = {
    events.CREATE_REPO: "REPO_CREATED",
    events.REPO_SETTINGS_CHANGE: "REPO_UPDATED",
    events.REPO_DELETE: "REPO_DELETED",
}
REPO_EVENT_TYPES = frozenset(REPO_EVENTS)
TAG_TYPES = frozenset({events.TAG_PUSH, events.TAG_PULL, events.TAG_DELETE})
MANIFEST_TYPES = frozenset({events.MANIFEST_PUSH, events.MANIFEST_PULL, events.MANIFEST_DELETE})
SCAN_TYPES = frozenset({events.SCAN_COMPLETED, events.SCAN_FAILED})
# The name DTR gives each image event's time.
TIME_FIELD = {
    events.TAG_PUSH: "pushedAt",
    events.MANIFEST_PUSH: "pushedAt",
    events.TAG_DELETE: "deletedAt",
    events.MANIFEST_DELETE: "deletedAt",
    events.TAG_PULL: "pulledAt",
    events.MANIFEST_PULL: "pulledAt",
}
SIGNATURE_HEADER = "X-Moorage-Signature-256"


@dataclass(frozen=True, slots=True)
class Facts:
    """What an event's row does not hold, read from SQL when it becomes a delivery: the digest
    a deleted tag pointed at, and the repository object of a ``REPO_EVENT``."""

    digest: str = ""
    repository: dict[str, Any] | None = None


def iso(value: dt.datetime) -> str:
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def registry_host(public_url: str | None, dtr_host: str = "") -> str:
    """The host (and port) images are pulled from: the site setting ``dtrHost`` when set
    (DTR's), else the configured public URL's."""
    if dtr_host:
        return dtr_host
    if not public_url:
        return ""
    return urlsplit(public_url if "//" in public_url else f"//{public_url}").netloc


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


def _image_name(contents: dict[str, Any], host: str) -> str:
    name = f"{contents['namespace']}/{contents['repository']}"
    if host:
        name = f"{host}/{name}"
    tag = contents.get("tag")
    if tag:
        return f"{name}:{tag}"
    return f"{name}@{contents.get('digest', '')}"


def payload(event: events.Event, facts: Facts | None = None) -> dict[str, Any]:
    facts = facts or Facts()
    created = iso(event.published_at)
    if event.type in GLOBAL_TYPES:
        fields = {"eventID": str(event.id), **event.details}
        return {"type": event.type, "createdAt": created, "contents": fields}
    namespace, _, short = event.repository.partition("/")
    author = event.actor or ""
    if event.type in REPO_EVENT_TYPES:
        # The repository as read when the event became deliveries; gone by then (deleted):
        # its name and what the event says changed.
        data = facts.repository or {**event.details, "namespace": namespace, "name": short}
        contents: dict[str, Any] = {
            "namespace": namespace,
            "repository": short,
            "event": REPO_EVENTS[event.type],
            "author": author,
            "data": data,
            "eventID": str(event.id),
        }
        return {"type": REPO_EVENT, "createdAt": created, "contents": contents}
    contents = {**event.details, "namespace": namespace, "repository": short}
    if event.object_type == events.TAG:
        contents["tag"] = event.object_id
        contents["digest"] = str(event.details.get("digest") or facts.digest)
    elif event.object_type == events.MANIFEST:
        contents["digest"] = event.object_id
    contents["imageName"] = _image_name(contents, "")
    if event.type in TIME_FIELD:
        contents.setdefault("os", "")
        contents.setdefault("architecture", "")
        contents["author"] = author
        contents[TIME_FIELD[event.type]] = created
    contents["eventID"] = str(event.id)
    return {"type": event.type, "createdAt": created, "contents": contents}


def needs_image(body: dict[str, Any]) -> bool:
    """Whether ``complete`` has anything to add (an event about an image)."""
    contents = body.get("contents")
    return isinstance(contents, dict) and "imageName" in contents and "namespace" in contents


def complete(body: dict[str, Any], host: str, os: str, architecture: str) -> dict[str, Any]:
    """``body`` with ``imageName`` qualified by ``host`` and the image's platform (image events
    only; the same result however often it runs)."""
    if not needs_image(body):
        return body
    contents = dict(body["contents"])
    contents["imageName"] = _image_name(contents, host)
    if body.get("type") in TIME_FIELD:
        contents["os"] = os
        contents["architecture"] = architecture
    return {**body, "contents": contents}


_SAMPLE_DIGEST = "sha256:" + "0" * 64
_SAMPLE_TIME = "2019-05-22T01:55:20.471Z"


def sample_payload(event_type: str, now: dt.datetime, host: str = "") -> dict[str, Any]:
    """DTR's test payload: always the same fake contents for a type (only ``createdAt`` is
    now), in the shape of that type's real payload."""
    prefix = f"{host}/" if host else ""
    image = {
        "namespace": "foo",
        "repository": "bar",
        "digest": _SAMPLE_DIGEST,
        "os": "linux",
        "architecture": "amd64",
        "author": "test-user",
    }
    contents: dict[str, Any]
    if event_type in TAG_TYPES or event_type in (PROMOTION, PUSH_MIRRORING, POLL_MIRRORING):
        contents = {**image, "tag": "latest", "imageName": f"{prefix}foo/bar:latest"}
        contents[TIME_FIELD.get(event_type, "pushedAt")] = _SAMPLE_TIME
    elif event_type in MANIFEST_TYPES:
        contents = {**image, "imageName": f"{prefix}foo/bar@{_SAMPLE_DIGEST}"}
        contents[TIME_FIELD[event_type]] = _SAMPLE_TIME
    elif event_type == REPO_EVENT:
        contents = {
            "namespace": "foo",
            "repository": "bar",
            "event": "REPO_CREATED",
            "author": "test-user",
            "data": {"namespace": "foo", "name": "bar", "visibility": "public"},
        }
    elif event_type == events.SCAN_COMPLETED:
        contents = {
            "namespace": "foo",
            "repository": "bar",
            "tag": "latest",
            "imageName": f"{prefix}foo/bar:latest",
            "scanSummary": {
                "namespace": "foo",
                "repository": "bar",
                "tag": "latest",
                "critical": 0,
                "major": 0,
                "minor": 0,
                "last_scan_status": 6,
                "check_completed_at": _SAMPLE_TIME,
            },
        }
    elif event_type == events.SCAN_FAILED:
        contents = {
            "namespace": "foo",
            "repository": "bar",
            "tag": "latest",
            "imageName": f"{prefix}foo/bar@{_SAMPLE_DIGEST}",
            "error": "test error",
        }
    else:  # SCANNER_UPDATE_COMPLETED
        contents = {
            "scanner_version": "1",
            "scanner_updated_at": _SAMPLE_TIME,
            "db_version": 1,
            "db_updated_at": _SAMPLE_TIME,
            "success": True,
            "replicas": {},
        }
    return {"type": event_type, "createdAt": iso(now), "contents": contents}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(secret: str | None, body: bytes) -> dict[str, str]:
    out = {"Content-Type": "application/json", "User-Agent": "moorage-webhooks"}
    if secret:
        out[SIGNATURE_HEADER] = sign(secret, body)
    return out
