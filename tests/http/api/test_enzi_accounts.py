"""eNZi's ``PATCH /enzi/v0/accounts`` (``forms.BulkOperations`` → ``responses.BulkResults``),
``POST /enzi/v0/accounts`` without LDAP, and ``/enzi/v0/jobs`` when LDAP is off; the LDAP side
of both (``searchLDAP``, ``ldap-sync``) is in tests/auth/ldap/test_enzi_ldap.py."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.auth.creds_helpers import new_user
from tests.http.api.dtr_schema import assert_matches
from tests.inprocess import InProcessApp

BASE = "/enzi/v0/accounts"


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json() if r.content else None


async def test_bulk_operations(inproc: InProcessApp) -> None:
    for name in ("bulk-a", "bulk-b", "bulk-c", "bulk-d"):
        await new_user(inproc, name)
    async with inproc.client() as c:
        b_id = _ok(await c.get(f"{BASE}/bulk-b"))["id"]
        _ok(await c.post(BASE, json={"name": "bulkorg", "isOrg": True}), 201)
        ops = [
            {"op": "deactivate", "ref": "bulk-a"},
            {"op": "promote", "ref": b_id},
            {"op": "update", "ref": "bulk-c", "value": json.dumps({"fullName": "Cee"})},
            {"op": "delete", "ref": "bulk-d"},
            {"op": "delete", "ref": "no-such-user"},
            {"op": "explode", "ref": "bulk-a"},
            {"op": "demote", "ref": "admin"},  # not oneself
            {"op": "promote", "ref": "bulkorg"},
            {"op": "update", "ref": "bulk-c", "value": "{not json"},
        ]
        body = _ok(await c.patch(BASE, json={"operations": ops}))
        assert_matches(body, "enzi:responses.BulkResults", leave_out={"results.error"})
        outcome = [(r["op"], r["ref"], r["success"]) for r in body["results"]]
        assert outcome == [
            ("deactivate", "bulk-a", True),
            ("promote", b_id, True),
            ("update", "bulk-c", True),
            ("delete", "bulk-d", True),
            ("delete", "no-such-user", False),
            ("explode", "bulk-a", False),
            ("demote", "admin", False),
            ("promote", "bulkorg", False),
            ("update", "bulk-c", False),
        ]
        for failed in body["results"][4:]:
            assert_matches(failed, "enzi:responses.BulkResult")
        assert body["results"][4]["error"]["code"] == "NO_SUCH_ACCOUNT"
        assert body["results"][5]["error"]["code"] == "INVALID_INPUT"
        assert _ok(await c.get(f"{BASE}/bulk-a"))["isActive"] is False
        assert _ok(await c.get(f"{BASE}/bulk-b"))["isAdmin"] is True
        assert _ok(await c.get(f"{BASE}/bulk-c"))["fullName"] == "Cee"
        assert (await c.get(f"{BASE}/bulk-d")).status_code == 404
        assert _ok(await c.get(f"{BASE}/admin"))["isAdmin"] is True
        # The form is eNZi's: operations required, nothing else.
        assert (await c.patch(BASE, json={})).status_code == 400
        assert (await c.patch(BASE, json={"operations": [{"ref": "x"}]})).status_code == 400
    # System administrators only.
    async with inproc.client(auth=("bulk-c", "a-long-enough-password")) as c:
        r = await c.patch(BASE, json={"operations": [{"op": "promote", "ref": "bulk-c"}]})
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
    async with inproc.client(auth=None) as c:
        r = await c.patch(BASE, json={"operations": []})
        assert r.status_code == 401
    async with inproc.client() as c:
        assert _ok(await c.get(f"{BASE}/bulk-c"))["isAdmin"] is False


async def test_create_account_forms(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        user = _ok(
            await c.post(
                BASE,
                json={"name": "newbie", "password": "a-long-enough-password", "fullName": "N"},
            ),
            201,
        )
        assert_matches(user, "enzi:responses.Account", leave_out={"membersCount", "teamsCount"})
        org = _ok(await c.post(BASE, json={"name": "neworg", "isOrg": True}), 201)
        assert_matches(org, "enzi:responses.Account")
        assert (org["membersCount"], org["teamsCount"]) == (0, 0)
        r = await c.post(BASE, json={"name": "newbie", "password": "a-long-enough-password"})
        assert r.status_code == 409 and r.json()["errors"][0]["code"] == "ACCOUNT_EXISTS"
        r = await c.post(BASE, json={"name": "nopass"})
        assert r.status_code == 400
        # searchLDAP with LDAP off: a clear error, nothing created.
        r = await c.post(BASE, json={"name": "fromldap", "searchLDAP": True})
        assert r.status_code == 400 and "LDAP" in r.json()["errors"][0]["message"], r.text
        assert (await c.get(f"{BASE}/fromldap")).status_code == 404
    async with inproc.client(auth=("newbie", "a-long-enough-password")) as c:
        r = await c.post(BASE, json={"name": "sneaky", "isOrg": True})
        assert r.status_code == 403


async def test_enzi_jobs_without_ldap(inproc: InProcessApp) -> None:
    await new_user(inproc, "jobless")
    async with inproc.client() as c:
        r = await c.post("/enzi/v0/jobs", json={"action": "ldap-sync"})
        assert r.status_code == 400 and "LDAP" in r.json()["errors"][0]["message"], r.text
        r = await c.post("/enzi/v0/jobs", json={"action": "gc"})
        assert r.status_code == 400
        assert _ok(await c.get("/enzi/v0/jobs")) == {"jobs": [], "nextPageStart": ""}
        r = await c.get("/enzi/v0/jobs/no-such-job")
        assert r.status_code == 404
    async with inproc.client(auth=("jobless", "a-long-enough-password")) as c:
        for r in (
            await c.post("/enzi/v0/jobs", json={"action": "ldap-sync"}),
            await c.get("/enzi/v0/jobs"),
        ):
            assert r.status_code == 403 and r.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
