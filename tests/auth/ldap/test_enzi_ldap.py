"""eNZi's LDAP parts of ``/enzi/v0`` against the real slapd of tests/auth/test_ldap.py: an
organization's ``adminMemberSyncConfig`` applied by the sync (its group's imported users become
the organization's admins, and stop being when they leave the group), ``POST /accounts`` with
``searchLDAP``, and ``POST /enzi/v0/jobs {"action": "ldap-sync"}``."""

from __future__ import annotations

import time
import uuid
from typing import Any

import ldap3
import pytest

from tests.auth.test_ldap import (
    BASE,
    PEOPLE,
    Registry,
    account,
    add_person,
    configure,
    directory,
    local_user,
    login_status,
    ok,
    reg,
    sync,
)
from tests.http.api.dtr_schema import assert_matches
from tests.services import ldap as slapd

__all__ = ["directory", "reg"]  # the fixtures, shared with tests/auth/test_ldap.py

pytestmark = pytest.mark.skipif(not slapd.available(), reason="slapd / ldap-utils not installed")
ACCOUNTS = "/enzi/v0/accounts"


def _members(reg: Registry, org: str) -> dict[str, bool]:
    with reg.client() as c:
        body = ok(c.get(f"{ACCOUNTS}/{org}/members", params={"limit": 100}))
    return {m["member"]["name"]: m["isAdmin"] for m in body["members"]}


def _group(server: slapd.LdapServer, *member_uids: str) -> str:
    dn = f"cn=admins-{uuid.uuid4().hex[:8]},ou=groups,{BASE}"
    with server.admin() as conn:
        conn.add(
            dn,
            ["groupOfNames"],
            {"member": [f"uid={u},{PEOPLE}" for u in member_uids]},
        )
    return dn


def test_org_admins_are_synced_from_a_group(reg: Registry, directory: slapd.LdapServer) -> None:
    configure(reg, directory)
    group = _group(directory, "alice", "bob")
    org = "syncorg"
    local_user(reg, "localowner")
    with reg.client() as c:
        ok(c.post(ACCOUNTS, json={"name": org, "isOrg": True}), 201)
        ok(c.put(f"{ACCOUNTS}/{org}/members/localowner", json={"isAdmin": True}))
        cfg = ok(
            c.put(
                f"{ACCOUNTS}/{org}/adminMemberSyncConfig",
                json={"enableSync": True, "selectGroupMembers": True, "groupDN": group},
            )
        )
        assert_matches(cfg, "enzi:responses.MemberSyncOpts")
        ok(c.post(f"{ACCOUNTS}/{org}/teams", json={"name": "devs"}), 201)

    result = sync(reg)
    assert result["status"] == "succeeded", result
    assert _members(reg, org) == {"localowner": True, "alice": True, "bob": True}
    outcome = {t["team"]: t for t in result["teams"]}[f"{org} (org admins)"]
    assert (outcome["added"], outcome["removed"]) == (2, 0)
    # An org admin synced from LDAP manages the organization.
    assert login_status(reg, "alice", "alicepw") == 200
    with reg.client(auth=("alice", "alicepw")) as c:
        ok(c.put(f"{ACCOUNTS}/{org}/teams/devs/members/carol"), 200)
        ok(c.get(f"{ACCOUNTS}/{org}/adminMemberSyncConfig"))

    # bob leaves the group, dave joins; bob (in no team) leaves the organization, a local
    # admin stays; carol (a team member, not in the group) stays a plain member.
    with directory.admin() as conn:
        conn.modify(
            group,
            {
                "member": [
                    (ldap3.MODIFY_DELETE, [f"uid=bob,{PEOPLE}"]),
                    (ldap3.MODIFY_ADD, [f"uid=dave,{PEOPLE}"]),
                ]
            },
        )
    with reg.client() as c:
        ok(c.put(f"{ACCOUNTS}/{org}/teams/devs/members/alice"))
    result = sync(reg)
    assert result["status"] == "succeeded", result
    assert _members(reg, org) == {
        "localowner": True,
        "alice": True,
        "dave": True,
        "carol": False,
    }
    # alice leaves too: she stays a member (of team devs), no longer an admin.
    with directory.admin() as conn:
        conn.modify(group, {"member": [(ldap3.MODIFY_DELETE, [f"uid=alice,{PEOPLE}"])]})
    sync(reg)
    assert _members(reg, org) == {
        "localowner": True,
        "alice": False,
        "dave": True,
        "carol": False,
    }
    with reg.client(auth=("alice", "alicepw")) as c:
        assert c.get(f"{ACCOUNTS}/{org}/adminMemberSyncConfig").status_code == 403

    # Imported users' membership is the sync's: not added or removed by hand (local ones are).
    with reg.client() as c:
        for r in (
            c.put(f"{ACCOUNTS}/{org}/members/erin", json={"isAdmin": True}),
            c.delete(f"{ACCOUNTS}/{org}/members/dave"),
        ):
            assert r.status_code == 400 and "synced" in r.text, r.text
        local_user(reg, "localguy")
        ok(c.put(f"{ACCOUNTS}/{org}/members/localguy", json={}))

    # A group that does not exist: an error of that organization, its admins kept.
    with reg.client() as c:
        ok(
            c.put(
                f"{ACCOUNTS}/{org}/adminMemberSyncConfig",
                json={"groupDN": f"cn=missing,ou=groups,{BASE}"},
            )
        )
    result = sync(reg)
    assert any("missing" in e and org in e for e in result["errors"]), result
    assert _members(reg, org)["dave"] is True

    # Sync off: nothing changes any more.
    with reg.client() as c:
        ok(c.put(f"{ACCOUNTS}/{org}/adminMemberSyncConfig", json={"enableSync": False}))
        ok(c.put(f"{ACCOUNTS}/{org}/members/erin", json={"isAdmin": True}))
    sync(reg)
    assert _members(reg, org)["erin"] is True


def test_org_admins_from_a_search(reg: Registry, directory: slapd.LdapServer) -> None:
    configure(reg, directory)
    with reg.client() as c:
        ok(c.post(ACCOUNTS, json={"name": "adorg", "isOrg": True}), 201)
        ok(
            c.put(
                f"{ACCOUNTS}/adorg/adminMemberSyncConfig",
                json={
                    "enableSync": True,
                    "selectGroupMembers": False,
                    "searchBaseDN": BASE,
                    "searchFilter": f"(memberOf=cn=Registry Users,ou=svc,{BASE})",
                    "searchScopeSubtree": True,
                },
            )
        )
    assert sync(reg)["status"] == "succeeded"
    assert _members(reg, "adorg") == {"erin": True, "ffrank": True}


def test_create_an_account_from_the_directory(reg: Registry, directory: slapd.LdapServer) -> None:
    uid = "imp" + uuid.uuid4().hex[:6]
    add_person(directory, uid, "Imma Ported", f"{uid}-pw")
    configure(reg, directory, jitUserProvisioning=False)
    with reg.client() as c:
        created = ok(c.post(ACCOUNTS, json={"name": uid, "searchLDAP": True}), 201)
        assert_matches(created, "enzi:responses.Account", leave_out={"membersCount", "teamsCount"})
        assert created["fullName"] == "Imma Ported" and created["isImported"] is True
        assert created["email"] == f"{uid}@example.org"
        # A full name in the form wins; the AD-shaped search finds sAMAccountName users.
        frank = ok(
            c.post(ACCOUNTS, json={"name": "ffrank", "searchLDAP": True, "fullName": "F. F."}), 201
        )
        assert frank["fullName"] == "F. F." and frank["isImported"] is True
        r = c.post(ACCOUNTS, json={"name": "nobody-here", "searchLDAP": True})
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_ACCOUNT"
        assert c.get(f"{ACCOUNTS}/nobody-here").status_code == 404
        r = c.post(ACCOUNTS, json={"name": uid, "searchLDAP": True})
        assert r.status_code == 409 and r.json()["errors"][0]["code"] == "ACCOUNT_EXISTS"
    # It signs in with its directory password (JIT provisioning is off: this is the import).
    assert login_status(reg, uid, f"{uid}-pw") == 200
    assert login_status(reg, uid, "wrong") == 401
    assert account(reg, uid)["isImported"] is True
    # The directory unreachable: a server error, nothing created.
    configure(reg, directory, serverURL="ldap://127.0.0.1:1")
    with reg.client() as c:
        r = c.post(ACCOUNTS, json={"name": "carol", "searchLDAP": True})
        assert r.status_code == 502 and r.json()["errors"][0]["code"] == "LDAP_UNAVAILABLE"
        assert c.get(f"{ACCOUNTS}/carol").status_code == 404


def test_ldap_sync_job_as_ucp_starts_it(reg: Registry, directory: slapd.LdapServer) -> None:
    configure(reg, directory)
    local_user(reg, "notadmin")
    with reg.client(auth=("notadmin", "local-password-1")) as c:
        r = c.post("/enzi/v0/jobs", json={"action": "ldap-sync"})
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
    with reg.client() as c:
        job: dict[str, Any] = ok(c.post("/enzi/v0/jobs", json={"action": "ldap-sync"}), 202)
        assert job["action"] == "ldap-sync" and job["status"] in ("waiting", "running", "done")
        assert set(job) >= {"id", "workerID", "scheduledAt", "lastUpdated"}
        deadline = time.monotonic() + 60
        while job["status"] not in ("done", "errored") and time.monotonic() < deadline:
            time.sleep(0.2)
            job = ok(c.get(f"/enzi/v0/jobs/{job['id']}"))
        assert job["status"] == "done", job
        assert job["workerID"]
        listed = ok(c.get("/enzi/v0/jobs"))["jobs"]
        assert listed[0]["id"] == job["id"]
        syncs = ok(c.get("/enzi/v0/config/auth/ldap/sync"))["syncs"]
    assert syncs[0]["jobID"] == job["id"] and syncs[0]["status"] == "succeeded", syncs[0]
    assert account(reg, "carol")["isImported"] is True
