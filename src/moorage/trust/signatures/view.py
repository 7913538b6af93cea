"""The signature view of one manifest in one repository: every signature found, verified
against what the repository trusts.

Found where each kind lives: Notary v1 targets in the trust metadata of the repository's GUNs
(``notary_targets``); cosign signature manifests at the tag ``sha256-<hex>.sig`` and among the
manifest's referrers; Notation signature manifests among its referrers (artifactType, or
``config.mediaType`` as Notation 1.0 writes it). Signature blobs are read from the store only
up to each format's small bound; a larger one shows as not verified. Whoever may push can add
referrers, so at most ``MAX_SIGNATURE_MANIFESTS`` are read per manifest (the oldest first) and
``MAX_LAYERS`` signed layers of each: a flood of referrers costs a bounded amount of work.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from moorage.db.trust_tables import trust_metadata
from moorage.errors import MoorageError
from moorage.oci.digest import Digest
from moorage.registry import listing, manifests
from moorage.registry.context import RegistryContext
from moorage.registry.layout import blob_key
from moorage.trust import store
from moorage.trust.signatures import cosign, notary_targets, notation, notation_cose, trust_stores
from moorage.trust.signatures.verdict import COSIGN, NOTATION, Verdict, refused

MAX_SIGNATURE_MANIFESTS = 32
MAX_LAYERS = 16


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
    signed = await manifests.get_child(ctx, repository, digest)
    if signed is None:
        return []
    namespace = repository.partition("/")[0]
    async with ctx.db.read() as conn:
        trusted = await trust_stores.material(conn, repository_id, namespace)
        guns = [
            r.gun
            for r in await conn.execute(
                select(trust_metadata.c.gun)
                .where(trust_metadata.c.repository == repository)
                .distinct()
            )
        ]
        notary_roles = {
            gun: {role: s.payload for role, s in (await store.current_all(conn, gun)).items()}
            for gun in sorted(guns)
        }
    out: list[Verdict] = []
    for gun, stored in notary_roles.items():
        out += notary_targets.verdicts(gun, stored, signed.digest, len(signed.payload), now)
    tagged = await _tagged(ctx, repository, cosign.signature_tag(signed.digest))
    candidates = [tagged] if tagged is not None else []
    for desc in await listing.referrers(ctx, repository, digest, None):
        if str(desc["digest"]) not in candidates:
            candidates.append(str(desc["digest"]))
    target = notation.Target(signed.media_type, signed.digest, len(signed.payload))
    for candidate in candidates[:MAX_SIGNATURE_MANIFESTS]:
        found = await manifests.get_child(ctx, repository, candidate)
        if found is None:
            continue
        doc = _doc(found.payload)
        kind = _kind(doc)
        if kind == NOTATION:
            out.append(await _notation(ctx, doc, target, trusted, now, found.digest))
        elif kind == COSIGN or candidate == tagged:
            out += await _cosign(ctx, doc, signed.digest, trusted, found.digest)
    return out


async def _tagged(ctx: RegistryContext, repository: str, tag: str) -> str | None:
    try:
        return (await manifests.get(ctx, repository, tag)).digest
    except MoorageError:
        return None
