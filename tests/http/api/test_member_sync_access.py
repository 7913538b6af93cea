"""Who may read and set a team's ``memberSyncConfig`` (its LDAP group DN and search filter), and
who manages an organization.

eNZi answers both memberSyncConfig calls only to the team's admins (``RequireOrgMember``, then
``RequireTeamAdmin``): the organization's admins (its owners here), system administrators, and
members the team made admins (``isAdmin`` of their team membership). Everyone else is refused in
eNZi's format (403 ``NOT_AUTHORIZED``; 401 ``NOT_AUTHENTICATED`` without credentials), whether
the team exists or not, and a refused PUT changes nothing. A team's admin grant on the
organization's namespace is about its repositories: it does not make its members admins of the
organization.
"""

from __future__ import annotations

import httpx
import pytest

from tests.auth.world import PASSWORD, World
from tests.inprocess import ThreadedApp

SECRET_DN = "cn=secret-group,ou=groups,dc=example,dc=org"
SYNC = {"enableSync": True, "selectGroupMembers": True, "groupDN": SECRET_DN}
CHANGE = {"groupDN": "cn=attacker,ou=groups,dc=example,dc=org"}


def path(org: str, team: str = "rw") -> str:
    return f"/enzi/v0/accounts/{org}/teams/{team}/memberSyncConfig"


@pytest.fixture(scope="module")
def other_org(app_registry: ThreadedApp, world: World) -> str:
    """A second organization owned by ``olga``; the ``rw`` team of the world's organization
    (dave is its member) synced from a group; the ``adm`` team (erin) granted admin on the
    organization's whole namespace."""
    other, olga = world.name("other"), world.name("olga")
    admin = world.admin
    with app_registry.client(auth=None) as c:
        for r in (
            c.post("/enzi/v0/accounts", json={"name": other, "isOrg": True}, auth=admin),
            c.post("/enzi/v0/accounts", json={"name": olga, "password": PASSWORD}, auth=admin),
            c.put(f"/enzi/v0/accounts/{other}/members/{olga}", json={"isAdmin": True}, auth=admin),
            c.post(f"/enzi/v0/accounts/{other}/teams", json={"name": "rw"}, auth=admin),
            c.put(path(world.org), json=SYNC, auth=admin),
            c.put(
                f"/api/v0/repositoryNamespaces/{world.org}/teamAccess/adm",
                json={"accessLevel": "admin"},
                auth=admin,
            ),
        ):
            assert r.status_code < 300, (r.request.method, r.request.url, r.status_code, r.text)
    return other


def creds(world: World, who: str) -> tuple[str, str] | None:
    return (world.name("olga"), PASSWORD) if who == "olga" else world.creds(who)


def refused(r: httpx.Response, status: int = 403) -> None:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    code = "NOT_AUTHORIZED" if status == 403 else "NOT_AUTHENTICATED"
    assert [e["code"] for e in r.json()["errors"]] == [code], r.text
    assert SECRET_DN not in r.text and "attacker" not in r.text


# dave: a member of the synced team; carol: of another team of the organization; erin: of a
# team with admin on the organization's namespace; bob: of no organization; olga: the owner of
# another organization.
OUTSIDERS = ("dave", "carol", "erin", "bob", "olga")


@pytest.mark.parametrize("who", OUTSIDERS)
def test_members_and_outsiders_are_refused(
    api: httpx.Client, world: World, other_org: str, who: str
) -> None:
    auth = creds(world, who)
    before = api.get(path(world.org), auth=world.admin).json()
    refused(api.get(path(world.org), auth=auth))
    refused(api.put(path(world.org), json=CHANGE, auth=auth))
    # A team that does not exist answers the same (no probing for team names).
    refused(api.get(path(world.org, "no-such-team"), auth=auth))
    refused(api.put(path(world.org, "no-such-team"), json=CHANGE, auth=auth))
    assert api.get(path(world.org), auth=world.admin).json() == before
    assert before["groupDN"] == SECRET_DN


def test_anonymous_is_refused(api: httpx.Client, world: World, other_org: str) -> None:
    refused(api.get(path(world.org), auth=None), 401)
    refused(api.put(path(world.org), json=CHANGE, auth=None), 401)
    assert api.get(path(world.org), auth=world.admin).json()["groupDN"] == SECRET_DN


@pytest.mark.parametrize("who", ["admin", "frank"])
def test_owner_and_system_administrator_read_and_set(
    api: httpx.Client, world: World, other_org: str, who: str
) -> None:
    auth = creds(world, who)
    r = api.get(path(world.org), auth=auth)
    assert r.status_code == 200, r.text
    assert r.json()["groupDN"] == SECRET_DN and r.json()["enableSync"] is True
    r = api.put(path(world.org), json={"groupMemberAttr": "uniqueMember"}, auth=auth)
    assert r.status_code == 200, r.text
    assert r.json()["groupMemberAttr"] == "uniqueMember" and r.json()["groupDN"] == SECRET_DN
    assert api.put(path(world.org), json=SYNC, auth=auth).status_code == 200
    # Allowed, a missing team is a 404.
    r = api.get(path(world.org, "no-such-team"), auth=auth)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_TEAM", r.text


def test_the_other_organizations_owner_sets_their_own(
    api: httpx.Client, world: World, other_org: str
) -> None:
    r = api.get(path(other_org), auth=creds(world, "olga"))
    assert r.status_code == 200 and r.json()["enableSync"] is False, r.text
    refused(api.get(path(other_org), auth=creds(world, "frank")))


def test_a_namespace_admin_grant_does_not_manage_the_organization(
    api: httpx.Client, world: World, other_org: str
) -> None:
    """erin's team has admin on the organization's namespace: she administers its repositories,
    but she cannot make herself an owner, add or remove members, or change teams."""
    erin, org = creds(world, "erin"), world.org
    members = api.get(f"/enzi/v0/accounts/{org}/members", auth=world.admin).json()
    teams = api.get(f"/enzi/v0/accounts/{org}/teams", auth=world.admin).json()
    refused(api.put(f"/enzi/v0/accounts/{org}/members/{world.name('erin')}",
                    json={"isAdmin": True}, auth=erin))  # fmt: skip
    refused(api.put(f"/enzi/v0/accounts/{org}/members/{world.name('bob')}", auth=erin))
    refused(api.delete(f"/enzi/v0/accounts/{org}/members/{world.name('frank')}", auth=erin))
    refused(api.post(f"/enzi/v0/accounts/{org}/teams", json={"name": "mine"}, auth=erin))
    refused(api.delete(f"/enzi/v0/accounts/{org}/teams/ro", auth=erin))
    refused(api.put(f"/enzi/v0/accounts/{org}/teams/rw/members/{world.name('erin')}", auth=erin))
    assert api.get(f"/enzi/v0/accounts/{org}/members", auth=world.admin).json() == members
    assert api.get(f"/enzi/v0/accounts/{org}/teams", auth=world.admin).json() == teams
    # What the grant is for still works: the namespace's repositories.
    r = api.get(f"/api/v0/repositories/{org}/private-repo", auth=erin)
    assert r.status_code == 200, r.text
    r = api.patch(
        f"/api/v0/repositories/{org}/private-repo",
        json={"shortDescription": "erin was here"},
        auth=erin,
    )
    assert r.status_code == 200, r.text


def test_a_team_admin_reads_and_sets_their_teams_only(
    api: httpx.Client, world: World, other_org: str
) -> None:
    """A member the team made its admin manages the team's sync, not another team's."""
    tara = world.name("tara")
    for r in (
        api.post("/enzi/v0/accounts", json={"name": tara, "password": PASSWORD}, auth=world.admin),
        api.put(
            f"/enzi/v0/accounts/{world.org}/teams/rw/members/{tara}",
            json={"isAdmin": True},
            auth=world.admin,
        ),
    ):
        assert r.status_code < 300, r.text
    auth = (tara, PASSWORD)
    r = api.get(path(world.org), auth=auth)
    assert r.status_code == 200 and r.json()["groupDN"] == SECRET_DN, r.text
    r = api.put(path(world.org), json={"groupMemberAttr": "member"}, auth=auth)
    assert r.status_code == 200, r.text
    refused(api.get(path(world.org, "ro"), auth=auth))
    refused(api.put(path(world.org, "ro"), json=CHANGE, auth=auth))
    refused(api.get(path(world.org, "no-such-team"), auth=auth))
    r = api.put(
        f"/enzi/v0/accounts/{world.org}/teams/rw/members/{tara}",
        json={"isAdmin": False},
        auth=world.admin,
    )
    assert r.status_code == 200 and r.json()["isAdmin"] is False, r.text
    refused(api.get(path(world.org), auth=auth))
