"""``/api/v0/api_tokens`` as DTR 2.7 has it: DTR's objects (``responses.APIToken``,
``responses.NewAPIToken``), the bare array with DTR's paging, ``GET`` of one token, DTR's status
codes, the mass delete deleting exactly what its filters select, and nobody but the owner (or
a system administrator) seeing or changing a token. The secret is returned once, at creation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import update

from moorage.db import tables as t
from tests.auth.creds_helpers import access_token, app_services, new_user
from tests.http.api.dtr_schema import assert_matches
from tests.inprocess import InProcessApp

UA = "dtr-script/2.7 (moorage tests)"


def _error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    errors = r.json()["errors"]
    assert errors[0]["code"] == code and errors[0]["message"], r.text


async def _list(inproc: InProcessApp, user: tuple[str, str], **params: Any) -> list[Any]:
    async with inproc.client(auth=user) as c:
        r = await c.get("/api/v0/api_tokens", params={"pageSize": 100, **params})
        assert r.status_code == 200, r.text
        body = r.json()
        assert isinstance(body, list)
        return body


async def _docker_login(inproc: InProcessApp, user: tuple[str, str]) -> str:
    """A ``docker login``: its refresh token is DTR's ``generatedBy: auto``."""
    async with inproc.client(auth=user) as c:
        r = await c.get(
            "/auth/token",
            params={"service": inproc.settings.token_service, "offline_token": "true"},
        )
        assert r.status_code == 200, r.text
        return str(r.json()["refresh_token"])


async def _last_used(inproc: InProcessApp, hashed: str, days_ago: int) -> None:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    async with app_services(inproc).db.write() as conn:
        await conn.execute(
            update(t.access_tokens)
            .where(t.access_tokens.c.token_hash == hashed)
            .values(created_at=when, last_used_at=when)
        )


async def test_create_answers_200_with_dtrs_new_token(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "ana")
    async with inproc.client(auth=user, headers={"User-Agent": UA}) as c:
        r = await c.post("/api/v0/api_tokens", json={"tokenLabel": "ci"})
    assert r.status_code == 200, r.text
    made = r.json()
    assert_matches(made, "responses.NewAPIToken")
    assert made["tokenLabel"] == "ci" and made["isActive"] is True
    assert made["generatedBy"] == "manual"  # a user asked for it (not the account's name)
    assert made["creatorUa"] == UA
    assert made["lastUsed"] == "0001-01-01T00:00:00.000Z"  # Go's zero time: never used
    assert len(made["token"]) >= 40 and made["hashedToken"] != made["token"]
    # Used once as the password: lastUsed is then a real time.
    async with inproc.client(auth=(user[0], made["token"])) as c:
        assert (await c.get("/v2/")).status_code == 200
    listed = await _list(inproc, user)
    assert listed[0]["lastUsed"].startswith(str(dt.datetime.now(dt.UTC).year))


async def test_the_list_is_a_bare_array_of_dtr_tokens_without_secrets(
    inproc: InProcessApp,
) -> None:
    user = await new_user(inproc, "ben")
    made = [await access_token(inproc, user, label) for label in ("a", "b")]
    refresh = await _docker_login(inproc, user)
    listed = await _list(inproc, user)
    for entry in listed:
        assert_matches(entry, "responses.APIToken")
        assert "token" not in entry
    assert [e["tokenLabel"] for e in listed][:2] == ["a", "b"]
    assert [e["generatedBy"] for e in listed] == ["manual", "manual", "auto"]
    async with inproc.client(auth=user) as c:
        for m in made:
            one = await c.get(f"/api/v0/api_tokens/{m['hashedToken']}")
            assert one.status_code == 200, one.text
            assert_matches(one.json(), "responses.APIToken")
            assert one.json()["hashedToken"] == m["hashedToken"] and "token" not in one.json()
            assert m["token"] not in one.text
        everything = (await c.get("/api/v0/api_tokens")).text
    for secret in (*[m["token"] for m in made], refresh):
        assert secret not in everything


async def test_paging_and_count_as_dtr(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "cat")
    made = [await access_token(inproc, user, f"t{i}") for i in range(3)]
    async with inproc.client(auth=user) as c:
        r = await c.get("/api/v0/api_tokens", params={"pageSize": 2, "count": "true"})
        assert r.status_code == 200, r.text
        assert [e["tokenLabel"] for e in r.json()] == ["t0", "t1"]
        assert r.headers["X-Resource-Count"] == "3"
        assert r.headers["X-Next-Page-Start"] == made[2]["hashedToken"]
        r = await c.get(
            "/api/v0/api_tokens", params={"pageSize": 2, "pageStart": made[2]["hashedToken"]}
        )
        assert [e["tokenLabel"] for e in r.json()] == ["t2"]
        assert "X-Next-Page-Start" not in r.headers and "X-Resource-Count" not in r.headers
        # DTR's default page holds 10.
        for i in range(3, 12):
            assert (await c.post("/api/v0/api_tokens", json={"tokenLabel": f"t{i}"})).is_success
        assert len((await c.get("/api/v0/api_tokens")).json()) == 10
        _error(
            await c.get("/api/v0/api_tokens", params={"pageStart": "nope"}),
            400,
            "INVALID_PARAMETERS",
        )
        assert (await c.get("/api/v0/api_tokens", params={"pageSize": 0})).status_code == 400


async def test_patch_and_delete_one_as_dtr(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "dan")
    made = await access_token(inproc, user, "old")
    hashed = made["hashedToken"]
    async with inproc.client(auth=user) as c:
        r = await c.patch(
            f"/api/v0/api_tokens/{hashed}", json={"tokenLabel": "new", "isActive": False}
        )
        assert r.status_code == 200, r.text
        assert_matches(r.json(), "responses.APIToken")
        assert (r.json()["tokenLabel"], r.json()["isActive"]) == ("new", False)
        assert "token" not in r.json()
        r = await c.patch(f"/api/v0/api_tokens/{hashed}", json={"owner": "someone"})
        assert r.status_code == 400
        r = await c.delete(f"/api/v0/api_tokens/{hashed}")
        assert r.status_code == 200  # DTR: "Successfully deleted API token"
        for method in ("GET", "PATCH", "DELETE"):
            r = await c.request(method, f"/api/v0/api_tokens/{hashed}", json={})
            _error(r, 404, "NO_SUCH_API_TOKEN")


async def test_nobody_else_sees_or_changes_a_token(inproc: InProcessApp) -> None:
    eve = await new_user(inproc, "eve")
    fay = await new_user(inproc, "fay")
    made = await access_token(inproc, eve, "eve-ci")
    hashed = made["hashedToken"]
    async with inproc.client(auth=fay) as c:
        _error(await c.get("/api/v0/api_tokens", params={"username": "eve"}), 403, "NOT_AUTHORIZED")
        _error(
            await c.post("/api/v0/api_tokens", params={"username": "eve"}, json={}),
            403,
            "NOT_AUTHORIZED",
        )
        _error(await c.get(f"/api/v0/api_tokens/{hashed}"), 403, "NOT_AUTHORIZED")
        _error(
            await c.patch(f"/api/v0/api_tokens/{hashed}", json={"isActive": False}),
            403,
            "NOT_AUTHORIZED",
        )
        _error(await c.delete(f"/api/v0/api_tokens/{hashed}"), 403, "NOT_AUTHORIZED")
        r = await c.delete(
            "/api/v0/api_tokens", params={"username": "eve", "generatedby": "manual"}
        )
        _error(r, 403, "NOT_AUTHORIZED")
        assert await _list(inproc, fay) == []  # her own list: not eve's
    async with inproc.client(auth=None) as c:
        for method, path in (
            ("GET", "/api/v0/api_tokens"),
            ("POST", "/api/v0/api_tokens"),
            ("DELETE", "/api/v0/api_tokens"),
            ("GET", f"/api/v0/api_tokens/{hashed}"),
            ("PATCH", f"/api/v0/api_tokens/{hashed}"),
            ("DELETE", f"/api/v0/api_tokens/{hashed}"),
        ):
            _error(await c.request(method, path, json={}), 401, "NOT_AUTHENTICATED")
    listed = await _list(inproc, eve)
    assert [(e["tokenLabel"], e["isActive"]) for e in listed] == [("eve-ci", True)]


async def test_an_administrator_manages_other_users_tokens(inproc: InProcessApp) -> None:
    gus = await new_user(inproc, "gus")
    await access_token(inproc, gus, "his")
    async with inproc.client(headers={"User-Agent": UA}) as admin:
        r = await admin.post(
            "/api/v0/api_tokens", params={"username": "gus"}, json={"tokenLabel": "by-admin"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["creatorUa"] == UA
        r = await admin.get("/api/v0/api_tokens", params={"username": "gus", "count": "true"})
        assert [e["tokenLabel"] for e in r.json()] == ["his", "by-admin"]
        assert r.headers["X-Resource-Count"] == "2"
        hashed = r.json()[0]["hashedToken"]
        assert (await admin.get(f"/api/v0/api_tokens/{hashed}")).status_code == 200
        assert (await admin.delete(f"/api/v0/api_tokens/{hashed}")).status_code == 200
        _error(
            await admin.get("/api/v0/api_tokens", params={"username": "nobody"}),
            404,
            "NO_SUCH_USER",
        )
        # An organization is no user (DTR's NO_SUCH_USER), for each of the three routes.
        made = await admin.post("/enzi/v0/accounts", json={"name": "gus-org", "isOrg": True})
        assert made.status_code == 201, made.text
        for method in ("GET", "POST", "DELETE"):
            r = await admin.request(
                method,
                "/api/v0/api_tokens",
                params={"username": "gus-org"},
                json={} if method == "POST" else None,
            )
            _error(r, 404, "NO_SUCH_USER")
        # Without ``username``, an administrator lists everyone's tokens (DTR's "all").
        assert [e["tokenLabel"] for e in (await admin.get("/api/v0/api_tokens")).json()] == [
            "by-admin"
        ]
    assert [e["tokenLabel"] for e in await _list(inproc, gus)] == ["by-admin"]


async def test_without_username_an_administrator_lists_every_users_tokens(
    inproc: InProcessApp,
) -> None:
    """DTR's ``GetAllAPITokensByUser``: "Get all tokens if no user is specified" — for a
    system administrator every user's tokens (both kinds), paged and counted across users;
    for anyone else only their own, whatever they ask."""
    ann = await new_user(inproc, "ann2")
    bob = await new_user(inproc, "bob2")
    root = await new_user(inproc, "root2", admin=True)
    a1 = await access_token(inproc, ann, "ann-1")
    b1 = await access_token(inproc, bob, "bob-1")
    await _docker_login(inproc, bob)
    a2 = await access_token(inproc, ann, "ann-2")
    everyone = await _list(inproc, root)
    for entry in everyone:
        assert_matches(entry, "responses.APIToken")
        assert "token" not in entry
    assert [(e["tokenLabel"], e["generatedBy"]) for e in everyone] == [
        ("ann-1", "manual"),
        ("bob-1", "manual"),
        ("refresh token (client)", "auto"),
        ("ann-2", "manual"),
    ]
    for m in (a1, b1, a2):
        assert m["token"] not in str(everyone)
    async with inproc.client(auth=root) as c:
        r = await c.get("/api/v0/api_tokens", params={"pageSize": 2, "count": "true"})
        assert r.status_code == 200, r.text
        assert [e["tokenLabel"] for e in r.json()] == ["ann-1", "bob-1"]
        assert r.headers["X-Resource-Count"] == "4"
        start = r.headers["X-Next-Page-Start"]
        assert start == everyone[2]["hashedToken"]
        r = await c.get("/api/v0/api_tokens", params={"pageSize": 2, "pageStart": start})
        assert [e["generatedBy"] for e in r.json()] == ["auto", "manual"]
        assert "X-Next-Page-Start" not in r.headers
        # ``username`` still narrows to one user.
        r = await c.get("/api/v0/api_tokens", params={"username": "ann2", "count": "true"})
        assert [e["tokenLabel"] for e in r.json()] == ["ann-1", "ann-2"]
        assert r.headers["X-Resource-Count"] == "2"
    # An administrator's access token may not list everyone's: that list holds its own
    # (tests/auth/test_credentials_hardening.py); with ``username`` another user's, it may.
    root_token = await access_token(inproc, root, "root-ci")
    async with inproc.client(auth=(root[0], root_token["token"])) as c:
        r = await c.get("/api/v0/api_tokens", params={"pageSize": 100})
        assert r.status_code == 403, r.text
        r = await c.get("/api/v0/api_tokens", params={"username": "ann2"})
        assert r.status_code == 200, r.text
        assert [e["tokenLabel"] for e in r.json()] == ["ann-1", "ann-2"]
    # A plain user without username: their own, never the others'; a page start of someone
    # else's token is no way in.
    own = await _list(inproc, ann)
    assert [e["tokenLabel"] for e in own] == ["ann-1", "ann-2"]
    async with inproc.client(auth=ann) as c:
        _error(
            await c.get("/api/v0/api_tokens", params={"pageStart": b1["hashedToken"]}),
            400,
            "INVALID_PARAMETERS",
        )
        _error(
            await c.get("/api/v0/api_tokens", params={"username": "bob2"}),
            403,
            "NOT_AUTHORIZED",
        )
        r = await c.get("/api/v0/api_tokens", params={"count": "true"})
        assert r.headers["X-Resource-Count"] == "2"
    async with inproc.client(auth=None) as c:
        _error(await c.get("/api/v0/api_tokens"), 401, "NOT_AUTHENTICATED")


async def test_mass_delete_deletes_exactly_what_the_filters_select(inproc: InProcessApp) -> None:
    hal = await new_user(inproc, "hal")
    ivy = await new_user(inproc, "ivy")
    old = await access_token(inproc, hal, "old")
    await access_token(inproc, hal, "new")
    await access_token(inproc, ivy, "ivys")
    await _last_used(inproc, old["hashedToken"], 400)
    await _docker_login(inproc, hal)
    async with inproc.client(auth=hal) as c:
        # The reported call: nothing used before 2000, so nothing goes (it deleted all).
        r = await c.delete("/api/v0/api_tokens?usedbefore=2000-01-01T00:00:00Z&generatedby=auto")
        assert r.status_code == 200, r.text
        assert len(await _list(inproc, hal)) == 3
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).isoformat()
        r = await c.delete(
            "/api/v0/api_tokens", params={"usedbefore": cutoff, "generatedby": "manual"}
        )
        assert r.status_code == 200
        assert [(e["tokenLabel"], e["generatedBy"]) for e in await _list(inproc, hal)] == [
            ("new", "manual"),
            ("refresh token (client)", "auto"),
        ]
        r = await c.delete("/api/v0/api_tokens")  # DTR's default: generatedby=auto
        assert r.status_code == 200
        assert [e["generatedBy"] for e in await _list(inproc, hal)] == ["manual"]
        for bad in ("usedbefore=yesterday", "usedbefore=2000-13-45", "generatedby=robot"):
            _error(await c.delete(f"/api/v0/api_tokens?{bad}"), 400, "INVALID_PARAMETERS")
        _error(
            await c.delete("/api/v0/api_tokens", params={"username": "nobody"}),
            403,
            "NOT_AUTHORIZED",
        )
    assert [e["tokenLabel"] for e in await _list(inproc, hal)] == ["new"]
    assert [e["tokenLabel"] for e in await _list(inproc, ivy)] == ["ivys"]  # someone else's
    async with inproc.client() as admin:
        r = await admin.delete(
            "/api/v0/api_tokens", params={"username": "ivy", "generatedby": "manual"}
        )
        assert r.status_code == 200
        _error(
            await admin.delete("/api/v0/api_tokens", params={"username": "nobody"}),
            404,
            "NO_SUCH_USER",
        )
    assert await _list(inproc, ivy) == []
    assert [e["tokenLabel"] for e in await _list(inproc, hal)] == ["new"]


async def test_an_access_token_cannot_read_or_revoke_tokens(inproc: InProcessApp) -> None:
    """Managing tokens needs the password: a leaked token can neither read its siblings nor
    revoke them (nor itself, which would hide the leak's traces from the owner)."""
    user = await new_user(inproc, "joy")
    made = await access_token(inproc, user, "leaked")
    sibling = await access_token(inproc, user, "sibling")
    async with inproc.client(auth=(user[0], made["token"])) as c:
        for method, path in (
            ("GET", "/api/v0/api_tokens"),
            ("GET", f"/api/v0/api_tokens/{sibling['hashedToken']}"),
            ("DELETE", f"/api/v0/api_tokens/{sibling['hashedToken']}"),
            ("DELETE", f"/api/v0/api_tokens/{made['hashedToken']}"),
            ("DELETE", "/api/v0/api_tokens?generatedby=manual"),
        ):
            _error(await c.request(method, path), 403, "NOT_AUTHORIZED")
    assert [e["tokenLabel"] for e in await _list(inproc, user)] == ["leaked", "sibling"]
