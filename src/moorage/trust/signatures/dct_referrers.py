"""Docker Content Trust signatures carried as OCI referrers: the record Moorage writes when it
moves a repository's Notary signatures to referrers, and its offline verification.

A record is an OCI image manifest (image-spec 1.1's artifact shape) whose ``subject`` is the
signed manifest, ``artifactType`` ``ARTIFACT_TYPE``, config the empty descriptor, annotations
naming the GUN, the signing role and the target (the tag), and these layers, in order:

- ``ROOT_LAYER``: the root metadata exactly as the Notary server serves it (``root.json``);
- ``ROLE_LAYER``: ``targets``, then each delegation from ``targets`` down to the signing role
  (``targets/releases``, ``targets/a/b``...), the exact signed bytes with their signatures, the
  role in the ``ROLE_ANNOTATION``;
- ``SIGNER_LAYER``: the PEM (a certificate for ``*-x509`` keys, else the public key) of each key
  whose signature of the signing role verifies, in key id order.

``check`` verifies a chain with nothing but its own bytes: the root signed by a threshold of
its root certificates whose common name is the GUN (and the GUN names the repository), the
``targets`` role by the keys the root names, each delegation by the keys its parent delegates to
and within its parent's paths, the signing role lists the target with the subject's SHA-256
and size, nothing expired, and the signer layer the keys that signed. The TUF checks are
``moorage.trust.validation``'s own (``check_signatures`` and its reading of root certificates);
only the walk along one delegation path is written here. Whether the root is one to trust is
the caller's question (``anchored``): a record's root is its own claim.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from moorage.errors import MoorageError
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest
from moorage.trust import gun as guns
from moorage.trust.errors import InvalidGUN
from moorage.trust.keys import X509_TYPES, KeyUnusable, PublicKey, verify
from moorage.trust.metadata import (
    ROOT,
    TARGETS,
    MetadataInvalid,
    Signed,
    format_time,
    is_delegation,
    parent_of,
    parse,
)
from moorage.trust.validation import _root_keys, check_signatures  # the server's own checks

KIND = "notary-referrer"
ARTIFACT_TYPE = "application/vnd.moorage.notary.signature.v1+json"
ROOT_LAYER = "application/vnd.moorage.notary.root.v1+json"
ROLE_LAYER = "application/vnd.moorage.notary.targets.v1+json"
SIGNER_LAYER = "application/vnd.moorage.notary.signer.v1+pem"
GUN_ANNOTATION = "io.moorage.notary.gun"
ROLE_ANNOTATION = "io.moorage.notary.role"
TARGET_ANNOTATION = "io.moorage.notary.target"
TITLE_ANNOTATION = "org.opencontainers.image.title"
CREATED_ANNOTATION = "org.opencontainers.image.created"
EMPTY_CONFIG = b"{}"
# The layers of one record together (the signature view reads them): the root and targets of
# a few thousand signed tags. Notary's own limit on a role is larger; a bigger chain is not moved.
MAX_RECORD = 2 * 1024 * 1024
MAX_DEPTH = 8  # delegation levels below targets a record may carry


@dataclass(frozen=True, slots=True)
class Chain:
    """One Notary signature of one target: the root, the roles from ``targets`` down to the
    signing role (each as stored), and the PEM of the keys that signed that role."""

    gun: str
    role: str
    target: str
    root: bytes
    roles: tuple[tuple[str, bytes], ...]
    signer_pem: bytes


def path_to(role: str) -> list[str]:
    """``targets/a/b`` → ``[targets, targets/a, targets/a/b]``."""
    out = [role]
    while out[-1] != TARGETS:
        out.append(parent_of(out[-1]))
    return out[::-1]


def _pem(key: PublicKey) -> bytes:
    if key.keytype in X509_TYPES:
        return key.certificate().public_bytes(serialization.Encoding.PEM)
    public = key.crypto_key()
    spki: bytes = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return spki


def signer_pem(meta: Signed, keys: Mapping[str, PublicKey]) -> bytes:
    """The PEM of each key of ``keys`` whose signature of ``meta`` verifies."""
    msg = meta.signed_bytes()
    valid = sorted(
        {
            s.key_id
            for s in meta.signatures
            if s.key_id in keys
            and keys[s.key_id].key_id == s.key_id
            and verify(keys[s.key_id], s.method, s.sig, msg)
        }
    )
    try:
        return b"".join(_pem(keys[k]) for k in valid)
    except KeyUnusable:
        return b""


def _names_repository(gun: str, repository: str) -> bool:
    try:
        return guns.parse(gun, {gun.partition("/")[0]}).repository == repository
    except InvalidGUN:
        return False


def _load(role: str, raw: bytes) -> Signed | str:
    try:
        return parse(role, raw)
    except MetadataInvalid as exc:
        return f"{role} does not parse: {exc}"


def _expired(meta: Signed, now: dt.datetime) -> str | None:
    return f"{meta.role} expired at {format_time(meta.expires)}" if meta.expires < now else None


def _signing_keys(
    meta: Signed, parent: Signed, target: str
) -> tuple[dict[str, PublicKey], int] | str:
    """The keys and threshold ``parent`` (the root for ``targets``) gives ``meta``'s role, or
    why it gives none that cover ``target``."""
    if meta.role == TARGETS:
        spec = parent.roles[TARGETS]
        return {k: parent.keys[k] for k in spec.key_ids}, spec.threshold
    delegation = parent.delegation(meta.role)
    if delegation is None:
        return f"{parent.role} does not delegate to {meta.role}"
    if not any(target.startswith(p) for p in delegation.paths):
        return f"{meta.role} may not sign {target[:80]}"
    return {k: parent.keys[k] for k in delegation.key_ids if k in parent.keys}, delegation.threshold


def check(
    chain: Chain, repository: str, digest: str, size: int, now: dt.datetime
) -> tuple[Signed | None, str | None]:
    """The chain's root, and None when the chain verifies for the manifest ``digest`` (of
    ``size`` bytes) of ``repository``, else why not."""
    if not _names_repository(chain.gun, repository):
        return None, f"the GUN {chain.gun[:200]} does not name {repository}"
    root = _load(ROOT, chain.root)
    if isinstance(root, str):
        return None, root
    own = _root_keys(root, chain.gun, check_expiry=True, now=now)
    if not own:
        return (
            root,
            f"root has no valid certificate for {chain.gun[:200]} (expired, or another name)",
        )
    if check_signatures(root, own, root.roles[ROOT].threshold) is not None:
        return root, f"root is not signed by its own certificates for {chain.gun[:200]}"
    valid_role = chain.role == TARGETS or is_delegation(chain.role)
    expected = path_to(chain.role) if valid_role else []
    if not expected or [r for r, _ in chain.roles] != expected or len(expected) > MAX_DEPTH + 1:
        return root, "the record's roles are not the path from targets to its signer"
    parent: Signed = root
    keys: dict[str, PublicKey] = {}
    for role, raw in chain.roles:
        meta = _load(role, raw)
        if isinstance(meta, str):
            return root, meta
        spec = _signing_keys(meta, parent, chain.target)
        if isinstance(spec, str):
            return root, spec
        keys, threshold = spec
        reason = check_signatures(meta, keys, threshold)
        if reason is not None:
            return root, f"{role}: {reason}"
        parent = meta
    listed = parent.targets.get(chain.target)
    algorithm, _, hex_part = digest.partition(":")
    if listed is None:
        return root, f"{chain.role} does not list {chain.target[:80]}"
    if algorithm != "sha256" or listed.hashes.get("sha256") != bytes.fromhex(hex_part):
        return root, f"{chain.role} signs another digest for {chain.target[:80]}"
    if listed.length != size:
        return root, "the target's length is not the manifest's size"
    if chain.signer_pem != signer_pem(parent, keys):
        return root, "the signer layer is not the keys that signed the role"
    for role, raw in [(ROOT, chain.root), *chain.roles]:  # parsed above
        expired = _expired(parse(role, raw), now)
        if expired:
            return root, expired
    return root, None


def build_chain(gun: str, role: str, target: str, stored: Mapping[str, bytes]) -> Chain | str:
    """The chain of ``role``'s signature of ``target`` from the stored metadata of ``gun``
    (role → bytes, as the Notary server serves them), or why there is none."""
    if ROOT not in stored:
        return "no root is stored"
    if role != TARGETS and not is_delegation(role):
        return f"{role[:80]} is not a targets role"
    path = path_to(role)
    missing = next((r for r in path if r not in stored), None)
    if missing is not None:
        return f"{missing} is not stored"
    root = _load(ROOT, stored[ROOT])
    if isinstance(root, str):
        return root
    parent: Signed = root
    keys: dict[str, PublicKey] = {}
    for name in path:
        meta = _load(name, stored[name])
        if isinstance(meta, str):
            return meta
        spec = _signing_keys(meta, parent, target)
        if isinstance(spec, str):
            return spec
        keys, parent = spec[0], meta
    return Chain(
        gun,
        role,
        target,
        stored[ROOT],
        tuple((r, stored[r]) for r in path),
        signer_pem(parent, keys),
    )


def anchored(
    root: Signed, gun: str, known_root: bool, trusted: Sequence[x509.Certificate], now: dt.datetime
) -> bool:
    """Whether the chain's root is one to trust: the GUN's current root on this registry's
    Notary server (``known_root``, the caller's comparison), or signed by a threshold of the
    root certificates ``trusted`` (what an administrator registered in signature trust)."""
    if known_root:
        return True
    registered = {c.public_bytes(serialization.Encoding.DER) for c in trusted}
    own = _root_keys(root, gun, check_expiry=True, now=now)
    keys = {
        k: key
        for k, key in own.items()
        if key.certificate().public_bytes(serialization.Encoding.DER) in registered
    }
    return bool(keys) and check_signatures(root, keys, root.roles[ROOT].threshold) is None


# ---- the record as an OCI artifact -----------------------------------------------------------


def _descriptor(media_type: str, data: bytes, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": str(Digest.of(data)),
        "size": len(data),
        "annotations": annotations,
    }


def manifest(
    chain: Chain, subject: Mapping[str, Any], created: dt.datetime
) -> tuple[bytes, list[bytes]]:
    """The record's manifest bytes (the same for the same chain, subject and time) and the
    blobs it references."""
    layers = [(ROOT_LAYER, chain.root, ROOT)] + [(ROLE_LAYER, raw, r) for r, raw in chain.roles]
    descriptors = [
        _descriptor(media_type, raw, {ROLE_ANNOTATION: role, TITLE_ANNOTATION: f"{role}.json"})
        for media_type, raw, role in layers
    ]
    descriptors.append(
        _descriptor(SIGNER_LAYER, chain.signer_pem, {TITLE_ANNOTATION: "signer.pem"})
    )
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {
            "mediaType": mt.OCI_EMPTY,
            "digest": str(Digest.of(EMPTY_CONFIG)),
            "size": len(EMPTY_CONFIG),
        },
        "layers": descriptors,
        "subject": dict(subject),
        "annotations": {
            GUN_ANNOTATION: chain.gun,
            ROLE_ANNOTATION: chain.role,
            TARGET_ANNOTATION: chain.target,
            CREATED_ANNOTATION: format_time(created),
        },
    }
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    blobs = [EMPTY_CONFIG, chain.root, *(raw for _, raw in chain.roles), chain.signer_pem]
    return body, blobs


def layers(doc: Mapping[str, Any]) -> list[dict[str, Any]] | str:
    """The record's layer descriptors, or why it is no record."""
    found = doc.get("layers")
    if not isinstance(found, list) or not 3 <= len(found) <= MAX_DEPTH + 3:
        return "a Notary record has a root, the roles to its signer and a signer layer"
    if not all(isinstance(x, dict) for x in found):
        return "a layer is not a descriptor"
    total = 0
    for layer in found:
        size = layer.get("size")
        if not isinstance(size, int) or size < 0:
            return "a layer has no size"
        total += size
        if total > MAX_RECORD:
            return f"the record's layers are over {MAX_RECORD} bytes"
        try:
            Digest.parse(str(layer.get("digest")))
        except MoorageError:
            return "a layer's digest does not parse"
    return found


def _annotation(item: Mapping[str, Any], name: str) -> str | None:
    values = item.get("annotations")
    value = values.get(name) if isinstance(values, dict) else None
    return value if isinstance(value, str) else None


def chain_of(doc: Mapping[str, Any], blobs: Mapping[str, bytes]) -> Chain | str:
    """The chain a record manifest holds, its layers' bytes from ``blobs`` (by digest, each
    checked against its digest); or why it is not one."""
    found = layers(doc)
    if isinstance(found, str):
        return found
    raw: list[tuple[str, str | None, bytes]] = []
    for layer in found:
        digest = str(layer["digest"])
        data = blobs.get(digest)
        if data is None or "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return "a layer's bytes are not its digest's"
        raw.append((str(layer.get("mediaType")), _annotation(layer, ROLE_ANNOTATION), data))
    gun = _annotation(doc, GUN_ANNOTATION)
    role = _annotation(doc, ROLE_ANNOTATION)
    target = _annotation(doc, TARGET_ANNOTATION)
    if gun is None or role is None or target is None:
        return "the record does not name its GUN, role and target"
    (root_type, root_role, root), *middle, (signer_type, _, pem) = raw
    if root_type != ROOT_LAYER or root_role != ROOT or signer_type != SIGNER_LAYER:
        return "the record's first layer is not a root or its last no signer"
    roles: list[tuple[str, bytes]] = []
    for media_type, name, data in middle:
        if media_type != ROLE_LAYER or name is None:
            return "a role layer does not name its role"
        roles.append((name, data))
    return Chain(gun, role, target, root, tuple(roles), pem)
