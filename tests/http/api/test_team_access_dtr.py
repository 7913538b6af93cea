"""Team access as DTR 2.7's Swagger defines it: ``/repositories/{ns}/{repo}/teamAccess``,
``/repositoryNamespaces/{ns}/teamAccess``, ``/accounts/{user}/repositoryAccess/{ns}/{repo}``
and ``/accounts/{org}/teams/{team}/repositoryAccess``: answers checked against DTR's
definitions (``dtr_definitions/repositories.json``; the namespace a string, the team DTR's
``{id, clientUserIsMember}`` computed for the caller), status and error codes, paging, and
who may (anonymous, another user, org members without a grant, team members, org owners,
system admins)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.auth.world import World
from tests.http.api.dtr_schema import assert_matches

ACCOUNT_COUNTS = {"user.membersCount", "user.teamsCount"}  # an organization's counts


def _code(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    (entry,) = r.json()["errors"]
    assert entry["message"]
    return str(entry["code"])


def _fresh_org(api: httpx.Client, world: World, base: str) -> str:
    """An organization of its own (frank its owner; teams t1 with carol, t2 with dave, t3
    empty) and a private repository ``app`` in it, so a test's grants touch no other test."""
    org = world.name(base)
    admin = world.admin

    def ok(r: httpx.Response) -> None:
        assert r.status_code < 300, r.text

    ok(api.post("/enzi/v0/accounts", json={"name": org, "isOrg": True}, auth=admin))
    ok(
        api.put(
            f"/enzi/v0/accounts/{org}/members/{world.name('frank')}",
            json={"isAdmin": True},
            auth=admin,
        )
    )
    for team, member in (("t1", "carol"), ("t2", "dave"), ("t3", None)):
        ok(api.post(f"/enzi/v0/accounts/{org}/teams", json={"name": team}, auth=admin))
        if member:
            path = f"/enzi/v0/accounts/{org}/teams/{team}/members/{world.name(member)}"
            ok(api.put(path, auth=admin))
    r = api.post(
        f"/api/v0/repositories/{org}", json={"name": "app", "visibility": "private"}, auth=admin
    )
    ok(r)
    return org


def _teams(body: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {
        e["team"]["name"]: (e["accessLevel"], e["team"]["clientUserIsMember"])
        for e in body["teamAccessList"]
    }


# ---- a repository's team access ---------------------------------------------------------------


def test_repository_team_access_is_dtrs_list(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/private-repo"
    r = api.get(f"/api/v0/repositories/{repo}/teamAccess", auth=world.creds("erin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert_matches(body, "responses.ListRepoTeamAccess")
    assert body["repository"]["name"] == "private-repo"
    assert body["repository"]["namespace"] == world.org
    # erin is in adm, not in ro or rw: clientUserIsMember is the caller's
    assert _teams(body) == {
        "adm": ("admin", True),
        "ro": ("read-only", False),
        "rw": ("read-write", False),
    }
    as_admin = api.get(f"/api/v0/repositories/{repo}/teamAccess", auth=world.admin).json()
    assert {name: member for name, (_, member) in _teams(as_admin).items()} == {
        "adm": False,
        "ro": False,
        "rw": False,
    }


def test_repository_team_access_pages(api: httpx.Client, world: World) -> None:
    path = f"/api/v0/repositories/{world.org}/public-repo/teamAccess"
    first = api.get(path, params={"pageSize": 2, "count": "true"}, auth=world.admin)
    assert first.status_code == 200, first.text
    assert first.headers["X-Resource-Count"] == "3"
    names = [e["team"]["name"] for e in first.json()["teamAccessList"]]
    assert names == ["adm", "ro"]
    start = first.headers["X-Next-Page-Start"]
    rest = api.get(path, params={"pageSize": 2, "pageStart": start}, auth=world.admin)
    assert [e["team"]["name"] for e in rest.json()["teamAccessList"]] == ["rw"]
    assert rest.json()["teamAccessList"][0]["team"]["id"] == start
    assert "X-Next-Page-Start" not in rest.headers
    assert "X-Resource-Count" not in rest.headers


def test_who_may_list_a_repositorys_team_access(api: httpx.Client, world: World) -> None:
    for vis in ("private", "public"):
        path = f"/api/v0/repositories/{world.org}/{vis}-repo/teamAccess"
        for who in ("erin", "frank", "admin"):
            assert api.get(path, auth=world.creds(who)).status_code == 200, (who, vis)
        assert _code(api.get(path), 401) == "NOT_AUTHENTICATED"
        for who in ("carol", "dave"):  # members of teams below admin
            assert _code(api.get(path, auth=world.creds(who)), 403) == "NOT_AUTHORIZED"
        bob = api.get(path, auth=world.creds("bob"))
        if vis == "private":  # bob may not see it: as if it did not exist
            assert _code(bob, 404) == "NO_SUCH_REPOSITORY"
        else:
            assert _code(bob, 403) == "NOT_AUTHORIZED"
    r = api.get(f"/api/v0/repositories/{world.org}/nothing/teamAccess", auth=world.admin)
    assert _code(r, 404) == "NO_SUCH_REPOSITORY"


def test_granting_a_team_access_to_a_repository(api: httpx.Client, world: World) -> None:
    org = _fresh_org(api, world, "grant")
    path = f"/api/v0/repositories/{org}/app/teamAccess"
    r = api.put(f"{path}/t1", json={"accessLevel": "read-write"}, auth=world.creds("frank"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert_matches(body, "responses.ListRepoTeamAccess")  # what DTR's Swagger declares
    assert _teams(body) == {"t1": ("read-write", False)}
    assert body["accessLevel"] == "read-write" and body["team"]["name"] == "t1"
    assert_matches(body["team"], "responses.Team")
    # carol (in t1) now pushes there, and sees herself a member of t1
    r = api.get(f"/api/v0/repositories/{org}/app", auth=world.creds("carol"))
    assert r.status_code == 200, r.text
    r = api.put(f"{path}/t1", json={"accessLevel": "admin"}, auth=world.admin)
    assert _teams(r.json()) == {"t1": ("admin", False)}
    listed = api.get(path, auth=world.creds("carol")).json()  # an admin of the repo now
    assert _teams(listed) == {"t1": ("admin", True)}

    assert (
        _code(api.put(f"{path}/nosuch", json={"accessLevel": "admin"}, auth=world.admin), 404)
        == "NO_SUCH_TEAM"
    )
    for bad in ({"accessLevel": "owner"}, {"accessLevel": "none"}, {}, {"accessLevel": 3}):
        r = api.put(f"{path}/t2", json=bad, auth=world.admin)
        assert r.status_code == 400, (bad, r.text)
    # the team of another organization is no team of this one
    r = api.put(f"{path}/ro", json={"accessLevel": "admin"}, auth=world.admin)
    assert _code(r, 404) == "NO_SUCH_TEAM"
    # a user's repository has no teams: 400
    r = api.put(
        f"/api/v0/repositories/{world.name('alice')}/private-repo/teamAccess/t1",
        json={"accessLevel": "read-only"},
        auth=world.creds("alice"),
    )
    assert _code(r, 400) == "INVALID_INPUT"
    assert _teams(api.get(path, auth=world.admin).json()) == {"t1": ("admin", False)}


def test_who_may_grant_and_revoke_on_a_repository(api: httpx.Client, world: World) -> None:
    org = _fresh_org(api, world, "who")
    path = f"/api/v0/repositories/{org}/app/teamAccess/t2"
    grant = {"accessLevel": "read-only"}
    assert _code(api.put(path, json=grant), 401) == "NOT_AUTHENTICATED"
    assert _code(api.delete(path), 401) == "NOT_AUTHENTICATED"
    # bob, carol (org member via t1 without a grant), alice: the private repo is hidden
    for who in ("bob", "carol", "alice"):
        assert _code(api.put(path, json=grant, auth=world.creds(who)), 404) == "NO_SUCH_REPOSITORY"
        assert _code(api.delete(path, auth=world.creds(who)), 404) == "NO_SUCH_REPOSITORY"
    # a read-write team's member sees it, but may not manage its access
    r = api.put(
        f"/api/v0/repositories/{org}/app/teamAccess/t1",
        json={"accessLevel": "read-write"},
        auth=world.admin,
    )
    assert r.status_code == 200
    path2 = f"/api/v0/repositories/{org}/app/teamAccess/t2"
    assert _code(api.put(path2, json=grant, auth=world.creds("carol")), 403) == "NOT_AUTHORIZED"
    assert (
        _code(
            api.delete(f"/api/v0/repositories/{org}/app/teamAccess/t1", auth=world.creds("carol")),
            403,
        )
        == "NOT_AUTHORIZED"
    )
    assert _teams(
        api.get(f"/api/v0/repositories/{org}/app/teamAccess", auth=world.admin).json()
    ) == {"t1": ("read-write", False)}
    # the org's owner may
    assert api.put(path2, json=grant, auth=world.creds("frank")).status_code == 200
    assert api.delete(path2, auth=world.creds("frank")).status_code == 204
    # revoking what is not granted, or a team that does not exist: 204 (DTR)
    assert api.delete(path2, auth=world.creds("frank")).status_code == 204
    r = api.delete(f"/api/v0/repositories/{org}/app/teamAccess/nosuch", auth=world.admin)
    assert r.status_code == 204, r.text
    r = api.delete(
        f"/api/v0/repositories/{world.name('alice')}/private-repo/teamAccess/t1",
        auth=world.creds("alice"),
    )
    assert _code(r, 400) == "INVALID_INPUT"


# ---- a namespace's team access ----------------------------------------------------------------


def test_namespace_team_access_is_dtrs(api: httpx.Client, world: World) -> None:
    org = _fresh_org(api, world, "ns")
    base = f"/api/v0/repositoryNamespaces/{org}/teamAccess"
    r = api.put(f"{base}/t2", json={"accessLevel": "read-write"}, auth=world.creds("frank"))
    assert r.status_code == 200, r.text
    assert_matches(r.json(), "responses.NamespaceTeamAccess")
    assert r.json()["namespace"] == org and r.json()["team"]["clientUserIsMember"] is False
    r = api.put(f"{base}/t1", json={"accessLevel": "read-only"}, auth=world.admin)
    assert r.status_code == 200, r.text

    listed = api.get(base, auth=world.creds("dave"))  # a member of the org (t2)
    assert listed.status_code == 200, listed.text
    assert_matches(listed.json(), "responses.ListRepoNamespaceTeamAccess")
    assert listed.json()["namespace"] == org
    assert _teams(listed.json()) == {"t1": ("read-only", False), "t2": ("read-write", True)}

    one = api.get(f"{base}/t2", auth=world.creds("dave"))
    assert one.status_code == 200, one.text
    assert_matches(one.json(), "responses.NamespaceTeamAccess")
    assert one.json()["accessLevel"] == "read-write"
    assert one.json()["team"]["clientUserIsMember"] is True
    # dave (read-write on the namespace) now sees its private repository
    assert api.get(f"/api/v0/repositories/{org}/app", auth=world.creds("dave")).status_code == 200

    r = api.get(f"{base}/t3", auth=world.admin)  # a team without a grant
    assert _code(r, 404) == "NO_SUCH_NAMESPACE_TEAM_ACCESS"
    assert _code(api.get(f"{base}/nosuch", auth=world.admin), 404) == "NO_SUCH_TEAM"

    page = api.get(base, params={"pageSize": 1, "count": "true"}, auth=world.admin)
    assert page.headers["X-Resource-Count"] == "2"
    assert [e["team"]["name"] for e in page.json()["teamAccessList"]] == ["t1"]
    after = api.get(
        base,
        params={"pageSize": 1, "pageStart": page.headers["X-Next-Page-Start"]},
        auth=world.admin,
    )
    assert [e["team"]["name"] for e in after.json()["teamAccessList"]] == ["t2"]
    assert "X-Next-Page-Start" not in after.headers

    assert api.delete(f"{base}/t1", auth=world.creds("frank")).status_code == 204
    assert api.delete(f"{base}/t1", auth=world.creds("frank")).status_code == 204  # again
    assert api.delete(f"{base}/nosuch", auth=world.admin).status_code == 204
    assert _teams(api.get(base, auth=world.admin).json()) == {"t2": ("read-write", False)}


def test_who_may_see_and_change_namespace_access(api: httpx.Client, world: World) -> None:
    org = _fresh_org(api, world, "nsauth")
    base = f"/api/v0/repositoryNamespaces/{org}/teamAccess"
    assert (
        api.put(f"{base}/t1", json={"accessLevel": "read-only"}, auth=world.admin).status_code
        == 200
    )
    # listing: admins and members of the organization
    assert _code(api.get(base), 401) == "NOT_AUTHENTICATED"
    for who in ("bob", "alice", "erin"):  # not of this organization
        assert _code(api.get(base, auth=world.creds(who)), 403) == "NOT_AUTHORIZED"
    for who in ("carol", "dave", "frank", "admin"):
        assert api.get(base, auth=world.creds(who)).status_code == 200, who
    # one team's grant: namespace admins and the team's members; outsiders learn nothing
    assert api.get(f"{base}/t1", auth=world.creds("carol")).status_code == 200
    assert _code(api.get(f"{base}/t1", auth=world.creds("dave")), 403) == "NOT_AUTHORIZED"
    assert _code(api.get(f"{base}/nosuch", auth=world.creds("bob")), 403) == "NOT_AUTHORIZED"
    assert _code(api.get(f"{base}/t1"), 401) == "NOT_AUTHENTICATED"
    # changing: namespace admins only (a read-only namespace team is not one)
    for who in ("carol", "dave", "bob"):
        r = api.put(f"{base}/t2", json={"accessLevel": "admin"}, auth=world.creds(who))
        assert _code(r, 403) == "NOT_AUTHORIZED"
        assert _code(api.delete(f"{base}/t1", auth=world.creds(who)), 403) == "NOT_AUTHORIZED"
    assert _code(api.put(f"{base}/t2", json={"accessLevel": "admin"}), 401) == "NOT_AUTHENTICATED"
    assert _code(api.delete(f"{base}/t1"), 401) == "NOT_AUTHENTICATED"
    assert _teams(api.get(base, auth=world.admin).json()) == {"t1": ("read-only", False)}
    # an admin-level team of the namespace administers it: carol's t1 made admin
    assert api.put(f"{base}/t1", json={"accessLevel": "admin"}, auth=world.admin).status_code == 200
    r = api.put(f"{base}/t2", json={"accessLevel": "read-only"}, auth=world.creds("carol"))
    assert r.status_code == 200, r.text
    # the namespace must be an organization's
    r = api.get(f"/api/v0/repositoryNamespaces/{world.name('alice')}/teamAccess", auth=world.admin)
    assert _code(r, 400) == "INVALID_INPUT"
    r = api.get("/api/v0/repositoryNamespaces/nosuchorgatall/teamAccess", auth=world.admin)
    assert _code(r, 404) == "NO_SUCH_ACCOUNT"
    r = api.put(f"{base}/nosuch", json={"accessLevel": "admin"}, auth=world.admin)
    assert _code(r, 404) == "NO_SUCH_TEAM"


# ---- what a user or a team may do ---------------------------------------------------------------


def test_a_users_repository_access(api: httpx.Client, world: World) -> None:
    dave = world.name("dave")
    path = f"/api/v0/accounts/{dave}/repositoryAccess/{world.org}/private-repo"
    r = api.get(path, auth=world.creds("dave"))
    assert r.status_code == 200, r.text
    assert_matches(r.json(), "responses.RepoUserAccess", leave_out=ACCOUNT_COUNTS)
    assert r.json()["accessLevel"] == "read-write" and r.json()["user"]["name"] == dave
    assert api.get(path, auth=world.admin).json()["accessLevel"] == "read-write"
    assert _code(api.get(path), 401) == "NOT_AUTHENTICATED"
    for who in ("bob", "frank", "erin"):  # only the user in question and system admins
        assert _code(api.get(path, auth=world.creds(who)), 403) == "NOT_AUTHORIZED"
    erin = world.name("erin")
    r = api.get(
        f"/api/v0/accounts/{erin}/repositoryAccess/{world.org}/public-repo", auth=world.admin
    )
    assert r.json()["accessLevel"] == "admin"
    r = api.get(f"/api/v0/accounts/{dave}/repositoryAccess/{world.org}/nothing", auth=world.admin)
    assert _code(r, 404) == "NO_SUCH_REPOSITORY"


def test_a_teams_repository_access(api: httpx.Client, world: World) -> None:
    org = world.org
    path = f"/api/v0/accounts/{org}/teams/ro/repositoryAccess"
    r = api.get(path, auth=world.creds("carol"), params={"count": "true"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_matches(body, "responses.ListTeamRepoAccess")
    assert body["team"]["name"] == "ro" and body["team"]["clientUserIsMember"] is True
    assert r.headers["X-Resource-Count"] == "2"
    assert sorted(
        (a["repository"]["name"], a["accessLevel"]) for a in body["repositoryAccessList"]
    ) == [
        ("private-repo", "read-only"),
        ("public-repo", "read-only"),
    ]
    owner = api.get(path, auth=world.creds("frank"))
    assert owner.status_code == 200 and owner.json()["team"]["clientUserIsMember"] is False
    first = api.get(path, params={"pageSize": 1}, auth=world.admin)
    start = first.headers["X-Next-Page-Start"]
    rest = api.get(path, params={"pageSize": 1, "pageStart": start}, auth=world.admin)
    assert rest.json()["repositoryAccessList"][0]["repository"]["id"] == start
    assert "X-Next-Page-Start" not in rest.headers
    seen = [
        a["repository"]["name"] for p in (first, rest) for a in p.json()["repositoryAccessList"]
    ]
    assert sorted(seen) == ["private-repo", "public-repo"]
    # who may not: anonymous, outsiders, members of other teams; nothing learnt of teams
    assert _code(api.get(path), 401) == "NOT_AUTHENTICATED"
    for who in ("bob", "dave", "erin", "alice"):
        assert _code(api.get(path, auth=world.creds(who)), 403) == "NOT_AUTHORIZED"
    nosuch = f"/api/v0/accounts/{org}/teams/nosuch/repositoryAccess"
    assert _code(api.get(nosuch, auth=world.creds("bob")), 403) == "NOT_AUTHORIZED"
    assert _code(api.get(nosuch, auth=world.admin), 404) == "NO_SUCH_TEAM"
