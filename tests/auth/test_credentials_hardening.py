"""Who may do what with which credential: the attacks of the security review, each refused.

A registry bearer token is for /v2 only; an access token acts for its user but never on the
user's own credentials; one's own password changes only with the current one; a bearer token
minted from an access token dies with it; empty Basic credentials are anonymous; e-mail
addresses are for administrators and the account itself."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.auth.creds_helpers import (
    PASSWORD,
    access_token,
    bearer_token,
    csrf_of,
    new_user,
    ui_sign_in,
)
from tests.inprocess import InProcessApp

EMPTY_BASIC = {"Authorization": "Basic Og=="}


async def _api_routes(app: InProcessApp) -> list[tuple[str, str]]:
    """(method, path) of every route of /api/v0 and /enzi/v0 (from their OpenAPI documents),
    path parameters filled in."""
    found: list[tuple[str, str]] = []
    async with app.client() as c:
        for prefix in ("/api/v0", "/enzi/v0"):
            r = await c.get(f"{prefix}/openapi.json")
            assert r.status_code == 200, r.text
            for path, operations in r.json()["paths"].items():
                filled = re.sub(r"\{[^}]+\}", "x", prefix + path)
                found += [(m.upper(), filled) for m in operations if m != "head"]
    return found


async def test_a_registry_bearer_token_acts_on_no_api_route(inproc: InProcessApp) -> None:
    """The admin's JWT, scoped to nothing or to one pull, used to create access tokens, set
    passwords and make administrators: every /api/v0 and /enzi/v0 route now answers 401."""
    routes = await _api_routes(inproc)
    writes = [(m, p) for m, p in routes if m in {"POST", "PUT", "PATCH", "DELETE"}]
    assert len(writes) > 30 and ("POST", "/api/v0/api_tokens") in writes
    assert ("POST", "/enzi/v0/accounts") in writes
    unscoped = await bearer_token(inproc, inproc.admin)
    pull = await bearer_token(inproc, inproc.admin, "repository:admin/x:pull")
    async with inproc.client(auth=None) as c:
        for tok in (unscoped, pull):
            for method, path in routes:
                r = await c.request(
                    method, path, json={}, headers={"Authorization": f"Bearer {tok}"}
                )
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                assert r.json()["errors"][0]["code"] == "NOT_AUTHENTICATED", (method, path)
        # The attack itself: nothing was created.
        r = await c.post(
            "/enzi/v0/accounts",
            json={"name": "mallory", "password": PASSWORD, "isAdmin": True},
            headers={"Authorization": f"Bearer {pull}"},
        )
        assert r.status_code == 401
    async with inproc.client() as admin:
        assert (await admin.get("/enzi/v0/accounts/mallory")).status_code == 404
        assert (await admin.get("/api/v0/api_tokens")).json() == []


async def test_a_bearer_token_from_a_revoked_access_token_stops_working(
    inproc: InProcessApp,
) -> None:
    user = await new_user(inproc, "tina")
    created = await access_token(inproc, user)
    secret, hashed = created["token"], created["hashedToken"]
    async with inproc.client(auth=(user[0], secret)) as c:
        r = await c.post("/v2/tina/app/blobs/uploads/")
        assert r.status_code == 202, r.text
    tok = await bearer_token(inproc, (user[0], secret), "repository:tina/app:pull,push")
    headers = {"Authorization": f"Bearer {tok}"}
    async with inproc.client(auth=None) as c:
        assert (await c.get("/v2/", headers=headers)).status_code == 200
        assert (await c.post("/v2/tina/app/blobs/uploads/", headers=headers)).status_code == 202
        # A bearer token is no credential for the token service.
        assert (await c.get("/auth/token", headers=headers)).status_code == 401
    # Deactivated: refused at once; active again: accepted again.
    async with inproc.client(auth=user) as owner:
        r = await owner.patch(f"/api/v0/api_tokens/{hashed}", json={"isActive": False})
        assert r.status_code == 200
        async with inproc.client(auth=None) as c:
            r = await c.get("/v2/tina/app/tags/list", headers=headers)
            assert r.status_code == 401
            assert "invalid_token" in r.headers["WWW-Authenticate"]
        r = await owner.patch(f"/api/v0/api_tokens/{hashed}", json={"isActive": True})
        assert r.status_code == 200
        async with inproc.client(auth=None) as c:
            assert (await c.get("/v2/", headers=headers)).status_code == 200
        assert (await owner.delete(f"/api/v0/api_tokens/{hashed}")).status_code == 200
    async with inproc.client(auth=None) as c:
        assert (await c.get("/v2/", headers=headers)).status_code == 401
        assert (await c.post("/v2/tina/app/blobs/uploads/", headers=headers)).status_code == 401
        # Nor can the revoked access token mint another.
        r = await c.get(
            "/auth/token",
            params={"service": inproc.settings.token_service},
            auth=(user[0], secret),
        )
        assert r.status_code == 401
    # A token minted from the password is unaffected.
    by_password = await bearer_token(inproc, user)
    async with inproc.client(auth=None) as c:
        r = await c.get("/v2/", headers={"Authorization": f"Bearer {by_password}"})
        assert r.status_code == 200


async def test_an_access_token_cannot_manage_its_users_credentials(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "ursula")
    created = await access_token(inproc, user)
    secret, hashed = created["token"], created["hashedToken"]
    async with inproc.client(auth=(user[0], secret)) as c:
        # It acts for its user on the registry and the API ...
        assert (await c.get("/v2/")).status_code == 200
        assert (await c.get("/api/v0/repositories")).status_code == 200
        r = await c.patch("/enzi/v0/accounts/ursula", json={"fullName": "U. Ser"})
        assert r.status_code == 200
        # ... but never on its credentials.
        for method, path, body in [
            ("GET", "/api/v0/api_tokens", None),
            ("POST", "/api/v0/api_tokens", {"tokenLabel": "successor"}),
            ("PATCH", f"/api/v0/api_tokens/{hashed}", {"tokenLabel": "renamed"}),
            ("DELETE", "/api/v0/api_tokens?generatedby=user", None),
            (
                "PATCH",
                "/enzi/v0/accounts/ursula",
                {"password": "taken-over-password", "oldPassword": secret},
            ),
            (
                "POST",
                "/enzi/v0/accounts/ursula/changePassword",
                {"oldPassword": PASSWORD, "newPassword": "taken-over-password"},
            ),
        ]:
            r = await c.request(method, path, json=body)
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
    async with inproc.client(auth=user) as c:
        listed = (await c.get("/api/v0/api_tokens")).json()
        assert [t["tokenLabel"] for t in listed] == ["t"]
    async with inproc.client(auth=None) as c:
        assert (await c.get("/v2/", auth=user)).status_code == 200  # password unchanged


async def test_an_admins_access_token_acts_as_admin_on_other_accounts(
    inproc: InProcessApp,
) -> None:
    created = await access_token(inproc, inproc.admin)
    await new_user(inproc, "victor")
    async with inproc.client(auth=(inproc.admin[0], created["token"])) as c:
        r = await c.post("/enzi/v0/accounts", json={"name": "wendy", "password": PASSWORD})
        assert r.status_code == 201
        r = await c.patch("/enzi/v0/accounts/victor", json={"password": "set-by-the-admin"})
        assert r.status_code == 200, r.text
        assert (await c.get("/api/v0/api_tokens")).status_code == 403  # its own: no
    async with inproc.client(auth=None) as c:
        assert (await c.get("/v2/", auth=("victor", "set-by-the-admin"))).status_code == 200


async def test_ones_own_password_changes_only_with_the_current_one(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "xavier")
    async with inproc.client(auth=user) as c:
        r = await c.patch("/enzi/v0/accounts/xavier", json={"password": "new-password-1"})
        assert r.status_code == 400, r.text
        r = await c.patch(
            "/enzi/v0/accounts/xavier",
            json={"password": "new-password-1", "oldPassword": "not-the-password"},
        )
        assert r.status_code == 403, r.text
        r = await c.post(
            "/enzi/v0/accounts/xavier/changePassword",
            json={"oldPassword": "not-the-password", "newPassword": "new-password-1"},
        )
        assert r.status_code == 403, r.text
        r = await c.post(
            "/enzi/v0/accounts/xavier/changePassword", json={"newPassword": "new-password-1"}
        )
        assert r.status_code == 400, r.text
    async with inproc.client(auth=None) as c:
        assert (await c.get("/v2/", auth=user)).status_code == 200  # nothing changed
    async with inproc.client(auth=user) as c:
        r = await c.post(
            "/enzi/v0/accounts/xavier/changePassword",
            json={"oldPassword": PASSWORD, "newPassword": "new-password-1"},
        )
        assert r.status_code == 200, r.text
    async with inproc.client(auth=("xavier", "new-password-1")) as c:
        r = await c.patch(
            "/enzi/v0/accounts/xavier",
            json={"password": "new-password-2", "oldPassword": "new-password-1"},
        )
        assert r.status_code == 200, r.text
    async with inproc.client(auth=None) as c:
        assert (await c.get("/v2/", auth=user)).status_code == 401
        assert (await c.get("/v2/", auth=("xavier", "new-password-2"))).status_code == 200
    # An administrator sets another user's password without it.
    async with inproc.client() as admin:
        r = await admin.patch("/enzi/v0/accounts/xavier", json={"password": "reset-by-admin"})
        assert r.status_code == 200
        # ... but their own only with theirs.
        r = await admin.patch("/enzi/v0/accounts/admin", json={"password": "admin-new-password"})
        assert r.status_code == 400


async def test_empty_basic_credentials_are_anonymous(inproc: InProcessApp) -> None:
    async with inproc.client() as admin:
        r = await admin.post(
            "/api/v0/repositories/admin",
            json={"name": "open", "visibility": "public"},
        )
        assert r.status_code in (200, 201), r.text
    async with inproc.client(auth=None, headers=EMPTY_BASIC) as c:
        r = await c.get("/v2/admin/open/tags/list")
        assert r.status_code == 200, r.text
        r = await c.get("/v2/admin/private/tags/list")
        assert r.status_code == 401 and "Bearer" in r.headers["WWW-Authenticate"]
        r = await c.get(
            "/auth/token",
            params={
                "service": inproc.settings.token_service,
                "scope": "repository:admin/open:pull",
            },
        )
        assert r.status_code == 200, r.text
        r = await c.get("/api/v0/repositories")
        assert r.status_code == 200, r.text
        assert [x["name"] for x in r.json()["repositories"]] == ["open"]
        r = await c.post("/api/v0/api_tokens", json={})
        assert r.status_code == 401  # anonymous, as without the header


async def test_email_addresses_are_for_admins_and_the_account_itself(
    inproc: InProcessApp,
) -> None:
    async with inproc.client() as admin:
        for name in ("yvonne", "zack"):
            r = await admin.post(
                "/enzi/v0/accounts",
                json={"name": name, "password": PASSWORD, "email": f"{name}@example.org"},
            )
            assert r.json()["email"] == f"{name}@example.org"
        await admin.post("/enzi/v0/accounts", json={"name": "crew", "isOrg": True})
        await admin.put("/enzi/v0/accounts/crew/members/yvonne", json={"isAdmin": True})
        await admin.put("/enzi/v0/accounts/crew/members/zack", json={})
        listed = (await admin.get("/enzi/v0/accounts", params={"limit": 100})).json()
        assert {a["name"]: a.get("email") for a in listed["accounts"]}["zack"] == "zack@example.org"
    async with inproc.client(auth=("yvonne", PASSWORD)) as c:
        assert (await c.get("/enzi/v0/accounts/yvonne")).json()["email"] == "yvonne@example.org"
        assert "email" not in (await c.get("/enzi/v0/accounts/zack")).json()
        listed = (await c.get("/enzi/v0/accounts", params={"limit": 100})).json()["accounts"]
        assert {a["name"] for a in listed if "email" in a} == {"yvonne"}
        members = (await c.get("/enzi/v0/accounts/crew/members")).json()["members"]
        assert {m["member"]["name"] for m in members if "email" in m["member"]} == {"yvonne"}
        r = await c.put("/enzi/v0/accounts/crew/members/zack", json={})
        assert "email" not in r.json()["member"]
        found = (await c.get("/api/v0/index/autocomplete", params={"query": "zack"})).json()
        assert "zack@example.org" not in str(found)


# ---- the web UI ------------------------------------------------------------------------------


async def test_a_ui_sign_in_with_an_access_token_cannot_manage_credentials(
    inproc: InProcessApp,
) -> None:
    user = await new_user(inproc, "amber")
    created = await access_token(inproc, user)
    async with inproc.client(auth=None, follow_redirects=False) as c:
        r = await ui_sign_in(c, "amber", created["token"])
        assert r.status_code == 303
        page = await c.get("/repositories")
        assert page.status_code == 200
        csrf = csrf_of(page.text)
        assert (await c.get("/tokens")).status_code == 403
        r = await c.post("/tokens", data={"csrf": csrf, "action": "create", "label": "x"})
        assert r.status_code == 403
        account = await c.get("/account")
        assert account.status_code == 200 and 'id="password-needs-password"' in account.text
        r = await c.post(
            "/account",
            data={
                "csrf": csrf,
                "current": PASSWORD,
                "password": "taken-over-password",
                "again": "taken-over-password",
            },
        )
        assert r.status_code == 403
        # The session ends with its token.
        async with inproc.client(auth=user) as owner:
            r = await owner.delete(f"/api/v0/api_tokens/{created['hashedToken']}")
            assert r.status_code == 200
        assert (await c.get("/account")).status_code == 303  # to the login page
    async with inproc.client(auth=None) as c:
        assert (await c.get("/v2/", auth=user)).status_code == 200
    async with inproc.client(auth=user) as owner:
        assert (await owner.get("/api/v0/api_tokens")).json() == []


async def test_the_account_page_changes_the_password(inproc: InProcessApp) -> None:
    await new_user(inproc, "bruno")
    async with (
        inproc.client(auth=None, follow_redirects=False) as c,
        inproc.client(auth=None, follow_redirects=False) as other,
    ):
        assert (await ui_sign_in(c, "bruno", PASSWORD)).status_code == 303
        assert (await ui_sign_in(other, "bruno", PASSWORD)).status_code == 303
        page = await c.get("/account")
        assert page.status_code == 200 and 'id="change-password"' in page.text
        csrf = csrf_of(page.text)
        form = {"current": PASSWORD, "password": "fresh-password", "again": "fresh-password"}
        assert (await c.post("/account", data=form)).status_code == 403  # no CSRF token
        r = await c.post("/account", data={**form, "csrf": csrf, "current": "wrong-password"})
        assert r.status_code == 403 and "current password is wrong" in r.text
        r = await c.post("/account", data={**form, "csrf": csrf, "again": "fresh-passw0rd"})
        assert r.status_code == 400
        short = {**form, "csrf": csrf, "password": "short", "again": "short"}
        r = await c.post("/account", data=short)
        assert r.status_code == 400
        async with inproc.client(auth=None) as api:
            assert (await api.get("/v2/", auth=("bruno", PASSWORD))).status_code == 200
        r = await c.post("/account", data={**form, "csrf": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/account?saved=1"
        assert (await c.get("/account?saved=1")).status_code == 200  # still signed in here
        assert (await other.get("/account")).status_code == 303  # signed out there
    async with inproc.client(auth=None) as api:
        assert (await api.get("/v2/", auth=("bruno", PASSWORD))).status_code == 401
        assert (await api.get("/v2/", auth=("bruno", "fresh-password"))).status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer"])
async def test_the_ui_ignores_authorization_headers(inproc: InProcessApp, scheme: str) -> None:
    """UI pages sign in by session only: a bearer token in the header is no session."""
    tok = await bearer_token(inproc, inproc.admin)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=inproc.app, client=("127.0.0.1", 1)),
        base_url=inproc.base_url,
        headers={"Authorization": f"{scheme} {tok}"},
    ) as c:
        assert (await c.get("/tokens")).status_code == 303
        assert (await c.get("/account")).status_code == 303
