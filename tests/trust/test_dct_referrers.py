"""The Docker Content Trust record (``trust.signatures.dct_referrers``): built from Notary
metadata crafted in the test, read back from its manifest and blobs, and verified offline; a
tampered byte, another root, another digest, another repository, a lapsed role, a role
outside its delegation and a swapped signer layer are not verified."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509

from moorage.oci.digest import Digest
from moorage.trust.metadata import parse
from moorage.trust.signatures import dct_referrers as rec
from tests.trust.craft import EARLIER, NOW, Signer, envelope, root, targets

GUN = "registry.example.com/team/app"
REPOSITORY = "team/app"
IMAGE = json.dumps({"schemaVersion": 2, "layers": [], "note": "the signed image"}).encode()
OTHER = json.dumps({"schemaVersion": 2, "layers": [], "note": "another image"}).encode()
CREATED = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Notary:
    """One GUN's keys and stored metadata: targets lists ``v1``, ``targets/releases`` (an
    x509 delegate, as ``docker trust signer add`` makes) lists ``v2``."""

    gun: str = GUN
    root_key: Signer = field(default_factory=lambda: Signer("ecdsa-x509", cn=GUN))
    targets_key: Signer = field(default_factory=Signer)
    delegate: Signer = field(default_factory=lambda: Signer("ecdsa-x509", cn="alice"))
    stored: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        other = Signer()
        doc = root(1, [self.root_key], [self.targets_key], [other.public], [other.public])
        self.stored["root"] = envelope(doc, self.root_key)
        self.sign_targets(targets(1, {"v1": IMAGE}, [self._releases(["v"])]))
        self.sign_releases(targets(1, {"v2": IMAGE}))

    def _releases(self, paths: list[str]) -> tuple[str, list[Signer], int, list[str]]:
        return ("targets/releases", [self.delegate], 1, paths)

    def sign_targets(self, doc: dict[str, Any]) -> None:
        self.stored["targets"] = envelope(doc, self.targets_key)

    def sign_releases(self, doc: dict[str, Any]) -> None:
        self.stored["targets/releases"] = envelope(doc, self.delegate)

    def chain(self, role: str = "targets", target: str = "v1") -> rec.Chain:
        built = rec.build_chain(self.gun, role, target, self.stored)
        assert isinstance(built, rec.Chain), built
        return built


def reason(chain: rec.Chain, data: bytes = IMAGE, repository: str = REPOSITORY) -> str | None:
    return rec.check(chain, repository, digest(data), len(data), NOW)[1]


def roundtrip(chain: rec.Chain) -> rec.Chain | str:
    subject = {"mediaType": "application/vnd.oci.image.manifest.v1+json"}
    subject |= {"digest": digest(IMAGE), "size": len(IMAGE)}
    body, blobs = rec.manifest(chain, subject, CREATED)
    doc = json.loads(body)
    return rec.chain_of(doc, {str(Digest.of(b)): b for b in blobs})


def test_a_targets_signature_round_trips_and_verifies() -> None:
    notary = Notary()
    chain = notary.chain()
    assert [r for r, _ in chain.roles] == ["targets"]
    assert chain.root == notary.stored["root"] and chain.roles[0][1] == notary.stored["targets"]
    assert b"BEGIN PUBLIC KEY" in chain.signer_pem  # the targets key is a plain ecdsa key
    assert reason(chain) is None
    assert roundtrip(chain) == chain


def test_the_record_manifest_is_an_artifact_of_the_subject() -> None:
    chain = Notary().chain("targets/releases", "v2")
    subject = {"mediaType": "application/vnd.oci.image.manifest.v1+json"}
    subject |= {"digest": digest(IMAGE), "size": len(IMAGE)}
    body, blobs = rec.manifest(chain, subject, CREATED)
    assert rec.manifest(chain, subject, CREATED) == (body, blobs)  # the same bytes each time
    doc = json.loads(body)
    assert doc["artifactType"] == rec.ARTIFACT_TYPE and doc["subject"] == subject
    assert doc["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert [x["mediaType"] for x in doc["layers"]] == [
        rec.ROOT_LAYER,
        rec.ROLE_LAYER,
        rec.ROLE_LAYER,
        rec.SIGNER_LAYER,
    ]
    roles = [x["annotations"].get(rec.ROLE_ANNOTATION) for x in doc["layers"]]
    assert roles == ["root", "targets", "targets/releases", None]
    assert doc["annotations"] == {
        rec.GUN_ANNOTATION: GUN,
        rec.ROLE_ANNOTATION: "targets/releases",
        rec.TARGET_ANNOTATION: "v2",
        rec.CREATED_ANNOTATION: "2026-03-01T12:00:00Z",
    }
    assert sorted(x["digest"] for x in doc["layers"]) == sorted(
        str(Digest.of(b)) for b in blobs[1:]
    )


def test_a_delegated_signature_carries_the_delegates_certificate() -> None:
    notary = Notary()
    chain = notary.chain("targets/releases", "v2")
    assert [r for r, _ in chain.roles] == ["targets", "targets/releases"]
    (cert,) = x509.load_pem_x509_certificates(chain.signer_pem)
    assert cert == notary.delegate.public.certificate()
    assert reason(chain) is None
    assert roundtrip(chain) == chain


def test_a_changed_byte_is_not_verified() -> None:
    notary = Notary()
    chain = notary.chain()
    doc = json.loads(chain.roles[0][1])
    doc["signed"]["targets"]["v1"]["length"] += 1  # the signatures left as they were
    forged = rec.Chain(
        chain.gun,
        chain.role,
        chain.target,
        chain.root,
        (("targets", json.dumps(doc).encode()),),
        b"",
    )
    assert "targets: valid signatures did not meet threshold" in str(reason(forged))
    tampered_root = notary.stored["root"].replace(b'"version": 1', b'"version": 2')
    assert tampered_root != notary.stored["root"]
    forged = rec.Chain(chain.gun, chain.role, chain.target, tampered_root, chain.roles, b"")
    assert "root is not signed by its own certificates" in str(reason(forged))


def test_a_blob_that_is_not_its_digest_is_refused() -> None:
    chain = Notary().chain()
    subject = {"mediaType": "m", "digest": digest(IMAGE), "size": len(IMAGE)}
    body, blobs = rec.manifest(chain, subject, CREATED)
    held = {str(Digest.of(b)): b for b in blobs}
    held[str(Digest.of(chain.roles[0][1]))] = chain.roles[0][1] + b" "
    assert rec.chain_of(json.loads(body), held) == "a layer's bytes are not its digest's"


def test_another_root_is_not_verified_nor_anchored() -> None:
    notary, impostor = Notary(), Notary()
    chain = notary.chain()
    swapped = rec.Chain(
        chain.gun, chain.role, chain.target, impostor.stored["root"], chain.roles, b""
    )
    assert "targets: valid signatures did not meet threshold" in str(reason(swapped))
    # a whole chain of the impostor's own verifies on its bytes, but its root anchors nowhere
    own = impostor.chain()
    root_meta, problem = rec.check(own, REPOSITORY, digest(IMAGE), len(IMAGE), NOW)
    assert problem is None and root_meta is not None
    theirs = impostor.root_key.public.certificate()
    ours = notary.root_key.public.certificate()
    assert not rec.anchored(root_meta, GUN, False, [], NOW)
    assert not rec.anchored(root_meta, GUN, False, [ours], NOW)
    assert rec.anchored(root_meta, GUN, False, [theirs], NOW)
    assert rec.anchored(root_meta, GUN, True, [], NOW)


def test_a_root_of_another_gun_or_repository_is_not_verified() -> None:
    chain = Notary().chain()
    assert "does not name other/app" in str(reason(chain, repository="other/app"))
    # team/app's root certificate in a record that claims other/app
    stolen = Notary(gun="registry.example.com/other/app").chain()
    assert "root has no valid certificate for registry.example.com/other/app" in str(
        reason(stolen, repository="other/app")
    )
    short_lived = Notary(root_key=Signer("ecdsa-x509", cn=GUN, cert_days=1)).chain()
    assert reason(short_lived) is None
    later = NOW + dt.timedelta(days=2)
    assert "root has no valid certificate" in str(
        rec.check(short_lived, REPOSITORY, digest(IMAGE), len(IMAGE), later)[1]
    )
    hostless = Notary(gun=REPOSITORY, root_key=Signer("ecdsa-x509", cn=REPOSITORY))
    assert reason(hostless.chain()) is None  # a GUN without a host names the repository


def test_another_digest_or_size_is_not_verified() -> None:
    chain = Notary().chain()
    assert reason(chain, OTHER) == "targets signs another digest for v1"
    assert rec.check(chain, REPOSITORY, digest(IMAGE), len(IMAGE) + 1, NOW)[1] == (
        "the target's length is not the manifest's size"
    )
    assert rec.check(chain, REPOSITORY, "sha512:" + "0" * 128, 1, NOW)[1] == (
        "targets signs another digest for v1"
    )
    other_tag = rec.Chain(chain.gun, chain.role, "v9", chain.root, chain.roles, chain.signer_pem)
    assert reason(other_tag) == "targets does not list v9"


def test_a_lapsed_role_is_noted_and_not_verified() -> None:
    notary = Notary()
    notary.sign_targets(targets(2, {"v1": IMAGE}, [notary._releases(["v"])], expires=EARLIER))
    problem = str(reason(notary.chain()))
    assert problem.startswith("targets expired at ")
    expires = parse("targets", notary.stored["targets"]).expires
    assert expires.strftime("%Y-%m-%dT%H:%M:%SZ") in problem


def test_a_delegation_only_signs_within_its_paths_and_parent() -> None:
    notary = Notary()
    notary.sign_releases(targets(2, {"v2": IMAGE, "x1": IMAGE}))
    assert rec.build_chain(GUN, "targets/releases", "x1", notary.stored) == (
        "targets/releases may not sign x1"
    )
    stray = Notary()
    stray.stored["targets/qa"] = envelope(targets(1, {"v1": IMAGE}), stray.delegate)
    assert rec.build_chain(GUN, "targets/qa", "v1", stray.stored) == (
        "targets does not delegate to targets/qa"
    )
    assert rec.build_chain(GUN, "targets/a/b", "v1", stray.stored) == "targets/a is not stored"
    assert rec.build_chain(GUN, "snapshot", "v1", stray.stored) == "snapshot is not a targets role"


def test_a_swapped_signer_layer_or_role_path_is_not_verified() -> None:
    notary = Notary()
    chain = notary.chain("targets/releases", "v2")
    other_pem = Notary().chain("targets/releases", "v2").signer_pem
    swapped = rec.Chain(chain.gun, chain.role, chain.target, chain.root, chain.roles, other_pem)
    assert reason(swapped) == "the signer layer is not the keys that signed the role"
    short = rec.Chain(chain.gun, chain.role, chain.target, chain.root, chain.roles[1:], b"")
    assert reason(short) == "the record's roles are not the path from targets to its signer"
    claimed = rec.Chain(chain.gun, "targets", chain.target, chain.root, chain.roles, b"")
    assert reason(claimed) == "the record's roles are not the path from targets to its signer"


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"layers": []},
        {"layers": [{"digest": digest(b"x"), "size": 1}] * 2},
        {"layers": ["x", "y", "z"]},
        {"layers": [{"digest": "nope", "size": 1}] * 3},
        {"layers": [{"digest": digest(b"x"), "size": rec.MAX_RECORD // 2}] * 3},
        {"layers": [{"digest": digest(b"x"), "size": -1}] * 3},
    ],
)
def test_a_malformed_record_is_refused(doc: dict[str, Any]) -> None:
    assert isinstance(rec.chain_of(doc, {}), str)


def test_a_record_with_layers_out_of_order_is_refused() -> None:
    chain = Notary().chain()
    body, blobs = rec.manifest(
        chain, {"mediaType": "m", "digest": digest(IMAGE), "size": 1}, CREATED
    )
    doc = json.loads(body)
    held = {str(Digest.of(b)): b for b in blobs}
    doc["layers"].reverse()
    assert rec.chain_of(doc, held) == "the record's first layer is not a root or its last no signer"
    doc = json.loads(body)
    del doc["annotations"][rec.GUN_ANNOTATION]
    assert rec.chain_of(doc, held) == "the record does not name its GUN, role and target"
