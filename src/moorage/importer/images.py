"""One image copied from a source registry to a target, by digest: an index with each of its
manifests, a manifest with its config and layers. A blob the target repository holds is
skipped; one the target holds in another repository is mounted; any other is read from the
source (its digest checked) and uploaded. Manifests go up by digest, children first, then the
tag; the target's digest must be the source's. Then the manifests that refer to it
(OCI 1.1 ``subject``: signatures, SBOMs), found through the source's referrers API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moorage.importer.registry_client import Manifest, RegistryAnswer, RegistryClient

MAX_DEPTH = 4  # an index of indexes of ... : deeper than any real image


@dataclass
class CopyCounts:
    blobs_uploaded: int = 0
    blobs_mounted: int = 0
    blobs_present: int = 0
    bytes_uploaded: int = 0
    referrers: int = 0  # manifests copied because their subject was
    placed: dict[str, str] = field(default_factory=dict)  # digest → a target repo holding it


async def copy_blob(
    source: RegistryClient,
    target: RegistryClient,
    src_repo: str,
    dst_repo: str,
    digest: str,
    counts: CopyCounts,
) -> None:
    if await target.has_blob(dst_repo, digest):
        counts.blobs_present += 1
    elif (
        (other := counts.placed.get(digest))
        and other != dst_repo
        and (await target.mount(dst_repo, digest, other))
    ):
        counts.blobs_mounted += 1
    else:
        async with source.downloaded(src_repo, digest) as (path, size):
            await target.upload(dst_repo, digest, path, size)
        counts.blobs_uploaded += 1
        counts.bytes_uploaded += size
    counts.placed[digest] = dst_repo


def _descriptors(doc: dict[str, Any]) -> list[dict[str, Any]]:
    blobs = [doc["config"]] if isinstance(doc.get("config"), dict) else []
    blobs += [d for d in doc.get("layers") or [] if isinstance(d, dict)]
    return blobs


async def copy_manifest(
    source: RegistryClient,
    target: RegistryClient,
    src_repo: str,
    dst_repo: str,
    reference: str,
    counts: CopyCounts,
    depth: int = 0,
) -> Manifest:
    """Copy what ``reference`` names (and all it refers to) and store it by digest on the
    target; returns the source's manifest (its bytes, media type and digest)."""
    if depth > MAX_DEPTH:
        raise RegistryAnswer(f"{src_repo}@{reference}: indexes nested too deep")
    manifest = await source.manifest(src_repo, reference)
    doc = manifest.document()
    if doc.get("schemaVersion") == 1:
        raise RegistryAnswer(f"{src_repo}:{reference} is a Docker schema 1 manifest: not copied")
    if await target.manifest_digest(dst_repo, manifest.digest) == manifest.digest:
        return manifest  # already there, with all it refers to
    if isinstance(doc.get("manifests"), list):
        for child in doc["manifests"]:
            await copy_manifest(
                source, target, src_repo, dst_repo, str(child["digest"]), counts, depth + 1
            )
    for blob in _descriptors(doc):
        await copy_blob(source, target, src_repo, dst_repo, str(blob["digest"]), counts)
    await target.put_manifest(dst_repo, manifest.digest, manifest)
    return manifest


async def copy_referrers(
    source: RegistryClient,
    target: RegistryClient,
    src_repo: str,
    dst_repo: str,
    digest: str,
    counts: CopyCounts,
    depth: int = 0,
) -> None:
    """The manifests that refer to ``digest`` (signatures, SBOMs, attestations: OCI 1.1
    ``subject``), and theirs, copied by digest after it."""
    if depth > MAX_DEPTH:
        return
    for referrer in await source.referrers(src_repo, digest):
        copied = await copy_manifest(
            source, target, src_repo, dst_repo, str(referrer["digest"]), counts
        )
        counts.referrers += 1
        await copy_referrers(source, target, src_repo, dst_repo, copied.digest, counts, depth + 1)


async def copy_tag(
    source: RegistryClient,
    target: RegistryClient,
    src_repo: str,
    dst_repo: str,
    tag: str,
    counts: CopyCounts,
) -> str:
    """The tag's image copied and tagged on the target; returns its digest."""
    manifest = await copy_manifest(source, target, src_repo, dst_repo, tag, counts)
    await target.put_manifest(dst_repo, tag, manifest)
    await copy_referrers(source, target, src_repo, dst_repo, manifest.digest, counts)
    return manifest.digest
