"""LDAP and Active Directory against a real OpenLDAP (slapd) with an AD-shaped directory.

Configuration through ``/enzi/v0/config/auth/ldap``, docker-style logins with directory passwords
(Basic on /v2 and the token service), JIT provisioning, sync (create, update, deactivate, team
members from a group or a search), recorded results, TLS, secrets kept out of responses and logs,
and the periodic sync (the ``ldapsync`` cron) run by exactly one of two replicas sharing a
database. The API tests run against the app in this process; the log test and the replicas
against real ``moorage serve`` processes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import ldap3
import pytest
from sqlalchemy import create_engine, text

from moorage.db.engine import sync_url
from tests.conftest import RunningRegistry
from tests.inprocess import ThreadedApp, threaded_app
from tests.services import ldap as slapd

BASE = slapd.BASE
PEOPLE = f"ou=people,{BASE}"
SVC = f"ou=svc,{BASE}"
READER_DN = f"cn=registry-reader,{BASE}"
# Distinctive, so a test can look for it in the server log.
READER_PASSWORD = "reader-" + uuid.uuid4().hex

pytestmark = pytest.mark.skipif(not slapd.available(), reason="slapd / ldap-utils not installed")


@pytest.fixture(scope="module")
def directory(db_kind: str) -> Iterator[slapd.LdapServer]:
    """A fresh directory for each database kind, with a reader account for the registry."""
    server = slapd.start()
    try:
        with server.admin() as conn:
            conn.add(
                READER_DN,
                ["organizationalRole", "simpleSecurityObject"],
                {"cn": "registry-reader", "userPassword": READER_PASSWORD},
            )
        yield server
    finally:
        server.stop()


# The tests talk to the registry's API: the app in this process (tests/inprocess.py) serves
# them; a real server where its log or a second replica is what is checked.
Registry = RunningRegistry | ThreadedApp


@pytest.fixture()
def reg(tmp_path: Path, database_factory: Callable[[], str | None]) -> Iterator[ThreadedApp]:
    """A registry of its own for each test (LDAP settings and imported accounts differ)."""
    with threaded_app(tmp_path / "app", database_factory()) as app:
        yield app


@pytest.fixture()
def served(registry_factory: Callable[..., RunningRegistry]) -> Iterator[RunningRegistry]:
    """A real ``moorage serve`` logging at debug level, for what its log must not hold."""
    registry = registry_factory(env={"MOORAGE_LOG_LEVEL": "debug"})
    try:
        yield registry
    finally:
        registry.stop()


def config(server: slapd.LdapServer, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "enabled": True,
        "serverURL": server.url,
        "readerDN": READER_DN,
        "readerPassword": READER_PASSWORD,
        "userSearchConfigs": [
            {
                "baseDN": PEOPLE,
                "scopeSubtree": True,
                "usernameAttr": "uid",
                "fullNameAttr": "cn",
                "filter": "(objectClass=inetOrgPerson)",
            },
            {  # Active Directory's shape
                "baseDN": SVC,
                "scopeSubtree": True,
                "usernameAttr": "sAMAccountName",
                "fullNameAttr": "cn",
                "filter": "(objectClass=user)",
            },
        ],
        "jitUserProvisioning": True,
    }
    return {**base, **changes}


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json() if r.content else None


def configure(reg: Registry, server: slapd.LdapServer, **changes: Any) -> dict[str, Any]:
    with reg.client() as c:
        body: dict[str, Any] = ok(
            c.put("/enzi/v0/config/auth/ldap", json=config(server, **changes))
        )
    return body


def sync(reg: Registry) -> dict[str, Any]:
    with reg.client() as c:
        body: dict[str, Any] = ok(c.post("/enzi/v0/config/auth/ldap/sync"))
    return body


def login_status(reg: Registry, user: str, password: str) -> int:
    """Basic credentials straight on /v2, as docker and skopeo send them."""
    with reg.client(auth=(user, password)) as c:
        return c.get("/v2/").status_code


def token_status(reg: Registry, user: str, password: str) -> int:
    """The Docker token service (docker login)."""
    with reg.client(auth=(user, password)) as c:
        return c.get("/auth/token", params={"service": "moorage"}).status_code


def account(reg: Registry, name: str) -> dict[str, Any]:
    with reg.client() as c:
        body: dict[str, Any] = ok(c.get(f"/enzi/v0/accounts/{name}"))
    return body


def add_person(server: slapd.LdapServer, uid: str, cn: str, password: str) -> str:
    dn = f"uid={uid},{PEOPLE}"
    with server.admin() as conn:
        conn.add(
            dn,
            ["inetOrgPerson"],
            {"uid": uid, "cn": cn, "sn": cn.split()[-1], "mail": f"{uid}@example.org"},
        )
        conn.extend.standard.modify_password(dn, new_password=password)
    return dn


def local_user(reg: Registry, name: str, password: str = "local-password-1") -> None:
    with reg.client() as c:
        ok(c.post("/enzi/v0/accounts", json={"name": name, "password": password}), 201)


# ---- configuration -------------------------------------------------------------------------


def test_configuration_api(reg: Registry, directory: slapd.LdapServer) -> None:
    with reg.client() as c:
        initial = ok(c.get("/enzi/v0/config/auth/ldap"))
        assert initial["enabled"] is False
        assert initial["readerPasswordSet"] is False
        assert initial["syncIntervalSeconds"] == 0

        body = ok(c.put("/enzi/v0/config/auth/ldap", json=config(directory)))
        assert "readerPassword" not in body and body["readerPasswordSet"] is True
        assert body["serverURL"] == directory.url
        assert body["userSearchConfigs"][1]["usernameAttr"] == "sAMAccountName"
        r = c.get("/enzi/v0/config/auth/ldap")
        assert ok(r) == body
        assert READER_PASSWORD not in r.text
        # What GET answers can be sent back as it is (the password is kept).
        assert ok(c.put("/enzi/v0/config/auth/ldap", json=body)) == body

        # Changes merge; the password stays unless given.
        body = ok(c.put("/enzi/v0/config/auth/ldap", json={"syncIntervalHours": 0.5}))
        assert body["syncIntervalSeconds"] == 1800 and body["syncIntervalHours"] == 0.5
        assert body["readerPasswordSet"] is True and body["serverURL"] == directory.url

        for bad in (
            {"serverURL": "http://127.0.0.1:1"},
            {"syncIntervalSeconds": 2},
            {"userSearchConfigs": []},
            {"userSearchConfigs": [{"baseDN": PEOPLE, "usernameAttr": "u id"}]},
            {"userSearchConfigs": [{"baseDN": PEOPLE, "filter": "(objectClass=*"}]},
            {"rootCerts": "not a certificate"},
            {"startTLS": True, "serverURL": directory.ldaps_url},
            {"noSuchSetting": True},
        ):
            r = c.put("/enzi/v0/config/auth/ldap", json=bad)
            assert r.status_code == 400, (bad, r.text)
            assert r.json()["errors"][0]["code"] == "INVALID_INPUT"
        assert ok(c.get("/enzi/v0/config/auth/ldap"))["syncIntervalSeconds"] == 1800

    # Administrators only.
    local_user(reg, "plainuser")
    with reg.client(auth=("plainuser", "local-password-1")) as c:
        assert c.get("/enzi/v0/config/auth/ldap").status_code == 403
        assert c.put("/enzi/v0/config/auth/ldap", json={"enabled": False}).status_code == 403
        assert c.post("/enzi/v0/config/auth/ldap/sync").status_code == 403
        assert c.get("/enzi/v0/config/auth/ldap/sync").status_code == 403
    with reg.client(auth=None) as c:
        assert c.get("/enzi/v0/config/auth/ldap").status_code == 401

    # The password is stored sealed with <data>/secret.key (0600), never in clear.
    key = reg.data / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    engine = create_engine(sync_url(reg.database_url))
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT value FROM site_settings WHERE key = 'ldap'")
            ).scalar()
    finally:
        engine.dispose()
    assert stored and READER_PASSWORD not in stored
    assert json.loads(stored)["readerPasswordSealed"]

    # An empty password clears it (anonymous reads).
    with reg.client() as c:
        body = ok(c.put("/enzi/v0/config/auth/ldap", json={"readerPassword": ""}))
    assert body["readerPasswordSet"] is False


# ---- logins ----------------------------------------------------------------------------------


def test_directory_logins(reg: Registry, directory: slapd.LdapServer) -> None:
    configure(reg, directory)
    assert login_status(reg, "alice", "alicepw") == 200
    assert token_status(reg, "alice", "alicepw") == 200
    assert login_status(reg, "alice", "bobpw") == 401
    assert token_status(reg, "alice", "wrong") == 401
    assert login_status(reg, "alice", "") == 401  # would be an unauthenticated bind
    assert login_status(reg, "nobody", "nobodypw") == 401
    alice = account(reg, "alice")
    assert alice["isImported"] is True and alice["isActive"] is True
    assert alice["email"] == "alice@example.org"

    # Active Directory's shape: found by sAMAccountName, bound as its DN.
    assert token_status(reg, "ffrank", "frankpw") == 200
    assert login_status(reg, "ffrank", "alicepw") == 401
    frank = account(reg, "ffrank")
    assert frank["fullName"] == "Frank Ford" and frank["email"] == "frank@example.org"
    # The group entry shares the attribute but not the object class.
    assert login_status(reg, "registry-users", "frankpw") == 401

    # The OAuth2 password grant (containers/image, docker with identity tokens).
    with reg.client(auth=None) as c:
        r = c.post(
            "/auth/token",
            data={
                "grant_type": "password",
                "username": "bob",
                "password": "bobpw",
                "service": "moorage",
                "client_id": "test",
                "scope": "repository:bob/app:push,pull",
            },
        )
        body = ok(r)
        assert body["access_token"]
        # The imported user pushes to their own namespace with the token.
        auth = {"Authorization": f"Bearer {body['access_token']}"}
        r = c.post("/v2/bob/app/blobs/uploads/", headers=auth)
        assert r.status_code == 202, r.text

    # Access tokens work for imported users too.
    with reg.client(auth=("alice", "alicepw")) as c:
        token = ok(c.post("/api/v0/api_tokens", json={"tokenLabel": "ci"}), 200)["token"]
    assert login_status(reg, "alice", token) == 200
    assert token_status(reg, "alice", token) == 200

    # Local accounts keep their own passwords.
    local_user(reg, "localonly", "local-password-2")
    assert login_status(reg, "localonly", "local-password-2") == 200
    assert login_status(reg, *reg.admin) == 200


def test_jit_provisioning_off(reg: Registry, directory: slapd.LdapServer) -> None:
    configure(reg, directory, jitUserProvisioning=False)
    assert login_status(reg, "carol", "carolpw") == 401
    with reg.client() as c:
        assert c.get("/enzi/v0/accounts/carol").status_code == 404
    result = sync(reg)
    assert result["status"] == "succeeded", result
    assert login_status(reg, "carol", "carolpw") == 200
    assert login_status(reg, "carol", "wrongpw") == 401

    # With LDAP off, imported accounts have no password here.
    with reg.client() as c:
        ok(c.put("/enzi/v0/config/auth/ldap", json={"enabled": False}))
        assert c.post("/enzi/v0/config/auth/ldap/sync").status_code == 400
    assert login_status(reg, "carol", "carolpw") == 401
    assert login_status(reg, *reg.admin) == 200


# ---- sync ------------------------------------------------------------------------------------


def test_sync_creates_updates_and_deactivates(reg: Registry, directory: slapd.LdapServer) -> None:
    uid = "u" + uuid.uuid4().hex[:8]
    dn = add_person(directory, uid, "Una Tester", f"{uid}-pw")
    configure(reg, directory)
    local_user(reg, "erin")  # a local account with a directory user's name stays local

    result = sync(reg)
    assert result["status"] == "succeeded", result
    assert result["trigger"] == "manual"
    assert result["usersCreated"] >= 6  # alice bob carol dave ffrank and the new one
    assert any("erin" in e and "local" in e for e in result["errors"]), result["errors"]
    una = account(reg, uid)
    assert una["isImported"] and una["isActive"]
    assert (una["fullName"], una["email"]) == ("Una Tester", f"{uid}@example.org")
    assert account(reg, "ffrank")["fullName"] == "Frank Ford"
    assert account(reg, "erin")["isImported"] is False
    assert login_status(reg, uid, f"{uid}-pw") == 200

    # A second sync changes nothing.
    again = sync(reg)
    assert (again["usersCreated"], again["usersUpdated"], again["usersDeactivated"]) == (0, 0, 0)

    # Changed in the directory: the sync updates the account.
    with directory.admin() as conn:
        conn.modify(
            dn,
            {
                "cn": [(ldap3.MODIFY_REPLACE, ["Una Renamed"])],
                "mail": [(ldap3.MODIFY_REPLACE, [f"una.{uid}@example.org"])],
            },
        )
    result = sync(reg)
    assert result["usersUpdated"] == 1, result
    una = account(reg, uid)
    assert (una["fullName"], una["email"]) == ("Una Renamed", f"una.{uid}@example.org")

    # An administrator's deactivation is not undone by a sync.
    with reg.client() as c:
        ok(c.patch("/enzi/v0/accounts/dave", json={"isActive": False}))

    # Deleted from the directory: deactivated, and the login fails.
    with directory.admin() as conn:
        conn.delete(dn)
    result = sync(reg)
    assert result["usersDeactivated"] == 1, result
    assert account(reg, uid)["isActive"] is False
    assert login_status(reg, uid, f"{uid}-pw") == 401
    assert token_status(reg, uid, f"{uid}-pw") == 401
    assert account(reg, "dave")["isActive"] is False

    # Back in the directory: active again (the sync deactivated it, so the sync re-activates).
    add_person(directory, uid, "Una Back", f"{uid}-pw2")
    result = sync(reg)
    assert result["usersReactivated"] == 1 and result["usersUpdated"] == 1, result
    assert account(reg, uid)["isActive"] is True
    assert login_status(reg, uid, f"{uid}-pw2") == 200
    assert account(reg, "dave")["isActive"] is False
    with directory.admin() as conn:
        conn.delete(f"uid={uid},{PEOPLE}")


def test_team_member_sync(reg: Registry, directory: slapd.LdapServer) -> None:
    configure(reg, directory)
    org = "corp"
    group = f"cn=developers,ou=groups,{BASE}"
    with reg.client() as c:
        ok(c.post("/enzi/v0/accounts", json={"name": org, "isOrg": True}), 201)
        for team in ("devs", "regusers", "manual"):
            ok(c.post(f"/enzi/v0/accounts/{org}/teams", json={"name": team}), 201)
        assert ok(c.get(f"/enzi/v0/accounts/{org}/teams/devs/memberSyncConfig")) == {
            "enableSync": False,
            "selectGroupMembers": True,
            "groupDN": "",
            "groupMemberAttr": "member",
            "searchBaseDN": "",
            "searchFilter": "",
            "searchScopeSubtree": False,
        }
        devs_cfg = {
            "enableSync": True,
            "selectGroupMembers": True,
            "groupDN": group,
            "groupMemberAttr": "member",
        }
        body = ok(c.put(f"/enzi/v0/accounts/{org}/teams/devs/memberSyncConfig", json=devs_cfg))
        assert body["groupDN"] == group and body["enableSync"] is True
        # AD's shape: everyone whose memberOf names the group, found by a search.
        search_cfg = {
            "enableSync": True,
            "selectGroupMembers": False,
            "searchBaseDN": BASE,
            "searchFilter": f"(memberOf=cn=Registry Users,{SVC})",
            "searchScopeSubtree": True,
        }
        ok(c.put(f"/enzi/v0/accounts/{org}/teams/regusers/memberSyncConfig", json=search_cfg))
        r = c.put(
            f"/enzi/v0/accounts/{org}/teams/manual/memberSyncConfig",
            json={"enableSync": True, "selectGroupMembers": True},
        )
        assert r.status_code == 400  # no group DN
        # A member added by hand to a synced team is removed by the sync.
        local_user(reg, "outsider")
        ok(c.put(f"/enzi/v0/accounts/{org}/teams/devs/members/outsider"))
        ok(c.put(f"/enzi/v0/accounts/{org}/teams/manual/members/outsider"))

    def members(team: str) -> set[str]:
        with reg.client() as c:
            body = ok(c.get(f"/enzi/v0/accounts/{org}/teams/{team}/members"))
        return {m["member"]["name"] for m in body["members"]}

    result = sync(reg)
    assert result["status"] == "succeeded", result
    assert members("devs") == {"bob", "carol", "dave"}
    assert members("regusers") == {"erin", "ffrank"}
    assert members("manual") == {"outsider"}  # not synced
    assert (result["teamMembersAdded"], result["teamMembersRemoved"]) == (5, 1)
    teams = {t["team"]: t for t in result["teams"]}
    assert teams[f"{org}/devs"]["added"] == 3 and teams[f"{org}/devs"]["removed"] == 1
    with reg.client() as c:
        org_members = ok(c.get(f"/enzi/v0/accounts/{org}/members"))["members"]
    assert {"bob", "carol", "dave", "erin", "ffrank"} <= {m["member"]["name"] for m in org_members}

    # The group changes in the directory; the team follows.
    with directory.admin() as conn:
        conn.modify(
            group,
            {
                "member": [
                    (ldap3.MODIFY_DELETE, [f"uid=carol,{PEOPLE}"]),
                    (ldap3.MODIFY_ADD, [f"uid=erin,{PEOPLE}"]),
                ]
            },
        )
    result = sync(reg)
    assert members("devs") == {"bob", "dave", "erin"}
    assert (result["teamMembersAdded"], result["teamMembersRemoved"]) == (1, 1), result

    # A group that does not exist is an error of that team; its members stay as they were.
    with reg.client() as c:
        ok(
            c.put(
                f"/enzi/v0/accounts/{org}/teams/devs/memberSyncConfig",
                json={"groupDN": f"cn=missing,ou=groups,{BASE}"},
            )
        )
    result = sync(reg)
    assert result["status"] == "succeeded"
    assert any("missing" in e for e in result["errors"]), result
    assert members("devs") == {"bob", "dave", "erin"}

    # Only the organization's owners and administrators read or set it (eNZi: team admins),
    # not the synced team's own members (tests/http/api/test_member_sync_access.py: the rest).
    with reg.client(auth=("bob", "bobpw")) as c:
        for r in (
            c.get(f"/enzi/v0/accounts/{org}/teams/devs/memberSyncConfig"),
            c.put(f"/enzi/v0/accounts/{org}/teams/devs/memberSyncConfig", json=devs_cfg),
        ):
            assert r.status_code == 403 and r.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
            assert "groupDN" not in r.text


def test_sync_results_are_recorded(reg: Registry, directory: slapd.LdapServer) -> None:
    configure(reg, directory)
    first, second = sync(reg), sync(reg)
    assert second["id"] > first["id"]
    with reg.client() as c:
        listed = ok(c.get("/enzi/v0/config/auth/ldap/sync"))["syncs"]
        assert [s["id"] for s in listed[:2]] == [second["id"], first["id"]]
        assert listed[0] == second
        for field in (
            "status",
            "trigger",
            "runner",
            "startedAt",
            "finishedAt",
            "usersCreated",
            "usersUpdated",
            "usersDeactivated",
            "teamMembersAdded",
            "teamMembersRemoved",
            "errors",
        ):
            assert field in second, field
        assert first["usersCreated"] >= 6 and second["usersCreated"] == 0
        assert ok(c.get(f"/enzi/v0/config/auth/ldap/sync/{first['id']}")) == first
        r = c.get("/enzi/v0/config/auth/ldap/sync/999999")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_SYNC"
        r = c.get("/enzi/v0/config/auth/ldap/sync", params={"pageSize": 1})
        assert [s["id"] for s in ok(r)["syncs"]] == [second["id"]]
        assert r.headers["X-Next-Page-Start"] == str(first["id"])
        r = c.get("/enzi/v0/config/auth/ldap/sync", params={"pageStart": first["id"]})
        assert ok(r)["syncs"][0]["id"] == first["id"]


def test_unreachable_or_refusing_directory(reg: Registry, directory: slapd.LdapServer) -> None:
    configure(reg, directory)
    assert sync(reg)["status"] == "succeeded"
    # The reader's password is wrong: the sync fails and deactivates nobody.
    configure(reg, directory, readerPassword="not-the-password")
    result = sync(reg)
    assert result["status"] == "failed" and result["usersDeactivated"] == 0
    assert any("reader" in e for e in result["errors"]), result
    assert account(reg, "alice")["isActive"] is True
    # A base DN that does not exist: the search fails, nothing is deactivated.
    configure(
        reg,
        directory,
        userSearchConfigs=[{"baseDN": f"ou=nowhere,{BASE}", "usernameAttr": "uid"}],
    )
    result = sync(reg)
    assert result["status"] == "failed" and result["usersDeactivated"] == 0, result
    assert account(reg, "alice")["isActive"] is True
    # Nobody listening: quick failure, logins refused (not an error page).
    configure(reg, directory, serverURL="ldap://127.0.0.1:9")
    started = time.monotonic()
    result = sync(reg)
    assert result["status"] == "failed" and "cannot reach" in result["errors"][0], result
    assert login_status(reg, "alice", "alicepw") == 401
    assert login_status(reg, "newcomer", "newcomerpw") == 401
    assert time.monotonic() - started < 30


def test_tls(reg: Registry, directory: slapd.LdapServer) -> None:
    # StartTLS, trusting the server's certificate through rootCerts.
    configure(reg, directory, startTLS=True, rootCerts=directory.cert_pem)
    assert sync(reg)["status"] == "succeeded"
    assert login_status(reg, "alice", "alicepw") == 200
    # LDAPS without the certificate: refused (the system roots do not vouch for it)...
    configure(reg, directory, startTLS=False, rootCerts="", serverURL=directory.ldaps_url)
    result = sync(reg)
    assert result["status"] == "failed", result
    assert login_status(reg, "bob", "bobpw") == 401
    # ...unless verification is skipped, or the certificate is given.
    configure(reg, directory, serverURL=directory.ldaps_url, tlsSkipVerify=True)
    assert sync(reg)["status"] == "succeeded"
    configure(reg, directory, serverURL=directory.ldaps_url, rootCerts=directory.cert_pem)
    assert sync(reg)["status"] == "succeeded"
    assert login_status(reg, "bob", "bobpw") == 200


def test_secrets_stay_out_of_responses_and_logs(
    served: RunningRegistry, directory: slapd.LdapServer
) -> None:
    reg = served
    body = configure(reg, directory)
    assert READER_PASSWORD not in json.dumps(body)
    result = sync(reg)
    assert READER_PASSWORD not in json.dumps(result)
    assert login_status(reg, "alice", "alicepw") == 200
    assert login_status(reg, "alice", "alice-wrong-pw") == 401
    assert login_status(reg, "newbie", "newbie-secret-pw") == 401
    configure(reg, directory, readerPassword="wrong-reader-secret")
    sync(reg)
    with reg.client() as c:
        for path in ("/enzi/v0/config/auth/ldap", "/enzi/v0/config/auth/ldap/sync"):
            assert READER_PASSWORD not in c.get(path).text
    reg.stop()
    log = reg.log_path.read_text()
    assert "LDAP sync" in log  # the log is there and verbose (debug)
    for secret in (
        READER_PASSWORD,
        "wrong-reader-secret",
        "alicepw",
        "alice-wrong-pw",
        "newbie-secret-pw",
    ):
        assert secret not in log, secret


# ---- periodic sync ---------------------------------------------------------------------------


def scheduled_syncs(reg: Registry) -> list[dict[str, Any]]:
    with reg.client() as c:
        body = ok(c.get("/enzi/v0/config/auth/ldap/sync", params={"pageSize": 100}))
    return sorted((s for s in body["syncs"] if s["trigger"] == "scheduled"), key=lambda s: s["id"])


def test_periodic_sync_runs_once_per_interval_across_replicas(
    registry_factory: Callable[..., RunningRegistry], directory: slapd.LdapServer
) -> None:
    """The periodic sync is the ``ldapsync`` cron of the job runner: one job per tick across
    replicas, its log the sync's log. The settings' shortest interval (5 s) becomes the cron;
    the ticks are then counted on a shorter one put through the cron API (the same cron and
    job), with the runners polling every POLL seconds."""
    poll, tick = 0.2, 2
    env = {"MOORAGE_LOG_LEVEL": "debug", "MOORAGE_JOB_POLL_SECONDS": str(poll)}
    first = registry_factory(env=env)
    configure(first, directory, syncIntervalSeconds=5)
    with first.client() as c:
        cron = ok(c.get("/api/v0/crons/ldapsync"))
        assert cron["schedule"] == "@every 5s", cron
        # Off again before its first tick; a replica starting puts the cron in step with
        # the settings, so the short one is put once both run.
        ok(c.put("/enzi/v0/config/auth/ldap", json={"syncIntervalSeconds": 0}))
        assert c.get("/api/v0/crons/ldapsync").status_code == 404
    # A second replica on the same database (and data folder, so the same secret.key).
    second = registry_factory(data=first.data, database=first.database, env=env)
    try:
        with first.client() as c:
            every = {"action": "ldapsync", "schedule": f"@every {tick}s"}
            ok(c.post("/api/v0/crons", json=every), 202)
        deadline = time.monotonic() + 60
        while len(scheduled_syncs(first)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        runs = scheduled_syncs(first)
        assert len(runs) >= 3, runs
        starts = [dt.datetime.fromisoformat(r["startedAt"]).timestamp() for r in runs]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        # Never two in one tick (a job starts at most two runner polls after its tick; half a
        # second more for a loaded machine).
        assert all(g >= tick - 2 * poll - 0.5 for g in gaps), gaps
        assert all(r["status"] == "succeeded" for r in runs[:-1]), runs
        # (which replica ran each is recorded; either may win a claim)
        assert all(r["runner"] for r in runs)
        assert len({r["jobID"] for r in runs}) == len(runs)
        with first.client() as c:
            job = ok(c.get(f"/api/v0/jobs/{runs[0]['jobID']}"))
            assert job["action"] == "ldapsync" and job["cron"] is True, job
            lines = [line["data"] for line in ok(c.get(f"/api/v0/jobs/{job['id']}/logs"))]
        assert any(f"LDAP sync {runs[0]['id']} succeeded" in line for line in lines), lines
        # The users the periodic sync imported can sign in.
        assert login_status(second, "dave", "davepw") == 200

        # Turned off: the cron goes, no more scheduled syncs.
        with first.client() as c:
            ok(c.put("/enzi/v0/config/auth/ldap", json={"syncIntervalSeconds": 0}))
            assert c.get("/api/v0/crons/ldapsync").status_code == 404
        time.sleep(1)
        count = len(scheduled_syncs(first))
        time.sleep(tick + 2)
        assert len(scheduled_syncs(first)) <= count + 1  # (at most one already queued)
    finally:
        for replica in (second, first):
            replica.stop()
    # Both stop cleanly, the job runner with them.
    for replica in (first, second):
        assert replica.proc is not None and replica.proc.returncode == 0
        log = replica.log_path.read_text()
        assert "job runner stopped" in log and "Traceback" not in log


def test_sync_now_is_a_job(reg: Registry, directory: slapd.LdapServer) -> None:
    """ "Sync now" queues an ``ldapsync`` job and answers the sync it ran; the job's log is the
    sync's log."""
    configure(reg, directory)
    result = sync(reg)
    assert result["status"] == "succeeded" and result["trigger"] == "manual", result
    with reg.client() as c:
        # The sync's record is final a moment before its job is marked done.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job = ok(c.get(f"/api/v0/jobs/{result['jobID']}"))
            if job["status"] != "running":
                break
            time.sleep(0.1)
        assert (job["action"], job["status"], job["cron"]) == ("ldapsync", "done", False)
        assert job["parameters"] == {"syncID": result["id"]}
        lines = [line["data"] for line in ok(c.get(f"/api/v0/jobs/{job['id']}/logs"))]
        # Queued through the jobs API, it is recorded as a manual sync too.
        queued = ok(c.post("/api/v0/jobs", json={"action": "ldapsync"}), 202)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if ok(c.get(f"/api/v0/jobs/{queued['id']}"))["status"] == "done":
                break
            time.sleep(0.2)
        syncs = ok(c.get("/enzi/v0/config/auth/ldap/sync"))["syncs"]
    assert any(f"LDAP sync {result['id']} started" in line for line in lines), lines
    assert any(f"LDAP sync {result['id']} succeeded" in line for line in lines), lines
    assert syncs[0]["jobID"] == queued["id"] and syncs[0]["trigger"] == "manual", syncs[0]
    assert syncs[0]["status"] == "succeeded"
