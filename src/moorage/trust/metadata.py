"""TUF roles as Notary writes them: the signed envelope and root, targets (with delegations),
snapshot and timestamp, parsed from the uploaded bytes into plain typed values.

Parsing checks the structure Notary checks (``tuf/data``): the ``_type``, a version of at least
1, the base roles of a root with their keys, delegation names under their parent, the hashes a
snapshot and a timestamp must carry. Anything else raises ``MetadataInvalid`` with the reason.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from moorage.trust import canonical
from moorage.trust.keys import KeyUnusable, PublicKey, parse_key

ROOT, TARGETS, SNAPSHOT, TIMESTAMP = "root", "targets", "snapshot", "timestamp"
BASE_ROLES = (ROOT, TARGETS, SNAPSHOT, TIMESTAMP)
TYPES = {ROOT: "Root", TARGETS: "Targets", SNAPSHOT: "Snapshot", TIMESTAMP: "Timestamp"}
_DELEGATION = re.compile(r"[-a-z0-9_/]+")
_FRACTION = re.compile(r"(\.\d{6})\d+")
HASH_SIZES = {"sha256": 32, "sha512": 64}


class MetadataInvalid(ValueError):
    """Metadata that does not have the shape of its role."""


def is_delegation(role: str) -> bool:
    return (
        role.startswith("targets/")
        and _DELEGATION.fullmatch(role) is not None
        and len(role) < 256
        and posixpath.normpath(role) == role
    )


def valid_role(role: str) -> bool:
    return role in BASE_ROLES or is_delegation(role)


def parent_of(role: str) -> str:
    return posixpath.dirname(role)


@dataclass(frozen=True, slots=True)
class Signature:
    key_id: str
    method: str
    sig: bytes


@dataclass(frozen=True, slots=True)
class FileMeta:
    length: int
    hashes: dict[str, bytes]


@dataclass(frozen=True, slots=True)
class RoleKeys:
    key_ids: tuple[str, ...]
    threshold: int


@dataclass(frozen=True, slots=True)
class Delegation:
    name: str
    key_ids: tuple[str, ...]
    threshold: int
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Signed:
    """One role's metadata: the envelope and the fields every role has."""

    role: str
    raw: bytes  # as uploaded or stored: what clients hash
    signed: dict[str, Any]
    signatures: tuple[Signature, ...]
    version: int
    expires: dt.datetime
    # root: the role → keys table; targets: delegation keys
    keys: dict[str, PublicKey] = field(default_factory=dict)
    roles: dict[str, RoleKeys] = field(default_factory=dict)  # root only
    delegations: tuple[Delegation, ...] = ()  # targets roles
    targets: dict[str, FileMeta] = field(default_factory=dict)  # targets roles
    meta: dict[str, FileMeta] = field(default_factory=dict)  # snapshot, timestamp

    def signed_bytes(self) -> bytes:
        """The canonical bytes the signatures cover."""
        try:
            return canonical.encode(self.signed)
        except canonical.CanonicalError as exc:
            raise MetadataInvalid(str(exc)) from exc

    def delegation(self, name: str) -> Delegation | None:
        return next((d for d in self.delegations if d.name == name), None)


def parse_time(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise MetadataInvalid("expires must be a date")
    try:
        parsed = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
    except ValueError as exc:
        raise MetadataInvalid(f"expires is not an RFC 3339 date: {value[:40]}") from exc
    if parsed.tzinfo is None:
        raise MetadataInvalid("expires needs a time zone")
    return parsed


def format_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MetadataInvalid(f"{what} must be an integer")
    return value


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise MetadataInvalid(f"{what} must be base64")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise MetadataInvalid(f"{what} is not base64") from exc


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MetadataInvalid(f"{what} must be an object")
    return value


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MetadataInvalid(f"{what} must be a list of strings")
    return tuple(value)


def _files(value: Any, what: str) -> dict[str, FileMeta]:
    out: dict[str, FileMeta] = {}
    for name, item in _dict(value if value is not None else {}, what).items():
        item = _dict(item, f"{what}.{name}")
        hashes = {
            alg: _b64(h, f"{what}.{name}.hashes.{alg}")
            for alg, h in _dict(item.get("hashes"), f"{what}.{name}.hashes").items()
        }
        out[name] = FileMeta(_int(item.get("length"), f"{what}.{name}.length"), hashes)
    return out


def _keys(value: Any, what: str) -> dict[str, PublicKey]:
    out: dict[str, PublicKey] = {}
    for key_id, doc in _dict(value if value is not None else {}, what).items():
        try:
            out[key_id] = parse_key(doc)
        except KeyUnusable as exc:
            raise MetadataInvalid(f"{what}.{key_id}: {exc}") from exc
    return out


def _threshold(value: Any, what: str) -> int:
    threshold = _int(value, f"{what} threshold")
    if threshold < 1:
        raise MetadataInvalid(f"invalid threshold specified for {what}: {threshold}")
    return threshold


def _check_hashes(meta: dict[str, FileMeta], name: str, role: str) -> None:
    entry = meta.get(name)
    if entry is None or "sha256" not in entry.hashes:
        raise MetadataInvalid(f"{role}: missing {name} sha256 checksum information")
    for alg, size in HASH_SIZES.items():
        if alg in entry.hashes and len(entry.hashes[alg]) != size:
            raise MetadataInvalid(f"{role}: invalid {name} checksum information")


def parse(role: str, raw: bytes) -> Signed:
    """``raw`` as the metadata of ``role``; ``MetadataInvalid`` when it is not."""
    try:
        doc = canonical.parse(raw)
    except ValueError as exc:
        raise MetadataInvalid(f"{role} is not JSON") from exc
    doc = _dict(doc, role)
    signed = _dict(doc.get("signed"), f"{role}.signed")
    try:
        canonical.encode(signed)  # what the signatures cover must exist (no fractions, ...)
    except canonical.CanonicalError as exc:
        raise MetadataInvalid(f"{role}: {exc}") from exc
    sig_docs = doc.get("signatures")
    if not isinstance(sig_docs, list):
        raise MetadataInvalid(f"{role}: signatures must be a list")
    signatures = []
    for item in sig_docs:
        item = _dict(item, "signature")
        key_id, method = item.get("keyid"), item.get("method")
        if not isinstance(key_id, str) or not isinstance(method, str):
            raise MetadataInvalid(f"{role}: a signature needs keyid and method")
        signatures.append(Signature(key_id, method.lower(), _b64(item.get("sig"), "sig")))
    kind = TARGETS if is_delegation(role) else role
    expected = TYPES.get(kind)
    if expected is None:
        raise MetadataInvalid(f"{role} is not a valid role")
    if signed.get("_type") != expected:
        raise MetadataInvalid(f"{role}: expected type {expected}, not {signed.get('_type')}")
    version = _int(signed.get("version"), f"{role} version")
    if version < 1:
        raise MetadataInvalid(f"{role}: version cannot be less than one")
    common: dict[str, Any] = {
        "role": role,
        "raw": raw,
        "signed": signed,
        "signatures": tuple(signatures),
        "version": version,
        "expires": parse_time(signed.get("expires")),
    }
    if kind == ROOT:
        return _root(common, signed)
    if kind == TARGETS:
        return _targets(common, signed, role)
    meta = _files(signed.get("meta"), f"{role}.meta")
    if kind == SNAPSHOT:
        for name in (ROOT, TARGETS):
            _check_hashes(meta, name, role)
    else:
        _check_hashes(meta, SNAPSHOT, role)
    return Signed(**common, meta=meta)


def _root(common: dict[str, Any], signed: dict[str, Any]) -> Signed:
    keys = _keys(signed.get("keys"), "root.keys")
    roles: dict[str, RoleKeys] = {}
    role_docs = _dict(signed.get("roles"), "root.roles")
    for name in BASE_ROLES:
        if not isinstance(role_docs.get(name), dict):
            raise MetadataInvalid(f"root: missing {name} role specification")
        item = role_docs[name]
        key_ids = _strings(item.get("keyids"), f"root.roles.{name}.keyids")
        for key_id in key_ids:
            if key_id not in keys:
                raise MetadataInvalid(
                    f"root: key ID {key_id} specified in {name} without corresponding key"
                )
        roles[name] = RoleKeys(key_ids, _threshold(item.get("threshold"), name))
    return Signed(**common, keys=keys, roles=roles)


def _targets(common: dict[str, Any], signed: dict[str, Any], role: str) -> Signed:
    targets = _files(signed.get("targets"), f"{role}.targets")
    delegation_doc = _dict(signed.get("delegations") or {}, f"{role}.delegations")
    keys = _keys(delegation_doc.get("keys"), f"{role}.delegations.keys")
    delegations = []
    role_docs = delegation_doc.get("roles") or []
    if not isinstance(role_docs, list):
        raise MetadataInvalid(f"{role}: delegations.roles must be a list")
    for item in role_docs:
        item = _dict(item, "delegation")
        name = item.get("name")
        if not isinstance(name, str) or not is_delegation(name) or parent_of(name) != role:
            raise MetadataInvalid(f"{role}: delegation role {name} invalid")
        key_ids = _strings(item.get("keyids"), f"{name}.keyids")
        for key_id in key_ids:
            if key_id not in keys:
                raise MetadataInvalid(
                    f"{role}: key ID {key_id} specified in {name} without corresponding key"
                )
        delegations.append(
            Delegation(
                name,
                key_ids,
                _threshold(item.get("threshold"), name),
                _strings(item.get("paths"), "paths"),
            )
        )
    return Signed(**common, keys=keys, targets=targets, delegations=tuple(delegations))
