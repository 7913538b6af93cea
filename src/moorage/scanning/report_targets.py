"""Which image manifests a tag or digest of a repository names, for the scan summaries: the image
itself, or each platform's image of an index (manifest list), optionally one OS/architecture.

The caller has checked that the principal may see the repository; nothing here decides access.
"""

from __future__ import annotations

from dataclasses import dataclass

from moorage.errors import ManifestUnknown, NoSuchTag
from moorage.oci import mediatypes as mt
from moorage.registry import browse, indexes
from moorage.registry.context import RegistryContext
from moorage.registry.repositories import RepositoryDetails

MAX_PLATFORMS = 100  # platforms of one index a summary covers


@dataclass(frozen=True, slots=True)
class ImageTarget:
    """One image manifest as a repository names it."""

    repository: str  # namespace/name
    tag: str  # "" when named by digest only
    digest: str  # the image manifest's digest (a platform's, under an index)
    os: str = ""
    architecture: str = ""
    variant: str = ""
    index_digest: str = ""  # the index the tag names, when the image is one of its platforms

    @property
    def namespace(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def reponame(self) -> str:
        return self.repository.split("/", 1)[-1]

    @property
    def platform(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def _wanted(target: ImageTarget, os: str | None, arch: str | None) -> bool:
    return (not os or target.os == os) and (not arch or target.architecture == arch)


async def resolve(
    ctx: RegistryContext,
    repo: RepositoryDetails,
    reference: str,
    *,
    os: str | None = None,
    arch: str | None = None,
) -> list[ImageTarget]:
    """The images ``reference`` (a tag or a digest) names in ``repo``; with ``os``/``arch``,
    only those of that platform. NoSuchTag when it names nothing (or nothing of the platform)."""
    try:
        row = await browse.tag(ctx, repo.id, reference)
    except ManifestUnknown as exc:
        raise NoSuchTag(detail={"reference": reference[:200]}) from exc
    tag = "" if row.name == row.digest else row.name
    if row.media_type in mt.INDEXES:
        children, _ = await indexes.index_children(
            ctx, row.manifest_id, start=0, limit=MAX_PLATFORMS
        )
        found = [
            ImageTarget(
                repo.name,
                tag,
                child.digest,
                child.os,
                child.architecture,
                child.variant,
                index_digest=row.digest,
            )
            for child in children
            if child.media_type not in mt.INDEXES
        ]
    else:
        details = await browse.image_details(
            browse.ConfigCache(ctx), row.digest, row.media_type, row.payload, row.created_at
        )
        found = [
            ImageTarget(
                repo.name, tag, row.digest, details.os, details.architecture, details.variant
            )
        ]
    chosen = [target for target in found if _wanted(target, os, arch)]
    if not chosen:
        platform = "/".join(p for p in (os, arch) if p)
        raise NoSuchTag(
            f"{reference!r} names no {platform} image" if platform else None,
            detail={"reference": reference[:200], "os": os, "arch": arch},
        )
    return chosen
