"""Repository events: recorded with the change (push, delete, settings, team access) and the
actor; pulls after the flush; DTR's filters and paging; hidden with the repository."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.auth.world import World
from tests.http.api.images import OCI_MANIFEST, pages, push_image
from tests.inprocess import ThreadedApp, threaded_app

Auth = tuple[str, str] | None


def repo_events(api: httpx.Client, repo: str, auth: Auth, **params: Any) -> list[dict[str, Any]]:
    return pages(api, f"/api/v0/repositories/{repo}/events", auth, "events", **params)


def kinds(found: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(type, object id, actor), oldest first."""
    return [(e["type"], e["object"]["id"], e["actor"]) for e in reversed(found)]


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    assert check()


def test_create_push_settings_delete_recorded(api: httpx.Client, world: World) -> None:
    alice = world.creds("alice")
    ns = world.name("alice")
    r = api.post(
        f"/api/v0/repositories/{ns}", json={"name": "ev", "visibility": "private"}, auth=alice
    )
    assert r.status_code == 201, r.text
    repo = f"{ns}/ev"
    pushed = push_image(api, repo, "v1", alice)
    r = api.patch(f"/api/v0/repositories/{repo}", json={"scanOnPush": True}, auth=alice)
    assert r.status_code == 200, r.text
    r = api.delete(f"/v2/{repo}/manifests/{pushed.digest}", auth=alice)
    assert r.status_code == 202, r.text

    found = repo_events(api, repo, alice)
    assert kinds(found) == [
        ("CREATE_REPO", "", ns),
        ("MANIFEST_PUSH", pushed.digest, ns),
        ("TAG_PUSH", "v1", ns),
        ("REPO_SETTINGS_CHANGE", "", ns),
        ("MANIFEST_DELETE", pushed.digest, ns),
    ]
    newest = found[0]
    assert newest["target"] == {
        "type": "REPOSITORY",
        "id": newest["target"]["id"],
        "name": repo,
        "content": "",
    }
    assert newest["object"]["type"] == "MANIFEST"
    assert newest["publishedAt"].endswith("Z")
    settings = next(e for e in found if e["type"] == "REPO_SETTINGS_CHANGE")
    assert settings["details"] == {"scanOnPush": True}
    tag_push = next(e for e in found if e["type"] == "TAG_PUSH")
    assert tag_push["details"]["digest"] == pushed.digest
    assert tag_push["object"]["type"] == "TAG"


def test_push_created_repository_and_tag_delete(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/pushed-{uuid.uuid4().hex[:6]}"
    pushed = push_image(api, repo, "t", world.creds("frank"))  # the org's owner creates by push
    r = api.delete(f"/api/v0/repositories/{repo}/tags/t", auth=world.admin)
    assert r.status_code == 204
    frank = world.name("frank")
    assert kinds(repo_events(api, repo, world.admin)) == [
        ("CREATE_REPO", "", frank),
        ("MANIFEST_PUSH", pushed.digest, frank),
        ("TAG_PUSH", "t", frank),
        ("TAG_DELETE", "t", world.admin[0]),
    ]


def test_team_access_change_recorded(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/private-repo"
    frank = world.creds("frank")
    r = api.put(
        f"/api/v0/repositories/{repo}/teamAccess/ro",
        json={"accessLevel": "read-write"},
        auth=frank,
    )
    assert r.status_code == 200, r.text
    r = api.delete(f"/api/v0/repositories/{repo}/teamAccess/ro", auth=frank)
    assert r.status_code == 204
    r = api.put(
        f"/api/v0/repositories/{repo}/teamAccess/ro", json={"accessLevel": "read-only"}, auth=frank
    )
    assert r.status_code == 200
    found = repo_events(api, repo, frank, eventType="TEAM_ACCESS_CHANGE")
    mine = [e for e in found if e["actor"] == world.name("frank")]
    assert [e["details"]["accessLevel"] for e in reversed(mine)] == [
        "read-write",
        "none",
        "read-only",
    ]
    assert all(
        {k: e["object"][k] for k in ("type", "id", "name")}
        == {"type": "TEAM", "id": f"{world.org}/ro", "name": f"{world.org}/ro"}
        for e in mine
    )
    # The grants the world made are there too, by the administrator.
    assert any(e["actor"] == world.admin[0] for e in found)


def test_pulls_recorded_after_flush(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/public-repo"
    pushed = push_image(api, repo, "pullme", world.admin)
    bob = world.creds("bob")
    assert api.get(f"/v2/{repo}/manifests/pullme", auth=bob).status_code == 200
    assert api.get(f"/v2/{repo}/manifests/{pushed.digest}").status_code == 200
    assert api.head(f"/v2/{repo}/manifests/pullme", auth=bob).status_code == 200

    def pulls() -> list[tuple[str, str, str]]:
        found = repo_events(api, repo, world.admin, eventType="TAG_PULL,MANIFEST_PULL")
        return [k for k in kinds(found) if k[1] in ("pullme", pushed.digest)]

    eventually(lambda: len(pulls()) >= 2)
    assert pulls() == [
        ("TAG_PULL", "pullme", world.name("bob")),
        ("MANIFEST_PULL", pushed.digest, "anonymous"),
    ]
    without = repo_events(api, repo, world.admin, excludePull="true")
    assert not any(e["type"].endswith("_PULL") for e in without)


def test_pull_and_push_counters(api: httpx.Client, world: World) -> None:
    alice = world.creds("alice")
    ns = world.name("alice")
    r = api.post(f"/api/v0/repositories/{ns}", json={"name": "counted"}, auth=alice)
    assert r.status_code == 201, r.text
    assert (r.json()["pulls"], r.json()["pushes"]) == (0, 0)
    repo = f"{ns}/counted"
    pushed = push_image(api, repo, "v1", alice)  # a new manifest with its tag: one push
    for ref in ("v2", pushed.digest):  # the same manifest: a new tag counts, a digest does not
        r = api.put(
            f"/v2/{repo}/manifests/{ref}",
            content=pushed.manifest,
            headers={"Content-Type": OCI_MANIFEST},
            auth=alice,
        )
        assert r.status_code == 201, r.text

    def counters() -> tuple[int, int]:
        body = api.get(f"/api/v0/repositories/{repo}", auth=alice).json()
        return body["pulls"], body["pushes"]

    assert counters() == (0, 2)
    assert api.get(f"/v2/{repo}/manifests/v1", auth=alice).status_code == 200
    assert api.get(f"/v2/{repo}/manifests/{pushed.digest}", auth=alice).status_code == 200
    assert api.head(f"/v2/{repo}/manifests/v1", auth=alice).status_code == 200  # not a pull
    eventually(lambda: counters()[0] >= 2)
    assert counters() == (2, 2)
    listed = api.get(f"/api/v0/repositories/{ns}", auth=alice).json()["repositories"]
    assert [(x["pulls"], x["pushes"]) for x in listed if x["name"] == "counted"] == [(2, 2)]


def test_filters_and_paging(api: httpx.Client, world: World) -> None:
    alice = world.creds("alice")
    repo = f"{world.name('alice')}/public-repo"
    before = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    for i in range(4):
        push_image(api, repo, f"f{i}", alice)
    time.sleep(0.05)
    after = dt.datetime.now(dt.UTC)
    base = f"/api/v0/repositories/{repo}/events"
    r = api.get(base, params={"pageSize": 3, "eventType": "TAG_PUSH"}, auth=alice)
    assert r.status_code == 200
    assert [e["object"]["id"] for e in r.json()["events"]][:3] == ["f3", "f2", "f1"]
    nxt = r.headers["X-Next-Page-Start"]
    r = api.get(base, params={"pageSize": 3, "eventType": "TAG_PUSH", "pageStart": nxt}, auth=alice)
    assert r.json()["events"][0]["object"]["id"] == "f0"

    window = repo_events(
        api,
        repo,
        alice,
        publishedAfter=before.isoformat(),
        publishedBefore=after.isoformat(),
        objectType="TAG",
    )
    assert [e["object"]["id"] for e in window] == ["f3", "f2", "f1", "f0"]
    assert repo_events(api, repo, alice, publishedAfter=after.isoformat(), excludePull="true") == []
    by_actor = repo_events(api, repo, alice, actorId=world.name("alice"), objectType="MANIFEST")
    assert len(by_actor) >= 4 and {e["type"] for e in by_actor} == {"MANIFEST_PUSH"}
    assert repo_events(api, repo, alice, actorId=world.name("bob")) == []
    bad = api.get(base, params={"eventType": "NO_SUCH"}, auth=alice)
    assert bad.status_code == 400
    bad = api.get(base, params={"pageStart": "x"}, auth=alice)
    assert bad.status_code == 400


def test_global_events_hide_private_repositories(api: httpx.Client, world: World) -> None:
    alice = world.creds("alice")
    private = f"{world.name('alice')}/private-repo"
    public = f"{world.name('alice')}/public-repo"
    push_image(api, private, "hidden", alice)
    push_image(api, public, "shown", alice)

    def repos_seen(auth: Auth) -> set[str]:
        found = pages(
            api, "/api/v0/events", auth, "events", pageSize=1000, actorId=world.name("alice")
        )
        return {e["target"]["name"] for e in found}

    assert {private, public} <= repos_seen(alice)
    assert {private, public} <= repos_seen(world.admin)
    for who in ("bob", "anonymous"):
        seen = repos_seen(world.creds(who))
        assert public in seen and private not in seen, who

    # A deleted repository's history stays for administrators only.
    r = api.post(
        f"/api/v0/repositories/{world.name('alice')}",
        json={"name": "gone", "visibility": "public"},
        auth=alice,
    )
    assert r.status_code == 201
    r = api.delete(f"/api/v0/repositories/{world.name('alice')}/gone", auth=alice)
    assert r.status_code == 204
    found = pages(
        api, "/api/v0/events", world.admin, "events", eventType="REPO_DELETE", pageSize=100
    )
    assert any(e["target"]["name"] == f"{world.name('alice')}/gone" for e in found)
    found = pages(api, "/api/v0/events", world.creds("bob"), "events", eventType="REPO_DELETE")
    assert not any(e["target"]["name"] == f"{world.name('alice')}/gone" for e in found)


@pytest.fixture(scope="module")
def compacting(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str | None]
) -> Iterator[ThreadedApp]:
    """An app of its own: the test changes a site setting the module's other tests share."""
    with threaded_app(tmp_path_factory.mktemp("compacting"), database_factory()) as app:
        yield app


def test_compaction_by_count(compacting: ThreadedApp) -> None:
    with compacting.client() as c:
        repo = f"c-{uuid.uuid4().hex[:6]}/repo"
        for i in range(4):
            push_image(c, repo, f"t{i}", compacting.admin)
        assert len(repo_events(c, repo, compacting.admin)) == 9  # create + 4 x (manifest, tag)
        r = c.post(
            "/api/v0/meta/settings",
            json={"repoEventHistoryCompactionEnabled": True, "repoEventHistoryToKeep": 3},
        )
        assert r.status_code == 202, r.text
        kept = repo_events(c, repo, compacting.admin)
        assert [e["object"]["id"] for e in kept][:1] == ["t3"]
        assert len(kept) == 3
