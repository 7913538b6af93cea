"""The Notary server's operations on the registry's database: publish (validate, then store in
one transaction), read a role (current, by version, by checksum; a fresh timestamp, and
snapshot when the server holds its key, whenever the stored one has expired), the server's
keys (made on first use, ecdsa P-256 as notary-signer makes them, sealed by the secret box so
every replica shares them), delete, and the changefeed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field

from sqlalchemy.sql.elements import ColumnElement

from moorage.auth.secretbox import SecretBox
from moorage.db.engine import Connection, Database
from moorage.trust import signing, store, validation
from moorage.trust.errors import MetadataNotFound, OldVersion
from moorage.trust.gun import Gun
from moorage.trust.keys import ECDSA, PrivateKey, PublicKey, generate_ecdsa
from moorage.trust.metadata import ROOT, SNAPSHOT, TIMESTAMP, MetadataInvalid, parse
from moorage.trust.validation import Update

SERVER_ROLES = (TIMESTAMP, SNAPSHOT)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Trust:
    """What the operations need: the database and the secret box (and a clock for tests)."""

    db: Database
    box: SecretBox
    clock: Callable[[], dt.datetime] = field(default=_utcnow)


async def _server_keys(trust: Trust, conn: Connection, gun: str) -> dict[str, list[PrivateKey]]:
    out: dict[str, list[PrivateKey]] = {}
    for role in SERVER_ROLES:
        out[role] = [
            PrivateKey(PublicKey(k.algorithm, k.public), trust.box.open(k.sealed_private).encode())
            for k in await store.keys(conn, gun, role)
        ]
    return out


async def publish(trust: Trust, gun: Gun, uploads: Mapping[str, bytes]) -> list[Update]:
    """Validate ``uploads`` (role → bytes) as Notary's server does and store them with the
    snapshot and timestamp the server signs, all in one transaction, or nothing."""
    now = trust.clock()
    async with trust.db.write() as conn:
        stored = {role: s.payload for role, s in (await store.current_all(conn, gun.name)).items()}
        server_keys = await _server_keys(trust, conn, gun.name)
        updates = validation.validate_update(gun.name, uploads, stored, server_keys, now)
        await store.write(conn, gun, updates, now)
    return updates


async def read(
    trust: Trust, gun: Gun, role: str, *, version: int | None = None, checksum: str | None = None
) -> store.Stored:
    """A role's bytes: the current ones, or one version, or the version with that SHA-256."""
    async with trust.db.read() as conn:
        if version is not None:
            found = await store.by_version(conn, gun.name, role, version)
        elif checksum is not None:
            found = await store.by_checksum(conn, gun.name, role, checksum.lower())
        else:
            found = await store.current(conn, gun.name, role)
    if found is None:
        raise MetadataNotFound(detail={"gun": gun.name, "role": role})
    current = version is None and checksum is None
    if current and role in SERVER_ROLES and _expired(found.payload, trust.clock()):
        return await _refresh(trust, gun, role)
    return found


def _expired(payload: bytes, now: dt.datetime) -> bool:
    try:
        return parse(TIMESTAMP if b'"Timestamp"' in payload else SNAPSHOT, payload).expires < now
    except MetadataInvalid:
        return False


async def _refresh(trust: Trust, gun: Gun, role: str) -> store.Stored:
    """Sign a new timestamp (and snapshot, when the server holds its key and it expired). Two
    replicas may race here: the loser's versions are taken (``OldVersion``) and it serves the
    winner's."""
    now = trust.clock()
    with suppress(OldVersion):
        async with trust.db.write() as conn:
            await _sign_fresh(trust, conn, gun, now)
    async with trust.db.read() as conn:
        found = await store.current(conn, gun.name, role)
    if found is None:
        raise MetadataNotFound(detail={"gun": gun.name, "role": role})
    return found


async def _sign_fresh(trust: Trust, conn: Connection, gun: Gun, now: dt.datetime) -> None:
    stored = await store.current_all(conn, gun.name)
    if ROOT not in stored or SNAPSHOT not in stored:
        return
    keys = await _server_keys(trust, conn, gun.name)
    root_raw = stored[ROOT].payload
    updates: list[Update] = []
    snapshot_bytes = stored[SNAPSHOT].payload
    snap_signer = validation.server_signer(root_raw, SNAPSHOT, keys)
    if snap_signer is not None and _expired(snapshot_bytes, now):
        snapshot_bytes, version = signing.snapshot(snap_signer, snapshot_bytes, {}, now)
        updates.append(Update(SNAPSHOT, version, snapshot_bytes))
    ts = stored.get(TIMESTAMP)
    ts_signer = validation.server_signer(root_raw, TIMESTAMP, keys)
    if ts_signer is not None and (updates or ts is None or _expired(ts.payload, now)):
        previous = ts.payload if ts else None
        ts_bytes, version = signing.timestamp(ts_signer, previous, snapshot_bytes, now)
        updates.append(Update(TIMESTAMP, version, ts_bytes))
    if updates:
        await store.write(conn, gun, updates, now)


async def _new_key(trust: Trust, conn: Connection, gun: Gun, role: str) -> PublicKey:
    key = generate_ecdsa()
    sealed = trust.box.seal(key.pem.decode())
    stored = store.StoredKey(key.public.key_id, ECDSA, key.public.public, sealed)
    await store.add_key(conn, gun, role, stored, trust.clock())
    return key.public


async def get_key(trust: Trust, gun: Gun, role: str) -> PublicKey:
    """The server's public key for ``role``: the one the current root lists, else the newest
    it holds, else a new one (Notary's GetOrCreate)."""
    async with trust.db.read() as conn:
        held = await store.keys(conn, gun.name, role)
        root = await store.current(conn, gun.name, ROOT)
    if held:
        listed: set[str] = set()
        if root is not None:
            try:
                listed = set(parse(ROOT, root.payload).roles[role].key_ids)
            except MetadataInvalid:
                listed = set()
        chosen = next((k for k in held if k.key_id in listed), held[0])
        return PublicKey(chosen.algorithm, chosen.public)
    async with trust.db.write() as conn:
        held = await store.keys(conn, gun.name, role)  # another request may have made it
        if held:
            return PublicKey(held[0].algorithm, held[0].public)
        return await _new_key(trust, conn, gun, role)


async def rotate_key(trust: Trust, gun: Gun, role: str) -> PublicKey:
    """A new key for ``role``; it signs once a root listing it is published."""
    async with trust.db.write() as conn:
        return await _new_key(trust, conn, gun, role)


async def delete(trust: Trust, gun: Gun) -> None:
    """Every role's metadata of ``gun`` (Notary keeps the server's keys)."""
    async with trust.db.write() as conn:
        await store.delete_metadata(conn, gun, trust.clock())


async def changes(
    trust: Trust,
    change_id: int,
    records: int,
    *,
    gun: str | None = None,
    visible: ColumnElement[bool] | None = None,
) -> list[store.Change]:
    async with trust.db.read() as conn:
        return await store.changes(conn, change_id, records, gun=gun, visible=visible)
