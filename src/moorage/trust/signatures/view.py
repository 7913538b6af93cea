"""The signature view of one manifest in one repository: every signature found, verified
against what the repository trusts.

Found where each kind lives: Notary v1 targets in the trust metadata of the repository's GUNs
(``notary_targets``); cosign signature manifests at the tag ``sha256-<hex>.sig`` and among the
manifest's referrers; Notation signature manifests among its referrers (artifactType, or
``config.mediaType`` as Notation 1.0 writes it). Signature blobs are read from the store only
up to each format's small bound; a larger one shows as not verified. Whoever may push can add
referrers, so at most ``MAX_SIGNATURE_MANIFESTS`` are read per manifest (the oldest first) and
``MAX_LAYERS`` signed layers of each: a flood of referrers costs a bounded amount of work.
A page of tags is looked at in one go (``signatures_of``): the same statements for 1 digest
or 100, never a round of queries per tag.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from moorage.db import tables as t
from moorage.db.engine import Connection
from moorage.db.trust_tables import trust_metadata
from moorage.errors import MoorageError
from moorage.oci.digest import Digest
from moorage.registry.context import RegistryContext
from moorage.registry.layout import blob_key
from moorage.trust import store
from moorage.trust.metadata import ROOT
from moorage.trust.signatures import (
    cosign,
    dct_records,
    dct_referrers,
    notary_targets,
    notation,
    notation_cose,
    trust_stores,
)
from moorage.trust.signatures.verdict import COSIGN, NOTATION, Verdict, refused

MAX_SIGNATURE_MANIFESTS = 32
MAX_LAYERS = 16
MAX_READ_BYTES = 4 * 1024 * 1024  # the signature manifests one statement reads at most


def _doc(payload: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _kind(doc: dict[str, Any]) -> str | None:
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    types = {doc.get("artifactType"), config.get("mediaType") if config else None}
    if notation.ARTIFACT_TYPE in types:
        return NOTATION
    if cosign.ARTIFACT_TYPE in types:
        return COSIGN
    if dct_referrers.ARTIFACT_TYPE in types:  # a Notary signature moved to a referrer
        return dct_referrers.KIND
    return None


def _layers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    layers = doc.get("layers")
    return [x for x in layers if isinstance(x, dict)] if isinstance(layers, list) else []


async def _blob(ctx: RegistryContext, layer: dict[str, Any], limit: int) -> bytes | str:
    """The layer's bytes, or why they could not be read."""
    size = layer.get("size")
    if not isinstance(size, int) or size > limit:
        return f"the signature blob is over {limit} bytes"
    try:
        return await ctx.storage.read_bytes(blob_key(Digest.parse(str(layer.get("digest")))))
    except (MoorageError, OSError):
        return "the signature blob cannot be read"


async def _cosign(
    ctx: RegistryContext, doc: dict[str, Any], target: str, keys: trust_stores.Material, source: str
) -> list[Verdict]:
    out = []
    signed = [x for x in _layers(doc) if x.get("mediaType") == cosign.SIMPLE_SIGNING]
    for layer in signed[:MAX_LAYERS]:
        payload = await _blob(ctx, layer, cosign.MAX_PAYLOAD)
        if isinstance(payload, str):
            out.append(refused(COSIGN, payload, source))
            continue
        raw = layer.get("annotations")
        annotations = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        out.append(cosign.verify(payload, annotations, target, keys.keys, source))
    return out or [refused(COSIGN, "the signature manifest has no simple-signing layer", source)]


async def _notation(
    ctx: RegistryContext,
    doc: dict[str, Any],
    target: notation.Target,
    trusted: trust_stores.Material,
    now: dt.datetime,
    source: str,
) -> Verdict:
    layers = _layers(doc)
    if len(layers) != 1:
        return refused(NOTATION, "a Notation signature manifest has exactly one layer", source)
    media_type = layers[0].get("mediaType")
    parser = {notation.JWS: notation.parse_jws, notation.COSE: notation_cose.parse_cose}.get(
        str(media_type)
    )
    if parser is None:
        return refused(NOTATION, f"unknown envelope type {str(media_type)[:80]}", source)
    envelope = await _blob(ctx, layers[0], notation.MAX_ENVELOPE)
    if isinstance(envelope, str):
        return refused(NOTATION, envelope, source)
    return notation.verify(parser, envelope, target, trusted.roots, now, source)


async def signatures(
    ctx: RegistryContext, repository: str, repository_id: int, digest: str, now: dt.datetime
) -> list[Verdict]:
    """Every signature of the manifest ``digest`` of ``repository`` (empty when none, or when
    the repository holds no such manifest)."""
    return (await signatures_of(ctx, repository, repository_id, [digest], now)).get(digest, [])


@dataclass(frozen=True, slots=True)
class _Signed:
    """A manifest whose signatures are looked for, and the signature manifests found for it
    (digest, size: the ``.sig`` tag's first, then its referrers, the oldest first)."""

    digest: str
    media_type: str
    size: int
    tagged: str | None
    candidates: tuple[tuple[str, int], ...]


async def signatures_of(
    ctx: RegistryContext,
    repository: str,
    repository_id: int,
    digests: Sequence[str],
    now: dt.datetime,
) -> dict[str, list[Verdict]]:
    """The signature view of each of ``digests`` (a page of tags) in a number of statements
    that does not grow with the page: the manifests, the ``.sig`` tags, the referrers (the
    oldest ``MAX_SIGNATURE_MANIFESTS`` of each), the Notary roles (one per GUN), the trust
    stores, then the signature manifests (one statement per ``MAX_READ_BYTES`` of them, so a
    page of big ones is never held at once). A digest the repository does not hold: []."""
    out: dict[str, list[Verdict]] = {digest: [] for digest in digests}
    async with ctx.db.read() as conn:
        found = await _signed(conn, repository_id, sorted(out))
        if not found:
            return out
        notary_roles = await _notary_roles(conn, repository)
        trusted = trust_stores.Material((), ())
        if notary_roles or any(s.candidates for s in found):
            trusted = await trust_stores.material(conn, repository_id, repository.split("/")[0])
    for group in _groups(found):
        wanted = sorted({c for s in group for c, _ in s.candidates})
        payloads: dict[str, bytes] = {}
        if wanted:
            async with ctx.db.read() as conn:
                rows = await conn.execute(
                    select(t.manifests.c.digest, t.manifests.c.payload).where(
                        t.manifests.c.repository_id == repository_id,
                        t.manifests.c.digest.in_(wanted),
                    )
                )
                payloads = {r.digest: bytes(r.payload) for r in rows}
        for signed in group:
            out[signed.digest] = await _verdicts(
                ctx, signed, payloads, notary_roles, trusted, now, repository
            )
    return out


async def _verdicts(
    ctx: RegistryContext,
    signed: _Signed,
    payloads: dict[str, bytes],
    notary_roles: dict[str, dict[str, bytes]],
    trusted: trust_stores.Material,
    now: dt.datetime,
    repository: str,
) -> list[Verdict]:
    """One manifest's signatures, from what ``signatures_of`` read."""
    out: list[Verdict] = []
    for gun, stored in notary_roles.items():
        out += notary_targets.verdicts(gun, stored, signed.digest, signed.size, now, trusted)
    target = notation.Target(signed.media_type, signed.digest, signed.size)
    for candidate, _ in signed.candidates:
        payload = payloads.get(candidate)
        if payload is None:
            continue  # deleted since
        doc = _doc(payload)
        kind = _kind(doc)
        if kind == NOTATION:
            out.append(await _notation(ctx, doc, target, trusted, now, candidate))
        elif kind == COSIGN or candidate == signed.tagged:
            out += await _cosign(ctx, doc, signed.digest, trusted, candidate)
        elif kind == dct_referrers.KIND:
            roots = {gun: roles[ROOT] for gun, roles in notary_roles.items() if ROOT in roles}
            out.append(
                await dct_records.verdict(
                    ctx,
                    repository,
                    doc,
                    signed.digest,
                    signed.size,
                    roots,
                    trusted,
                    now,
                    candidate,
                )
            )
    return out


async def _signed(conn: Connection, repository_id: int, digests: list[str]) -> list[_Signed]:
    """The manifests of ``digests`` the repository holds, each with its signature manifests."""
    m = t.manifests.c
    rows = list(
        await conn.execute(
            select(m.digest, m.media_type, m.size)
            .where(m.repository_id == repository_id, m.digest.in_(digests))
            .order_by(m.digest)
        )
    )
    if not rows:
        return []
    held = [r.digest for r in rows]
    by_tag = {cosign.signature_tag(d): d for d in held}
    tagged: dict[str, tuple[str, int]] = {}
    for r in await conn.execute(
        select(t.tags.c.name, m.digest, m.size)
        .select_from(t.tags.join(t.manifests, m.id == t.tags.c.manifest_id))
        .where(t.tags.c.repository_id == repository_id, t.tags.c.name.in_(list(by_tag)))
    ):
        tagged[by_tag[r.name]] = (r.digest, r.size)
    ranked = (
        select(
            m.subject_digest,
            m.digest,
            m.size,
            func.row_number().over(partition_by=m.subject_digest, order_by=m.id).label("n"),
        )
        .where(m.repository_id == repository_id, m.subject_digest.in_(held))
        .subquery()
    )
    referrers: dict[str, list[tuple[str, int]]] = {d: [] for d in held}
    for r in await conn.execute(
        select(ranked.c.subject_digest, ranked.c.digest, ranked.c.size)
        .where(ranked.c.n <= MAX_SIGNATURE_MANIFESTS)
        .order_by(ranked.c.subject_digest, ranked.c.n)
    ):
        referrers[r.subject_digest].append((r.digest, r.size))
    out = []
    for r in rows:
        first = tagged.get(r.digest)
        candidates = [first] if first is not None else []
        candidates += [c for c in referrers[r.digest] if first is None or c[0] != first[0]]
        out.append(
            _Signed(
                r.digest,
                r.media_type,
                r.size,
                first[0] if first is not None else None,
                tuple(candidates[:MAX_SIGNATURE_MANIFESTS]),
            )
        )
    return out


async def _notary_roles(conn: Connection, repository: str) -> dict[str, dict[str, bytes]]:
    """The current trust metadata (role → payload) of each GUN that names ``repository``."""
    guns = [
        r.gun
        for r in await conn.execute(
            select(trust_metadata.c.gun).where(trust_metadata.c.repository == repository).distinct()
        )
    ]
    return {
        gun: {role: s.payload for role, s in (await store.current_all(conn, gun)).items()}
        for gun in sorted(guns)
    }


def _groups(found: list[_Signed]) -> list[list[_Signed]]:
    """``found`` cut so that one group's signature manifests weigh at most ``MAX_READ_BYTES``
    (a group of one when a single manifest's are heavier)."""
    groups: list[list[_Signed]] = []
    used = 0
    for signed in found:
        weight = sum(size for _, size in signed.candidates)
        if groups and used + weight <= MAX_READ_BYTES:
            groups[-1].append(signed)
            used += weight
        else:
            groups.append([signed])
            used = weight
    return groups
