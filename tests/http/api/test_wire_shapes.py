"""The keys and value shapes of the API's answers, object by object (DTR's names), and the one
date format on the wire: RFC 3339 in UTC with milliseconds and ``Z``."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.http.inproc_images import push_image
from tests.inprocess import InProcessApp

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
REPOSITORY = {
    "id", "namespace", "namespaceType", "name", "shortDescription", "longDescription",
    "visibility", "scanOnPush", "immutableTags", "enableManifestLists", "tagLimit", "pulls",
    "pushes",
}  # fmt: skip
ACCOUNT = {"id", "name", "fullName", "isOrg", "isAdmin", "isActive", "isImported"}
TEAM = {"id", "orgID", "name", "description", "type"}
TAG = {
    "name", "digest", "author", "updatedAt", "createdAt", "hashMismatch", "inNotary",
    "manifest", "mirroring", "promotion", "vuln_summary",
}  # fmt: skip
MANIFEST = {
    "digest", "mediaType", "configMediaType", "configDigest", "size", "createdAt", "os",
    "osVersion", "architecture", "variant", "author", "labels", "layers", "dockerfile",
}  # fmt: skip
TOKEN = {
    "hashedToken", "tokenLabel", "isActive", "createdAt", "lastUsed", "generatedBy", "creatorUa",
}  # fmt: skip
JOB = {
    "id", "retryFromID", "workerID", "status", "scheduledAt", "lastUpdated", "startedAt",
    "endedAt", "action", "retriesLeft", "retriesTotal", "attempt", "capacityMap", "parameters",
    "deadline", "stopTimeout", "cancelRequested", "cron", "error",
}  # fmt: skip
CRON = {
    "id", "action", "schedule", "retries", "capacityMap", "parameters", "deadline", "stopTimeout",
    "nextRun", "lastJobID",
}  # fmt: skip
WEBHOOK = {
    "id", "type", "key", "endpoint", "authorID", "createdAt", "lastSuccessfulAt", "inactive",
    "tlsCert", "skipTLSVerification", "authenticated", "inactiveReason", "createdBy",
}  # fmt: skip


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _dates(*values: Any) -> None:
    for value in values:
        assert isinstance(value, str) and RFC3339.match(value), value


async def test_repositories_accounts_and_teams(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        _ok(await c.post("/enzi/v0/accounts", json={"name": "acme", "isOrg": True}), 201)
        _ok(
            await c.post("/enzi/v0/accounts", json={"name": "bob", "password": "bob-password-1"}),
            201,
        )
        repo = _ok(await c.post("/api/v0/repositories/acme", json={"name": "app"}), 201)
        assert set(repo) == REPOSITORY and repo["id"].isdigit() and repo["tagLimit"] == 0
        listed = _ok(await c.get("/api/v0/repositories", params={"pageSize": 1}))
        assert set(listed) == {"repositories"} and set(listed["repositories"][0]) == REPOSITORY
        page = await c.get("/api/v0/repositories", params={"pageSize": 1})
        assert "X-Next-Page-Start" not in page.headers  # one repository: no next page
        team = _ok(await c.post("/enzi/v0/accounts/acme/teams", json={"name": "devs"}), 201)
        # eNZi's responses.Team has membersCount (DTR's, inside /api/v0 answers, has none).
        assert set(team) == TEAM | {"membersCount"} and team["type"] == "managed"
        access = _ok(
            await c.put(
                "/api/v0/repositories/acme/app/teamAccess/devs", json={"accessLevel": "read-write"}
            )
        )
        assert set(access) == {"accessLevel", "team", "repository", "teamAccessList"}
        assert access["accessLevel"] == "read-write"
        ns = _ok(await c.get("/api/v0/repositoryNamespaces/acme/teamAccess"))
        assert set(ns) == {"namespace", "teamAccessList"} and ns["namespace"] == "acme"
        me = _ok(await c.get("/enzi/v0/accounts/admin"))
        assert set(me) == ACCOUNT | {"email"}
        members = _ok(await c.put("/enzi/v0/accounts/acme/members/bob"))
        assert set(members) == {"member", "isAdmin"}  # eNZi's responses.Member
        team_member = _ok(await c.put("/enzi/v0/accounts/acme/teams/devs/members/bob"))
        assert set(team_member) == {"member", "isAdmin"}
        accounts = _ok(await c.get("/enzi/v0/accounts"))
        assert (
            set(accounts)
            == {
                "accounts",
                "nextPageStart",
                "usersCount",
                "orgsCount",
                "resourceCount",
            }
            and accounts["nextPageStart"] == ""
        )
        found = _ok(await c.get("/api/v0/index/autocomplete", params={"query": "a"}))
        assert set(found) == {"accountResults", "repositoryResults"}
    async with inproc.client(auth=("bob", "bob-password-1")) as bob:
        other = _ok(await bob.get("/enzi/v0/accounts/admin"))
        assert set(other) == ACCOUNT  # no e-mail for others


async def test_tags_manifests_events_and_tokens(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        await push_image(c, "admin/web", "v1")
        tags = _ok(await c.get("/api/v0/repositories/admin/web/tags"))
        assert set(tags[0]) == TAG  # the manifest always (DTR requires it)
        # without includeManifests (DTR's default) the manifest is what the tag's row knows
        assert set(tags[0]["manifest"]) == {"digest", "mediaType", "configDigest", "createdAt"}
        _dates(tags[0]["createdAt"], tags[0]["updatedAt"], tags[0]["manifest"]["createdAt"])
        full = _ok(
            await c.get("/api/v0/repositories/admin/web/tags", params={"includeManifests": "true"})
        )
        manifest = full[0]["manifest"]
        assert set(manifest) == MANIFEST and set(manifest["layers"][0]) == {
            "digest",
            "mediaType",
            "size",
        }
        _dates(manifest["createdAt"])
        one = _ok(await c.get("/api/v0/repositories/admin/web/tags/v1"))
        assert set(one[0]) == TAG | {"components", "licenses"}  # DTR's responses.Tag
        assert set(one[0]["manifest"]) == MANIFEST
        listed = _ok(await c.get("/api/v0/repositories/admin/web/manifests"))
        assert set(listed[0]) == {
            "digest", "mediaType", "configMediaType", "configDigest", "size", "createdAt", "os",
            "osVersion", "architecture", "author", "dockerfile", "artifactType", "subject",
            "tags",
        }  # fmt: skip
        assert listed[0]["tags"] == ["v1"]
        events = _ok(await c.get("/api/v0/events"))["events"]
        assert set(events[0]) == {
            "id", "type", "publishedAt", "actor", "actorType", "object", "repository", "target",
            "details",
        }  # fmt: skip
        assert set(events[0]["object"]) == {"type", "id", "name", "content"}
        assert set(events[0]["target"]) == {"type", "id", "name", "content"}
        _dates(*(e["publishedAt"] for e in events))
        made = _ok(await c.post("/api/v0/api_tokens", json={"tokenLabel": "ci"}), 200)
        assert set(made) == TOKEN | {"token"} and made["lastUsed"] == "0001-01-01T00:00:00.000Z"
        _dates(made["createdAt"])
        tokens = _ok(await c.get("/api/v0/api_tokens"))
        assert isinstance(tokens, list) and set(tokens[0]) == TOKEN


async def test_settings_webhooks_policies_and_jobs(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        settings = _ok(await c.get("/api/v0/meta/settings"))
        assert {"createRepositoryOnPush", "readOnlyRegistry", "webhookAllowedNetworks"} <= set(
            settings
        )
        allowed = {"webhookAllowedNetworks": ["127.0.0.0/8"]}
        assert (await c.post("/api/v0/meta/settings", json=allowed)).status_code == 202
        assert _ok(await c.get("/api/v0/meta/settings")) == {**settings, **allowed}
        _ok(await c.post("/api/v0/repositories/admin", json={"name": "hooked"}), 201)
        hook = _ok(
            await c.post(
                "/api/v0/webhooks",
                json={
                    "type": "TAG_PUSH",
                    "key": "admin/hooked",
                    "endpoint": "http://127.0.0.1:9/",
                },
            ),
            201,
        )
        assert set(hook) == WEBHOOK and hook["authenticated"] is False
        _dates(hook["createdAt"])
        assert _ok(await c.get(f"/api/v0/webhooks/{hook['id']}/deliveries")) == []
        rule = {"field": "tag", "operator": "eq", "values": ["old"]}
        policy = _ok(
            await c.post(
                "/api/v0/repositories/admin/hooked/pruningPolicies",
                json={"enabled": True, "rules": [rule]},
            ),
            201,
        )
        assert policy["rules"] == [rule] and set(policy) == {
            "id", "enabled", "rules", "repository", "lastPrunedAt"
        }  # fmt: skip
        job = _ok(await c.post("/api/v0/jobs", json={"action": "sleep"}), 202)
        assert set(job) == JOB
        _dates(job["scheduledAt"], job["lastUpdated"])
        jobs = _ok(await c.get("/api/v0/jobs"))
        assert set(jobs) == {"jobs"} and set(jobs["jobs"][0]) == JOB
        cron = _ok(
            await c.post("/api/v0/crons", json={"action": "sleep", "schedule": "0 3 * * *"}), 202
        )
        assert set(cron) == CRON
        _dates(cron["nextRun"])
        assert set(_ok(await c.get("/api/v0/crons"))) == {"crons"}
        workers = _ok(await c.get("/api/v0/workers"))["workers"]
        assert workers and set(workers[0]) == {
            "id", "status", "capacityMap", "heartbeatExpiration", "running", "heartbeat",
            "upSince",
        }  # fmt: skip
        _dates(workers[0]["heartbeat"], workers[0]["upSince"], workers[0]["heartbeatExpiration"])
