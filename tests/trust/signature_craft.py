"""cosign and Notation signatures made with ``cryptography`` as each project's published format
says (sigstore's SIGNATURE_SPEC.md; the Notary Project's signature specification and JWS
envelope), and the OCI manifests that carry them, for the signature tests."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIG = "dev.cosignproject.cosign/signature"
COSIGN_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
NOTARY_SIGNATURE = "application/vnd.cncf.notary.signature"
JOSE = "application/jose+json"
COSE = "application/cose"
NOTARY_PAYLOAD = "application/vnd.cncf.notary.payload.v1+json"
NOW = dt.datetime.now(dt.UTC)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


# ---- cosign ------------------------------------------------------------------------------------


def new_key(kind: str = "ecdsa") -> Any:
    if kind == "rsa":
        return rsa.generate_private_key(65537, 2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def key_id(key: Any) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def simple_signing(digest: str, reference: str = "registry.example.com/team/app") -> bytes:
    """cosign's payload, as ``cosign generate`` writes it."""
    doc = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(doc).encode()


def cosign_sign(key: Any, payload: bytes) -> str:
    """The base64 signature cosign puts in the layer annotation."""
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        sig = key.sign(payload)
    else:
        sig = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(sig).decode()


def cosign_manifest(
    layers: list[tuple[bytes, str]], config: bytes, subject: dict[str, Any] | None = None
) -> bytes:
    """A signature manifest: each (payload, signature) a simple-signing layer; with a
    ``subject`` the referrers form (artifactType cosign's, an empty config)."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(EMPTY if subject else OCI_CONFIG, config),
        "layers": [
            descriptor(SIMPLE_SIGNING, payload, annotations={COSIGN_SIG: sig})
            for payload, sig in layers
        ],
    }
    if subject is not None:
        doc["artifactType"] = COSIGN_ARTIFACT
        doc["subject"] = subject
    return json.dumps(doc).encode()


# ---- Notation ----------------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wabbit-networks"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _usage(*, sign: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class Pki:
    """A root CA and a code-signing leaf it issued (``leaf_days`` negative: expired)."""

    cn: str = "wabbit-networks.io"
    leaf_days: int = 30
    root_key: Any = field(init=False)
    root: x509.Certificate = field(init=False)
    leaf_key: Any = field(init=False)
    leaf: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        root_pub = self.root_key.public_key()
        self.root = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{self.cn} root"))
            .issuer_name(_name(f"{self.cn} root"))
            .public_key(root_pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=400))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_usage(sign=False, cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_pub), critical=False)
            .sign(self.root_key, hashes.SHA256())
        )
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        start = NOW - dt.timedelta(days=300) if self.leaf_days < 0 else NOW - dt.timedelta(days=1)
        self.leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(self.cn))
            .issuer_name(self.root.subject)
            .public_key(self.leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(NOW + dt.timedelta(days=self.leaf_days))
            .add_extension(_usage(sign=True, cert_sign=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_pub), critical=False
            )
            .sign(self.root_key, hashes.SHA256())
        )

    @property
    def root_pem(self) -> str:
        return self.root.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def subject(self) -> str:
        return self.leaf.subject.rfc4514_string()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jws_envelope(
    pki: Pki,
    target: dict[str, Any],
    *,
    expiry: dt.datetime | None = None,
    extra_critical: dict[str, str] | None = None,
) -> bytes:
    """A flattened JWS JSON envelope, ES256, signing scheme ``notary.x509``."""
    protected: dict[str, Any] = {
        "alg": "ES256",
        "cty": NOTARY_PAYLOAD,
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "crit": ["io.cncf.notary.signingScheme"],
    }
    if expiry is not None:
        protected["io.cncf.notary.expiry"] = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
        protected["crit"].append("io.cncf.notary.expiry")
    for name, value in (extra_critical or {}).items():
        protected[name] = value
        protected["crit"].append(name)
    header = _b64url(json.dumps(protected).encode())
    payload = _b64url(json.dumps({"targetArtifact": target}).encode())
    der = pki.leaf_key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    chain = [pki.leaf, pki.root]
    return json.dumps(
        {
            "payload": payload,
            "protected": header,
            "header": {
                "x5c": [
                    base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                    for c in chain
                ],
                "io.cncf.notary.signingAgent": "moorage-tests/1.0",
            },
            "signature": _b64url(raw),
        }
    ).encode()


def _raw_ecdsa(pki: Pki, message: bytes) -> bytes:
    r, s = utils.decode_dss_signature(pki.leaf_key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def cose_envelope(pki: Pki, target: dict[str, Any], *, expiry: dt.datetime | None = None) -> bytes:
    """A COSE_Sign1_Tagged envelope, ES256 (-7), signing scheme ``notary.x509``."""
    protected: dict[Any, Any] = {
        1: -7,
        2: ["io.cncf.notary.signingScheme"],
        3: NOTARY_PAYLOAD,
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": cbor2.CBORTag(1, int(NOW.timestamp())),
    }
    if expiry is not None:
        protected["io.cncf.notary.expiry"] = cbor2.CBORTag(1, int(expiry.timestamp()))
        protected[2].append("io.cncf.notary.expiry")
    body = cbor2.dumps(protected)
    payload = json.dumps({"targetArtifact": target}).encode()
    signature = _raw_ecdsa(pki, cbor2.dumps(["Signature1", body, b"", payload]))
    unprotected = {
        33: [c.public_bytes(serialization.Encoding.DER) for c in (pki.leaf, pki.root)],
        "io.cncf.notary.signingAgent": "moorage-tests/1.0",
    }
    return bytes(cbor2.dumps(cbor2.CBORTag(18, [body, unprotected, payload, signature])))


def notation_manifest(
    envelope: bytes, subject: dict[str, Any], pki: Pki, media_type: str = JOSE
) -> bytes:
    """The signature manifest of the Notary Project's specification (config.mediaType the
    signature type, config ``{}``, one envelope layer, the thumbprints annotation)."""
    prints = [c.fingerprint(hashes.SHA256()).hex().upper() for c in (pki.leaf, pki.root)]
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(NOTARY_SIGNATURE, b"{}"),
            "layers": [descriptor(media_type, envelope)],
            "subject": subject,
            "annotations": {"io.cncf.notary.x509chain.thumbprint#S256": json.dumps(prints)},
        }
    ).encode()
