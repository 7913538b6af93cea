"""Docker Content Trust records in the registry (the format: ``dct_referrers``): ``migrate``
writes one for every tag a Notary role of the repository signs as it stands, ``verdict`` checks
one the signature view found among a manifest's referrers.

``migrate`` reads the current metadata of every GUN naming the repository and every tag in one
read transaction, decides every tag before it writes anything (a record is built from the
stored bytes and checked with ``dct_referrers.check`` before it is kept), then writes each
record through the registry's own functions: its blobs as monolithic uploads, its manifest by
digest and untagged (``manifests.put``: storage first, one transaction, the push event), so
garbage collection, events and the referrers API treat it as any push. A record is written
whole or not at all; a failure midway leaves the records written so far, each complete, and a
second run writes the rest. A record's bytes depend only on the chain, the subject and when its
signing role was published, so a second run finds the same digest and writes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from moorage.db import tables as t
from moorage.db.trust_tables import trust_metadata
from moorage.errors import MoorageError
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest
from moorage.registry import manifests, uploads
from moorage.registry.context import RegistryContext
from moorage.registry.layout import blob_key
from moorage.trust import store
from moorage.trust.metadata import ROOT, TARGETS, MetadataInvalid, Signed, parse
from moorage.trust.signatures import dct_referrers as rec
from moorage.trust.signatures import signer_trust
from moorage.trust.signatures.trust_stores import Material
from moorage.trust.signatures.verdict import Verdict, refused

MIGRATED, SKIPPED = "migrated", "skipped"
NO_TARGET, DIGEST_MISMATCH = "noTarget", "digestMismatch"
ALREADY_MIGRATED, NOT_VERIFIED = "alreadyMigrated", "notVerified"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the migration did for one tag (and, once a role lists it, one GUN and role)."""

    tag: str
    digest: str  # the manifest the tag names
    status: str  # MIGRATED | SKIPPED
    reason: str = ""  # a SKIPPED one's code
    message: str = ""
    gun: str = ""
    role: str = ""
    referrer: str = ""  # the record's manifest digest


@dataclass(frozen=True, slots=True)
class _Tagged:
    name: str
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class _Planned:
    outcome: Outcome
    body: bytes
    blobs: tuple[bytes, ...]


def _targets_roles(loaded: Mapping[str, Signed]) -> list[str]:
    """``targets`` first, then delegations shallowest first."""
    names = [r for r in loaded if r == TARGETS or r.startswith(TARGETS + "/")]
    return sorted(names, key=lambda r: (r.count("/"), r))


async def _read(
    ctx: RegistryContext, repository: str, repository_id: int
) -> tuple[dict[str, dict[str, store.Stored]], list[_Tagged], set[str]]:
    async with ctx.db.read() as conn:
        guns = sorted(
            r.gun
            for r in await conn.execute(
                select(trust_metadata.c.gun)
                .where(trust_metadata.c.repository == repository)
                .distinct()
            )
        )
        stored = {gun: await store.current_all(conn, gun) for gun in guns}
        tags = [
            _Tagged(r.name, r.digest, r.media_type, int(r.size))
            for r in await conn.execute(
                select(
                    t.tags.c.name,
                    t.manifests.c.digest,
                    t.manifests.c.media_type,
                    t.manifests.c.size,
                )
                .select_from(t.tags.join(t.manifests, t.manifests.c.id == t.tags.c.manifest_id))
                .where(t.tags.c.repository_id == repository_id)
                .order_by(t.tags.c.name)
            )
        ]
        records = {
            r.digest
            for r in await conn.execute(
                select(t.manifests.c.digest).where(
                    t.manifests.c.repository_id == repository_id,
                    t.manifests.c.artifact_type == rec.ARTIFACT_TYPE,
                )
            )
        }
    return stored, tags, records


def _parsed(stored: Mapping[str, store.Stored]) -> dict[str, Signed]:
    out: dict[str, Signed] = {}
    for role, row in stored.items():
        try:
            out[role] = parse(role, row.payload)
        except MetadataInvalid:
            continue
    return out


def _plan_tag(
    tag: _Tagged,
    repository: str,
    stored: Mapping[str, Mapping[str, store.Stored]],
    parsed: Mapping[str, Mapping[str, Signed]],
    records: set[str],
    now: dt.datetime,
) -> list[Outcome | _Planned]:
    out: list[Outcome | _Planned] = []
    algorithm, _, hex_part = tag.digest.partition(":")
    wanted = bytes.fromhex(hex_part) if algorithm == "sha256" else b""
    subject = {"mediaType": tag.media_type, "digest": tag.digest, "size": tag.size}
    for gun, loaded in parsed.items():
        if ROOT not in loaded:
            continue
        for role in _targets_roles(loaded):
            listed = loaded[role].targets.get(tag.name)
            if listed is None:
                continue
            base = Outcome(tag.name, tag.digest, SKIPPED, gun=gun, role=role)
            signed = listed.hashes.get("sha256")
            if signed != wanted or listed.length != tag.size:
                notary = f"sha256:{signed.hex()}" if signed else "no sha256"
                message = f"{role} signs {notary} ({listed.length} bytes) for {tag.name}"
                out.append(_with(base, DIGEST_MISMATCH, message))
                continue
            raw = {r: s.payload for r, s in stored[gun].items()}
            chain = rec.build_chain(gun, role, tag.name, raw)
            reason = chain if isinstance(chain, str) else None
            if isinstance(chain, rec.Chain):
                reason = rec.check(chain, repository, tag.digest, tag.size, now)[1]
            if not isinstance(chain, rec.Chain) or reason is not None:
                out.append(_with(base, NOT_VERIFIED, reason or ""))
                continue
            body, blobs = rec.manifest(chain, subject, stored[gun][role].created_at)
            too_big = rec.layers(json.loads(body))  # what the signature view would refuse
            if isinstance(too_big, str):
                out.append(_with(base, NOT_VERIFIED, too_big))
                continue
            digest = str(Digest.of(body))
            if digest in records:
                out.append(_with(base, ALREADY_MIGRATED, "the record exists", digest))
                continue
            done = Outcome(tag.name, tag.digest, MIGRATED, gun=gun, role=role, referrer=digest)
            out.append(_Planned(done, body, tuple(blobs)))
    if not out:
        message = f"no Notary role of {repository} lists {tag.name}"
        out.append(Outcome(tag.name, tag.digest, SKIPPED, NO_TARGET, message))
    return out


def _with(base: Outcome, reason: str, message: str, referrer: str = "") -> Outcome:
    return Outcome(
        base.tag, base.digest, SKIPPED, reason, message[:300], base.gun, base.role, referrer
    )


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _write(
    ctx: RegistryContext, repository: str, plan: _Planned, actor: str | None
) -> Outcome:
    for data in dict.fromkeys(plan.blobs):  # each blob once, in order
        digest = Digest.of(data)
        await uploads.monolithic(ctx, repository, digest, _one(data), content_length=len(data))
    put = await manifests.put(
        ctx, repository, plan.outcome.referrer, plan.body, mt.OCI_MANIFEST, actor=actor
    )
    if not put.created:  # a concurrent run wrote it first
        return _with(plan.outcome, ALREADY_MIGRATED, "the record exists", plan.outcome.referrer)
    return plan.outcome


async def migrate(
    ctx: RegistryContext,
    repository: str,
    repository_id: int,
    *,
    actor: str | None,
    now: dt.datetime,
) -> list[Outcome]:
    """One outcome per tag of ``repository`` (and per GUN and role that lists it), in tag
    order; the records of the migrated ones written."""
    stored, tags, records = await _read(ctx, repository, repository_id)

    def plan() -> list[Outcome | _Planned]:
        parsed = {gun: _parsed(rows) for gun, rows in stored.items()}
        return [
            item
            for tag in tags
            for item in _plan_tag(tag, repository, stored, parsed, records, now)
        ]

    # Parsing and checking every tag's chain is CPU work (milliseconds a tag): off the loop.
    planned = await asyncio.to_thread(plan)
    out: list[Outcome] = []
    for item in planned:
        out.append(
            await _write(ctx, repository, item, actor) if isinstance(item, _Planned) else item
        )
    return out


# ---- in the signature view -------------------------------------------------------------------


async def verdict(
    ctx: RegistryContext,
    repository: str,
    doc: Mapping[str, Any],
    digest: str,
    size: int,
    notary_roots: Mapping[str, bytes],
    trusted: Material,
    now: dt.datetime,
    source: str,
) -> Verdict:
    """The verdict on the record manifest ``doc`` found among the referrers of the manifest
    ``digest`` (of ``size`` bytes) of ``repository``: its chain checked (``dct_referrers.check``)
    and its root the current root of its GUN here (``notary_roots``: GUN → root bytes, of the
    GUNs naming the repository) or signed by ``trusted`` root certificates; ``registered`` when
    the recorded signer is registered material too (``signer_trust``)."""
    found = rec.layers(doc)
    if isinstance(found, str):
        return refused(rec.KIND, found, source)
    blobs: dict[str, bytes] = {}
    for layer in found:
        layer_digest = Digest.parse(str(layer["digest"]))
        try:
            blobs[str(layer_digest)] = await ctx.storage.read_bytes(blob_key(layer_digest))
        except (MoorageError, OSError):
            return refused(rec.KIND, "a layer of the record cannot be read", source)
    chain = rec.chain_of(doc, blobs)
    if isinstance(chain, str):
        return refused(rec.KIND, chain, source)
    signers = (chain.role,)
    root, reason = rec.check(chain, repository, digest, size, now)
    if reason is None and root is not None:
        known = notary_roots.get(chain.gun) == chain.root
        if not rec.anchored(root, chain.gun, known, trusted.roots, now):
            reason = (
                f"the record's root is not the current root of {chain.gun[:200]} on this "
                "registry's Notary server, nor signed by a registered root certificate"
            )
    if reason is not None:
        return refused(rec.KIND, reason, source, signers)
    registered = signer_trust.pem_registered(chain.signer_pem, trusted)
    return Verdict(rec.KIND, signers, True, "", source, registered)
