"""DTR's payload shapes from events, without a registry: what ``payload`` makes of each kind of
event and what ``complete`` adds before the first attempt (the same however often it runs)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from moorage.events import store as events
from moorage.webhooks.payloads import (
    REPO_EVENT,
    TYPE_ORDER,
    Facts,
    complete,
    payload,
    registry_host,
    sample_payload,
    type_matches,
)

AT = dt.datetime(2026, 12, 2, 13, 0, 0, 123000, tzinfo=dt.UTC)
DIGEST = "sha256:" + "ab" * 32


def _event(kind: str, object_type: str, object_id: str, **details: Any) -> events.Event:
    return events.Event(
        id=7,
        type=kind,
        repository_id=1,
        repository="acme/app",
        object_type=object_type,
        object_id=object_id,
        actor="alice",
        published_at=AT,
        details=details,
    )


def test_a_tag_push_is_dtrs_and_completing_it_twice_changes_nothing() -> None:
    body = payload(_event(events.TAG_PUSH, events.TAG, "v1", digest=DIGEST, mediaType="m"))
    assert body["type"] == "TAG_PUSH" and body["createdAt"] == "2026-12-02T13:00:00.123Z"
    assert body["contents"] == {
        "namespace": "acme",
        "repository": "app",
        "tag": "v1",
        "digest": DIGEST,
        "imageName": "acme/app:v1",
        "os": "",
        "architecture": "",
        "author": "alice",
        "pushedAt": "2026-12-02T13:00:00.123Z",
        "eventID": "7",
        "mediaType": "m",  # Moorage's: the event's details, where no DTR name clashes
    }
    once = complete(body, "registry.example.com:5443", "linux", "arm64")
    assert once["contents"]["imageName"] == "registry.example.com:5443/acme/app:v1"
    assert (once["contents"]["os"], once["contents"]["architecture"]) == ("linux", "arm64")
    assert complete(once, "registry.example.com:5443", "linux", "arm64") == once
    assert body["contents"]["imageName"] == "acme/app:v1"  # the draft is left as it was


def test_a_deleted_tag_gets_the_digest_it_pointed_at_and_its_time() -> None:
    event = _event(events.TAG_DELETE, events.TAG, "v1", reason="pruned")
    contents = payload(event, Facts(digest=DIGEST))["contents"]
    assert (contents["digest"], contents["deletedAt"], contents["reason"]) == (
        DIGEST,
        "2026-12-02T13:00:00.123Z",
        "pruned",
    )
    assert "pushedAt" not in contents


def test_manifest_events_name_the_image_by_digest() -> None:
    for kind, when in (
        (events.MANIFEST_PUSH, "pushedAt"),
        (events.MANIFEST_PULL, "pulledAt"),
        (events.MANIFEST_DELETE, "deletedAt"),
    ):
        contents = payload(_event(kind, events.MANIFEST, DIGEST))["contents"]
        assert "tag" not in contents and when in contents
        done = complete({"type": kind, "contents": contents}, "r.example", "", "")
        assert done["contents"]["imageName"] == f"r.example/acme/app@{DIGEST}"


def test_repository_events_are_one_repo_event_with_dtrs_names() -> None:
    repo = {"id": "1", "namespace": "acme", "name": "app"}
    for kind, name in (
        (events.CREATE_REPO, "REPO_CREATED"),
        (events.REPO_SETTINGS_CHANGE, "REPO_UPDATED"),
        (events.REPO_DELETE, "REPO_DELETED"),
    ):
        assert type_matches(REPO_EVENT, kind)
        body = payload(_event(kind, events.REPOSITORY, ""), Facts(repository=repo))
        assert body["type"] == REPO_EVENT
        assert body["contents"]["event"] == name and body["contents"]["author"] == "alice"
        assert body["contents"]["data"] == repo
        assert complete(body, "r.example", "linux", "amd64") == body  # not an image event
    gone = payload(_event(events.REPO_SETTINGS_CHANGE, events.REPOSITORY, "", tagLimit=3))
    assert gone["contents"]["data"] == {"namespace": "acme", "name": "app", "tagLimit": 3}
    assert not type_matches(REPO_EVENT, events.TEAM_ACCESS_CHANGE)


def test_the_registry_host_is_the_public_urls() -> None:
    assert registry_host("https://registry.example.com:5443/") == "registry.example.com:5443"
    assert registry_host("https://registry.example.com") == "registry.example.com"
    assert registry_host("registry.example.com") == "registry.example.com"
    assert registry_host(None) == registry_host("") == ""


def test_every_type_has_a_sample_in_its_payloads_shape() -> None:
    for kind in TYPE_ORDER:
        sample = sample_payload(kind, AT, "r.example")
        assert set(sample) == {"type", "createdAt", "contents"} and sample["type"] == kind
        assert sample == sample_payload(kind, AT, "r.example")  # always the same
        image = sample["contents"].get("imageName")
        assert image is None or image.startswith("r.example/foo/bar")
