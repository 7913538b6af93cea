"""The trust operations on a real database: a publish stored whole or not at all, every version
kept, the server's keys sealed and shared, and a fresh timestamp (and server snapshot) signed
when the stored one has expired."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from moorage.auth.secretbox import SecretBox
from moorage.db.trust_tables import trust_keys
from moorage.registry.context import RegistryContext
from moorage.trust import errors as e
from moorage.trust import service
from moorage.trust.gun import Gun
from moorage.trust.keys import PublicKey
from moorage.trust.metadata import parse
from moorage.trust.validation import check_signatures
from tests.trust.craft import NOW, Signer, envelope, root, snapshot, targets

GUN = Gun("reg.example.com/team/app", "team/app")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


def _trust(ctx: RegistryContext, clock: Clock) -> service.Trust:
    return service.Trust(ctx.db, SecretBox.in_data_folder(ctx.settings.data), clock)


async def _initial(
    trust: service.Trust, snapshot_key: PublicKey | None = None
) -> dict[str, object]:
    ts = await service.get_key(trust, GUN, "timestamp")
    root_key, targets_key, snap = (
        Signer("ecdsa-x509", cn=GUN.name),
        Signer("ecdsa"),
        Signer("ecdsa"),
    )
    doc = root(1, [root_key], [targets_key], [snapshot_key or snap.public], [ts])
    r = envelope(doc, root_key)
    t = envelope(targets(1, {"latest": b"1"}), targets_key)
    uploads = {"root": r, "targets": t}
    if snapshot_key is None:
        uploads["snapshot"] = envelope(snapshot(1, {"root": r, "targets": t}), snap)
    await service.publish(trust, GUN, uploads)
    return {"ts": ts, "targets_key": targets_key, "snap": snap, "uploads": uploads}


async def test_keys_are_sealed_and_stable(ctx: RegistryContext) -> None:
    trust = _trust(ctx, Clock())
    first = await service.get_key(trust, GUN, "timestamp")
    assert await service.get_key(trust, GUN, "timestamp") == first
    async with ctx.db.read() as conn:
        row = (await conn.execute(select(trust_keys))).one()
    assert b"PRIVATE" not in row.sealed_private.encode() and row.key_id == first.key_id
    rotated = await service.rotate_key(trust, GUN, "timestamp")
    assert rotated != first


async def test_expired_timestamp_is_signed_again(ctx: RegistryContext) -> None:
    clock = Clock()
    trust = _trust(ctx, clock)
    made = await _initial(trust)
    first = await service.read(trust, GUN, "timestamp")
    assert parse("timestamp", first.payload).version == 1
    clock.now = NOW + dt.timedelta(days=15)  # past the 14 days of a timestamp
    fresh = await service.read(trust, GUN, "timestamp")
    ts = parse("timestamp", fresh.payload)
    assert ts.version == 2 and ts.expires > clock.now
    key = made["ts"]
    assert isinstance(key, PublicKey)
    assert check_signatures(ts, {key.key_id: key}, 1) is None
    assert (await service.read(trust, GUN, "timestamp", version=1)).payload == first.payload
    again = await service.read(trust, GUN, "timestamp")
    assert again.payload == fresh.payload  # not signed on every read


async def test_expired_server_snapshot_is_signed_again(ctx: RegistryContext) -> None:
    clock = Clock()
    trust = _trust(ctx, clock)
    snap_key = await service.rotate_key(trust, GUN, "snapshot")
    await _initial(trust, snapshot_key=snap_key)
    assert parse("snapshot", (await service.read(trust, GUN, "snapshot")).payload).version == 1
    clock.now = NOW + dt.timedelta(days=4 * 365)
    ts = parse("timestamp", (await service.read(trust, GUN, "timestamp")).payload)
    snap = await service.read(trust, GUN, "snapshot")
    assert parse("snapshot", snap.payload).version == 2 and ts.version == 2
    assert ts.meta["snapshot"].length == len(snap.payload)


async def test_a_refused_publish_stores_nothing(ctx: RegistryContext) -> None:
    trust = _trust(ctx, Clock())
    made = await _initial(trust)
    uploads = made["uploads"]
    assert isinstance(uploads, dict)
    t = envelope(targets(2, {"x": b"y"}), Signer("ecdsa"))
    with pytest.raises(e.InvalidUpdate):
        await service.publish(trust, GUN, {"targets": t, "snapshot": uploads["snapshot"]})
    with pytest.raises(e.OldVersion):
        await service.publish(
            trust, GUN, {"targets": uploads["targets"], "snapshot": uploads["snapshot"]}
        )
    current = await service.read(trust, GUN, "targets")
    assert current.version == 1 and current.payload == uploads["targets"]
    with pytest.raises(e.MetadataNotFound):
        await service.read(trust, GUN, "targets", version=2)
