"""Tag policies: immutable tags through /v2 and the API, pruning policies (dry run and real
pruning after a push) and ``tagLimit``. DTR's pruning policy API exactly (definitions, error
codes, paging, who may): test_tag_policies_dtr.py."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.auth.world import World, push_image
from tests.conftest import ADMIN
from tests.inprocess import ThreadedApp

FINISHED = {"done", "errored", "canceled", "worker_dead"}


@pytest.fixture(scope="module")
def reg(app_registry: ThreadedApp) -> ThreadedApp:
    """The in-process app with its job runner (looking for work every 0.2 s)."""
    return app_registry


def _repo(c: httpx.Client, **settings: Any) -> str:
    name = f"r{uuid.uuid4().hex[:8]}"
    r = c.post("/api/v0/repositories/admin", json={"name": name, **settings})
    assert r.status_code == 201, r.text
    return f"admin/{name}"


def _tags(c: httpx.Client, repo: str) -> set[str]:
    r = c.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200, r.text
    return set(r.json()["tags"] or [])


def _wait_tags(c: httpx.Client, repo: str, expected: set[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _tags(c, repo) == expected:
            return
        time.sleep(0.1)
    assert _tags(c, repo) == expected


def _wait_prune_jobs_finished(c: httpx.Client, timeout: float = 30.0) -> None:
    """Until every ``tagprune`` job queued so far (a push queues it with its commit) has run."""

    def settled() -> bool:
        r = c.get("/api/v0/jobs", params={"action": "tagprune"})
        assert r.status_code == 200, r.text
        return all(job["status"] in FINISHED for job in r.json()["jobs"])

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if settled():
            return
        time.sleep(0.1)
    assert settled()


def test_immutable_tags(reg: ThreadedApp) -> None:
    with reg.client() as c:
        repo = _repo(c, immutableTags=True)
        assert c.get(f"/api/v0/repositories/{repo}").json()["immutableTags"] is True
        status, first = push_image(c, repo, "v1", ADMIN)
        assert status == 201
        manifest = c.get(
            f"/v2/{repo}/manifests/v1",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        # the same content again under the same tag: allowed (idempotent)
        r = c.put(
            f"/v2/{repo}/manifests/v1",
            content=manifest.content,
            headers={"Content-Type": manifest.headers["Content-Type"]},
        )
        assert r.status_code == 201, r.text
        # other content under an existing tag: refused, in the OCI error envelope
        status, _ = push_image(c, repo, "v1", ADMIN)
        assert status == 403
        r = c.put(
            f"/v2/{repo}/manifests/v1",
            content=c.get(f"/v2/{repo}/manifests/{first}").content.replace(b"{", b"{ ", 1),
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert r.status_code == 403
        (error,) = r.json()["errors"]
        assert error["code"] == "DENIED"
        assert "immutable" in error["message"]
        assert c.get(f"/v2/{repo}/manifests/v1").headers["Docker-Content-Digest"] == first
        # deleting the tag is refused too, through /v2 and through the API
        r = c.delete(f"/v2/{repo}/manifests/v1")
        assert r.status_code == 403
        assert r.json()["errors"][0]["code"] == "DENIED"
        r = c.delete(f"/api/v0/repositories/{repo}/tags/v1")
        assert r.status_code == 403
        assert "immutable" in r.json()["errors"][0]["message"]
        # new tags are fine
        assert push_image(c, repo, "v2", ADMIN)[0] == 201
        # and immutable tags are never pruned, whatever the limit
        r = c.patch(f"/api/v0/repositories/{repo}", json={"tagLimit": 1})
        assert r.status_code == 200, r.text
        assert c.post(f"/api/v0/repositories/{repo}/pruningPolicies/test").json() == []
        assert push_image(c, repo, "v3", ADMIN)[0] == 201
        _wait_prune_jobs_finished(c)
        assert _tags(c, repo) == {"v1", "v2", "v3"}
        r = c.patch(f"/api/v0/repositories/{repo}", json={"tagLimit": 0})
        assert r.status_code == 200, r.text
        # once the setting is off, tags move and go again
        r = c.patch(f"/api/v0/repositories/{repo}", json={"immutableTags": False})
        assert r.status_code == 200, r.text
        status, moved = push_image(c, repo, "v1", ADMIN)
        assert status == 201 and moved != first
        assert c.delete(f"/api/v0/repositories/{repo}/tags/v1").status_code == 204


def test_pruning_policies_dry_run_and_pruning(reg: ThreadedApp) -> None:
    with reg.client() as c:
        repo = _repo(c)
        for tag in ("keep-1", "dev-1", "dev-2", "release-1", "1.0-rc"):
            assert push_image(c, repo, tag, ADMIN)[0] == 201
        base = f"/api/v0/repositories/{repo}/pruningPolicies"
        assert c.get(base).json() == []

        def dry(rules: list[dict[str, Any]]) -> set[str]:
            r = c.post(f"{base}/test", json={"rules": rules})
            assert r.status_code == 200, r.text
            return {t["name"] for t in r.json()}

        assert dry([{"field": "tag", "operator": "sw", "values": ["dev-"]}]) == {"dev-1", "dev-2"}
        assert dry([{"field": "tag", "operator": "ew", "values": ["-rc"]}]) == {"1.0-rc"}
        assert dry([{"field": "tag", "operator": "eq", "values": ["dev-1", "keep-1"]}]) == {
            "dev-1",
            "keep-1",
        }
        assert dry([{"field": "tag", "operator": "neq", "values": ["keep-1"]}]) == {
            "dev-1",
            "dev-2",
            "release-1",
            "1.0-rc",
        }
        assert dry([{"field": "tag", "operator": "matches", "values": [r"dev-\d+"]}]) == {
            "dev-1",
            "dev-2",
        }
        assert dry([{"field": "updated_at_duration", "operator": "bf", "values": ["24h"]}]) == set()
        assert dry(
            [
                {"field": "updated_at_duration", "operator": "bf", "values": ["0s"]},
                {"field": "tag", "operator": "sw", "values": ["release"]},
            ]
        ) == {"release-1"}
        assert dry([{"field": "tag", "operator": "c", "values": ["-rc"]}]) == {"1.0-rc"}
        assert dry([{"field": "tag", "operator": "oo", "values": ["dev-2", "nope"]}]) == {"dev-2"}
        assert dry([{"field": "tag", "operator": "noo", "values": ["dev-1", "dev-2"]}]) == {
            "keep-1",
            "release-1",
            "1.0-rc",
        }
        for bad in (
            [{"field": "tag", "operator": "like", "values": ["x"]}],
            [{"field": "size", "operator": "eq", "values": ["x"]}],
            [{"field": "tag", "operator": "matches", "values": ["("]}],
            [{"field": "tag", "operator": "eq", "values": []}],
            [{"field": "updated_at", "operator": "older_than", "values": [1]}],
            [],
        ):
            r = c.post(base, json={"rules": bad})
            assert r.status_code == 400, bad
            assert r.json()["errors"][0]["code"] == "INVALID_PRUNING_POLICY", r.text
        assert c.get(base).json() == []

        # a dry run changed nothing
        assert _tags(c, repo) == {"keep-1", "dev-1", "dev-2", "release-1", "1.0-rc"}
        r = c.post(
            base,
            params={"initialEvaluation": "false"},
            json={"rules": [{"field": "tag", "operator": "sw", "values": ["dev-"]}]},
        )
        assert r.status_code == 201, r.text
        policy = r.json()
        assert policy["enabled"] is True
        assert c.get(base).json() == [policy]
        # without a body, the dry run shows what the stored policies would prune
        r = c.post(f"{base}/test")
        assert {t["name"] for t in r.json()} == {"dev-1", "dev-2"}
        assert _tags(c, repo) == {"keep-1", "dev-1", "dev-2", "release-1", "1.0-rc"}
        # the next push prunes (a job after the push)
        assert push_image(c, repo, "dev-3", ADMIN)[0] == 201
        _wait_tags(c, repo, {"keep-1", "release-1", "1.0-rc"})

        # PUT replaces the set; DELETE removes one
        r = c.put(base, json=[{"rules": [{"field": "tag", "operator": "eq", "values": ["x"]}]}])
        assert r.status_code == 200, r.text
        (replaced,) = r.json()
        assert replaced["id"] != policy["id"]
        assert c.delete(f"{base}/{policy['id']}").status_code == 204  # gone: 204 all the same
        assert c.delete(f"{base}/{replaced['id']}").status_code == 204
        assert c.get(base).json() == []


def test_pruning_policies_need_repository_admin(reg: ThreadedApp) -> None:
    suffix = uuid.uuid4().hex[:6]
    with reg.client() as c:
        repo = _repo(c, visibility="public")
        user = f"pruner{suffix}"
        r = c.post("/enzi/v0/accounts", json={"name": user, "password": "correct-horse-battery"})
        assert r.status_code < 300
    rule = {"rules": [{"field": "tag", "operator": "eq", "values": ["x"]}]}
    with reg.client(auth=(user, "correct-horse-battery")) as u:
        base = f"/api/v0/repositories/{repo}/pruningPolicies"
        assert u.get(base).status_code == 200
        assert u.post(base, json=rule).status_code == 403
        assert u.post(f"{base}/test", json=rule).status_code == 403
    with reg.client(auth=None) as anon:
        assert (
            anon.post(f"/api/v0/repositories/{repo}/pruningPolicies", json=rule).status_code == 401
        )


def test_tag_limit_keeps_the_newest(reg: ThreadedApp) -> None:
    with reg.client() as c:
        repo = _repo(c)
        for tag in ("t1", "t2"):
            assert push_image(c, repo, tag, ADMIN)[0] == 201
        r = c.patch(f"/api/v0/repositories/{repo}", json={"tagLimit": 2})
        assert r.status_code == 200 and r.json()["tagLimit"] == 2
        r = c.post(f"/api/v0/repositories/{repo}/pruningPolicies/test")
        assert r.json() == []
        assert push_image(c, repo, "t3", ADMIN)[0] == 201
        _wait_tags(c, repo, {"t2", "t3"})
        assert push_image(c, repo, "t4", ADMIN)[0] == 201
        _wait_tags(c, repo, {"t3", "t4"})
        # the history records the pruning as tag deletes
        r = c.get(f"/api/v0/repositories/{repo}/events", params={"pageSize": 50})
        assert r.status_code == 200, r.text
        found = r.json()
        listed = found["events"] if isinstance(found, dict) else found
        pruned = [
            e["object"]["id"]
            for e in listed
            if e["type"] == "TAG_DELETE" and e["details"].get("reason") == "pruned"
        ]
        assert sorted(pruned) == ["t1", "t2"]


def test_one_policy_is_read_and_replaced_by_its_id(reg: ThreadedApp) -> None:
    """``GET|PUT …/pruningPolicies/{id}``: readers see it, only repository administrators
    replace it (its id stays); an unknown id is 404 and bad rules change nothing."""
    suffix = uuid.uuid4().hex[:6]
    with reg.client() as c:
        repo = _repo(c, visibility="public")
        base = f"/api/v0/repositories/{repo}/pruningPolicies"
        rule = {"enabled": True, "rules": [{"field": "tag", "operator": "eq", "values": ["x"]}]}
        r = c.post(base, json=rule)
        assert r.status_code == 201, r.text
        policy = r.json()
        path = f"{base}/{policy['id']}"
        assert c.get(path).json() == policy
        changed = {"enabled": False, "rules": [{"field": "tag", "operator": "sw", "values": ["y"]}]}
        r = c.put(path, json=changed)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == policy["id"] and r.json()["enabled"] is False
        assert c.get(path).json() == r.json()
        bad = {"enabled": True, "rules": [{"field": "tag", "operator": "nope", "values": ["z"]}]}
        assert c.put(path, json=bad).status_code == 400
        assert c.get(path).json() == r.json()
        assert c.get(f"{base}/{uuid.uuid4()}").status_code == 404
        assert c.put(f"{base}/{uuid.uuid4()}", json=changed).status_code == 404
        user = f"reader{suffix}"
        r = c.post("/enzi/v0/accounts", json={"name": user, "password": "correct-horse-battery"})
        assert r.status_code < 300
    with reg.client(auth=(user, "correct-horse-battery")) as u:
        assert u.get(path).status_code == 200
        assert u.put(path, json=changed).status_code == 403
    with reg.client(auth=None) as anon:
        assert anon.put(path, json=changed).status_code == 401


READERS = {"carol", "dave", "erin", "frank", "admin"}  # read-only, read-write, admin teams …
ADMINS = {"erin", "frank", "admin"}  # the admin team, the org's owner, a system admin


@pytest.mark.parametrize(
    "role", ["carol", "dave", "erin", "frank", "admin", "bob", "alice", "anonymous"]
)
def test_who_may_use_an_org_repositorys_policies(
    api: httpx.Client, world: World, role: str
) -> None:
    """Readers of a private org repository list and get; only its administrators create, test,
    update and delete; users who cannot see it get 404, anonymous 401 — and nothing changes."""
    repo = f"{world.org}/private-repo"
    base = f"/api/v0/repositories/{repo}/pruningPolicies"
    form = {"enabled": True, "rules": [{"field": "tag", "operator": "eq", "values": [role]}]}
    later = {"initialEvaluation": "false"}
    r = api.post(base, params=later, json=form, auth=world.admin)
    assert r.status_code == 201, r.text
    policy = r.json()
    one = f"{base}/{policy['id']}"
    who = world.creds(role)

    def expect(r: httpx.Response, allowed: set[str], ok: int) -> None:
        if role == "anonymous":
            assert r.status_code == 401, r.text
            assert r.json()["errors"][0]["code"] == "NOT_AUTHENTICATED"
        elif role not in READERS:
            assert r.status_code == 404, r.text
            assert r.json()["errors"][0]["code"] == "NO_SUCH_REPOSITORY"
        elif role not in allowed:
            assert r.status_code == 403, r.text
            assert r.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
        else:
            assert r.status_code == ok, r.text

    expect(api.get(base, auth=who), READERS, 200)
    expect(api.get(one, auth=who), READERS, 200)
    expect(api.post(base, params=later, json=form, auth=who), ADMINS, 201)
    expect(api.post(f"{base}/test", json=form, auth=who), ADMINS, 200)
    expect(api.put(one, params=later, json={"enabled": False}, auth=who), ADMINS, 200)
    expect(api.delete(one, auth=who), ADMINS, 204)
    left = [p for p in api.get(base, auth=world.admin).json() if p["rules"] == form["rules"]]
    if role in ADMINS:
        assert len(left) == 1 and left[0]["id"] != policy["id"]  # theirs made, the first gone
        api.delete(f"{base}/{left[0]['id']}", auth=world.admin)
    else:
        assert left == [policy]  # untouched
        api.delete(one, auth=world.admin)
