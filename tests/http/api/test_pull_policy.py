"""The pull policy over /api/v0 (who reads and changes it, bad bodies) and enforced on /v2 in
process: unsigned refused, a cosign signature with a registered key lets the pull through and a
wrong key does not, the severity rule above/below/not scanned, audit mode (an event, the pull
through), a namespace's policy against a repository's, an index's children by digest, the
signatures themselves and blobs still pullable, images dressed as signatures still refused."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Coroutine, Iterator
from typing import Any

import httpx
import pytest

from moorage.trust.keys import parse_key
from tests.auth.world import World
from tests.db.statement_log import StatementLog
from tests.http import scan_results as seed
from tests.http.api.images import OCI_INDEX, Pushed, push_image, push_index
from tests.http.scan_results import Pkg, Vuln
from tests.inprocess import ThreadedApp
from tests.trust.craft import Signer, envelope
from tests.trust.craft import root as notary_root
from tests.trust.craft import snapshot as notary_snapshot
from tests.trust.craft import targets as notary_targets
from tests.trust.signature_craft import (
    OCI_MANIFEST,
    cosign_manifest,
    cosign_sign,
    descriptor,
    new_key,
    public_pem,
    sha256,
    simple_signing,
)

Auth = tuple[str, str] | None
ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}


@pytest.fixture()
def repo(api: httpx.Client, world: World) -> Iterator[str]:
    name = f"pp{secrets.token_hex(3)}"
    r = api.post(f"/api/v0/repositories/{world.org}", json={"name": name}, auth=world.admin)
    assert r.status_code == 201, r.text
    yield f"{world.org}/{name}"


def _on_app(app: ThreadedApp, coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, app.loop).result(timeout=120)


def _policy(api: httpx.Client, path: str, auth: Auth, **body: Any) -> httpx.Response:
    return api.put(f"/api/v0/{path}/pullPolicy", json=body, auth=auth)


def _pull(
    api: httpx.Client, repo: str, ref: str, auth: Auth, method: str = "GET"
) -> httpx.Response:
    return api.request(method, f"/v2/{repo}/manifests/{ref}", headers=ACCEPT, auth=auth)


def _refusal(r: httpx.Response) -> str:
    assert r.status_code == 403, (r.status_code, r.text)
    (error,) = r.json()["errors"]
    assert error["code"] == "DENIED"
    return str(error["message"])


def _blob(api: httpx.Client, repo: str, data: bytes, auth: Auth) -> None:
    r = api.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, content=data, auth=auth
    )
    assert r.status_code == 201, r.text


def _put(api: httpx.Client, repo: str, ref: str, body: bytes, auth: Auth, media: str) -> str:
    r = api.put(
        f"/v2/{repo}/manifests/{ref}", content=body, headers={"Content-Type": media}, auth=auth
    )
    assert r.status_code == 201, r.text
    return sha256(body)


def _sign(
    api: httpx.Client, repo: str, digest: str, size: int, key: Any, auth: Auth, *, referrer: bool
) -> str:
    """A cosign signature of ``digest``: at ``sha256-<hex>.sig``, or as a referrer."""
    payload = simple_signing(digest)
    config = b"{}" if referrer else b'{"architecture":"","os":"","rootfs":{"type":"layers"}}'
    for blob in (payload, config):
        _blob(api, repo, blob, auth)
    subject = {"mediaType": OCI_MANIFEST, "digest": digest, "size": size} if referrer else None
    body = cosign_manifest([(payload, cosign_sign(key, payload))], config, subject)
    ref = sha256(body) if referrer else f"sha256-{digest.split(':')[1]}.sig"
    return _put(api, repo, ref, body, auth, OCI_MANIFEST)


def _trust(api: httpx.Client, repo: str, key: Any, auth: Auth) -> None:
    r = api.post(
        f"/api/v0/repositories/{repo}/signatureTrust", json={"pem": public_pem(key)}, auth=auth
    )
    assert r.status_code == 201, r.text


def test_who_reads_and_changes_a_policy(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/private-repo"  # erin's team: admin; dave's: read-write; carol's: read
    body = {"requireSignature": True, "maxSeverity": "high", "mode": "audit"}
    for role, status, code in (
        ("anonymous", 401, "NOT_AUTHENTICATED"),
        ("bob", 404, "NO_SUCH_REPOSITORY"),
        ("carol", 403, "NOT_AUTHORIZED"),
        ("dave", 403, "NOT_AUTHORIZED"),
    ):
        for r in (
            _policy(api, f"repositories/{repo}", world.creds(role), **body),
            api.delete(f"/api/v0/repositories/{repo}/pullPolicy", auth=world.creds(role)),
        ):
            assert r.status_code == status, (role, r.request.method, r.text)
            assert r.json()["errors"][0]["code"] == code
    path = f"/api/v0/repositories/{repo}/pullPolicy"
    missing = api.get(path, auth=world.creds("carol"))
    assert (
        missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NO_SUCH_PULL_POLICY"
    )
    r = _policy(api, f"repositories/{repo}", world.creds("erin"), **body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert {k: answer[k] for k in body} == body and answer["scope"] == "repository"
    assert answer["updatedBy"] == world.name("erin") and answer["updatedAt"].endswith("Z")
    for role in ("carol", "dave", "erin", "admin"):  # whoever sees the repository reads it
        assert api.get(path, auth=world.creds(role)).json() == answer
    for role, status in (("anonymous", 404), ("bob", 404)):  # a hidden one is a missing one
        assert api.get(path, auth=world.creds(role)).status_code == status
    public = f"/api/v0/repositories/{world.org}/public-repo/pullPolicy"
    none = api.get(public, auth=None)  # public: readable by anyone, and none is set
    assert none.status_code == 404 and none.json()["errors"][0]["code"] == "NO_SUCH_PULL_POLICY"
    assert api.delete(path, auth=world.creds("erin")).status_code == 204
    assert api.delete(path, auth=world.creds("erin")).status_code == 404

    ns = f"repositoryNamespaces/{world.org}"
    assert _policy(api, ns, world.creds("erin"), requireSignature=True).status_code == 403
    assert _policy(api, ns, None, requireSignature=True).status_code == 401
    frank = world.creds("frank")  # owner of the organization
    try:
        r = _policy(api, ns, frank, requireSignature=True)
        assert r.status_code == 200 and r.json()["scope"] == "namespace", r.text
        assert r.json()["maxSeverity"] is None and r.json()["mode"] == "enforce"
        assert api.get(f"/api/v0/{ns}/pullPolicy", auth=world.creds("bob")).json() == r.json()
        assert api.get(f"/api/v0/{ns}/pullPolicy", auth=None).status_code == 401
        inherited = api.get(path, auth=world.creds("carol"))  # in force for the repository
        assert inherited.json() == r.json()
        r = api.delete(f"/api/v0/{ns}/pullPolicy", auth=world.creds("erin"))
        assert r.status_code == 403
    finally:
        assert api.delete(f"/api/v0/{ns}/pullPolicy", auth=frank).status_code == 204
    nobody = _policy(api, "repositoryNamespaces/nobody-here", world.admin, mode="audit")
    assert nobody.status_code == 404 and nobody.json()["errors"][0]["code"] == "NO_SUCH_ACCOUNT"


def test_bad_bodies_are_400_invalid_json(api: httpx.Client, world: World, repo: str) -> None:
    path = f"/api/v0/repositories/{repo}/pullPolicy"
    for body in (
        {"requireSignature": True, "extra": 1},
        {"maxSeverity": "severe"},
        {"maxSeverity": "HIGH"},
        {"mode": "warn"},
        {"requireSignature": [1]},
        [],
        "enforce",
    ):
        r = api.put(path, json=body, auth=world.admin)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["errors"][0]["code"] == "INVALID_JSON", body
    r = api.put(path, content=b"{not json", auth=world.admin)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_JSON"
    assert api.get(path, auth=world.admin).status_code == 404  # nothing was stored


def test_unsigned_refused_signed_through_wrong_key_refused(
    api: httpx.Client, world: World, repo: str
) -> None:
    admin = world.admin  # nobody is exempt
    image = push_image(api, repo, "1.0", admin)
    assert _pull(api, repo, "1.0", admin).status_code == 200  # no policy yet
    assert _policy(api, f"repositories/{repo}", admin, requireSignature=True).status_code == 200
    expected = f"pull refused by the policy of repository {repo}: no trusted signature"
    for ref in ("1.0", image.digest):
        assert _refusal(_pull(api, repo, ref, admin)) == expected
        head = _pull(api, repo, ref, admin, "HEAD")
        assert head.status_code == 403 and not head.content

    key, stranger = new_key(), new_key()
    tagged = _sign(api, repo, image.digest, len(image.manifest), stranger, admin, referrer=False)
    _trust(api, repo, key, admin)
    assert _refusal(_pull(api, repo, "1.0", admin)) == expected  # signed, by a key not trusted
    referred = _sign(api, repo, image.digest, len(image.manifest), key, admin, referrer=True)
    for ref in ("1.0", image.digest):
        r = _pull(api, repo, ref, admin)
        assert r.status_code == 200 and r.content == image.manifest
    # The signatures stay pullable (clients read them to verify), and so do blobs.
    assert _pull(api, repo, f"sha256-{image.digest.split(':')[1]}.sig", admin).status_code == 200
    assert _pull(api, repo, tagged, admin).status_code == 200
    assert _pull(api, repo, referred, admin).status_code == 200
    assert api.get(f"/v2/{repo}/referrers/{image.digest}", auth=admin).status_code == 200
    layer, _ = image.layers[0]
    assert api.get(f"/v2/{repo}/blobs/{layer}", auth=admin).status_code == 200


def _image_doc(api: httpx.Client, repo: str, auth: Auth, **extra: Any) -> bytes:
    layer, config = secrets.token_bytes(64), b'{"architecture":"amd64","os":"linux"}'
    for blob in (layer, config):
        _blob(api, repo, blob, auth)
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)],
            **extra,
        }
    ).encode()


def test_an_image_dressed_as_a_signature_is_still_refused(
    api: httpx.Client, world: World, repo: str
) -> None:
    admin = world.admin
    signed = push_image(api, repo, "good", admin)
    key = new_key()
    _trust(api, repo, key, admin)
    _sign(api, repo, signed.digest, len(signed.manifest), key, admin, referrer=True)
    assert _policy(api, f"repositories/{repo}", admin, requireSignature=True).status_code == 200
    assert _pull(api, repo, "good", admin).status_code == 200
    # An unsigned runnable image at a cosign tag, and one claiming a subject and a signature's
    # artifact type: images all the same.
    at_tag = _image_doc(api, repo, admin)
    _put(api, repo, f"sha256-{'e' * 64}.sig", at_tag, admin, OCI_MANIFEST)
    subject = descriptor(OCI_MANIFEST, signed.manifest)
    referrer = _image_doc(
        api,
        repo,
        admin,
        subject=subject,
        artifactType="application/vnd.dev.cosign.artifact.sig.v1+json",
    )
    _put(api, repo, sha256(referrer), referrer, admin, OCI_MANIFEST)
    for ref in (f"sha256-{'e' * 64}.sig", sha256(at_tag), sha256(referrer)):
        assert "no trusted signature" in _refusal(_pull(api, repo, ref, admin))


def test_index_children_by_digest_only_through_a_signed_index(
    api: httpx.Client, world: World, repo: str
) -> None:
    admin = world.admin
    index, children = push_index(api, repo, "multi", admin)
    other, other_children = push_index(api, repo, "other", admin)
    raw_index = api.get(f"/v2/{repo}/manifests/multi", headers=ACCEPT, auth=admin).content
    key = new_key()
    _trust(api, repo, key, admin)
    payload = simple_signing(index)
    for blob in (payload, b"{}"):
        _blob(api, repo, blob, admin)
    subject = {"mediaType": OCI_INDEX, "digest": index, "size": len(raw_index)}
    body = cosign_manifest([(payload, cosign_sign(key, payload))], b"{}", subject)
    _put(api, repo, sha256(body), body, admin, OCI_MANIFEST)
    assert _policy(api, f"repositories/{repo}", admin, requireSignature=True).status_code == 200

    assert _pull(api, repo, "multi", admin).status_code == 200
    for child in children:  # docker and podman: the index, then the child by digest
        assert _pull(api, repo, child.digest, admin).status_code == 200
    # A client that takes no index gets the linux/amd64 image of the signed one.
    plain = api.get(f"/v2/{repo}/manifests/multi", headers={"Accept": OCI_MANIFEST}, auth=admin)
    assert plain.status_code == 200 and plain.content == children[0].manifest
    # Not a bypass: the children of an unsigned index, in this repository or another.
    for ref in ("other", other):
        assert "no trusted signature" in _refusal(_pull(api, repo, ref, admin))
    for child in other_children:
        assert "no trusted signature" in _refusal(_pull(api, repo, child.digest, admin))
    # The same child in another repository, where no index lists it: refused there.
    elsewhere = f"{repo}-copy"
    r = api.post(
        f"/api/v0/repositories/{world.org}", json={"name": elsewhere.split("/")[1]}, auth=admin
    )
    assert r.status_code == 201, r.text
    child = children[0]
    config = child.config
    for digest in [d for d, _ in child.layers] + [sha256(json.dumps(config).encode())]:
        r = api.post(
            f"/v2/{elsewhere}/blobs/uploads/", params={"mount": digest, "from": repo}, auth=admin
        )
        assert r.status_code == 201, r.text
    _put(api, elsewhere, child.digest, child.manifest, admin, OCI_MANIFEST)
    assert (
        _policy(api, f"repositories/{elsewhere}", admin, requireSignature=True).status_code == 200
    )
    assert "no trusted signature" in _refusal(_pull(api, elsewhere, child.digest, admin))


def _scan(app: ThreadedApp, image: Pushed, *vulns: Vuln, status: str = "scanned") -> None:
    layers = [d for d, _ in image.layers]
    packages = [Pkg("libssl3", "3.0.11", 0, source="openssl", vulns=tuple(vulns))]
    _on_app(app, seed.scan(app.app, image.digest, layers, packages, status=status))


def test_the_severity_rule(
    api: httpx.Client, world: World, repo: str, app_registry: ThreadedApp
) -> None:
    admin = world.admin
    image = push_image(api, repo, "v1", admin)
    assert _policy(api, f"repositories/{repo}", admin, maxSeverity="medium").status_code == 200
    why = _refusal(_pull(api, repo, "v1", admin))
    assert why.startswith(f"pull refused by the policy of repository {repo}: image {image.digest}")
    assert "no completed vulnerability scan (not scanned)" in why
    _scan(app_registry, image, status="queued")
    assert "(queued)" in _refusal(_pull(api, repo, "v1", admin))
    high = Vuln("CVE-2023-5678", "critical", 7.5)
    _scan(app_registry, image, high, Vuln("CVE-2024-1", "minor", 2.0))
    assert _refusal(_pull(api, repo, "v1", admin)).endswith(
        ": a high vulnerability (CVE-2023-5678 in libssl3), above the allowed maximum medium"
    )
    assert _policy(api, f"repositories/{repo}", admin, maxSeverity="high").status_code == 200
    assert _pull(api, repo, "v1", admin).status_code == 200  # at the maximum, not above
    both = {"maxSeverity": "high", "requireSignature": True}
    assert _policy(api, f"repositories/{repo}", admin, **both).status_code == 200
    assert _refusal(_pull(api, repo, "v1", admin)).endswith(": no trusted signature")

    index, children = push_index(api, repo, "multi", admin)
    assert _policy(api, f"repositories/{repo}", admin, maxSeverity="low").status_code == 200
    _scan(app_registry, children[0])
    why = _refusal(_pull(api, repo, "multi", admin))
    assert children[1].digest in why and "not scanned" in why  # every platform, or none
    _scan(app_registry, children[1], Vuln("CVE-2024-2", "minor", 3.1))
    assert _pull(api, repo, "multi", admin).status_code == 200
    assert _pull(api, repo, index, admin).status_code == 200


def test_audit_mode_records_and_lets_through(
    api: httpx.Client, world: World, repo: str, caplog: pytest.LogCaptureFixture
) -> None:
    admin = world.admin
    image = push_image(api, repo, "v1", admin)
    body = {"requireSignature": True, "mode": "audit"}
    assert _policy(api, f"repositories/{repo}", admin, **body).status_code == 200
    with caplog.at_level(logging.WARNING, logger="moorage.pull_policy"):
        r = _pull(api, repo, "v1", admin)
    assert r.status_code == 200 and r.content == image.manifest
    expected = f"pull refused by the policy of repository {repo}: no trusted signature"
    assert any(expected in m and "audit" in m for m in caplog.messages)
    events = api.get(
        f"/api/v0/repositories/{repo}/events", params={"pageSize": 50}, auth=admin
    ).json()["events"]
    (audit,) = [e for e in events if e["type"] == "PULL_POLICY_AUDIT"]
    assert audit["actor"] == admin[0] and audit["object"] == {
        "type": "TAG",
        "id": "v1",
        "name": "v1",
        "content": audit["object"]["content"],
    }
    assert audit["details"]["message"] == expected and audit["details"]["digest"] == image.digest
    assert audit["details"]["reasons"] == ["no trusted signature"]
    filtered = api.get(
        f"/api/v0/repositories/{repo}/events",
        params={"eventType": "PULL_POLICY_AUDIT", "pageSize": 50},
        auth=admin,
    )
    assert filtered.status_code == 200, filtered.text
    assert [e["id"] for e in filtered.json()["events"]] == [audit["id"]]


def test_a_namespace_policy_and_a_repository_policy(api: httpx.Client, world: World) -> None:
    alice = world.creds("alice")  # admin of her own namespace
    ns, name = world.name("alice"), f"{world.name('alice')}/pp{secrets.token_hex(3)}"
    r = api.post(f"/api/v0/repositories/{ns}", json={"name": name.split("/")[1]}, auth=alice)
    assert r.status_code == 201, r.text
    push_image(api, name, "v1", alice)
    try:
        r = _policy(api, f"repositoryNamespaces/{ns}", alice, requireSignature=True)
        assert r.status_code == 200, r.text
        why = _refusal(_pull(api, name, "v1", alice))
        assert why == f"pull refused by the policy of namespace {ns}: no trusted signature"
        # The repository's own policy wins, even one that sets no rule.
        assert _policy(api, f"repositories/{name}", alice, mode="enforce").status_code == 200
        assert _pull(api, name, "v1", alice).status_code == 200
        assert api.get(f"/api/v0/repositories/{name}/pullPolicy", auth=alice).json()["scope"] == (
            "repository"
        )
        assert api.delete(f"/api/v0/repositories/{name}/pullPolicy", auth=alice).status_code == 204
        assert "namespace" in _refusal(_pull(api, name, "v1", alice))
    finally:
        api.delete(f"/api/v0/repositoryNamespaces/{ns}/pullPolicy", auth=alice)
    assert _pull(api, name, "v1", alice).status_code == 200


def test_a_policy_goes_with_its_repository(api: httpx.Client, world: World, repo: str) -> None:
    r = _policy(api, f"repositories/{repo}", world.admin, requireSignature=True)
    assert r.status_code == 200, r.text
    assert api.delete(f"/api/v0/repositories/{repo}", auth=world.admin).status_code == 204
    namespace, name = repo.split("/")
    r = api.post(f"/api/v0/repositories/{namespace}", json={"name": name}, auth=world.admin)
    assert r.status_code == 201
    assert api.get(f"/api/v0/repositories/{repo}/pullPolicy", auth=world.admin).status_code == 404
    push_image(api, repo, "v1", world.admin)
    assert _pull(api, repo, "v1", world.admin).status_code == 200


def test_no_policy_costs_one_statement_per_pull(
    api: httpx.Client, world: World, repo: str, statements: StatementLog
) -> None:
    push_image(api, repo, "v1", world.admin)
    start = len(statements.started)
    for _ in range(3):
        assert _pull(api, repo, "v1", world.admin).status_code == 200
    read = [s for _, s in statements.started[start:] if "pull_policies" in s]
    assert len(read) == 3  # one per manifest GET


def test_every_caller_is_refused_alike(api: httpx.Client, world: World) -> None:
    """Anonymous pullers of a public repository, readers, writers and administrators get the
    same refusal; a caller who may not pull at all is refused by authorization first and
    learns nothing of the policy."""
    public, private = f"{world.org}/public-repo", f"{world.org}/private-repo"
    push_image(api, public, "v1", world.admin)
    push_image(api, private, "v1", world.admin)
    for repo in (public, private):
        r = _policy(api, f"repositories/{repo}", world.admin, requireSignature=True)
        assert r.status_code == 200, r.text
    try:
        expected = f"pull refused by the policy of repository {public}: no trusted signature"
        for role in ("anonymous", "bob", "carol", "dave", "erin", "admin"):
            assert _refusal(_pull(api, public, "v1", world.creds(role))) == expected, role
        for role in ("anonymous", "bob"):
            hidden = _pull(api, private, "v1", world.creds(role))
            assert hidden.status_code in (401, 403), (role, hidden.text)
            assert "pull refused by the policy" not in hidden.text
    finally:
        for repo in (public, private):
            r = api.delete(f"/api/v0/repositories/{repo}/pullPolicy", auth=world.admin)
            assert r.status_code == 204
    assert _pull(api, public, "v1", None).status_code == 200


def _notary_publish(
    api: httpx.Client,
    gun: str,
    own: dict[str, bytes],
    delegated: dict[str, bytes],
    auth: Auth,
    *,
    listed_too: Signer | None = None,
) -> tuple[Signer, Signer]:
    """Docker Content Trust data for ``gun`` made by its publisher (root, targets and snapshot
    keys of their own): ``targets`` signs ``own``, a ``targets/releases`` delegate (an x509 key,
    as ``docker trust signer add`` makes) signs ``delegated``. ``listed_too``: a key the root
    also names for ``targets`` without it signing anything. Returns (targets key, delegate)."""
    r = api.get(f"/v2/{gun}/_trust/tuf/timestamp.key", auth=auth)
    assert r.status_code == 200, r.text
    root_key, targets_key, snapshot_key = Signer("ecdsa-x509", cn=gun), Signer(), Signer()
    delegate = Signer("ecdsa-x509", cn="releaser")
    names = [targets_key, listed_too] if listed_too else [targets_key]
    doc = notary_root(1, [root_key], names, [snapshot_key.public], [parse_key(r.json())])
    roles = {"root": envelope(doc, root_key)}
    releases = [("targets/releases", [delegate], 1, [""])]
    roles["targets"] = envelope(notary_targets(1, own, releases), targets_key)
    roles["targets/releases"] = envelope(notary_targets(1, delegated), delegate)
    roles["snapshot"] = envelope(notary_snapshot(1, dict(roles)), snapshot_key)
    files = [("files", (f"{n}.json", raw, "application/octet-stream")) for n, raw in roles.items()]
    r = api.post(f"/v2/{gun}/_trust/tuf/", files=files, auth=auth)
    assert r.status_code == 200, r.text
    return targets_key, delegate


def test_docker_content_trust_counts_only_for_registered_signers(
    api: httpx.Client, world: World, repo: str
) -> None:
    """A Notary repository's root is whoever first publishes trust data: any writer. So a
    verified Notary target lets a pull through only when a key an administrator registered
    signed its role (the targets key, or the delegate's certificate). The publisher here is an
    administrator: publishing trust data is not registering a signer, whoever does it."""
    admin = writer = world.admin
    own, delegated = push_image(api, repo, "1.0", writer), push_image(api, repo, "2.0", writer)
    gun = f"{api.base_url.netloc.decode()}/{repo}"
    targets_key, delegate = _notary_publish(
        api, gun, {"1.0": own.manifest}, {"2.0": delegated.manifest}, writer
    )
    assert _policy(api, f"repositories/{repo}", admin, requireSignature=True).status_code == 200
    r = api.get(f"/api/v0/repositories/{repo}/tags/1.0", auth=admin)
    (notary,) = r.json()[0]["signatures"]
    assert notary["kind"] == "notary" and notary["verified"], notary  # verified, not registered
    expected = f"pull refused by the policy of repository {repo}: no trusted signature"
    for tag in ("1.0", "2.0"):
        assert _refusal(_pull(api, repo, tag, writer)) == expected

    _trust(api, repo, targets_key.private, admin)  # the targets key, as a public key
    assert _pull(api, repo, "1.0", writer).content == own.manifest
    assert _refusal(_pull(api, repo, "2.0", writer)) == expected  # the delegate is not registered
    cert = delegate.public.public.decode()
    r = api.post(
        f"/api/v0/repositories/{repo}/signatureTrust",
        json={"pem": cert, "kind": "certificate"},
        auth=admin,
    )
    assert r.status_code == 201, r.text
    assert _pull(api, repo, "2.0", writer).content == delegated.manifest


def test_naming_a_registered_key_without_its_signature_does_not_count(
    api: httpx.Client, world: World, repo: str
) -> None:
    """A publisher who lists an administrator's registered public key among the targets keys
    (public keys are public) but signs with their own key gains nothing."""
    admin = writer = world.admin
    image = push_image(api, repo, "1.0", writer)
    registered = Signer()
    _trust(api, repo, registered.private, admin)
    gun = f"{api.base_url.netloc.decode()}/{repo}"
    _notary_publish(api, gun, {"1.0": image.manifest}, {}, writer, listed_too=registered)
    assert _policy(api, f"repositories/{repo}", admin, requireSignature=True).status_code == 200
    message = _refusal(_pull(api, repo, "1.0", writer))
    assert message.endswith("no trusted signature"), message
