"""``/enzi/v0/accounts`` as eNZi (UCP 3.1) has it: ``responses.Account`` with an organization's
``membersCount``/``teamsCount``, ``responses.Accounts`` with its page totals, eNZi's ``filter``
values, and an account looked up by name or by ID (a name never taken for an ID)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.auth.creds_helpers import new_user
from tests.auth.world import World
from tests.http.api.dtr_schema import assert_matches
from tests.inprocess import InProcessApp

BASE = "/enzi/v0/accounts"
# A user has no members or teams: Moorage sends the counts for organizations only.
USER_LEAVES_OUT = {"membersCount", "teamsCount"}


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def test_an_organization_has_enzis_counts_and_is_found_by_id(inproc: InProcessApp) -> None:
    await new_user(inproc, "cnt-a")
    await new_user(inproc, "cnt-b")
    async with inproc.client() as c:
        org = _ok(await c.post(BASE, json={"name": "cntorg", "isOrg": True}), 201)
        _ok(await c.put(f"{BASE}/cntorg/members/cnt-a"))
        _ok(await c.put(f"{BASE}/cntorg/members/cnt-b"))
        _ok(await c.post(f"{BASE}/cntorg/teams", json={"name": "devs"}), 201)
        got = _ok(await c.get(f"{BASE}/cntorg"))
        assert_matches(got, "enzi:responses.Account")
        assert (got["membersCount"], got["teamsCount"]) == (2, 1)
        by_id = _ok(await c.get(f"{BASE}/{org['id']}"))
        assert by_id["name"] == "cntorg" and by_id["membersCount"] == 2
        user = _ok(await c.get(f"{BASE}/cnt-a"))
        assert_matches(user, "enzi:responses.Account", leave_out=USER_LEAVES_OUT)
        r = await c.get(f"{BASE}/987654321")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_ACCOUNT"


async def test_a_name_made_of_digits_is_a_name_first(inproc: InProcessApp) -> None:
    await new_user(inproc, "digit-holder")
    async with inproc.client() as c:
        holder = _ok(await c.get(f"{BASE}/digit-holder"))
    await new_user(inproc, holder["id"])
    async with inproc.client() as c:
        got = _ok(await c.get(f"{BASE}/{holder['id']}"))
    assert got["name"] == holder["id"] and got["id"] != holder["id"]


async def test_the_accounts_page_has_enzis_totals_and_filters(inproc: InProcessApp) -> None:
    await new_user(inproc, "flt-admin", admin=True)
    await new_user(inproc, "flt-user")
    async with inproc.client() as c:
        _ok(await c.post(BASE, json={"name": "fltorg", "isOrg": True}), 201)
        _ok(await c.patch(f"{BASE}/flt-user", json={"isActive": False}))
        page = _ok(await c.get(BASE, params={"limit": 1000}))
        # Users have no counts (USER_LEAVES_OUT); the organizations are checked in full below.
        assert_matches(
            page,
            "enzi:responses.Accounts",
            leave_out={"accounts.membersCount", "accounts.teamsCount"},
        )
        users = [a for a in page["accounts"] if not a["isOrg"]]
        orgs = [a for a in page["accounts"] if a["isOrg"]]
        assert (page["usersCount"], page["orgsCount"]) == (len(users), len(orgs))
        assert page["resourceCount"] == len(page["accounts"])
        for org in orgs:
            assert_matches(org, "enzi:responses.Account")

        def names(filter_: str) -> set[str]:
            return {a["name"] for a in page_of(filter_)["accounts"]}

        pages: dict[str, Any] = {}
        for f in ("admins", "non-admins", "active-users", "inactive-users", "users", "orgs"):
            pages[f] = _ok(await c.get(BASE, params={"filter": f, "limit": 1000}))

        def page_of(filter_: str) -> Any:
            return pages[filter_]

        assert "flt-admin" in names("admins") and "flt-user" not in names("admins")
        assert "flt-user" in names("non-admins") and "flt-admin" not in names("non-admins")
        assert "flt-user" in names("inactive-users") and "flt-user" not in names("active-users")
        assert "fltorg" not in names("admins") | names("non-admins") | names("inactive-users")
        assert names("orgs") == {o["name"] for o in orgs}
        # The totals do not depend on the filter (eNZi: "not considering any filters").
        assert pages["admins"]["usersCount"] == page["usersCount"]
        r = await c.get(BASE, params={"filter": "everyone"})
        assert r.status_code == 400 and r.json()["errors"][0]["code"], r.text


async def test_only_signed_in_users_list_or_look_up_accounts(inproc: InProcessApp) -> None:
    await new_user(inproc, "lookup-target")
    async with inproc.client() as c:
        target = _ok(await c.get(f"{BASE}/lookup-target"))
    async with inproc.client(auth=None) as c:
        assert (await c.get(BASE)).status_code == 401
        assert (await c.get(f"{BASE}/{target['id']}")).status_code == 401
    other = await new_user(inproc, "lookup-other")
    async with inproc.client(auth=other) as c:
        seen = _ok(await c.get(f"{BASE}/{target['id']}"))
    assert seen["name"] == "lookup-target" and "email" not in seen  # no e-mail for others


def test_one_member_of_an_org_and_of_a_team(api: httpx.Client, world: World) -> None:
    """``GET …/members/{member}`` and ``GET …/teams/{team}/members/{member}`` answer the entry
    of the member list (the org's owner flag as ``isAdmin``); a non-member is 404
    ``NO_SUCH_MEMBER``; anonymous callers 401."""
    org, frank, dave, bob = (
        world.org,
        world.name("frank"),
        world.name("dave"),
        world.name("bob"),
    )
    r = api.get(f"/enzi/v0/accounts/{org}/members/{frank}", auth=world.creds("carol"))
    assert r.status_code == 200, r.text
    assert r.json()["member"]["name"] == frank and r.json()["isAdmin"] is True
    r = api.get(f"/enzi/v0/accounts/{org}/teams/rw/members/{dave}", auth=world.creds("carol"))
    assert r.status_code == 200 and r.json()["member"]["name"] == dave, r.text
    for path in (f"members/{bob}", f"teams/rw/members/{world.name('carol')}"):
        r = api.get(f"/enzi/v0/accounts/{org}/{path}", auth=world.admin)
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_MEMBER", r.text
        assert api.get(f"/enzi/v0/accounts/{org}/{path}").status_code == 401


def test_a_members_teams(api: httpx.Client, world: World) -> None:
    """``GET …/members/{member}/teams``: the org's teams the member is in, for the org's members
    and system administrators; outsiders 403, anonymous 401, a non-member 404."""
    org, dave = world.org, world.name("dave")
    path = f"/enzi/v0/accounts/{org}/members/{dave}/teams"
    for who in ("admin", "carol", "dave"):
        r = api.get(path, auth=world.creds(who))
        assert r.status_code == 200, (who, r.text)
        assert [t["team"]["name"] for t in r.json()["memberTeams"]] == ["rw"]
        assert r.json()["nextPageStart"] == ""
    assert api.get(path, auth=world.creds("bob")).status_code == 403
    assert api.get(path).status_code == 401
    r = api.get(f"/enzi/v0/accounts/{org}/members/{world.name('bob')}/teams", auth=world.admin)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_MEMBER"


def test_a_team_is_renamed_and_described_by_the_orgs_owners(
    api: httpx.Client, world: World
) -> None:
    """``PATCH …/teams/{team}`` (eNZi's ``forms.UpdateTeam``): the org's owners and admins;
    members 403, anonymous 401; a taken or bad name and unknown fields are refused, nothing
    changed."""
    org = world.org
    r = api.post(f"/enzi/v0/accounts/{org}/teams", json={"name": "tmp"}, auth=world.admin)
    assert r.status_code == 201, r.text
    path = f"/enzi/v0/accounts/{org}/teams"
    assert api.patch(f"{path}/tmp", json={"description": "x"}).status_code == 401
    r = api.patch(f"{path}/tmp", json={"description": "x"}, auth=world.creds("carol"))
    assert r.status_code == 403, r.text
    r = api.patch(f"{path}/tmp", json={"description": "the builders"}, auth=world.creds("frank"))
    assert r.status_code == 200 and r.json()["description"] == "the builders", r.text
    for bad in ({"name": "rw"}, {"name": "no spaces"}, {"colour": "blue"}):
        r = api.patch(f"{path}/tmp", json=bad, auth=world.admin)
        assert r.status_code in (400, 409), (bad, r.text)
        assert r.json()["errors"][0]["code"]
    r = api.patch(f"{path}/tmp", json={"name": "builders"}, auth=world.admin)
    assert r.status_code == 200 and r.json()["name"] == "builders", r.text
    assert api.get(f"{path}/tmp", auth=world.admin).status_code == 404
    r = api.get(f"{path}/builders", auth=world.admin)
    assert r.status_code == 200 and r.json()["description"] == "the builders"
    assert api.delete(f"{path}/builders", auth=world.admin).status_code == 204


def _error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    assert [e["code"] for e in r.json()["errors"]] == [code], r.text


SYNC = {
    "enableSync": True,
    "selectGroupMembers": False,
    "groupDN": "",
    "groupMemberAttr": "",
    "searchBaseDN": "ou=people,dc=example,dc=org",
    "searchScopeSubtree": True,
    "searchFilter": "(department=dev)",
}


async def test_a_teams_member_sync_config_is_enzis(inproc: InProcessApp) -> None:
    """``GET|PUT …/teams/{team}/memberSyncConfig``: eNZi's ``responses.MemberSyncOpts`` both
    ways, the PUT kept; admins, the org's admins and the team's admins only."""
    owner = await new_user(inproc, "sync-owner")
    member = await new_user(inproc, "sync-member")
    async with inproc.client() as c:
        _ok(await c.post(BASE, json={"name": "syncorg", "isOrg": True}), 201)
        _ok(await c.put(f"{BASE}/syncorg/members/sync-owner", json={"isAdmin": True}))
        team = _ok(await c.post(f"{BASE}/syncorg/teams", json={"name": "devs"}), 201)
        _ok(await c.put(f"{BASE}/syncorg/teams/devs/members/sync-member", json={}))
    url = f"{BASE}/syncorg/teams/devs/memberSyncConfig"
    async with inproc.client(auth=owner) as c:
        initial = _ok(await c.get(url))
        assert_matches(initial, "enzi:responses.MemberSyncOpts")
        assert initial["enableSync"] is False
        put = _ok(await c.put(url, json=SYNC))
        assert_matches(put, "enzi:responses.MemberSyncOpts")
        # groupMemberAttr is ignored for a search (eNZi): the stored one stays
        kept = {**SYNC, "groupMemberAttr": initial["groupMemberAttr"]}
        assert put == kept
        # by the team's ID too; what was set is what is read
        assert _ok(await c.get(f"{BASE}/syncorg/teams/{team['id']}/memberSyncConfig")) == kept
        _error(await c.get(f"{BASE}/syncorg/teams/nope/memberSyncConfig"), 404, "NO_SUCH_TEAM")
        _error(await c.put(f"{BASE}/syncorg/teams/nope/memberSyncConfig", json=SYNC), 404,
               "NO_SUCH_TEAM")  # fmt: skip
        _error(await c.put(url, json={"enableSync": [1]}), 400, "INVALID_INPUT")
        _error(await c.put(url, json={**SYNC, "searchBaseDN": ""}), 400, "INVALID_INPUT")
    async with inproc.client(auth=member) as c:
        _error(await c.get(url), 403, "NOT_AUTHORIZED")
        _error(await c.put(url, json={**SYNC, "enableSync": False}), 403, "NOT_AUTHORIZED")
    async with inproc.client(auth=None) as c:
        _error(await c.get(url), 401, "NOT_AUTHENTICATED")
        _error(await c.put(url, json=SYNC), 401, "NOT_AUTHENTICATED")
    async with inproc.client() as c:
        assert _ok(await c.get(url)) == kept  # the refused PUTs changed nothing


async def test_change_password_is_enzis(inproc: InProcessApp) -> None:
    """``POST …/{user}/changePassword`` (``forms.ChangePassword``): eNZi's
    ``responses.Account``; one's own needs the current password, an administrator's change of
    another's does not; nobody else may; the new password works and the old one not."""
    user = await new_user(inproc, "pw-own")
    other = await new_user(inproc, "pw-other")
    path = f"{BASE}/pw-own/changePassword"
    async with inproc.client(auth=user) as c:
        got = _ok(
            await c.post(path, json={"oldPassword": user[1], "newPassword": "fresh-pass-123"})
        )
        assert_matches(got, "enzi:responses.Account", leave_out=USER_LEAVES_OUT)
        assert got["name"] == "pw-own" and got["isOrg"] is False
    async with inproc.client(auth=("pw-own", "fresh-pass-123")) as c:
        assert (await c.get(f"{BASE}/pw-own")).status_code == 200
        r = await c.post(path, json={"oldPassword": "not-it", "newPassword": "other-pass-456"})
        assert r.status_code in {400, 401, 403} and r.json()["errors"][0]["code"], r.text
        _error(await c.post(path, json={"oldPassword": "fresh-pass-123"}), 400, "INVALID_JSON")
    async with inproc.client(auth=user) as c:  # the old password is gone
        assert (await c.get(f"{BASE}/pw-own")).status_code == 401
    async with inproc.client(auth=other) as c:
        r = await c.post(path, json={"oldPassword": "x", "newPassword": "taken-over-789"})
        _error(r, 403, "NOT_AUTHORIZED")
    async with inproc.client(auth=None) as c:
        _error(await c.post(path, json={"newPassword": "anon-pass-789"}), 401, "NOT_AUTHENTICATED")
    async with inproc.client() as admin:
        _ok(await admin.post(path, json={"newPassword": "reset-by-admin-1"}))
        _error(
            await admin.post(f"{BASE}/nobody-here/changePassword", json={"newPassword": "x" * 12}),
            404,
            "NO_SUCH_ACCOUNT",
        )
    async with inproc.client(auth=("pw-own", "reset-by-admin-1")) as c:
        assert (await c.get(f"{BASE}/pw-own")).status_code == 200
