"""The web UI's account pages: sessions end with a new password or a deactivation (through the
API or the UI); users edited and deleted by administrators; organizations managed by their
owners (members, teams, namespace-wide team access) with the API's checks and CSRF."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.auth.world import PASSWORD, World
from tests.conftest import ADMIN
from tests.http.ui.conftest import csrf_of, sign_in
from tests.inprocess import ThreadedApp


@pytest.fixture(scope="module")
def registry(app_registry: ThreadedApp) -> ThreadedApp:
    """No server is under test here: the in-process app stands in for one."""
    return app_registry


def _new_user(client: httpx.Client, prefix: str) -> str:
    name = f"{prefix}{uuid.uuid4().hex[:6]}"
    r = client.post("/enzi/v0/accounts", json={"name": name, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return name


def _members(client: httpx.Client, org: str) -> list[str]:
    found = client.get(f"/enzi/v0/accounts/{org}/members").json()["members"]
    return [x["member"]["name"] for x in found]


def _signed_out(c: httpx.Client) -> bool:
    r = c.get("/tokens")
    return r.status_code == 303 and r.headers["location"].startswith("/login")


def test_a_new_password_through_the_api_ends_ui_sessions(
    registry: ThreadedApp, client: httpx.Client
) -> None:
    user = _new_user(client, "pw")
    with sign_in(registry, user, PASSWORD) as c, sign_in(registry, user, PASSWORD) as other:
        assert c.get("/tokens").status_code == 200
        assert other.get("/tokens").status_code == 200
        r = client.patch(
            f"/enzi/v0/accounts/{user}", json={"fullName": "Just A Name"}, auth=(user, PASSWORD)
        )
        assert r.status_code == 200, r.text
        assert c.get("/tokens").status_code == 200  # other changes keep the sessions
        r = client.patch(
            f"/enzi/v0/accounts/{user}",
            json={"password": "a-brand-new-password", "oldPassword": PASSWORD},
            auth=(user, PASSWORD),
        )
        assert r.status_code == 200, r.text
        assert _signed_out(c)
        assert _signed_out(other)
    with sign_in(registry, user, "a-brand-new-password") as c:
        assert c.get("/tokens").status_code == 200


def test_deactivation_through_the_api_ends_ui_sessions(
    registry: ThreadedApp, client: httpx.Client
) -> None:
    user = _new_user(client, "off")
    with sign_in(registry, user, PASSWORD) as c:
        assert c.get("/tokens").status_code == 200
        assert client.patch(f"/enzi/v0/accounts/{user}", json={"isActive": False}).is_success
        assert _signed_out(c)
        # Active again: the old session stays ended.
        assert client.patch(f"/enzi/v0/accounts/{user}", json={"isActive": True}).is_success
        assert _signed_out(c)


def test_administrators_edit_deactivate_and_delete_users(
    registry: ThreadedApp, world: World, client: httpx.Client
) -> None:
    user = _new_user(client, "edited")
    page = f"/admin/users/{user}"
    with sign_in(registry, *ADMIN) as admin, sign_in(registry, user, PASSWORD) as victim:
        listing = admin.get("/admin/users?start=" + user)
        assert f'href="{page}"' in listing.text
        form = admin.get(page)
        assert form.status_code == 200
        token = csrf_of(form)
        # Without the session's CSRF token nothing changes.
        save = {"action": "save", "full_name": "Ed Ited", "email": "ed@example.com"}
        r = admin.post(page, data=save)
        assert r.status_code == 403
        assert client.get(f"/enzi/v0/accounts/{user}").json()["isActive"] is True
        # Details kept, still active: the user's session goes on.
        r = admin.post(page, data={**save, "csrf": token, "is_active": "on"})
        assert r.status_code == 303, r.text
        assert r.headers["location"] == f"{page}?saved=1"
        found = client.get(f"/enzi/v0/accounts/{user}").json()
        assert (found["fullName"], found["email"], found["isActive"]) == (
            "Ed Ited",
            "ed@example.com",
            True,
        )
        assert victim.get("/tokens").status_code == 200
        # Deactivated in the UI: signed out, cannot sign in again, API access gone.
        r = admin.post(page, data={**save, "csrf": token})
        assert r.status_code == 303
        assert client.get(f"/enzi/v0/accounts/{user}").json()["isActive"] is False
        assert _signed_out(victim)
        with registry.client(auth=None, timeout=30.0) as anon:
            assert anon.get("/api/v0/repositories", auth=(user, PASSWORD)).status_code == 401
        # Reactivated with a new password: only the new password signs in.
        r = admin.post(
            page, data={**save, "csrf": token, "is_active": "on", "password": "fresh-password-1"}
        )
        assert r.status_code == 303
        with sign_in(registry, user, "fresh-password-1") as again:
            assert again.get("/tokens").status_code == 200
            r = admin.post(
                page, data={**save, "csrf": token, "is_active": "on", "password": "short"}
            )
            assert r.status_code == 400
            assert "at least" in r.text
            assert again.get("/tokens").status_code == 200  # a refused change ends nothing
            r = admin.post(
                page,
                data={**save, "csrf": token, "is_active": "on", "password": "fresher-password"},
            )
            assert r.status_code == 303
            assert _signed_out(again)
        # Administrators keep themselves: no self-demotion, self-deactivation or self-deletion.
        me = f"/admin/users/{ADMIN[0]}"
        r = admin.post(me, data={"csrf": token, "action": "save", "is_active": "on"})
        assert r.status_code == 400
        r = admin.post(me, data={"csrf": token, "action": "delete", "confirm": ADMIN[0]})
        assert r.status_code == 400
        assert client.get(f"/enzi/v0/accounts/{ADMIN[0]}").json()["isAdmin"] is True
        # Deletion needs the name typed.
        r = admin.post(page, data={"csrf": token, "action": "delete", "confirm": "nope"})
        assert r.status_code == 400
        r = admin.post(page, data={"csrf": token, "action": "delete", "confirm": user})
        assert r.status_code == 303
        assert r.headers["location"] == "/admin/users"
        assert client.get(f"/enzi/v0/accounts/{user}").status_code == 404
        assert admin.get(page).status_code == 404
    # Only system administrators see these pages at all.
    bob = world.name("bob")
    with sign_in(registry, bob, PASSWORD) as c:
        r = c.get(f"/admin/users/{bob}")
        assert r.status_code == 403
        r = c.post(f"/admin/users/{bob}", data={"csrf": csrf_of(c.get("/tokens")), **save})
        assert r.status_code == 403
        assert client.get(f"/enzi/v0/accounts/{bob}").json()["isActive"] is True


def test_organization_owners_manage_members_teams_and_namespace_access(
    registry: ThreadedApp, world: World, client: httpx.Client
) -> None:
    org = world.name("uiorg")
    owner, member = _new_user(client, "owner"), _new_user(client, "member")
    assert client.post("/enzi/v0/accounts", json={"name": org, "isOrg": True}).status_code == 201
    r = client.put(f"/enzi/v0/accounts/{org}/members/{owner}", json={"isAdmin": True})
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v0/repositories/{org}", json={"name": "secret", "visibility": "private"})
    assert r.status_code == 201, r.text
    repo = f"/repositories/{org}/secret"
    page = f"/admin/orgs/{org}"
    with sign_in(registry, owner, PASSWORD) as c, sign_in(registry, member, PASSWORD) as m:
        # Not an owner: neither the page nor its forms.
        assert m.get(page).status_code == 403
        r = m.post(
            page,
            data={"csrf": csrf_of(m.get("/tokens")), "action": "add_member", "user": member},
        )
        assert r.status_code == 403
        assert _members(client, org) == [owner]
        # Owners find their organizations under "Organizations"; others see none there.
        owned = c.get("/admin/orgs")
        assert owned.status_code == 200
        assert f'href="{page}"' in owned.text
        assert 'id="new-org"' not in owned.text  # creating organizations: administrators
        assert f'href="{page}"' not in m.get("/admin/orgs").text
        r = c.post("/admin/orgs", data={"csrf": csrf_of(owned), "name": world.name("mine")})
        assert r.status_code == 403
        form = c.get(page)
        assert form.status_code == 200
        token = csrf_of(form)
        assert 'id="delete-org"' not in form.text  # deleting organizations: administrators
        assert c.post(page, data={"action": "create_team", "team": "devs"}).status_code == 403
        for data in (
            {"action": "create_team", "team": "devs"},
            {"action": "add_team_member", "team": "devs", "user": member},
        ):
            r = c.post(page, data={"csrf": token, **data})
            assert r.status_code == 303, r.text
        assert m.get(repo).status_code == 404
        r = c.post(
            page,
            data={"csrf": token, "action": "grant_namespace", "team": "devs", "level": "read-only"},
        )
        assert r.status_code == 303, r.text
        listed = client.get(f"/api/v0/repositoryNamespaces/{org}/teamAccess").json()
        assert [(g["team"]["name"], g["accessLevel"]) for g in listed["teamAccessList"]] == [
            ("devs", "read-only")
        ]
        assert 'id="namespace-access"' in c.get(page).text
        assert m.get(repo).status_code == 200  # the namespace grant reaches every repository
        r = c.post(
            page,
            data={"csrf": token, "action": "grant_namespace", "team": "devs", "level": "owner-ish"},
        )
        assert r.status_code == 400
        r = c.post(page, data={"csrf": token, "action": "revoke_namespace", "team": "devs"})
        assert r.status_code == 303
        assert m.get(repo).status_code == 404
        assert (
            client.get(f"/api/v0/repositoryNamespaces/{org}/teamAccess").json()["teamAccessList"]
            == []
        )
        r = c.post(
            page,
            data={"csrf": token, "action": "remove_team_member", "team": "devs", "user": member},
        )
        assert r.status_code == 303
        assert client.get(f"/enzi/v0/accounts/{org}/teams/devs/members").json()["members"] == []
        r = c.post(page, data={"csrf": token, "action": "delete_team", "team": "devs"})
        assert r.status_code == 303
        assert client.get(f"/enzi/v0/accounts/{org}/teams/devs").status_code == 404
        r = c.post(page, data={"csrf": token, "action": "delete_team", "team": "devs"})
        assert r.status_code == 404  # already gone: said so on the page
        r = c.post(page, data={"csrf": token, "action": "remove_member", "user": member})
        assert r.status_code == 303
        assert _members(client, org) == [owner]
        # An owner may not delete the organization (DELETE /enzi/v0/accounts: administrators).
        r = c.post(page, data={"csrf": token, "action": "delete_org", "confirm": org})
        assert r.status_code == 403
    with sign_in(registry, *ADMIN) as admin:
        form = admin.get(page)
        assert 'id="delete-org"' in form.text
        token = csrf_of(form)
        r = admin.post(page, data={"csrf": token, "action": "delete_org", "confirm": "wrong"})
        assert r.status_code == 400
        r = admin.post(page, data={"csrf": token, "action": "delete_org", "confirm": org})
        assert r.status_code == 303
        assert r.headers["location"] == "/admin/orgs"
        assert client.get(f"/enzi/v0/accounts/{org}").status_code == 404
