"""Every refusal of Notary's server validation, on metadata crafted in the test, and the
snapshot and timestamp the server signs for an accepted update."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pytest

from moorage.trust import errors as e
from moorage.trust.keys import PrivateKey, generate_ecdsa
from moorage.trust.metadata import parse
from moorage.trust.validation import Update, check_signatures, validate_update
from tests.trust.craft import EARLIER, NOW, Signer, envelope, root, snapshot, targets

GUN = "registry.example.com/team/app"


@dataclass
class Repo:
    """A client's keys and the server's stored state."""

    root_key: Signer = field(default_factory=lambda: Signer("ecdsa-x509", cn=GUN))
    targets_key: Signer = field(default_factory=lambda: Signer("ecdsa"))
    snapshot_key: Signer = field(default_factory=lambda: Signer("ed25519"))
    ts_key: PrivateKey = field(default_factory=generate_ecdsa)
    stored: dict[str, bytes] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    def root_doc(self, version: int = 1, **kw: object) -> dict[str, object]:
        return root(
            version,
            [self.root_key],
            [self.targets_key],
            [self.snapshot_key.public],
            [self.ts_key.public],
            **kw,  # type: ignore[arg-type]
        )

    def publish(self, uploads: dict[str, bytes]) -> list[Update]:
        updates = validate_update(GUN, uploads, self.stored, {"timestamp": [self.ts_key]}, NOW)
        for u in updates:  # what the store does: versions must rise
            if u.version <= self.versions.get(u.role, 0):
                raise e.OldVersion(detail=u.role)
        for u in updates:
            self.stored[u.role] = u.payload
            self.versions[u.role] = u.version
        return updates

    def initial(self, files: dict[str, bytes] | None = None) -> None:
        r = envelope(self.root_doc(), self.root_key)
        t = envelope(targets(1, files or {"latest": b"image"}), self.targets_key)
        s = envelope(snapshot(1, {"root": r, "targets": t}), self.snapshot_key)
        self.publish({"root": r, "targets": t, "snapshot": s})

    def next_targets(self, version: int, doc: dict[str, object] | None = None) -> dict[str, bytes]:
        t = envelope(doc or targets(version, {"v2": b"x"}), self.targets_key)
        s = envelope(
            snapshot(self.versions["snapshot"] + 1, {"root": self.stored["root"], "targets": t}),
            self.snapshot_key,
        )
        return {"targets": t, "snapshot": s}


def refused(repo: Repo, uploads: dict[str, bytes], kind: str, words: str) -> None:
    before = dict(repo.stored)
    with pytest.raises(e.InvalidUpdate) as caught:
        repo.publish(uploads)
    assert caught.value.kind == kind, caught.value.reason
    assert words in caught.value.reason, caught.value.reason
    assert caught.value.detail["Name"] == kind
    assert repo.stored == before  # nothing applied


def test_initial_publish_gets_a_server_timestamp() -> None:
    repo = Repo()
    repo.initial()
    ts = parse("timestamp", repo.stored["timestamp"])
    assert ts.version == 1
    assert check_signatures(ts, {repo.ts_key.public.key_id: repo.ts_key.public}, 1) is None
    assert ts.meta["snapshot"].hashes["sha256"] == hashlib.sha256(repo.stored["snapshot"]).digest()
    assert ts.meta["snapshot"].length == len(repo.stored["snapshot"])


def test_second_publish_increments_timestamp() -> None:
    repo = Repo()
    repo.initial()
    repo.publish(repo.next_targets(2))
    assert parse("timestamp", repo.stored["timestamp"]).version == 2


def test_no_root_at_all() -> None:
    repo = Repo()
    t = envelope(targets(1), repo.targets_key)
    refused(repo, {"targets": t}, "ErrValidation", "no pre-existing root")


def test_root_with_wrong_signature() -> None:
    repo = Repo()
    other = Signer("ecdsa-x509", cn=GUN)
    r = envelope(repo.root_doc(), other)
    refused(repo, {"root": r}, "ErrBadRoot", "failed to validate integrity")


def test_root_signature_bytes_tampered() -> None:
    repo = Repo()
    doc = json.loads(envelope(repo.root_doc(), repo.root_key))
    doc["signed"]["version"] = 2  # signed over version 1
    refused(repo, {"root": json.dumps(doc).encode()}, "ErrBadRoot", "integrity")


def test_root_key_for_another_gun() -> None:
    repo = Repo()
    repo.root_key = Signer("ecdsa-x509", cn="registry.example.com/other/app")
    r = envelope(repo.root_doc(), repo.root_key)
    refused(repo, {"root": r}, "ErrBadRoot", "certificates with the common name")


def test_root_key_that_is_no_certificate() -> None:
    repo = Repo()
    repo.root_key = Signer("ecdsa")
    refused(repo, {"root": envelope(repo.root_doc(), repo.root_key)}, "ErrBadRoot", "leaf")


def test_root_below_threshold() -> None:
    repo = Repo()
    second = Signer("ecdsa-x509", cn=GUN)
    doc = root(
        1, [repo.root_key, second], [repo.targets_key], [], [repo.ts_key.public], threshold=2
    )
    refused(repo, {"root": envelope(doc, repo.root_key)}, "ErrBadRoot", "integrity")


def test_root_expired() -> None:
    repo = Repo()
    r = envelope(repo.root_doc(expires=EARLIER), repo.root_key)
    refused(repo, {"root": r}, "ErrBadRoot", "expired")


def test_root_rotation_needs_the_old_roots_signature() -> None:
    repo = Repo()
    repo.initial()
    new_key = Signer("ecdsa-x509", cn=GUN)
    old_key, repo.root_key = repo.root_key, new_key
    alone = envelope(repo.root_doc(2), new_key)
    refused(repo, {"root": alone}, "ErrBadRoot", "could not rotate trust")
    both = envelope(repo.root_doc(2), new_key, old_key)
    s = envelope(snapshot(2, {"root": both, "targets": repo.stored["targets"]}), repo.snapshot_key)
    repo.publish({"root": both, "snapshot": s})
    assert parse("root", repo.stored["root"]).version == 2


def test_root_version_must_step_by_one() -> None:
    repo = Repo()
    repo.initial()
    r = envelope(repo.root_doc(3), repo.root_key)
    refused(repo, {"root": r}, "ErrBadRoot", "must increment the version")


def test_targets_signed_by_a_key_root_does_not_list() -> None:
    repo = Repo()
    repo.initial()
    uploads = repo.next_targets(2)
    uploads["targets"] = envelope(targets(2, {"x": b"y"}), Signer("ecdsa"))
    refused(repo, uploads, "ErrBadTargets", "threshold")


def test_targets_expired() -> None:
    repo = Repo()
    repo.initial()
    refused(repo, repo.next_targets(2, targets(2, expires=EARLIER)), "ErrBadTargets", "expired")


def test_old_targets_version_is_refused_by_the_store_rule() -> None:
    repo = Repo()
    repo.initial()
    uploads = repo.next_targets(1, targets(1, {"replayed": b"z"}))
    before = dict(repo.stored)
    with pytest.raises(e.OldVersion):  # validation passes; the store refuses version 1 again
        repo.publish(uploads)
    assert repo.stored == before


def test_snapshot_with_a_wrong_targets_hash() -> None:
    repo = Repo()
    repo.initial()
    t = envelope(targets(2, {"a": b"1"}), repo.targets_key)
    other = envelope(targets(2, {"a": b"2"}), repo.targets_key)
    s = envelope(snapshot(2, {"root": repo.stored["root"], "targets": other}), repo.snapshot_key)
    refused(repo, {"targets": t, "snapshot": s}, "ErrBadSnapshot", "checksum mismatched")


def test_snapshot_with_a_wrong_length() -> None:
    repo = Repo()
    repo.initial()
    t = envelope(targets(2), repo.targets_key)
    doc = snapshot(2, {"root": repo.stored["root"], "targets": t})
    doc["meta"]["targets"]["length"] += 1
    s = envelope(doc, repo.snapshot_key)
    refused(repo, {"targets": t, "snapshot": s}, "ErrBadSnapshot", "length")


def test_snapshot_signed_by_the_wrong_key() -> None:
    repo = Repo()
    repo.initial()
    uploads = repo.next_targets(2)
    t = uploads["targets"]
    uploads["snapshot"] = envelope(
        snapshot(2, {"root": repo.stored["root"], "targets": t}), Signer("ed25519")
    )
    refused(repo, uploads, "ErrBadSnapshot", "threshold")


def test_no_snapshot_and_no_server_snapshot_key() -> None:
    repo = Repo()
    repo.initial()
    t = envelope(targets(2), repo.targets_key)
    refused(repo, {"targets": t}, "ErrBadHierarchy", "snapshot key")


def test_server_managed_snapshot() -> None:
    repo = Repo()
    repo.initial()
    snap_key = generate_ecdsa()
    doc = root(2, [repo.root_key], [repo.targets_key], [snap_key.public], [repo.ts_key.public])
    r = envelope(doc, repo.root_key)
    t = envelope(targets(2, {"new": b"n"}), repo.targets_key)
    updates = validate_update(
        GUN,
        {"root": r, "targets": t},
        repo.stored,
        {"timestamp": [repo.ts_key], "snapshot": [snap_key]},
        NOW,
    )
    by_role = {u.role: u for u in updates}
    snap = parse("snapshot", by_role["snapshot"].payload)
    assert snap.version == 2  # the stored one's plus one
    assert check_signatures(snap, {snap_key.public.key_id: snap_key.public}, 1) is None
    assert snap.meta["targets"].hashes["sha256"] == hashlib.sha256(t).digest()
    assert snap.meta["root"].hashes["sha256"] == hashlib.sha256(r).digest()


def _with_delegation(repo: Repo, signer: Signer, paths: list[str]) -> None:
    doc = targets(2, {}, [("targets/releases", [signer], 1, paths)])
    repo.publish(repo.next_targets(2, doc))


def _delegated(repo: Repo, signer: Signer, files: dict[str, bytes]) -> dict[str, bytes]:
    d = envelope(targets(1, files), signer)
    s = envelope(
        snapshot(
            repo.versions["snapshot"] + 1,
            {"root": repo.stored["root"], "targets": repo.stored["targets"], "targets/releases": d},
        ),
        repo.snapshot_key,
    )
    return {"targets/releases": d, "snapshot": s}


def test_delegation_signed_by_its_key() -> None:
    repo = Repo()
    repo.initial()
    releaser = Signer("rsa-x509", cn="releaser")
    _with_delegation(repo, releaser, ["app/"])
    repo.publish(_delegated(repo, releaser, {"app/1.0": b"img"}))
    assert "targets/releases" in repo.stored


def test_delegation_signed_by_another_key() -> None:
    repo = Repo()
    repo.initial()
    _with_delegation(repo, Signer("ecdsa"), [""])
    refused(repo, _delegated(repo, Signer("ecdsa"), {"a": b"b"}), "ErrBadTargets", "threshold")


def test_delegation_target_outside_its_paths() -> None:
    repo = Repo()
    repo.initial()
    releaser = Signer("ecdsa")
    _with_delegation(repo, releaser, ["app/"])
    uploads = _delegated(repo, releaser, {"other/1.0": b"img"})
    refused(repo, uploads, "ErrBadTargets", "outside the paths")


def test_nested_delegation_outside_parent_paths() -> None:
    repo = Repo()
    repo.initial()
    releaser = Signer("ecdsa")
    _with_delegation(repo, releaser, ["app/"])
    child = Signer("ecdsa")
    d = envelope(targets(1, {}, [("targets/releases/qa", [child], 1, ["db/"])]), releaser)
    s = envelope(
        snapshot(
            repo.versions["snapshot"] + 1,
            {"root": repo.stored["root"], "targets": repo.stored["targets"], "targets/releases": d},
        ),
        repo.snapshot_key,
    )
    refused(repo, {"targets/releases": d, "snapshot": s}, "ErrBadTargets", "outside those of")


def test_delegation_that_the_parent_does_not_list() -> None:
    repo = Repo()
    repo.initial()
    uploads = _delegated(repo, Signer("ecdsa"), {"a": b"b"})
    refused(repo, uploads, "ErrBadTargets", "delegation does not exist")


def test_timestamp_upload_is_not_a_client_role() -> None:
    repo = Repo()
    repo.initial()
    with pytest.raises(e.InvalidRole):
        repo.publish({"timestamp": repo.stored["timestamp"]})


def test_wrong_type_field() -> None:
    repo = Repo()
    doc = repo.root_doc()
    doc["_type"] = "Targets"
    refused(repo, {"root": envelope(doc, repo.root_key)}, "ErrBadRoot", "expected type Root")
