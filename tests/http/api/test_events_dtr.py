"""``/api/v0/events`` and ``/api/v0/repositories/{ns}/{repo}/events`` as DTR 2.7 has them:
``responses.Events`` of ``schema.Event`` (``actorType``, a top-level ``repository``, the
object's ``name`` and ``content``), DTR's query parameters (``count``, ``publishedBefore`` /
``publishedAfter``, ``actorId`` by id or name, ``eventType``, ``objectType``), bad values a 400
``INVALID_PARAMETERS``, and no caller seeing the events of a repository they may not pull."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.auth.creds_helpers import new_user
from tests.http.api.dtr_schema import assert_matches
from tests.http.inproc_images import push_image
from tests.inprocess import InProcessApp


def _error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["errors"][0]["code"] == code, r.text


async def _repo(c: httpx.AsyncClient, ns: str, name: str, visibility: str) -> str:
    r = await c.post(f"/api/v0/repositories/{ns}", json={"name": name, "visibility": visibility})
    assert r.status_code == 201, r.text
    return f"{ns}/{name}"


async def _events(c: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    r = await c.get(path, params={"pageSize": 1000, **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_matches(body, "responses.Events")
    found: list[dict[str, Any]] = body["events"]
    return found


async def test_events_are_dtrs_objects(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        repo = await _repo(c, "admin", "web", "public")
        digest = await push_image(c, repo, "v1")
        for path in ("/api/v0/events", f"/api/v0/repositories/{repo}/events"):
            found = await _events(c, path)
            mine = [e for e in found if e["repository"] == repo]
            assert {e["type"] for e in mine} >= {"CREATE_REPO", "MANIFEST_PUSH", "TAG_PUSH"}
            for e in mine:
                assert (e["actor"], e["actorType"]) == ("admin", "user")
                assert e["target"]["name"] == repo and e["id"].isdigit()
            tag = next(e for e in mine if e["type"] == "TAG_PUSH")
            assert tag["object"]["type"] == "TAG"
            assert (tag["object"]["id"], tag["object"]["name"]) == ("v1", "v1")
            assert json.loads(tag["object"]["content"])["digest"] == digest
            created = next(e for e in mine if e["type"] == "CREATE_REPO")
            assert created["object"]["name"] == repo  # the repository names itself
            manifest = next(e for e in mine if e["type"] == "MANIFEST_PUSH")
            assert manifest["object"]["name"] == digest


async def test_dtrs_filters_paging_and_count(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "kim")
    async with inproc.client(auth=user) as k:
        repo = await _repo(k, "kim", "app", "private")
        for tag in ("a", "b", "c"):
            await push_image(k, repo, tag)
    async with inproc.client() as c:
        await push_image(c, repo, "by-admin")
        kim_id = (await c.get("/enzi/v0/accounts/kim")).json()["id"]
        for path in ("/api/v0/events", f"/api/v0/repositories/{repo}/events"):
            tags = {"eventType": "TAG_PUSH"}
            r = await c.get(path, params={**tags, "pageSize": 2, "count": "true"})
            assert r.status_code == 200, r.text
            assert [e["object"]["id"] for e in r.json()["events"]] == ["by-admin", "c"]
            assert r.headers["X-Resource-Count"] == "4"
            r = await c.get(
                path, params={**tags, "pageSize": 2, "pageStart": r.headers["X-Next-Page-Start"]}
            )
            assert [e["object"]["id"] for e in r.json()["events"]] == ["b", "a"]
            assert "X-Next-Page-Start" not in r.headers
            by_id = await _events(c, path, actorId=kim_id, **tags)
            by_name = await _events(c, path, actorId="kim", **tags)
            assert [e["object"]["id"] for e in by_id] == ["c", "b", "a"]
            assert by_id == by_name
            assert await _events(c, path, objectType="MANIFEST", actorId="admin") != []
            assert await _events(c, path, publishedAfter="2999-01-01T00:00:00Z") == []
            early = await _events(c, path, publishedBefore="2000-01-01T00:00:00Z")
            assert early == []
            for bad in (
                {"publishedBefore": "yesterday"},
                {"publishedAfter": "2024-13-45T00:00:00Z"},
                {"pageStart": "not-an-id"},
                {"eventType": "NOT_A_TYPE"},
            ):
                _error(await c.get(path, params=bad), 400, "INVALID_PARAMETERS")


async def test_nobody_sees_events_of_a_repository_they_may_not_pull(
    inproc: InProcessApp,
) -> None:
    lee = await new_user(inproc, "lee")
    max_ = await new_user(inproc, "max")
    async with inproc.client(auth=lee) as c:
        secret = await _repo(c, "lee", "secret", "private")
        await push_image(c, secret, "v1")
        shown = await _repo(c, "lee", "shown", "public")
        await push_image(c, shown, "v1")
    async with inproc.client(auth=max_) as c:
        found = await _events(c, "/api/v0/events")
        assert secret not in {e["repository"] for e in found}
        assert shown in {e["repository"] for e in found}
        r = await c.get("/api/v0/events", params={"count": "true", "actorId": "lee"})
        assert int(r.headers["X-Resource-Count"]) == len(r.json()["events"]) > 0
        r = await c.get(f"/api/v0/repositories/{secret}/events")
        _error(r, 404, "NO_SUCH_REPOSITORY")  # as if it did not exist
        assert "TAG_PUSH" not in r.text
        assert await _events(c, f"/api/v0/repositories/{shown}/events") != []
    async with inproc.client(auth=None) as c:
        found = await _events(c, "/api/v0/events")
        assert secret not in {e["repository"] for e in found}
        r = await c.get(f"/api/v0/repositories/{secret}/events")
        assert r.status_code in (401, 404) and "v1" not in r.text
    async with inproc.client(auth=lee) as c:
        found = await _events(c, f"/api/v0/repositories/{secret}/events")
        assert {e["type"] for e in found} >= {"CREATE_REPO", "TAG_PUSH"}
