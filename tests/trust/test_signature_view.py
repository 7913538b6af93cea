"""The Notary v1 part of a signature view: the roles whose targets list a manifest's digest,
verified again on the stored bytes (signatures, thresholds, expiry up to the root)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from moorage.trust.signatures.notary_targets import verdicts
from tests.trust.craft import EARLIER, LATER, NOW, Signer, envelope, root, targets

GUN = "registry.example.com/team/app"
MANIFEST = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def _stored(*, in_targets: bool = True, expires: str = LATER) -> dict[str, bytes]:
    """A GUN whose ``targets/releases`` lists the manifest as ``1.0`` and ``stable`` (and
    ``targets`` as ``1.0`` when ``in_targets``)."""
    root_key, targets_key, releases = Signer("ecdsa-x509", cn=GUN), Signer(), Signer()
    snap, ts = Signer(), Signer()
    doc = root(1, [root_key], [targets_key], [snap.public], [ts.public])
    top = targets(
        1,
        {"1.0": MANIFEST} if in_targets else {},
        [("targets/releases", [releases], 1, [""])],
        expires=expires,
    )
    stored = {
        "root": envelope(doc, root_key),
        "targets": envelope(top, targets_key),
        "targets/releases": envelope(targets(1, {"1.0": MANIFEST, "stable": MANIFEST}), releases),
    }
    return stored


def test_targets_and_a_delegation_that_list_the_digest_are_its_signers() -> None:
    stored = _stored()
    found = verdicts(GUN, stored, DIGEST, len(MANIFEST), NOW)
    assert [(v.signers, v.verified, v.reason) for v in found] == [
        (("targets",), True, ""),
        (("targets/releases",), True, ""),
    ]
    assert found[0].kind == "notary"
    assert found[1].source == f"{GUN} targets/releases: 1.0, stable"


def test_other_digests_have_no_notary_signature() -> None:
    stored = _stored()
    assert verdicts(GUN, stored, "sha256:" + "00" * 32, 10, NOW) == []


def test_tampered_metadata_is_not_verified() -> None:
    stored = _stored(in_targets=False)
    doc = json.loads(stored["targets"])
    doc["signed"]["targets"]["1.0"] = json.loads(
        json.dumps(targets(1, {"1.0": MANIFEST})["targets"]["1.0"])
    )
    stored["targets"] = json.dumps(doc).encode()
    (top, releases) = verdicts(GUN, stored, DIGEST, len(MANIFEST), NOW)
    assert not top.verified
    assert top.reason == "targets: valid signatures did not meet threshold for targets"
    assert not releases.verified and releases.reason == top.reason  # its parent's chain broke


def test_expired_targets_are_not_verified() -> None:
    stored = _stored(expires=EARLIER)
    found = verdicts(GUN, stored, DIGEST, len(MANIFEST), NOW)
    assert all(not v.verified and v.reason.startswith("targets expired at") for v in found)


def test_a_root_expired_since_the_publish_is_not_verified() -> None:
    stored = _stored()
    later = NOW + dt.timedelta(days=4000)
    assert all("expired" in v.reason for v in verdicts(GUN, stored, DIGEST, len(MANIFEST), later))
