"""``/enzi/v0/accounts/{accountNameOrID}/publicKeys`` as eNZi has it: ``responses.AccountPublicKey``
(its ``id`` the SHA-256 of the key's DER bytes), the account by name or ID, paging by key ID,
PEM validation, and nobody but the user, an owner of the organization or a system
administrator adding, changing or removing an account's keys."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.auth.creds_helpers import new_user
from tests.http.api.dtr_schema import assert_matches
from tests.inprocess import InProcessApp

BASE = "/enzi/v0/accounts"


def _pem() -> tuple[str, str]:
    """A fresh public key's PEM and its eNZi key ID (SHA-256 hex of the DER bytes)."""
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return pem, hashlib.sha256(der).hexdigest()


def _error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    errors = r.json()["errors"]
    assert errors[0]["code"] == code and errors[0]["message"], r.text


async def _account_id(inproc: InProcessApp, name: str) -> str:
    async with inproc.client() as c:
        r = await c.get(f"{BASE}/{name}")
        assert r.status_code == 200, r.text
        return str(r.json()["id"])


async def test_a_user_adds_lists_relabels_and_removes_own_keys(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "keyowner")
    pem, key_id = _pem()
    async with inproc.client(auth=user) as c:
        r = await c.post(f"{BASE}/keyowner/publicKeys", json={"publicKey": pem, "label": "laptop"})
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        assert_matches(created, "enzi:responses.AccountPublicKey")
        assert created["id"] == key_id
        assert created["accountID"] == await _account_id(inproc, "keyowner")
        assert created["label"] == "laptop" and created["publicKey"] == pem

        r = await c.get(f"{BASE}/keyowner/publicKeys")
        assert r.status_code == 200, r.text
        assert_matches(r.json(), "enzi:responses.AccountPublicKeys")
        assert [k["id"] for k in r.json()["accountPublicKeys"]] == [key_id]
        assert r.json()["nextPageStart"] == ""

        r = await c.patch(f"{BASE}/keyowner/publicKeys/{key_id}", json={"label": "desk"})
        assert r.status_code == 200, r.text
        assert_matches(r.json(), "enzi:responses.AccountPublicKey")
        assert r.json()["label"] == "desk" and r.json()["publicKey"] == pem

        r = await c.post(f"{BASE}/keyowner/publicKeys", json={"publicKey": pem})
        _error(r, 409, "CONFLICT")

        r = await c.delete(f"{BASE}/keyowner/publicKeys/{key_id}")
        assert r.status_code == 204, r.text
        r = await c.get(f"{BASE}/keyowner/publicKeys")
        assert r.json()["accountPublicKeys"] == []
        _error(await c.delete(f"{BASE}/keyowner/publicKeys/{key_id}"), 404, "NOT_FOUND")
        r = await c.patch(f"{BASE}/keyowner/publicKeys/{key_id}", json={"label": "x"})
        _error(r, 404, "NOT_FOUND")


async def test_the_account_is_found_by_id_and_names_are_never_ids(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "byid")
    uid = await _account_id(inproc, "byid")
    pem, key_id = _pem()
    async with inproc.client(auth=user) as c:
        r = await c.post(f"{BASE}/{uid}/publicKeys", json={"publicKey": pem})
        assert r.status_code == 201, r.text
        r = await c.get(f"{BASE}/byid/publicKeys")
        assert [k["id"] for k in r.json()["accountPublicKeys"]] == [key_id]
    # An account named as another account's id is found by its name, not as that id.
    digits = await new_user(inproc, uid)
    async with inproc.client(auth=digits) as c:
        r = await c.get(f"{BASE}/{digits[0]}/publicKeys")
        assert r.status_code == 200, r.text
        assert r.json()["accountPublicKeys"] == []
        _error(await c.get(f"{BASE}/999999999/publicKeys"), 404, "NO_SUCH_ACCOUNT")


async def test_keys_page_in_key_id_order(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "pager")
    ids = []
    async with inproc.client(auth=user) as c:
        for _ in range(3):
            pem, key_id = _pem()
            ids.append(key_id)
            assert (
                await c.post(f"{BASE}/pager/publicKeys", json={"publicKey": pem})
            ).status_code == 201
        ids.sort()
        r = await c.get(f"{BASE}/pager/publicKeys", params={"limit": 2})
        assert [k["id"] for k in r.json()["accountPublicKeys"]] == ids[:2]
        assert r.json()["nextPageStart"] == ids[2]
        r = await c.get(f"{BASE}/pager/publicKeys", params={"limit": 2, "start": ids[2]})
        assert [k["id"] for k in r.json()["accountPublicKeys"]] == ids[2:]
        assert r.json()["nextPageStart"] == ""


async def test_bad_keys_and_certificates_are_refused(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "badkeys")
    pem, _ = _pem()
    async with inproc.client(auth=user) as c:
        for bad in ("not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"):
            r = await c.post(f"{BASE}/badkeys/publicKeys", json={"publicKey": bad})
            _error(r, 400, "INVALID_INPUT")
        r = await c.post(
            f"{BASE}/badkeys/publicKeys",
            json={"publicKey": pem, "certificates": [{"label": "c", "cert": "junk"}]},
        )
        _error(r, 400, "INVALID_INPUT")
        r = await c.post(f"{BASE}/badkeys/publicKeys", json={"label": "no key"})
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["code"]
        assert (await c.get(f"{BASE}/badkeys/publicKeys")).json()["accountPublicKeys"] == []


async def test_nobody_else_changes_a_users_keys(inproc: InProcessApp) -> None:
    victim = await new_user(inproc, "victim")
    attacker = await new_user(inproc, "attacker")
    vid = await _account_id(inproc, "victim")
    pem, key_id = _pem()
    async with inproc.client(auth=victim) as c:
        assert (
            await c.post(f"{BASE}/victim/publicKeys", json={"publicKey": pem})
        ).status_code == 201
    planted, _ = _pem()
    async with inproc.client(auth=attacker) as c:
        # Any signed-in user may list (eNZi), nobody else may add, relabel or remove.
        assert (await c.get(f"{BASE}/victim/publicKeys")).status_code == 200
        for target in ("victim", vid):
            r = await c.post(f"{BASE}/{target}/publicKeys", json={"publicKey": planted})
            _error(r, 403, "NOT_AUTHORIZED")
            r = await c.patch(f"{BASE}/{target}/publicKeys/{key_id}", json={"label": "owned"})
            _error(r, 403, "NOT_AUTHORIZED")
            _error(await c.delete(f"{BASE}/{target}/publicKeys/{key_id}"), 403, "NOT_AUTHORIZED")
    async with inproc.client(auth=None) as c:
        assert (await c.get(f"{BASE}/victim/publicKeys")).status_code == 401
        r = await c.post(f"{BASE}/victim/publicKeys", json={"publicKey": planted})
        assert r.status_code == 401, r.text
    async with inproc.client(auth=victim) as c:
        keys = (await c.get(f"{BASE}/victim/publicKeys")).json()["accountPublicKeys"]
        assert [(k["id"], k["label"]) for k in keys] == [(key_id, "")]
    # A system administrator manages anyone's keys.
    async with inproc.client() as c:
        r = await c.delete(f"{BASE}/victim/publicKeys/{key_id}")
        assert r.status_code == 204, r.text


async def test_an_organizations_keys_are_for_its_owners(inproc: InProcessApp) -> None:
    owner = await new_user(inproc, "keyorgowner")
    member = await new_user(inproc, "keyorgmember")
    async with inproc.client() as c:
        assert (await c.post(BASE, json={"name": "keyorg", "isOrg": True})).status_code == 201
        r = await c.put(f"{BASE}/keyorg/members/keyorgowner", json={"isAdmin": True})
        assert r.status_code == 200, r.text
        r = await c.put(f"{BASE}/keyorg/members/keyorgmember", json={"isAdmin": False})
        assert r.status_code == 200, r.text
    pem, key_id = _pem()
    async with inproc.client(auth=member) as c:
        r = await c.post(f"{BASE}/keyorg/publicKeys", json={"publicKey": pem})
        _error(r, 403, "NOT_AUTHORIZED")
    async with inproc.client(auth=owner) as c:
        r = await c.post(f"{BASE}/keyorg/publicKeys", json={"publicKey": pem})
        assert r.status_code == 201, r.text
        assert r.json()["id"] == key_id
    async with inproc.client(auth=member) as c:
        _error(await c.delete(f"{BASE}/keyorg/publicKeys/{key_id}"), 403, "NOT_AUTHORIZED")


async def test_a_users_organizations_are_for_the_user_and_admins(inproc: InProcessApp) -> None:
    """``GET /enzi/v0/accounts/{user}/organizations`` (eNZi's ``responses.MemberOrgs``)."""
    joiner = await new_user(inproc, "joiner")
    snoop = await new_user(inproc, "snoop")
    async with inproc.client() as c:
        assert (await c.post(BASE, json={"name": "joinorg", "isOrg": True})).status_code == 201
        r = await c.put(f"{BASE}/joinorg/members/joiner", json={"isAdmin": True})
        assert r.status_code == 200, r.text
    uid = await _account_id(inproc, "joiner")
    async with inproc.client(auth=joiner) as c:
        r = await c.get(f"{BASE}/{uid}/organizations")
        assert r.status_code == 200, r.text
        body = r.json()
        assert [(m["org"]["name"], m["isAdmin"]) for m in body["memberOrgs"]] == [("joinorg", True)]
        assert body["nextPageStart"] == ""
    async with inproc.client(auth=snoop) as c:
        _error(await c.get(f"{BASE}/joiner/organizations"), 403, "NOT_AUTHORIZED")
    async with inproc.client() as c:
        r = await c.get(f"{BASE}/joiner/organizations")
        assert r.status_code == 200 and len(r.json()["memberOrgs"]) == 1, r.text
