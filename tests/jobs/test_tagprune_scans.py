"""The ``tagprune`` job reads scan results through ``scanning.pruning_facts``: an index (manifest
list) is judged by its platforms' scans together, and only once every platform has a completed
scan; the job log names what it pruned and the policy records when."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from moorage.db import scan_result_tables as sr
from moorage.db.engine import sync_url, utcnow
from tests.conftest import ADMIN
from tests.http.api.images import push_image, push_index
from tests.inprocess import ThreadedApp
from tests.jobs.helpers import all_jobs, logs, wait_status


@pytest.fixture(scope="module")
def reg(app_registry: ThreadedApp) -> ThreadedApp:
    return app_registry


def _scanned(reg: ThreadedApp, digest: str, critical: int, components: list[str]) -> None:
    engine = create_engine(sync_url(reg.settings.database_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                sr.image_scans.insert().values(
                    manifest_digest=digest,
                    status="scanned",
                    critical=critical,
                    major=0,
                    minor=0,
                    queued_at=utcnow(),
                    completed_at=utcnow(),
                )
            )
            for name in components:
                conn.execute(
                    sr.image_scan_components.insert().values(
                        manifest_digest=digest,
                        layer_index=0,
                        layer_digest="sha256:" + "0" * 64,
                        type="apk",
                        name=name,
                        version="1",
                        path="lib/apk/db/installed",
                        licenses=json.dumps(["Apache-2.0"]),
                    )
                )
    finally:
        engine.dispose()


def _tags(c: httpx.Client, repo: str) -> set[str]:
    return set(c.get(f"/v2/{repo}/tags/list").json()["tags"] or [])


def _dry(c: httpx.Client, repo: str, rule: dict[str, Any]) -> set[str]:
    r = c.post(
        f"/api/v0/repositories/{repo}/pruningPolicies/test",
        json={"enabled": True, "rules": [rule]},
    )
    assert r.status_code == 200, r.text
    return {t["name"] for t in r.json()}


def test_an_index_is_judged_by_all_its_platforms(reg: ThreadedApp) -> None:
    with reg.client() as c:
        name = f"idx{uuid.uuid4().hex[:6]}"
        assert c.post("/api/v0/repositories/admin", json={"name": name}).status_code == 201
        repo = f"admin/{name}"
        _, (amd64, arm64) = push_index(c, repo, "multi", ADMIN)
        single = push_image(c, repo, "single", ADMIN)
        critical = {"field": "vulnerability_critical", "operator": "gte", "values": ["1"]}
        component = {"field": "component.name", "operator": "oo", "values": ["curl"]}
        # one platform scanned: the index is partly scanned, no scan rule matches it yet
        _scanned(reg, arm64.digest, 2, ["curl"])
        assert _dry(c, repo, critical) == set()
        assert _dry(c, repo, component) == set()
        _scanned(reg, amd64.digest, 0, ["musl"])
        _scanned(reg, single.digest, 0, ["musl"])
        assert _dry(c, repo, critical) == {"multi"}  # the worst platform's count
        assert _dry(c, repo, component) == {"multi"}  # a component of any platform
        assert _dry(c, repo, {**component, "operator": "noo"}) == {"single"}
        assert _dry(
            c, repo, {"field": "license.name", "operator": "oo", "values": ["Apache-2.0"]}
        ) == {"multi", "single"}

        before = {j["id"] for j in all_jobs(c, action="tagprune")}
        r = c.post(
            f"/api/v0/repositories/{repo}/pruningPolicies",
            json={"enabled": True, "rules": [critical]},
        )
        assert r.status_code == 201, r.text
        policy = r.json()
        (queued,) = [j for j in all_jobs(c, action="tagprune") if j["id"] not in before]
        done = wait_status(c, queued["id"], ("done", "errored"))
        assert done["status"] == "done", done
        assert _tags(c, repo) == {"single"}
        assert any("pruned 1 tags: multi" in line for line in logs(c, queued["id"]))
        deadline = time.monotonic() + 10
        got = c.get(f"/api/v0/repositories/{repo}/pruningPolicies/{policy['id']}").json()
        while not got["lastPrunedAt"] and time.monotonic() < deadline:
            time.sleep(0.1)
            got = c.get(f"/api/v0/repositories/{repo}/pruningPolicies/{policy['id']}").json()
        assert got["lastPrunedAt"].endswith("Z")


def test_a_run_without_a_repository_goes_through_every_pruned_one(reg: ThreadedApp) -> None:
    """DTR evaluates every policy periodically; in Moorage that is a ``tagprune`` (DTR's
    ``tag_pruning``) job or cron without ``repositoryID``: time rules fire with no push."""
    with reg.client() as c:
        names = [f"all{uuid.uuid4().hex[:6]}" for _ in range(3)]
        for name in names:
            assert c.post("/api/v0/repositories/admin", json={"name": name}).status_code == 201
            for tag in ("old-1", "keep"):
                push_image(c, f"admin/{name}", tag, ADMIN)
        rule = {"field": "tag", "operator": "sw", "values": ["old-"]}
        for name in names[:2]:  # the third has no policy and keeps everything
            r = c.post(
                f"/api/v0/repositories/admin/{name}/pruningPolicies",
                params={"initialEvaluation": "false"},
                json={"enabled": True, "rules": [rule]},
            )
            assert r.status_code == 201, r.text
        assert all(_tags(c, f"admin/{n}") == {"old-1", "keep"} for n in names)
        r = c.post("/api/v0/jobs", json={"action": "tag_pruning"})
        assert r.status_code == 202, r.text
        done = wait_status(c, r.json()["id"], ("done", "errored"))
        assert done["status"] == "done", done
        assert [_tags(c, f"admin/{n}") for n in names] == [{"keep"}, {"keep"}, {"old-1", "keep"}]
        assert any("evaluating the pruning of" in line for line in logs(c, done["id"]))
