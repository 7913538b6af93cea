"""eNZi's organizations, teams and memberships (``/enzi/v0/accounts/{org}/…``) against UCP 3.1's
definitions: ``responses.Member(s)`` with ``isAdmin``, ``responses.Team(s)`` with
``membersCount``, the page totals, ``start``/``limit``/``filter``, every ``{…NameOrID}`` taken
as a name or an id, and who may do what (anonymous, an outsider, a member, a team admin, an org
admin, a system administrator)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.auth.creds_helpers import new_user
from tests.http.api.dtr_schema import assert_matches
from tests.inprocess import InProcessApp

BASE = "/enzi/v0/accounts"


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json() if r.content else None


def _refused(r: httpx.Response, status: int = 403) -> None:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    code = {403: "NOT_AUTHORIZED", 401: "NOT_AUTHENTICATED"}[status]
    assert r.json()["errors"][0]["code"] == code, r.text


async def _org(inproc: InProcessApp) -> dict[str, Any]:
    """Org ``acme``: owner ``olive``, members ``m1``..``m3`` (``m1`` in team ``devs``, which
    has ``lead`` as its admin), team ``ops`` empty; ``outsider`` in nothing."""
    users = {}
    for name in ("olive", "m1", "m2", "m3", "lead", "outsider"):
        users[name] = await new_user(inproc, name)
    async with inproc.client() as c:
        org = _ok(await c.post(BASE, json={"name": "acme", "isOrg": True}), 201)
        _ok(await c.put(f"{BASE}/acme/members/olive", json={"isAdmin": True}))
        for m in ("m1", "m2", "m3"):
            _ok(await c.put(f"{BASE}/acme/members/{m}", json={}))
        devs = _ok(await c.post(f"{BASE}/acme/teams", json={"name": "devs"}), 201)
        _ok(await c.post(f"{BASE}/acme/teams", json={"name": "ops", "description": "d"}), 201)
        _ok(await c.put(f"{BASE}/acme/teams/devs/members/m1", json={}))
        _ok(await c.put(f"{BASE}/acme/teams/devs/members/lead", json={"isAdmin": True}))
    return {"org": org, "devs": devs, "users": users}


async def test_member_and_team_objects_are_enzis(inproc: InProcessApp) -> None:
    await _org(inproc)
    async with inproc.client() as c:
        members = _ok(await c.get(f"{BASE}/acme/members", params={"limit": 100}))
        assert_matches(
            members,
            "enzi:responses.Members",
            leave_out={"members.member.membersCount", "members.member.teamsCount"},
        )
        by_name = {m["member"]["name"]: m["isAdmin"] for m in members["members"]}
        assert by_name == {"olive": True, "m1": False, "m2": False, "m3": False, "lead": False}
        assert members["resourceCount"] == 5 and members["nextPageStart"] == ""
        ids = [int(m["member"]["id"]) for m in members["members"]]
        assert ids == sorted(ids)  # eNZi: by user ID

        one = _ok(await c.get(f"{BASE}/acme/members/olive"))
        assert_matches(
            one, "enzi:responses.Member", leave_out={"member.membersCount", "member.teamsCount"}
        )
        assert one["isAdmin"] is True

        teams = _ok(await c.get(f"{BASE}/acme/teams"))
        assert_matches(teams, "enzi:responses.Teams")
        assert [(t["name"], t["membersCount"]) for t in teams["teams"]] == [("devs", 2), ("ops", 0)]
        assert teams["resourceCount"] == 2
        team = _ok(await c.get(f"{BASE}/acme/teams/devs"))
        assert_matches(team, "enzi:responses.Team")

        tmembers = _ok(await c.get(f"{BASE}/acme/teams/devs/members"))
        assert_matches(
            tmembers,
            "enzi:responses.Members",
            leave_out={"members.member.membersCount", "members.member.teamsCount"},
        )
        assert {m["member"]["name"]: m["isAdmin"] for m in tmembers["members"]} == {
            "m1": False,
            "lead": True,
        }
        lead = _ok(await c.get(f"{BASE}/acme/teams/devs/members/lead"))
        assert_matches(
            lead, "enzi:responses.Member", leave_out={"member.membersCount", "member.teamsCount"}
        )
        assert lead["isAdmin"] is True

        mteams = _ok(await c.get(f"{BASE}/acme/members/lead/teams"))
        assert_matches(mteams, "enzi:responses.MemberTeams")
        assert [(t["team"]["name"], t["isAdmin"]) for t in mteams["memberTeams"]] == [
            ("devs", True)
        ]

        orgs = _ok(await c.get(f"{BASE}/olive/organizations"))
        assert_matches(orgs, "enzi:responses.MemberOrgs")
        assert [(o["org"]["name"], o["isAdmin"]) for o in orgs["memberOrgs"]] == [("acme", True)]


async def test_every_path_parameter_takes_a_name_or_an_id(inproc: InProcessApp) -> None:
    world = await _org(inproc)
    org_id, team_id = world["org"]["id"], world["devs"]["id"]
    async with inproc.client() as c:
        m1 = _ok(await c.get(f"{BASE}/m1"))["id"]
        assert _ok(await c.get(f"{BASE}/{org_id}/members/{m1}"))["member"]["name"] == "m1"
        assert _ok(await c.get(f"{BASE}/{org_id}/teams/{team_id}"))["name"] == "devs"
        got = _ok(await c.get(f"{BASE}/{org_id}/teams/{team_id}/members/{m1}"))
        assert got["member"]["name"] == "m1"
        assert _ok(await c.get(f"{BASE}/{org_id}/members/{m1}/teams"))["memberTeams"]
        assert _ok(await c.get(f"{BASE}/{m1}/organizations"))["memberOrgs"]
        _ok(await c.put(f"{BASE}/{org_id}/teams/{team_id}/members/{m1}", json={"isAdmin": True}))
        got = _ok(await c.get(f"{BASE}/acme/teams/devs/members/m1"))
        assert got["isAdmin"] is True
        _ok(await c.patch(f"{BASE}/{org_id}/teams/{team_id}", json={"description": "by id"}))
        _ok(await c.delete(f"{BASE}/{org_id}/teams/{team_id}/members/{m1}"), 204)
        _ok(await c.delete(f"{BASE}/{org_id}/members/{m1}"), 204)
        r = await c.get(f"{BASE}/{org_id}/members/{m1}")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_MEMBER"
        # A team of another organization is not found by its id here.
        _ok(await c.post(BASE, json={"name": "other", "isOrg": True}), 201)
        r = await c.get(f"{BASE}/other/teams/{team_id}")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_TEAM"
        # A user is not an organization, nor an organization a member.
        r = await c.get(f"{BASE}/m2/members")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_ACCOUNT"
        r = await c.put(f"{BASE}/acme/members/other", json={})
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_ACCOUNT"


async def test_pages_filters_and_totals(inproc: InProcessApp) -> None:
    await _org(inproc)
    async with inproc.client() as c:
        first = _ok(await c.get(f"{BASE}/acme/members", params={"limit": 2}))
        assert len(first["members"]) == 2 and first["resourceCount"] == 5
        seen = [m["member"]["name"] for m in first["members"]]
        start = first["nextPageStart"]
        while start:
            page = _ok(await c.get(f"{BASE}/acme/members", params={"limit": 2, "start": start}))
            seen += [m["member"]["name"] for m in page["members"]]
            start = page["nextPageStart"]
        assert sorted(seen) == ["lead", "m1", "m2", "m3", "olive"] and len(seen) == 5
        admins = _ok(await c.get(f"{BASE}/acme/members", params={"filter": "admins"}))
        assert [m["member"]["name"] for m in admins["members"]] == ["olive"]
        assert admins["resourceCount"] == 5  # eNZi: not considering the filter
        plain = _ok(await c.get(f"{BASE}/acme/members", params={"filter": "non-admins"}))
        assert "olive" not in {m["member"]["name"] for m in plain["members"]}
        team_admins = _ok(
            await c.get(f"{BASE}/acme/teams/devs/members", params={"filter": "admins"})
        )
        assert [m["member"]["name"] for m in team_admins["members"]] == ["lead"]
        for bad in ({"filter": "owners"}, {"start": "abc"}, {"limit": 0}):
            r = await c.get(f"{BASE}/acme/members", params=bad)
            assert r.status_code == 400, (bad, r.text)

        teams = _ok(await c.get(f"{BASE}/acme/teams", params={"limit": 1}))
        assert [t["name"] for t in teams["teams"]] == ["devs"] and teams["nextPageStart"] == "ops"
        rest = _ok(await c.get(f"{BASE}/acme/teams", params={"start": "ops"}))
        assert [t["name"] for t in rest["teams"]] == ["ops"] and rest["nextPageStart"] == ""

        # The accounts list: contains, order, start/limit, and its totals.
        found = _ok(await c.get(BASE, params={"contains": "M", "limit": 100}))
        assert {a["name"] for a in found["accounts"]} >= {"m1", "m2", "m3", "acme"}
        assert "olive" not in {a["name"] for a in found["accounts"]}
        desc = _ok(await c.get(BASE, params={"order": "-name", "limit": 2}))
        names = [a["name"] for a in desc["accounts"]]
        assert names == sorted(names, reverse=True)
        nxt = _ok(
            await c.get(BASE, params={"order": "-name", "limit": 2, "start": desc["nextPageStart"]})
        )
        assert nxt["accounts"][0]["name"] == desc["nextPageStart"] < names[-1]
        r = await c.get(BASE, params={"order": "email"})
        assert r.status_code == 400
        # By full name (ties by name), page after page: every account once, in order.
        everyone = _ok(await c.get(BASE, params={"limit": 100}))["accounts"]
        seen_names: list[str] = []
        start = ""
        while True:
            params = {"order": "+fullName", "limit": 3, "start": start}
            page = _ok(await c.get(BASE, params=params))
            seen_names += [a["name"] for a in page["accounts"]]
            start = page["nextPageStart"]
            if not start:
                break
        expected = sorted(everyone, key=lambda a: (a["fullName"], a["name"]))
        assert seen_names == [a["name"] for a in expected]


async def test_who_may_read_an_organization(inproc: InProcessApp) -> None:
    world = await _org(inproc)
    users = world["users"]
    reads = [
        f"{BASE}/acme/members",
        f"{BASE}/acme/teams",
        f"{BASE}/acme/teams/devs",
        f"{BASE}/acme/teams/devs/members",
        f"{BASE}/acme/teams/devs/members/m1",
        f"{BASE}/acme/members/m1/teams",
        f"{BASE}/acme/members/m2",
    ]
    async with inproc.client(auth=users["m2"]) as c:  # a member: reads everything
        for url in reads:
            _ok(await c.get(url))
    async with inproc.client(auth=users["outsider"]) as c:
        for url in reads:
            _refused(await c.get(url))
        # ... except their own membership (eNZi: "or the target user"), which is a 404.
        r = await c.get(f"{BASE}/acme/members/outsider")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_MEMBER"
        _refused(await c.get(f"{BASE}/m1/organizations"))
    async with inproc.client(auth=None) as c:
        for url in reads:
            _refused(await c.get(url), 401)


async def test_who_may_change_an_organization(inproc: InProcessApp) -> None:
    world = await _org(inproc)
    users = world["users"]
    async with inproc.client(auth=users["m2"]) as c:  # a plain member
        _refused(await c.put(f"{BASE}/acme/members/outsider", json={}))
        _refused(await c.delete(f"{BASE}/acme/members/m3"))
        _refused(await c.post(f"{BASE}/acme/teams", json={"name": "x"}))
        _refused(await c.delete(f"{BASE}/acme/teams/ops"))
        _refused(await c.patch(f"{BASE}/acme/teams/devs", json={"description": "x"}))
        _refused(await c.put(f"{BASE}/acme/teams/devs/members/m2", json={}))
        _refused(await c.patch(f"{BASE}/acme", json={"fullName": "Pwned"}))
    async with inproc.client(auth=users["lead"]) as c:  # the team's admin
        _ok(await c.patch(f"{BASE}/acme/teams/devs", json={"description": "lead's"}))
        _ok(await c.put(f"{BASE}/acme/teams/devs/members/m2", json={}))
        _ok(await c.delete(f"{BASE}/acme/teams/devs/members/m2"), 204)
        _refused(await c.patch(f"{BASE}/acme/teams/ops", json={"description": "x"}))
        _refused(await c.delete(f"{BASE}/acme/teams/devs"))
        _refused(await c.put(f"{BASE}/acme/members/outsider", json={}))
    async with inproc.client(auth=users["olive"]) as c:  # an org admin
        _ok(await c.put(f"{BASE}/acme/members/outsider", json={"isAdmin": True}))
        # isAdmin omitted: unchanged.
        assert _ok(await c.put(f"{BASE}/acme/members/outsider"))["isAdmin"] is True
        assert (
            _ok(await c.put(f"{BASE}/acme/members/outsider", json={"isAdmin": False}))["isAdmin"]
            is False
        )
        _ok(await c.delete(f"{BASE}/acme/members/outsider"), 204)
        renamed = _ok(await c.patch(f"{BASE}/acme", json={"fullName": "Acme Inc."}))
        assert_matches(renamed, "enzi:responses.Account")
        assert renamed["fullName"] == "Acme Inc."
        r = await c.patch(f"{BASE}/acme", json={"isAdmin": True})
        assert r.status_code == 400
        _ok(await c.delete(f"{BASE}/acme/teams/ops"), 204)
        _refused(await c.delete(f"{BASE}/m1"))  # deleting accounts: system administrators


async def test_group_link_config_is_stored_as_enzi_has_it(inproc: InProcessApp) -> None:
    world = await _org(inproc)
    users = world["users"]
    url = f"{BASE}/acme/teams/devs/groupLinkConfig"
    async with inproc.client() as c:
        initial = _ok(await c.get(url))
        assert_matches(initial, "enzi:responses.GroupLinkOpts")
        assert initial == {"enableLink": False, "groupName": ""}
        body = {"enableLink": True, "groupName": "saml-devs"}
        assert _ok(await c.put(url, json=body)) == body
        assert _ok(await c.get(url)) == body
        assert (await c.put(url, json={"enableLink": True, "groupName": ""})).status_code == 400
        assert (await c.put(url, json={"groupName": "x"})).status_code == 400  # enableLink required
        r = await c.get(f"{BASE}/acme/teams/nope/groupLinkConfig")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_TEAM"
    async with inproc.client(auth=users["lead"]) as c:
        assert _ok(await c.get(url))["groupName"] == "saml-devs"
    for who in ("m1", "outsider"):
        async with inproc.client(auth=users[who]) as c:
            _refused(await c.get(url))
            _refused(await c.put(url, json={"enableLink": False, "groupName": ""}))
            _refused(await c.get(f"{BASE}/acme/teams/nope/groupLinkConfig"))
    async with inproc.client() as c:
        assert _ok(await c.get(url))["groupName"] == "saml-devs"


async def test_admin_member_sync_config_api(inproc: InProcessApp) -> None:
    world = await _org(inproc)
    users = world["users"]
    url = f"{BASE}/acme/adminMemberSyncConfig"
    cfg = {
        "enableSync": True,
        "selectGroupMembers": True,
        "groupDN": "cn=admins,ou=groups,dc=example,dc=org",
        "groupMemberAttr": "member",
        "searchBaseDN": "",
        "searchScopeSubtree": False,
        "searchFilter": "",
    }
    async with inproc.client() as c:
        initial = _ok(await c.get(url))
        assert_matches(initial, "enzi:responses.MemberSyncOpts")
        assert initial["enableSync"] is False
        assert (
            _ok(await c.put(f"{BASE}/{world['org']['id']}/adminMemberSyncConfig", json=cfg)) == cfg
        )
        bad = await c.put(url, json={"enableSync": True, "groupDN": ""})
        assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "INVALID_INPUT"
        assert (await c.get(f"{BASE}/m1/adminMemberSyncConfig")).status_code == 404
    async with inproc.client(auth=users["olive"]) as c:
        assert _ok(await c.get(url)) == cfg
    for who in ("m1", "lead", "outsider"):
        async with inproc.client(auth=users[who]) as c:
            _refused(await c.get(url))
            _refused(await c.put(url, json={"enableSync": False}))
    async with inproc.client(auth=None) as c:
        _refused(await c.get(url), 401)
    async with inproc.client() as c:
        assert _ok(await c.get(url)) == cfg


async def test_change_password_and_delete_by_name_or_id(inproc: InProcessApp) -> None:
    await new_user(inproc, "pw-user")
    async with inproc.client() as c:
        uid = _ok(await c.get(f"{BASE}/pw-user"))["id"]
        got = _ok(
            await c.post(f"{BASE}/{uid}/changePassword", json={"newPassword": "another-password-1"})
        )
        assert_matches(got, "enzi:responses.Account", leave_out={"membersCount", "teamsCount"})
    async with inproc.client(auth=("pw-user", "another-password-1")) as c:
        assert (await c.get(f"{BASE}/pw-user")).status_code == 200
        # One's own: the current password is needed.
        r = await c.post(f"{BASE}/pw-user/changePassword", json={"newPassword": "x-password-22"})
        assert r.status_code in (400, 401, 403), r.text
        _refused(await c.delete(f"{BASE}/{uid}"))
    async with inproc.client() as c:
        _ok(await c.delete(f"{BASE}/{uid}"), 204)
        assert (await c.get(f"{BASE}/pw-user")).status_code == 404
        assert (await c.delete(f"{BASE}/{uid}")).status_code == 404
