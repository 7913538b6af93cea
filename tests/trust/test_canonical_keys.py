"""Canonical JSON bytes, key ids and signature checks, against metadata real Notary wrote
(``notary03/``: Notary's own compatibility fixture, a repository made by notary 0.3)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from moorage.trust import canonical
from moorage.trust.keys import ECDSA, PublicKey, generate_ecdsa, key_id, verify
from moorage.trust.metadata import parse
from moorage.trust.validation import check_signatures
from tests.trust.craft import Signer

FIXTURE = Path(__file__).parent / "notary03"


def _raw(name: str) -> bytes:
    return (FIXTURE / name).read_bytes()


def test_canonical_bytes_as_go_writes_them() -> None:
    doc = {"b": 1, "a": '<>&"\\\n\u00e9', "c": [True, None, 2.0, -3], "B": {}}
    assert canonical.encode(doc) == (
        b'{"B":{},"a":"<>&\\"\\\\\n\xc3\xa9","b":1,"c":[true,null,2,-3]}'
    )


def test_canonical_keys_sort_bytewise() -> None:
    assert canonical.encode({"\u00e9": 1, "z": 2, "Z": 3}) == b'{"Z":3,"z":2,"\xc3\xa9":1}'


@pytest.mark.parametrize("value", [1.5, float("inf"), 2**64, "\ud800"])
def test_canonical_refuses_what_go_cannot_write(value: object) -> None:
    with pytest.raises(canonical.CanonicalError):
        canonical.encode({"v": value})


def test_key_ids_of_notarys_own_metadata() -> None:
    root = parse("root", _raw("root.json"))
    for listed, key in root.keys.items():
        assert key.key_id == listed
    targets = parse("targets", _raw("targets.json"))
    for listed, key in targets.keys.items():
        assert key.key_id == listed  # an rsa-x509 delegation key


def test_key_id_is_sha256_of_canonical_public_key() -> None:
    expected = b'{"keytype":"ecdsa","keyval":{"private":null,"public":"AAEC"}}'
    assert key_id(ECDSA, b"\x00\x01\x02") == hashlib.sha256(expected).hexdigest()


def test_notarys_signatures_verify() -> None:
    root = parse("root", _raw("root.json"))
    for role in ("root", "targets", "snapshot", "timestamp"):
        meta = parse(role, _raw(f"{role}.json"))
        spec = root.roles[role]
        keys = {k: root.keys[k] for k in spec.key_ids}
        assert check_signatures(meta, keys, spec.threshold) is None, role
    targets = parse("targets", _raw("targets.json"))
    releases = parse("targets/releases", _raw("targets-releases.json"))
    delegation = targets.delegation("targets/releases")
    assert delegation is not None
    keys = {k: targets.keys[k] for k in delegation.key_ids}
    assert check_signatures(releases, keys, delegation.threshold) is None  # rsapss, rsa-x509


def test_a_changed_byte_breaks_notarys_signature() -> None:
    doc = json.loads(_raw("targets.json"))
    doc["signed"]["version"] += 1
    tampered = parse("targets", json.dumps(doc).encode())
    root = parse("root", _raw("root.json"))
    keys = {k: root.keys[k] for k in root.roles["targets"].key_ids}
    assert check_signatures(tampered, keys, 1) is not None


@pytest.mark.parametrize("kind", ["ecdsa", "rsa", "ed25519", "ecdsa-x509", "rsa-x509"])
def test_each_key_type_signs_and_verifies(kind: str) -> None:
    signer = Signer(kind, cn="example.com/a/b")
    msg = b"canonical bytes"
    sig = signer.sign(msg)
    raw = base64.b64decode(sig["sig"])
    assert verify(signer.public, sig["method"], raw, msg)
    assert not verify(signer.public, sig["method"], raw, msg + b"!")
    other = Signer(kind, cn="example.com/a/b")
    assert not verify(other.public, sig["method"], raw, msg)


def test_ecdsa_signatures_are_raw_r_and_s() -> None:
    key = generate_ecdsa()
    sig = key.sign(b"m")
    raw = base64.b64decode(sig["sig"])
    assert len(raw) == 64 and sig["method"] == "ecdsa"
    assert verify(key.public, "ecdsa", raw, b"m")
    assert not verify(PublicKey("ecdsa", b"junk"), "ecdsa", raw, b"m")


def test_expiry_parses_go_nanoseconds_and_offsets() -> None:
    root = parse("root", _raw("root.json"))
    assert root.expires == dt.datetime(2116, 7, 3, 22, 56, 36, 27379, tzinfo=dt.UTC)
