"""``POST /api/v0/repositories/{ns}/{repo}/contentTrust/migrate`` on the in-process app: a
repository signed with Docker Content Trust through the Notary API (``targets`` and a
``targets/releases`` delegate), migrated; the records are listed as referrers, verified in the
tag's signatures, written once; a tag Notary signed for another manifest and an unsigned tag
are skipped with their reasons; only the repository's administrators may run it; a record
forged by a writer, or left without its Notary root, is not verified."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from moorage.trust.keys import parse_key
from moorage.trust.signatures import dct_referrers as rec
from tests.auth.world import World
from tests.http.api.images import OCI_MANIFEST, Pushed, pages, push_image
from tests.trust.craft import Signer, envelope, root, snapshot, targets
from tests.trust.signature_craft import sha256

Auth = tuple[str, str] | None


def _repo(api: httpx.Client, world: World) -> str:
    name = f"dct{uuid.uuid4().hex[:6]}"
    r = api.post(f"/api/v0/repositories/{world.org}", json={"name": name}, auth=world.admin)
    assert r.status_code == 201, r.text
    return f"{world.org}/{name}"


@dataclass
class Signed:
    repo: str
    gun: str
    images: dict[str, Pushed]  # tag → the image it names now
    old: Pushed  # what Notary signed for "moved" before the tag moved
    root_key: Signer


def _publish(api: httpx.Client, gun: str, files: dict[str, bytes], auth: Auth) -> Signer:
    """Notary metadata for ``gun``: ``targets`` signs ``files`` but ``2.0``, which the
    ``targets/releases`` delegate (an x509 key, as docker trust signer add makes) signs."""
    r = api.get(f"/v2/{gun}/_trust/tuf/timestamp.key", auth=auth)
    assert r.status_code == 200, r.text
    root_key, targets_key, snapshot_key = Signer("ecdsa-x509", cn=gun), Signer(), Signer()
    delegate = Signer("ecdsa-x509", cn="alice")
    doc = root(1, [root_key], [targets_key], [snapshot_key.public], [parse_key(r.json())])
    roles = {"root": envelope(doc, root_key)}
    own = {tag: data for tag, data in files.items() if tag != "2.0"}
    releases = [("targets/releases", [delegate], 1, [""])]
    roles["targets"] = envelope(targets(1, own, releases), targets_key)
    roles["targets/releases"] = envelope(targets(1, {"2.0": files["2.0"]}), delegate)
    roles["snapshot"] = envelope(snapshot(1, dict(roles)), snapshot_key)
    uploads = [
        ("files", (f"{role}.json", raw, "application/octet-stream")) for role, raw in roles.items()
    ]
    r = api.post(f"/v2/{gun}/_trust/tuf/", files=uploads, auth=auth)
    assert r.status_code == 200, r.text
    return root_key


def _signed_repository(api: httpx.Client, world: World) -> Signed:
    repo, admin = _repo(api, world), world.admin
    old = push_image(api, repo, "moved", admin)
    images = {tag: push_image(api, repo, tag, admin) for tag in ("1.0", "2.0", "plain")}
    host = api.base_url.netloc.decode()
    gun = f"{host}/{repo}"  # as docker trust names it: the registry's host, then the repository
    files = {"1.0": images["1.0"].manifest, "2.0": images["2.0"].manifest}
    root_key = _publish(api, gun, files | {"moved": old.manifest}, admin)
    images["moved"] = push_image(api, repo, "moved", admin)  # the tag moves after signing
    return Signed(repo, gun, images, old, root_key)


def _migrate(api: httpx.Client, repo: str, auth: Auth) -> httpx.Response:
    return api.post(f"/api/v0/repositories/{repo}/contentTrust/migrate", auth=auth)


def _referrers(api: httpx.Client, repo: str, digest: str, auth: Auth) -> list[dict[str, Any]]:
    r = api.get(f"/v2/{repo}/referrers/{digest}", auth=auth)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["manifests"]
    return found


def _signatures(api: httpx.Client, repo: str, tag: str, auth: Auth) -> list[dict[str, Any]]:
    r = api.get(f"/api/v0/repositories/{repo}/tags/{tag}", auth=auth)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()[0].get("signatures", [])
    return sorted(found, key=lambda s: (s["kind"], s["source"]))


def test_a_signed_repository_migrates_once(api: httpx.Client, world: World) -> None:
    signed, admin = _signed_repository(api, world), world.admin
    repo, images = signed.repo, signed.images
    assert signed.gun == f"{api.base_url.netloc.decode()}/{repo}" != repo  # host-prefixed
    r = _migrate(api, repo, admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["repository"] == repo and body["migratedCount"] == 2
    migrated = {m["tag"]: m for m in body["migrated"]}
    assert sorted(migrated) == ["1.0", "2.0"]
    assert migrated["1.0"]["role"] == "targets" and migrated["1.0"]["gun"] == signed.gun
    assert migrated["2.0"]["role"] == "targets/releases"
    for tag, entry in migrated.items():
        assert entry["digest"] == images[tag].digest
    skipped = {s["tag"]: s for s in body["skipped"]}
    assert sorted(skipped) == ["moved", "plain"]
    assert skipped["moved"]["reason"] == "digestMismatch"
    assert (
        skipped["moved"]["role"] == "targets" and signed.old.digest in skipped["moved"]["message"]
    )
    assert skipped["moved"]["digest"] == images["moved"].digest
    assert skipped["plain"]["reason"] == "noTarget" and skipped["plain"]["role"] == ""

    for tag, entry in migrated.items():
        (listed,) = _referrers(api, repo, images[tag].digest, admin)
        assert listed["digest"] == entry["referrer"]
        assert listed["artifactType"] == rec.ARTIFACT_TYPE
        assert listed["annotations"][rec.ROLE_ANNOTATION] == entry["role"]
        assert listed["annotations"][rec.TARGET_ANNOTATION] == tag
        stored = api.get(
            f"/v2/{repo}/manifests/{entry['referrer']}",
            headers={"Accept": OCI_MANIFEST},
            auth=admin,
        )
        assert stored.status_code == 200
        assert json.loads(stored.content)["subject"]["digest"] == images[tag].digest
        assert sha256(stored.content) == entry["referrer"]
        found = {s["kind"]: s for s in _signatures(api, repo, tag, admin)}
        assert found[rec.KIND] == {
            "kind": rec.KIND,
            "signers": [entry["role"]],
            "verified": True,
            "reason": "",
            "source": entry["referrer"],
        }
        assert found["notary"]["verified"]
    assert _referrers(api, repo, images["moved"].digest, admin) == []
    assert _referrers(api, repo, images["plain"].digest, admin) == []
    pushes = pages(api, f"/api/v0/repositories/{repo}/events", admin, "events")
    recorded = {e["object"]["id"]: e["actor"] for e in pushes if e["type"] == "MANIFEST_PUSH"}
    assert all(recorded.get(m["referrer"]) == admin[0] for m in migrated.values())

    again = _migrate(api, repo, admin)
    assert again.status_code == 200, again.text
    assert again.json()["migrated"] == [] and again.json()["migratedCount"] == 0
    repeated = {s["tag"]: s for s in again.json()["skipped"]}
    for tag, entry in migrated.items():
        assert repeated[tag]["reason"] == "alreadyMigrated"
        assert repeated[tag]["referrer"] == entry["referrer"]
        assert len(_referrers(api, repo, images[tag].digest, admin)) == 1
    assert repeated["moved"]["reason"] == "digestMismatch"
    after = pages(api, f"/api/v0/repositories/{repo}/events", admin, "events")
    pushed = [e["object"]["id"] for e in after if e["type"] == "MANIFEST_PUSH"]
    assert sorted(pushed) == sorted(recorded)  # the second run pushed nothing


def test_only_administrators_of_the_repository_migrate(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/private-repo"  # erin's team: admin; dave's: read-write; carol's: read-only
    pushed = push_image(api, repo, f"t{uuid.uuid4().hex[:4]}", world.admin)
    for role, status, code in (
        ("anonymous", 401, "NOT_AUTHENTICATED"),
        ("bob", 404, "NO_SUCH_REPOSITORY"),
        ("carol", 403, "NOT_AUTHORIZED"),
        ("dave", 403, "NOT_AUTHORIZED"),
    ):
        r = _migrate(api, repo, world.creds(role))
        assert r.status_code == status, (role, r.text)
        assert r.json()["errors"][0]["code"] == code
    missing = _migrate(api, f"{world.org}/no-such-repo", world.admin)
    assert missing.status_code == 404
    r = _migrate(api, repo, world.creds("erin"))
    assert r.status_code == 200, r.text
    assert r.json()["migrated"] == []
    assert {s["reason"] for s in r.json()["skipped"]} == {"noTarget"}
    assert _referrers(api, repo, pushed.digest, world.admin) == []
    # another repository's signatures are not this one's: nothing is written there
    other = _signed_repository(api, world)
    assert _migrate(api, repo, world.creds("erin")).json()["migrated"] == []
    assert _referrers(api, repo, other.images["1.0"].digest, world.admin) == []


def test_a_forged_record_is_not_verified(api: httpx.Client, world: World) -> None:
    """A writer pushes a record of their own making: a root of their own for the same GUN,
    its chain signing the image; it verifies on its bytes but anchors nowhere."""
    signed, admin = _signed_repository(api, world), world.admin
    repo, image = signed.repo, signed.images["1.0"]
    dave = world.creds("dave")
    r = api.put(
        f"/api/v0/repositories/{repo}/teamAccess/rw", json={"accessLevel": "read-write"}, auth=admin
    )
    assert r.status_code == 200, r.text
    forger_root, forger_targets = Signer("ecdsa-x509", cn=signed.gun), Signer()
    other = Signer()
    doc = root(1, [forger_root], [forger_targets], [other.public], [other.public])
    stored = {
        "root": envelope(doc, forger_root),
        "targets": envelope(targets(1, {"1.0": image.manifest}), forger_targets),
    }
    chain = rec.build_chain(signed.gun, "targets", "1.0", stored)
    assert isinstance(chain, rec.Chain)
    subject = {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": len(image.manifest)}
    body, blobs = rec.manifest(chain, subject, dt.datetime.now(dt.UTC))
    for blob in dict.fromkeys(blobs):
        up = api.post(
            f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(blob)}, content=blob, auth=dave
        )
        assert up.status_code == 201, up.text
    put = api.put(
        f"/v2/{repo}/manifests/{sha256(body)}",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
        auth=dave,
    )
    assert put.status_code == 201, put.text
    (forged,) = [s for s in _signatures(api, repo, "1.0", admin) if s["kind"] == rec.KIND]
    assert forged["source"] == sha256(body) and not forged["verified"]
    assert "not the current root" in forged["reason"]


def test_a_record_outlives_its_notary_data_once_its_root_is_trusted(
    api: httpx.Client, world: World
) -> None:
    signed, admin = _signed_repository(api, world), world.admin
    repo = signed.repo
    assert _migrate(api, repo, admin).json()["migratedCount"] == 2
    r = api.delete(f"/v2/{signed.gun}/_trust/tuf/", auth=admin)
    assert r.status_code == 200, r.text
    (left,) = _signatures(api, repo, "1.0", admin)  # the Notary roles are gone, the record stays
    assert left["kind"] == rec.KIND and not left["verified"]
    assert "not the current root" in left["reason"]
    pem = signed.root_key.public.public.decode()  # the root certificate, as Notary holds it
    r = api.post(f"/api/v0/repositories/{repo}/signatureTrust", json={"pem": pem}, auth=admin)
    assert r.status_code == 201, r.text
    (trusted,) = _signatures(api, repo, "1.0", admin)
    assert trusted["kind"] == rec.KIND and trusted["verified"], trusted["reason"]
    # with no Notary data left, a migration finds nothing to sign: every tag is skipped
    after = _migrate(api, repo, admin).json()
    assert after["migrated"] == [] and {s["reason"] for s in after["skipped"]} == {"noTarget"}
