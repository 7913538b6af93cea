"""What Notary's server checks before it accepts an update (server/handlers/validation.go and
the repo builder it drives), as one pure function: ``validate_update``.

In order: the root (a version equal to or one above the stored one; its root keys X.509
certificates for this GUN; signed by a threshold of its own root keys and, when one is stored,
by a threshold of the previous root's; not expired), each targets role shallowest first (signed
by the keys and threshold of the root's ``targets`` role, or of the delegation its parent lists;
a delegation's paths within its parent's and its targets within its paths — Notary silently
narrows those, Moorage refuses them), the snapshot (signed by the root's snapshot keys; the
hashes and lengths it gives for every role of the update, and the stored root, match their
bytes) or, when none is uploaded, one signed by the server's snapshot key; then a timestamp
signed by the server. Versions must rise: the store refuses a version not above the stored one
(``OldVersion``). Nothing is written here; the caller stores the result in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from moorage.trust import errors as e
from moorage.trust import signing
from moorage.trust.keys import (
    X509_TYPES,
    PrivateKey,
    PublicKey,
    certificate_problem,
    common_name,
    verify,
)
from moorage.trust.metadata import (
    ROOT,
    SNAPSHOT,
    TARGETS,
    TIMESTAMP,
    MetadataInvalid,
    Signed,
    is_delegation,
    parent_of,
    parse,
)


@dataclass(frozen=True, slots=True)
class Update:
    role: str
    version: int
    payload: bytes


def check_signatures(meta: Signed, keys: Mapping[str, PublicKey], threshold: int) -> str | None:
    """None when at least ``threshold`` distinct keys of ``keys`` signed ``meta``, else why not."""
    if not meta.signatures:
        return "tuf: data has no signatures"
    msg = meta.signed_bytes()
    valid: set[str] = set()
    tried: set[tuple[str, bytes]] = set()
    for sig in meta.signatures:
        key = keys.get(sig.key_id)
        if key is None or sig.key_id in valid or (sig.key_id, sig.sig) in tried:
            continue  # each signature is checked once, however often it is repeated
        tried.add((sig.key_id, sig.sig))
        if key.key_id != sig.key_id:
            return "key ID does not match the key"
        if verify(key, sig.method, sig.sig, msg):
            valid.add(sig.key_id)
    if len(valid) < threshold:
        return f"valid signatures did not meet threshold for {meta.role}"
    return None


def _root_keys(
    root: Signed, gun: str, *, check_expiry: bool, now: dt.datetime
) -> dict[str, PublicKey]:
    """The root role's keys that are certificates for ``gun`` Notary would trust."""
    out: dict[str, PublicKey] = {}
    for key_id in root.roles[ROOT].key_ids:
        key = root.keys[key_id]
        if key.keytype not in X509_TYPES:
            continue
        try:
            cert = key.certificate()
        except ValueError:
            continue
        name = common_name(cert)
        matches = name == gun or (name.endswith("*") and gun.startswith(name.rstrip("*")))
        if matches and certificate_problem(cert, check_expiry=check_expiry, now=now) is None:
            out[key.key_id] = key
    return out


def _expired(meta: Signed, now: dt.datetime) -> str | None:
    return f"{meta.role} expired at {meta.expires.isoformat()}" if meta.expires < now else None


def _role_keys(root: Signed, role: str) -> tuple[dict[str, PublicKey], int]:
    spec = root.roles[role]
    return {k: root.keys[k] for k in spec.key_ids}, spec.threshold


def _load(role: str, raw: bytes) -> Signed:
    try:
        return parse(role, raw)
    except MetadataInvalid as exc:
        kind = {ROOT: e.bad_root, SNAPSHOT: e.bad_snapshot}.get(role, e.bad_targets)
        raise kind(str(exc)) from exc


def _validate_root(gun: str, upload: bytes, previous: Signed | None, now: dt.datetime) -> Signed:
    current_version = previous.version if previous is not None else 1
    root = _load(ROOT, upload)
    if root.version not in (current_version, current_version + 1):
        raise e.bad_root(
            "Root modifications must increment the version. "
            f"Current {current_version}, new {root.version}"
        )
    if previous is not None:
        trusted = _root_keys(previous, gun, check_expiry=False, now=now)
        if not trusted:
            raise e.bad_root("could not retrieve trusted certs from previous root role data")
        if check_signatures(root, trusted, previous.roles[ROOT].threshold) is not None:
            raise e.bad_root(
                "could not rotate trust to a new trusted root: "
                "failed to validate data with current trusted certificates"
            )
    own = _root_keys(root, gun, check_expiry=True, now=now)
    if not own:
        raise e.bad_root(
            "could not validate the path to a trusted root: unable to retrieve valid leaf "
            f"certificates (root keys must be certificates with the common name {gun})"
        )
    if check_signatures(root, own, root.roles[ROOT].threshold) is not None:
        raise e.bad_root(
            "could not validate the path to a trusted root: failed to validate integrity of roots"
        )
    expired = _expired(root, now)
    if expired:
        raise e.bad_root(expired)
    return root


def _restrict(parent_paths: Sequence[str], paths: Sequence[str]) -> tuple[str, ...]:
    return tuple(p for p in paths if any(p.startswith(pp) for pp in parent_paths))


class _Walk:
    """The targets roles known so far (stored or uploaded) and their effective paths."""

    def __init__(self, root: Signed, stored: Mapping[str, bytes]) -> None:
        self.root = root
        self.stored = stored
        self.loaded: dict[str, Signed] = {}
        self.paths: dict[str, tuple[str, ...]] = {TARGETS: ("",)}

    def ensure(self, role: str) -> None:
        """Load ``role``'s stored metadata (and its parents'), expired or not."""
        if role in self.loaded or role not in self.stored:
            return
        if role != TARGETS:
            self.ensure(parent_of(role))
        try:
            self.loaded[role] = parse(role, self.stored[role])
            if role != TARGETS:
                self.paths[role] = self._delegated(role)[2]
        except (MetadataInvalid, e.InvalidUpdate):
            self.loaded.pop(role, None)

    def _delegated(self, role: str) -> tuple[dict[str, PublicKey], int, tuple[str, ...]]:
        parent = parent_of(role)
        holder = self.loaded.get(parent)
        if holder is None or parent not in self.paths:
            raise e.bad_targets(f"tuf: invalid role {role}. delegation does not exist")
        spec = holder.delegation(role)
        if spec is None:
            raise e.bad_targets(f"tuf: invalid role {role}. delegation does not exist")
        restricted = _restrict(self.paths[parent], spec.paths)
        if len(restricted) != len(spec.paths):
            raise e.bad_targets(f"{role} lists paths outside those of {parent}")
        keys = {k: holder.keys[k] for k in spec.key_ids}
        return keys, spec.threshold, restricted

    def accept(self, role: str, raw: bytes, now: dt.datetime) -> Signed:
        meta = _load(role, raw)
        if role == TARGETS:
            keys, threshold = _role_keys(self.root, TARGETS)
            paths: tuple[str, ...] = ("",)
        else:
            keys, threshold, paths = self._delegated(role)
        problem = check_signatures(meta, keys, threshold) or _expired(meta, now)
        if problem:
            raise e.bad_targets(problem)
        for target in meta.targets:
            if not any(target.startswith(p) for p in paths):
                raise e.bad_targets(f"target {target} is outside the paths {role} may sign")
        for child in meta.delegations:
            if _restrict(paths, child.paths) != child.paths:
                raise e.bad_targets(f"{child.name} lists paths outside those of {role}")
        self.loaded[role] = meta
        self.paths[role] = paths
        return meta


def _depth(role: str) -> tuple[int, str]:
    return role.count("/"), role


def _check_listed(snapshot: Signed, role: str, raw: bytes) -> None:
    entry = snapshot.meta.get(role)
    if entry is None:
        raise e.bad_snapshot(f"tuf: sha256 checksum required for {role}")
    known = 0
    for alg, digest in signing.hashes_of(raw).items():
        if alg in entry.hashes:
            known += 1
            if not hmac.compare_digest(entry.hashes[alg], digest):
                raise e.bad_snapshot(f"{role}: checksum mismatched ({alg})")
    if not known:
        raise e.bad_snapshot(f"tuf: sha256 checksum required for {role}")
    if entry.length != len(raw):
        raise e.bad_snapshot(f"{role}: length {entry.length} listed, {len(raw)} stored")


def validate_update(
    gun: str,
    uploads: Mapping[str, bytes],
    stored: Mapping[str, bytes],
    server_keys: Mapping[str, Sequence[PrivateKey]],
    now: dt.datetime,
) -> list[Update]:
    """The rows an accepted update writes (the uploaded roles, the snapshot and timestamp the
    server signs); ``InvalidUpdate`` (or ``MalformedJSON``) when Notary would refuse it.
    ``stored``: the current bytes of each role; ``server_keys``: the keys the server holds."""
    for role in uploads:
        if role == TIMESTAMP:
            raise e.InvalidRole(detail=role)
    previous = None
    if ROOT in stored:
        try:
            previous = parse(ROOT, stored[ROOT])
        except MetadataInvalid as exc:
            raise e.invalid(f"the stored root does not parse: {exc}") from exc
    applied: list[Update] = []
    checked: dict[str, bytes] = {}
    if ROOT in uploads:
        root = _validate_root(gun, uploads[ROOT], previous, now)
        applied.append(Update(ROOT, root.version, uploads[ROOT]))
        checked[ROOT] = uploads[ROOT]
    elif previous is None:
        raise e.invalid("no pre-existing root and no root provided in update.")
    else:
        root = previous
        checked[ROOT] = stored[ROOT]

    walk = _Walk(root, stored)
    for role in sorted((r for r in uploads if r == TARGETS or is_delegation(r)), key=_depth):
        walk.ensure(TARGETS if role == TARGETS else parent_of(role))
        meta = walk.accept(role, uploads[role], now)
        applied.append(Update(role, meta.version, uploads[role]))
        checked[role] = uploads[role]
    for role in walk.loaded:  # stored parents loaded on the way: the snapshot must list them
        if role not in checked:
            checked[role] = stored[role]

    if SNAPSHOT in uploads:
        snapshot = _load(SNAPSHOT, uploads[SNAPSHOT])
        keys, threshold = _role_keys(root, SNAPSHOT)
        problem = check_signatures(snapshot, keys, threshold) or _expired(snapshot, now)
        if problem:
            raise e.bad_snapshot(problem)
        for role, raw in checked.items():
            _check_listed(snapshot, role, raw)
        snapshot_bytes = uploads[SNAPSHOT]
        applied.append(Update(SNAPSHOT, snapshot.version, snapshot_bytes))
    else:
        signer = _server_signer(root, SNAPSHOT, server_keys)
        if signer is None:
            raise e.bad_hierarchy(
                SNAPSHOT,
                "no snapshot was included in update and server does not hold current "
                "snapshot key for repository",
            )
        if TARGETS not in checked and SNAPSHOT not in stored:
            raise e.bad_hierarchy(TARGETS, "no targets metadata, stored or uploaded")
        snapshot_bytes, version = signing.snapshot(signer, stored.get(SNAPSHOT), checked, now)
        applied.append(Update(SNAPSHOT, version, snapshot_bytes))

    signer = _server_signer(root, TIMESTAMP, server_keys)
    if signer is None:
        raise e.bad_root("no timestamp keys exist on the server")
    ts_bytes, version = signing.timestamp(signer, stored.get(TIMESTAMP), snapshot_bytes, now)
    applied.append(Update(TIMESTAMP, version, ts_bytes))
    return applied


def _server_signer(
    root: Signed, role: str, server_keys: Mapping[str, Sequence[PrivateKey]]
) -> PrivateKey | None:
    """The server's key for ``role`` that the root lists (a threshold of one: Notary's server
    signs its roles with one key)."""
    listed = set(root.roles[role].key_ids)
    if root.roles[role].threshold > 1:
        return None
    return next((k for k in server_keys.get(role, ()) if k.public.key_id in listed), None)


def server_signer(
    root_raw: bytes, role: str, server_keys: Mapping[str, Sequence[PrivateKey]]
) -> PrivateKey | None:
    try:
        return _server_signer(parse(ROOT, root_raw), role, server_keys)
    except MetadataInvalid:
        return None
