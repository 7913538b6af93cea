"""Signature trust over /api/v0 and the signatures of a tag: cosign (tag scheme and referrer)
and Notation signatures pushed in-process, verified against what an administrator registered
for the repository or its namespace; only administrators register trust."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx

from moorage.trust.keys import parse_key
from moorage.trust.signatures.cosign import load_public_key
from tests.auth.world import World
from tests.http.api.images import Pushed, push_image
from tests.trust.craft import Signer, envelope, root, snapshot, targets
from tests.trust.signature_craft import (
    COSE,
    JOSE,
    OCI_MANIFEST,
    Pki,
    cose_envelope,
    cosign_manifest,
    cosign_sign,
    descriptor,
    jws_envelope,
    key_id,
    new_key,
    notation_manifest,
    public_pem,
    sha256,
    simple_signing,
)

Auth = tuple[str, str] | None


def _repo(api: httpx.Client, world: World) -> str:
    name = f"signed{uuid.uuid4().hex[:6]}"
    r = api.post(f"/api/v0/repositories/{world.org}", json={"name": name}, auth=world.admin)
    assert r.status_code == 201, r.text
    return f"{world.org}/{name}"


def _blob(api: httpx.Client, repo: str, data: bytes, auth: Auth) -> None:
    r = api.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, content=data, auth=auth
    )
    assert r.status_code == 201, r.text


def _manifest(api: httpx.Client, repo: str, ref: str, body: bytes, auth: Auth) -> str:
    r = api.put(
        f"/v2/{repo}/manifests/{ref}",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
        auth=auth,
    )
    assert r.status_code == 201, r.text
    return sha256(body)


def _subject(image: Pushed) -> dict[str, Any]:
    return descriptor(OCI_MANIFEST, image.manifest)


def _cosign(
    api: httpx.Client, repo: str, image: Pushed, key: Any, auth: Auth, *, referrer: bool = False
) -> str:
    """cosign's signature of ``image``: at ``sha256-<hex>.sig``, or as a referrer."""
    payload = simple_signing(image.digest)
    config = b"{}" if referrer else b'{"architecture":"","os":"","rootfs":{"type":"layers"}}'
    for blob in (payload, config):
        _blob(api, repo, blob, auth)
    body = cosign_manifest(
        [(payload, cosign_sign(key, payload))], config, _subject(image) if referrer else None
    )
    ref = sha256(body) if referrer else f"sha256-{image.digest.split(':')[1]}.sig"
    return _manifest(api, repo, ref, body, auth)


def _notation(
    api: httpx.Client, repo: str, image: Pushed, pki: Pki, auth: Auth, *, cose: bool = False
) -> str:
    envelope = (cose_envelope if cose else jws_envelope)(pki, _subject(image))
    for blob in (envelope, b"{}"):
        _blob(api, repo, blob, auth)
    body = notation_manifest(envelope, _subject(image), pki, COSE if cose else JOSE)
    return _manifest(api, repo, sha256(body), body, auth)


def _signatures(api: httpx.Client, repo: str, tag: str, auth: Auth) -> list[dict[str, Any]]:
    r = api.get(f"/api/v0/repositories/{repo}/tags/{tag}", auth=auth)
    assert r.status_code == 200, r.text
    entry = r.json()[0]
    assert entry["name"] == tag and "vuln_summary" in entry  # DTR's fields stay
    found: list[dict[str, Any]] = entry.get("signatures", [])  # absent when unsigned
    return sorted(found, key=lambda s: (s["kind"], s["source"]))


def _trust(api: httpx.Client, path: str, pem: str, auth: Auth) -> httpx.Response:
    return api.post(f"/api/v0/{path}/signatureTrust", json={"pem": pem}, auth=auth)


def test_cosign_signatures_by_tag_and_referrer(api: httpx.Client, world: World) -> None:
    repo, admin = _repo(api, world), world.admin
    image = push_image(api, repo, "1.0", admin)
    unsigned = api.get(f"/api/v0/repositories/{repo}/tags/1.0", auth=admin).json()[0]
    assert "signatures" not in unsigned  # DTR's shape when nothing signed it
    key, stranger = new_key(), new_key("ed25519")
    tagged = _cosign(api, repo, image, key, admin)
    referred = _cosign(api, repo, image, stranger, admin, referrer=True)
    unverified = {s["source"]: s for s in _signatures(api, repo, "1.0", admin)}
    assert set(unverified) == {tagged, referred}
    assert not any(s["verified"] for s in unverified.values())
    assert "no cosign public key is registered" in unverified[tagged]["reason"]

    r = _trust(api, f"repositories/{repo}", public_pem(key), admin)
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "publicKey" and r.json()["fingerprint"] == key_id(key)
    assert r.json()["scope"] == "repository" and r.json()["createdBy"] == admin[0]
    found = {s["source"]: s for s in _signatures(api, repo, "1.0", admin)}
    assert found[tagged] == {
        "kind": "cosign",
        "signers": [key_id(key)],
        "verified": True,
        "reason": "",
        "source": tagged,
    }
    assert not found[referred]["verified"]
    assert found[referred]["reason"] == "no registered public key verifies the signature"

    r = api.delete(
        f"/api/v0/repositories/{repo}/signatureTrust",
        params={"fingerprint": key_id(key)},
        auth=admin,
    )
    assert r.status_code == 204
    assert not any(s["verified"] for s in _signatures(api, repo, "1.0", admin))


def test_a_signature_of_another_image_does_not_count(api: httpx.Client, world: World) -> None:
    repo, admin = _repo(api, world), world.admin
    image, other = push_image(api, repo, "a", admin), push_image(api, repo, "b", admin)
    key = new_key()
    assert _trust(api, f"repositories/{repo}", public_pem(key), admin).status_code == 201
    # b's signature manifest put where a's signatures are looked for
    payload = simple_signing(other.digest)
    config = b"{}"
    for blob in (payload, config):
        _blob(api, repo, blob, admin)
    body = cosign_manifest([(payload, cosign_sign(key, payload))], config)
    _manifest(api, repo, f"sha256-{image.digest.split(':')[1]}.sig", body, admin)
    (found,) = _signatures(api, repo, "a", admin)
    assert not found["verified"] and found["signers"] == [key_id(key)]
    assert found["reason"] == f"the payload signs {other.digest}, not this manifest"


def test_notation_signatures_against_namespace_roots(api: httpx.Client, world: World) -> None:
    repo, admin = _repo(api, world), world.admin
    image = push_image(api, repo, "v1", admin)
    pki = Pki()
    source = _notation(api, repo, image, pki, admin)
    (before,) = _signatures(api, repo, "v1", admin)
    assert before["kind"] == "notation" and before["signers"] == [pki.subject]
    assert not before["verified"] and "no root certificate" in before["reason"]

    frank = world.creds("frank")  # owner of the organization: admin of its namespace
    r = _trust(api, f"repositoryNamespaces/{world.org}", Pki().root_pem, frank)
    assert r.status_code == 201, r.text
    (untrusted,) = _signatures(api, repo, "v1", admin)
    assert not untrusted["verified"] and "not trusted" in untrusted["reason"]

    r = _trust(api, f"repositoryNamespaces/{world.org}", pki.root_pem, frank)
    assert r.status_code == 201 and r.json()["kind"] == "certificate"
    assert r.json()["scope"] == "namespace" and "wabbit-networks.io root" in r.json()["subject"]
    (after,) = _signatures(api, repo, "v1", admin)
    assert after == {
        "kind": "notation",
        "signers": [pki.subject],
        "verified": True,
        "reason": "",
        "source": source,
    }
    listed = api.get(f"/api/v0/repositories/{repo}/signatureTrust", auth=admin).json()
    assert [e["scope"] for e in listed] == ["namespace", "namespace"]
    for entry in listed:
        r = api.delete(
            f"/api/v0/repositoryNamespaces/{world.org}/signatureTrust",
            params={"fingerprint": entry["fingerprint"]},
            auth=frank,
        )
        assert r.status_code == 204


def test_only_administrators_manage_trust(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/private-repo"  # erin's team: admin; dave's: read-write; carol's: read-only
    path = f"/api/v0/repositories/{repo}/signatureTrust"
    pem = public_pem(new_key())
    for role, status, code in (
        ("anonymous", 401, "NOT_AUTHENTICATED"),
        ("bob", 404, "NO_SUCH_REPOSITORY"),
        ("carol", 403, "NOT_AUTHORIZED"),
        ("dave", 403, "NOT_AUTHORIZED"),
    ):
        for r in (
            api.post(path, json={"pem": pem}, auth=world.creds(role)),
            api.get(path, auth=world.creds(role)),
            api.delete(path, params={"fingerprint": "ab"}, auth=world.creds(role)),
        ):
            assert r.status_code == status, (role, r.request.method, r.text)
            assert r.json()["errors"][0]["code"] == code
    erin = world.creds("erin")
    r = api.post(path, json={"pem": pem}, auth=erin)
    assert r.status_code == 201, r.text
    assert api.post(path, json={"pem": pem}, auth=erin).status_code == 409
    # a repository's admin is not the namespace's
    ns_path = f"/api/v0/repositoryNamespaces/{world.org}/signatureTrust"
    assert api.post(ns_path, json={"pem": pem}, auth=erin).status_code == 403
    assert api.get(ns_path, auth=world.creds("dave")).status_code == 403
    missing = api.get("/api/v0/repositoryNamespaces/nobody-here/signatureTrust", auth=erin)
    assert missing.status_code == 404
    r = api.delete(path, params={"fingerprint": key_id_of(pem)}, auth=erin)
    assert r.status_code == 204
    again = api.delete(path, params={"fingerprint": key_id_of(pem)}, auth=erin)
    assert again.status_code == 404
    assert again.json()["errors"][0]["code"] == "NO_SUCH_SIGNATURE_TRUST"


def key_id_of(pem: str) -> str:
    return load_public_key(pem.encode()).key_id


def test_bad_pem_is_400_in_dtrs_envelope(api: httpx.Client, world: World) -> None:
    repo = _repo(api, world)
    path = f"/api/v0/repositories/{repo}/signatureTrust"
    cert = Pki().root_pem
    for body in (
        {"pem": "not a key"},
        {"pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"},
        {"pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
        {"pem": cert + cert},
        {"pem": cert, "kind": "publicKey"},
    ):
        r = api.post(path, json=body, auth=world.admin)
        assert r.status_code == 400, (body, r.text)
        (error,) = r.json()["errors"]
        assert error["code"] == "INVALID_SIGNATURE_TRUST" and error["message"]
    r = api.post(path, json={"pem": cert, "extra": 1}, auth=world.admin)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_JSON"
    assert api.get(path, auth=world.admin).json() == []


def test_trust_goes_with_its_repository(api: httpx.Client, world: World) -> None:
    repo = _repo(api, world)
    assert (
        _trust(api, f"repositories/{repo}", public_pem(new_key()), world.admin).status_code == 201
    )
    assert api.delete(f"/api/v0/repositories/{repo}", auth=world.admin).status_code == 204
    namespace, name = repo.split("/")
    r = api.post(f"/api/v0/repositories/{namespace}", json={"name": name}, auth=world.admin)
    assert r.status_code == 201
    assert api.get(f"/api/v0/repositories/{repo}/signatureTrust", auth=world.admin).json() == []


def test_listing_dates_are_rfc3339(api: httpx.Client, world: World) -> None:
    repo = _repo(api, world)
    _trust(api, f"repositories/{repo}", public_pem(new_key()), world.admin)
    (entry,) = api.get(f"/api/v0/repositories/{repo}/signatureTrust", auth=world.admin).json()
    assert entry["createdAt"].endswith("Z")
    assert dt.datetime.fromisoformat(entry["createdAt"].replace("Z", "+00:00"))


def test_docker_content_trust_targets_show_as_notary_signatures(
    api: httpx.Client, world: World
) -> None:
    repo, admin = _repo(api, world), world.admin
    image = push_image(api, repo, "1.0", admin)
    gun = repo  # a GUN without a registry host names the repository itself
    r = api.get(f"/v2/{gun}/_trust/tuf/timestamp.key", auth=admin)
    assert r.status_code == 200, r.text
    root_key, targets_key, snapshot_key = Signer("ecdsa-x509", cn=gun), Signer(), Signer()
    doc = root(1, [root_key], [targets_key], [snapshot_key.public], [parse_key(r.json())])
    root_bytes = envelope(doc, root_key)
    targets_bytes = envelope(targets(1, {"1.0": image.manifest}), targets_key)
    snap = envelope(snapshot(1, {"root": root_bytes, "targets": targets_bytes}), snapshot_key)
    files = [
        ("files", (f"{role}.json", raw, "application/octet-stream"))
        for role, raw in (("root", root_bytes), ("targets", targets_bytes), ("snapshot", snap))
    ]
    r = api.post(f"/v2/{gun}/_trust/tuf/", files=files, auth=admin)
    assert r.status_code == 200, r.text
    (found,) = _signatures(api, repo, "1.0", admin)
    assert found == {
        "kind": "notary",
        "signers": ["targets"],
        "verified": True,
        "reason": "",
        "source": f"{gun} targets: 1.0",
    }


def test_a_cose_notation_signature_verifies(api: httpx.Client, world: World) -> None:
    repo, admin = _repo(api, world), world.admin
    image, pki = push_image(api, repo, "v2", admin), Pki()
    cose = _notation(api, repo, image, pki, admin, cose=True)
    assert _trust(api, f"repositories/{repo}", pki.root_pem, admin).status_code == 201
    (found,) = _signatures(api, repo, "v2", admin)
    assert found["source"] == cose and found["signers"] == [pki.subject]
    assert found["verified"], found["reason"]
