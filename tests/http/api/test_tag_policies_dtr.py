"""DTR 2.7's pruning policy API exactly: answers checked against DTR's definitions
(``responses.PruningPolicy``, ``responses.ThinTag``), DTR's forms and error codes (a bad form is
400 ``INVALID_PRUNING_POLICY`` and stores nothing), paging, ``initialEvaluation`` and
``lastPrunedAt``, rules on scan results, and who may use it (readers list and get, repository
administrators write and test; other users, anonymous and registry bearer tokens refused)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import httpx

from moorage.db import scan_result_tables as sr
from moorage.db.engine import Database, utcnow
from tests.auth.creds_helpers import access_token, bearer_token, new_user
from tests.http.api.dtr_schema import assert_matches
from tests.http.v2 import inproc_push
from tests.inprocess import InProcessApp

LATER = {"initialEvaluation": "false"}
DEV = {"enabled": True, "rules": [{"field": "tag", "operator": "sw", "values": ["dev-"]}]}


async def _wait_async(c: httpx.AsyncClient, repo: str, expected: set[str]) -> None:
    for _ in range(300):  # bounded: the runner polls every 0.2 s
        r = await c.get(f"/v2/{repo}/tags/list")
        if set(r.json()["tags"] or []) == expected:
            return
        await asyncio.sleep(0.1)
    r = await c.get(f"/v2/{repo}/tags/list")
    assert set(r.json()["tags"] or []) == expected


def _error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["errors"][0]["code"] == code, r.text


async def test_answers_are_dtr_definitions(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        repo = await inproc_push.create_repository(c, "admin", "shapes")
        digests = {t: (await inproc_push.push_image(c, repo, t))[0] for t in ("dev-1", "v1")}
        base = f"/api/v0/repositories/{repo}/pruningPolicies"
        r = await c.post(base, params=LATER, json=DEV)
        assert r.status_code == 201, r.text
        policy = r.json()
        assert_matches(policy, "responses.PruningPolicy")
        assert policy["repository"] == repo and policy["lastPrunedAt"] == ""
        assert policy["rules"] == DEV["rules"] and policy["enabled"] is True
        listed = (await c.get(base)).json()
        assert listed == [policy]
        for item in listed:
            assert_matches(item, "responses.PruningPolicy")
        got = await c.get(f"{base}/{policy['id']}")
        assert got.status_code == 200 and got.json() == policy
        assert_matches(got.json(), "responses.PruningPolicy")
        # the test form is forms.CreatePruningPolicy; the answer a list of responses.ThinTag
        r = await c.post(f"{base}/test", json=DEV)
        assert r.status_code == 200, r.text
        (thin,) = r.json()
        assert_matches(thin, "responses.ThinTag")
        assert thin["name"] == "dev-1" and thin["digest"] == digests["dev-1"]
        # forms.UpdatePruningPolicy: each key optional, a key left out keeps its value
        r = await c.put(f"{base}/{policy['id']}", params=LATER, json={"enabled": False})
        assert r.status_code == 200, r.text
        assert r.json()["rules"] == DEV["rules"] and r.json()["enabled"] is False
        assert_matches(r.json(), "responses.PruningPolicy")
        rules = [{"field": "tag", "operator": "eq", "values": ["v1"]}]
        r = await c.put(f"{base}/{policy['id']}", params=LATER, json={"rules": rules})
        assert r.json()["rules"] == rules and r.json()["enabled"] is False
        # delete, then the id is gone
        assert (await c.delete(f"{base}/{policy['id']}")).status_code == 204
        _error(await c.get(f"{base}/{policy['id']}"), 404, "NO_SUCH_PRUNING_POLICY")
        # DTR: "success or pruning policy does not exist"
        assert (await c.delete(f"{base}/{policy['id']}")).status_code == 204
        _error(await c.put(f"{base}/{policy['id']}", json=DEV), 404, "NO_SUCH_PRUNING_POLICY")
        _error(await c.get("/api/v0/repositories/admin/nope/pruningPolicies"), 404,
               "NO_SUCH_REPOSITORY")  # fmt: skip


async def test_paging_as_dtr(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        repo = await inproc_push.create_repository(c, "admin", "paged")
        base = f"/api/v0/repositories/{repo}/pruningPolicies"
        ids = []
        for i in range(12):
            rule = {"field": "tag", "operator": "eq", "values": [f"t{i}"]}
            r = await c.post(base, params=LATER, json={"enabled": True, "rules": [rule]})
            ids.append(r.json()["id"])
        r = await c.get(base, params={"count": "true"})
        assert [p["id"] for p in r.json()] == ids[:10]  # DTR's default pageSize is 10
        assert r.headers["X-Resource-Count"] == "12"
        assert r.headers["X-Next-Page-Start"] == ids[10]
        r = await c.get(base, params={"pageStart": ids[10], "pageSize": 5})
        assert [p["id"] for p in r.json()] == ids[10:] and "X-Next-Page-Start" not in r.headers
        _error(await c.get(base, params={"pageStart": "nope"}), 400, "INVALID_PARAMETERS")
        for t in ("a1", "a2", "a3"):
            await inproc_push.push_image(c, repo, t)
        form = {"enabled": True, "rules": [{"field": "tag", "operator": "sw", "values": ["a"]}]}
        r = await c.post(f"{base}/test", params={"pageSize": 2, "count": "true"}, json=form)
        assert [t["name"] for t in r.json()] == ["a3", "a2"]  # newest first
        assert r.headers["X-Resource-Count"] == "3" and r.headers["X-Next-Page-Start"] == "a1"
        r = await c.post(f"{base}/test", params={"pageStart": "a1"}, json=form)
        assert [t["name"] for t in r.json()] == ["a1"]


BAD_FORMS: list[object] = [
    [],
    "x",
    {"enabled": True},
    {"enabled": True, "rules": []},
    {"enabled": "yes", "rules": DEV["rules"]},
    {"enabled": True, "rules": [{"field": "tag", "operator": "older_than", "values": ["1"]}]},
    {"enabled": True, "rules": [{"field": "tag", "operator": "matches", "values": ["(("]}]},
    {
        "enabled": True,
        "rules": [{"field": "updated_at_duration", "operator": "bf", "values": ["3d"]}],
    },
    {"enabled": True, "rules": [{"field": "vulnerability_all", "operator": "gt", "values": ["x"]}]},
    {"enabled": True, "rules": [{"field": "license.name", "operator": "sw", "values": ["M"]}]},
    {"enabled": True, "rules": [DEV["rules"][0], {"field": "nope", "operator": "eq"}]},
]


async def test_bad_forms_are_invalid_pruning_policy_and_store_nothing(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        repo = await inproc_push.create_repository(c, "admin", "badforms")
        await inproc_push.push_image(c, repo, "dev-1")
        base = f"/api/v0/repositories/{repo}/pruningPolicies"
        r = await c.post(base, params=LATER, json=DEV)
        policy = r.json()
        for bad in BAD_FORMS:
            _error(await c.post(base, json=bad), 400, "INVALID_PRUNING_POLICY")
            _error(await c.post(f"{base}/test", json=bad), 400, "INVALID_PRUNING_POLICY")
            if (isinstance(bad, dict) and "rules" in bad) or not isinstance(bad, dict):
                r = await c.put(f"{base}/{policy['id']}", json=bad)
                _error(r, 400, "INVALID_PRUNING_POLICY")
            _error(await c.put(base, json=[DEV, bad]), 400, "INVALID_PRUNING_POLICY")
        assert (await c.get(base)).json() == [policy]
        r = await c.get("/api/v0/jobs", params={"action": "tagprune"})
        assert r.json()["jobs"] == []  # no bad form queued a run either
        assert set((await c.get(f"/v2/{repo}/tags/list")).json()["tags"]) == {"dev-1"}


async def test_initial_evaluation_prunes_at_once_and_sets_last_pruned_at(
    inproc: InProcessApp,
) -> None:
    async with inproc.client() as c:
        repo = await inproc_push.create_repository(c, "admin", "initial")
        for t in ("dev-1", "dev-2", "v1"):
            await inproc_push.push_image(c, repo, t)
        base = f"/api/v0/repositories/{repo}/pruningPolicies"
        before = utcnow()
        r = await c.post(base, json=DEV)  # DTR's default: initialEvaluation=true
        assert r.status_code == 201, r.text
        policy = r.json()
        await _wait_async(c, repo, {"v1"})
        other = await c.post(
            base,
            json={"enabled": True, "rules": [{"field": "tag", "operator": "eq", "values": ["x"]}]},
        )
        for _ in range(100):
            got = (await c.get(f"{base}/{policy['id']}")).json()
            if got["lastPrunedAt"]:
                break
            await asyncio.sleep(0.1)
        pruned_at = dt.datetime.fromisoformat(got["lastPrunedAt"].replace("Z", "+00:00"))
        assert before - dt.timedelta(seconds=1) <= pruned_at <= utcnow()
        # a policy that pruned nothing has never pruned
        assert (await c.get(f"{base}/{other.json()['id']}")).json()["lastPrunedAt"] == ""
        # an update with initialEvaluation evaluates again
        await inproc_push.push_image(c, repo, "v2")
        rules = [{"field": "tag", "operator": "eq", "values": ["v2"]}]
        r = await c.put(f"{base}/{policy['id']}", json={"rules": rules})
        assert r.status_code == 200, r.text
        await _wait_async(c, repo, {"v1"})


async def _scanned(
    inproc: InProcessApp, digest: str, counts: tuple[int, int, int], components: list[str]
) -> None:
    """A completed scan of ``digest`` as the engine stores one (the scanner is not under test)."""
    db = Database(inproc.settings.database_url)
    try:
        async with db.write() as conn:
            await conn.execute(
                sr.image_scans.insert().values(
                    manifest_digest=digest,
                    status="scanned",
                    critical=counts[0],
                    major=counts[1],
                    minor=counts[2],
                    queued_at=utcnow(),
                    completed_at=utcnow(),
                )
            )
            for name in components:
                await conn.execute(
                    sr.image_scan_components.insert().values(
                        manifest_digest=digest,
                        layer_index=0,
                        layer_digest="sha256:" + "0" * 64,
                        type="deb",
                        name=name,
                        version="1.0",
                        path="var/lib/dpkg/status",
                        licenses=json.dumps(["MIT"] if name == "openssl" else ["GPL-2.0"]),
                    )
                )
    finally:
        await db.close()


async def test_rules_on_scan_results(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        repo = await inproc_push.create_repository(c, "admin", "scanned")
        vulnerable = (await inproc_push.push_image(c, repo, "vulnerable"))[0]
        clean = (await inproc_push.push_image(c, repo, "clean"))[0]
        await inproc_push.push_image(c, repo, "unscanned")
        await _scanned(inproc, vulnerable, (3, 1, 0), ["openssl", "zlib"])
        await _scanned(inproc, clean, (0, 0, 0), ["busybox"])
        base = f"/api/v0/repositories/{repo}/pruningPolicies"

        async def dry(field: str, operator: str, *values: str) -> set[str]:
            rule = {"field": field, "operator": operator, "values": list(values)}
            r = await c.post(f"{base}/test", json={"enabled": True, "rules": [rule]})
            assert r.status_code == 200, r.text
            return {t["name"] for t in r.json()}

        assert await dry("vulnerability_critical", "gte", "1") == {"vulnerable"}
        assert await dry("vulnerability_major", "eq", "1") == {"vulnerable"}
        assert await dry("vulnerability_all", "gt", "3") == {"vulnerable"}
        # a tag never scanned matches no scan rule, not even "fewer than 1"
        assert await dry("vulnerability_all", "lt", "1") == {"clean"}
        assert await dry("vulnerability_minor", "neq", "5") == {"vulnerable", "clean"}
        assert await dry("component.name", "oo", "openssl") == {"vulnerable"}
        assert await dry("component.name", "sw", "busy") == {"clean"}
        assert await dry("component.name", "noo", "openssl") == {"clean"}
        assert await dry("license.name", "oo", "MIT") == {"vulnerable"}
        assert await dry("license.name", "noo", "MIT") == {"clean"}
        # the prune job reads the same results
        form = {"enabled": True, "rules": [{"field": "vulnerability_critical", "operator": "gt",
                                            "values": ["0"]}]}  # fmt: skip
        assert (await c.post(base, json=form)).status_code == 201
        await _wait_async(c, repo, {"clean", "unscanned"})


async def test_who_may_use_pruning_policies(inproc: InProcessApp) -> None:
    """Readers list and get; only repository administrators create, test, update, delete —
    a plain user, another repository's admin, anonymous, a registry bearer token and an access
    token of a reader are refused, and nothing they sent changed anything."""
    reader = await new_user(inproc, "reader")
    owner = await new_user(inproc, "owner")
    async with inproc.client() as c:
        public = await inproc_push.create_repository(c, "admin", "pub", visibility="public")
        private = await inproc_push.create_repository(c, "admin", "priv")
        policies = {}
        for repo in (public, private):
            r = await c.post(f"/api/v0/repositories/{repo}/pruningPolicies", params=LATER, json=DEV)
            policies[repo] = r.json()
    pull = await bearer_token(inproc, inproc.admin, f"repository:{public}:pull")
    token = await access_token(inproc, reader)
    # A user is the administrator of their own repositories.
    async with inproc.client(auth=owner) as o:
        mine = await inproc_push.create_repository(o, "owner", "mine")
        r = await o.post(f"/api/v0/repositories/{mine}/pruningPolicies", params=LATER, json=DEV)
        assert r.status_code == 201, r.text
        assert (
            await o.post(f"/api/v0/repositories/{mine}/pruningPolicies/test", json=DEV)
        ).status_code == 200
        # ... and of no one else's: another repository's policy id is not reachable through it
        victim = policies[public]["id"]
        path = f"/api/v0/repositories/{mine}/pruningPolicies/{victim}"
        _error(await o.get(path), 404, "NO_SUCH_PRUNING_POLICY")
        _error(await o.put(path, json=DEV), 404, "NO_SUCH_PRUNING_POLICY")
        assert (await o.delete(path)).status_code == 204  # as DTR's, and the victim's stays

    def calls(repo: str) -> list[tuple[str, str, object]]:
        base = f"/api/v0/repositories/{repo}/pruningPolicies"
        one = f"{base}/{policies[repo]['id']}"
        return [
            ("GET", base, None),
            ("GET", one, None),
            ("POST", base, DEV),
            ("POST", f"{base}/test", DEV),
            ("PUT", base, [DEV]),
            ("PUT", one, {"enabled": False}),
            ("DELETE", one, None),
        ]

    reads = {"GET"}
    for name, client in (
        ("reader", inproc.client(auth=reader)),
        ("owner", inproc.client(auth=owner)),
        ("token", inproc.client(auth=(reader[0], token["token"]))),
    ):
        async with client as u:
            for method, path, body in calls(public):
                r = await u.request(method, path, json=body)
                if method in reads:
                    assert r.status_code == 200, (name, method, path, r.text)
                else:
                    _error(r, 403, "NOT_AUTHORIZED")
            for method, path, body in calls(private):  # not even visible
                _error(await u.request(method, path, json=body), 404, "NO_SUCH_REPOSITORY")
    for headers in ({}, {"Authorization": f"Bearer {pull}"}):
        async with inproc.client(auth=None) as anon:
            for repo in (public, private):
                for method, path, body in calls(repo):
                    r = await anon.request(method, path, json=body, headers=headers)
                    _error(r, 401, "NOT_AUTHENTICATED")
    async with inproc.client() as c:
        for repo in (public, private):
            assert (await c.get(f"/api/v0/repositories/{repo}/pruningPolicies")).json() == [
                policies[repo]
            ]


async def test_the_openapi_document_names_dtr_forms(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        paths = (await c.get("/api/v0/openapi.json")).json()["paths"]
    base = "/repositories/{namespace}/{repo}/pruningPolicies"

    def schema(path: str, method: str) -> dict[str, Any]:
        found: dict[str, Any] = paths[path][method]["requestBody"]["content"]["application/json"][
            "schema"
        ]
        return found

    create = schema(base, "post")
    assert create["required"] == ["rules", "enabled"]
    assert set(create["properties"]["rules"]["items"]["properties"]) == {
        "field",
        "operator",
        "values",
    }
    assert "required" not in schema(f"{base}/{{policy_id}}", "put")
    assert schema(f"{base}/test", "post")["required"] == ["rules", "enabled"]
    params = {p["name"] for p in paths[base]["post"]["parameters"]}
    assert "initialEvaluation" in params
    assert {"pageStart", "pageSize", "count"} <= {
        p["name"] for p in paths[base]["get"]["parameters"]
    }
