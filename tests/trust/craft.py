"""TUF metadata crafted with ``cryptography`` for the trust tests: keys of Notary's types (root
keys as X.509 certificates whose common name is the GUN), roles, and signed envelopes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import NameOID

from moorage.trust import canonical
from moorage.trust.keys import PublicKey

NOW = dt.datetime.now(dt.UTC)


def when(delta: dt.timedelta) -> str:
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")


LATER = when(dt.timedelta(days=365))
EARLIER = when(dt.timedelta(days=-1))


@dataclass
class Signer:
    """A key pair: ``kind`` ecdsa, ecdsa-x509 (needs ``cn``), rsa, rsa-x509, ed25519."""

    kind: str = "ecdsa"
    cn: str | None = None
    cert_days: int = 3650
    private: Any = field(init=False)
    public: PublicKey = field(init=False)

    def __post_init__(self) -> None:
        if self.kind.startswith("rsa"):
            self.private = rsa.generate_private_key(65537, 2048)
        elif self.kind == "ed25519":
            self.private = ed25519.Ed25519PrivateKey.generate()
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
        pub = self.private.public_key()
        if self.kind.endswith("-x509"):
            assert self.cn is not None
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.cn)])
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(pub)
                .serial_number(x509.random_serial_number())
                .not_valid_before(NOW - dt.timedelta(days=1))
                .not_valid_after(NOW + dt.timedelta(days=self.cert_days))
                .sign(self.private, hashes.SHA256())
            )
            raw = cert.public_bytes(serialization.Encoding.PEM)
        elif self.kind == "ed25519":
            raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        else:
            raw = pub.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        self.public = PublicKey(self.kind, raw)

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, msg: bytes) -> dict[str, str]:
        if self.kind.startswith("rsa"):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            sig, method = self.private.sign(msg, pss, hashes.SHA256()), "rsapss"
        elif self.kind == "ed25519":
            sig, method = self.private.sign(msg), "eddsa"
        else:
            der = self.private.sign(msg, ec.ECDSA(hashes.SHA256()))
            r, s = utils.decode_dss_signature(der)
            sig, method = r.to_bytes(32, "big") + s.to_bytes(32, "big"), "ecdsa"
        return {"keyid": self.key_id, "method": method, "sig": base64.b64encode(sig).decode()}


def envelope(signed: dict[str, Any], *signers: Signer) -> bytes:
    msg = canonical.encode(signed)
    sigs = [s.sign(msg) for s in signers]
    return json.dumps({"signed": signed, "signatures": sigs}).encode()


def keys_of(*keys: PublicKey) -> dict[str, Any]:
    return {k.key_id: k.to_json() for k in keys}


def root(
    version: int,
    root_keys: list[Signer],
    targets: list[Signer],
    snapshot: list[PublicKey],
    timestamp: list[PublicKey],
    *,
    expires: str = LATER,
    threshold: int = 1,
) -> dict[str, Any]:
    all_keys = [s.public for s in root_keys + targets] + snapshot + timestamp
    return {
        "_type": "Root",
        "consistent_snapshot": False,
        "expires": expires,
        "keys": keys_of(*all_keys),
        "roles": {
            "root": {"keyids": [s.key_id for s in root_keys], "threshold": threshold},
            "targets": {"keyids": [s.key_id for s in targets], "threshold": 1},
            "snapshot": {"keyids": [k.key_id for k in snapshot], "threshold": 1},
            "timestamp": {"keyids": [k.key_id for k in timestamp], "threshold": 1},
        },
        "version": version,
    }


def file_meta(raw: bytes) -> dict[str, Any]:
    return {
        "hashes": {
            "sha256": base64.b64encode(hashlib.sha256(raw).digest()).decode(),
            "sha512": base64.b64encode(hashlib.sha512(raw).digest()).decode(),
        },
        "length": len(raw),
    }


def targets(
    version: int,
    files: dict[str, bytes] | None = None,
    delegations: list[tuple[str, list[Signer], int, list[str]]] | None = None,
    *,
    expires: str = LATER,
) -> dict[str, Any]:
    delegations = delegations or []
    keys = [s.public for _, signers, _, _ in delegations for s in signers]
    return {
        "_type": "Targets",
        "delegations": {
            "keys": keys_of(*keys),
            "roles": [
                {
                    "keyids": [s.key_id for s in signers],
                    "name": name,
                    "paths": paths,
                    "threshold": threshold,
                }
                for name, signers, threshold, paths in delegations
            ],
        },
        "expires": expires,
        "targets": {path: file_meta(data) for path, data in (files or {}).items()},
        "version": version,
    }


def snapshot(version: int, roles: dict[str, bytes], *, expires: str = LATER) -> dict[str, Any]:
    return {
        "_type": "Snapshot",
        "expires": expires,
        "meta": {role: file_meta(raw) for role, raw in roles.items()},
        "version": version,
    }
