"""Tag pruning is queued by the push itself (``manifests.put`` → ``pruning.schedule``), in the
push's write transaction, and only for a repository with an enabled policy or a tag limit: a
registry with no webhooks prunes all the same, and a push to a repository without pruning runs
no statement for it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from moorage.db.engine import Database
from moorage.queue import jobs
from moorage.webhooks import dispatch
from tests.auth.creds_helpers import statements
from tests.http.v2.inproc_push import create_repository, image, push_image, put_manifest
from tests.inprocess import InProcessApp

DEV_RULES = {"rules": [{"field": "tag", "operator": "sw", "values": ["dev-"]}]}
LATER = {"initialEvaluation": "false"}  # DTR's default (true) would prune at once


async def _tags(c: httpx.AsyncClient, repo: str) -> set[str]:
    r = await c.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200, r.text
    return set(r.json()["tags"] or [])


async def _wait_tags(c: httpx.AsyncClient, repo: str, expected: set[str]) -> None:
    for _ in range(300):  # bounded: the runner polls every 0.2 s
        if await _tags(c, repo) == expected:
            break
        await asyncio.sleep(0.1)
    assert await _tags(c, repo) == expected


async def _prune_jobs(c: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await c.get("/api/v0/jobs", params={"action": "tagprune"})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["jobs"]
    return found


async def _repository_id(c: httpx.AsyncClient, repo: str) -> int:
    r = await c.get(f"/api/v0/repositories/{repo}")
    assert r.status_code == 200, r.text
    return int(r.json()["id"])


async def test_a_push_prunes_with_no_webhooks(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        assert (await c.get("/api/v0/webhooks")).json() == []
        repo = await create_repository(c, "admin", "pruned")
        for tag in ("keep-1", "dev-1"):
            await push_image(c, repo, tag)
        r = await c.post(
            f"/api/v0/repositories/{repo}/pruningPolicies", params=LATER, json=DEV_RULES
        )
        assert r.status_code == 201, r.text
        assert await _prune_jobs(c) == []  # without initialEvaluation: nothing until a push

        body = await image(c, repo, note="dev-2")
        with statements(inproc) as seen:
            pushed = await put_manifest(c, repo, "dev-2", body)
        assert pushed.status_code == 201, pushed.text
        # The job was queued by the push's own transaction, before any dispatcher pass.
        assert [s for s in seen if s.startswith("INSERT INTO jobs")], seen

        await _wait_tags(c, repo, {"keep-1"})
        (job,) = await _prune_jobs(c)
        assert job["parameters"] == {"repositoryID": await _repository_id(c, repo)}
        r = await c.get(f"/api/v0/repositories/{repo}/events", params={"pageSize": 50})
        assert r.status_code == 200, r.text
        listed = r.json()["events"]
        pruned = {
            e["object"]["id"]
            for e in listed
            if e["type"] == "TAG_DELETE" and e["details"].get("reason") == "pruned"
        }
        assert pruned == {"dev-1", "dev-2"}
        assert (await c.get("/api/v0/webhooks")).json() == []


async def test_the_webhook_dispatcher_queues_no_pruning(inproc: InProcessApp) -> None:
    """A tag push to a repository with a limit queues one pruning run, the push's: its events
    go through the dispatcher (run here too, beside the app's) and come out as nothing."""
    async with inproc.client() as c:
        repo = await create_repository(c, "admin", "limited")
        r = await c.patch(f"/api/v0/repositories/{repo}", json={"tagLimit": 1})
        assert r.status_code == 200, r.text
        await push_image(c, repo, "v1")
    db = Database(inproc.settings.database_url)
    try:
        await dispatch.dispatch_once(db)  # whatever the app's dispatcher left
        before, _ = await jobs.page(db, action="tagprune")
        async with inproc.client() as c:
            await push_image(c, repo, "v2")
        await dispatch.dispatch_once(db)
        after, _ = await jobs.page(db, action="tagprune")
    finally:
        await db.close()
    assert len(after) == len(before) + 1, (before, after)
    async with inproc.client() as c:
        await _wait_tags(c, repo, {"v2"})


async def _manifest_put_statements(
    inproc: InProcessApp, c: httpx.AsyncClient, repo: str
) -> list[str]:
    body = await image(c, repo, note="same shape")
    with statements(inproc) as seen:
        r = await put_manifest(c, repo, "v1", body)
    assert r.status_code == 201, r.text
    return seen


async def test_a_push_without_pruning_runs_no_pruning_statement(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        plain = await create_repository(c, "admin", "plain")
        limited = await create_repository(c, "admin", "withlimit")
        r = await c.patch(f"/api/v0/repositories/{limited}", json={"tagLimit": 5})
        assert r.status_code == 200, r.text
        with_policy = await create_repository(c, "admin", "withpolicy")
        r = await c.post(
            f"/api/v0/repositories/{with_policy}/pruningPolicies", params=LATER, json=DEV_RULES
        )
        assert r.status_code == 201, r.text
        disabled = await create_repository(c, "admin", "disabledpolicy")
        r = await c.post(
            f"/api/v0/repositories/{disabled}/pruningPolicies",
            params=LATER,
            json={**DEV_RULES, "enabled": False},
        )
        assert r.status_code == 201 and r.json()["enabled"] is False, r.text

        seen = await _manifest_put_statements(inproc, c, plain)
        assert seen, "no statement was recorded"
        assert not [s for s in seen if s.startswith("INSERT INTO jobs")], seen
        # The only statement naming the policies is the repository lookup the push runs
        # anyway (an EXISTS column of it), never a lookup of its own.
        naming = [s for s in seen if "pruning_policies" in s]
        assert len(naming) == 1 and "repositories.namespace" in naming[0], naming
        assert not [s for s in seen if s.startswith("SELECT pruning_policies")], seen

        # A disabled policy prunes nothing: the same statements as no policy at all.
        assert await _manifest_put_statements(inproc, c, disabled) == seen
        # With a limit or an enabled policy: the same statements and one more, the job.
        for repo in (limited, with_policy):
            more = await _manifest_put_statements(inproc, c, repo)
            extra = [s for s in more if s.startswith("INSERT INTO jobs")]
            assert len(extra) == 1, more
            assert [s for s in more if s not in extra] == seen
