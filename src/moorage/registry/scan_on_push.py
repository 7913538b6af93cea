"""Scan on push: a manifest pushed to a repository whose ``scanOnPush`` is set queues a ``scan``
job in the push's own write transaction (the job exists exactly when the push commits).

Whether a repository scans on push is a column of the repository row every request reads anyway
(``repositories.find``), so a push to a repository without it runs no statement for scanning.
A push queues one job when it records a push event (a new manifest, or a tag) for an image or an
index: parameters ``digest``, ``repository``, ``tag`` (the first tag pushed, else ""), and marks
the images it covers ``queued`` (an index: its platforms' images; attestation manifests, whose
platform is ``unknown/unknown``, are not images) unless they already have a state. The job
(``moorage.jobs.scan``) scans an index's platforms one by one and skips what is no container
image. Also here, shared with the scanner: what a container image is (an image config and
file-system tar layers), so artifacts (signatures, SBOMs, Helm charts) are never scanned.
"""

from __future__ import annotations

from sqlalchemy.sql.elements import Label

from moorage.db import scan_result_tables as sr
from moorage.db import site_settings
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, utcnow
from moorage.oci import mediatypes as mt
from moorage.oci.manifest import DOCKER_FOREIGN_LAYERS, Descriptor, ParsedManifest
from moorage.queue import jobs

SCAN_ACTION = "scan"
IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
LAYER_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
    }
)
_ATTESTATION = "attestation-manifest"


def scans_on_push() -> Label[bool]:
    """A column for a query on ``repositories``: whether a push to it queues a scan."""
    return t.repositories.c.scan_on_push.label("scans")


def is_foreign(layer: Descriptor) -> bool:
    return layer.media_type in DOCKER_FOREIGN_LAYERS or bool(layer.urls)


def is_image(parsed: ParsedManifest) -> bool:
    """A container image: an image manifest with an image config, file-system layers only
    (foreign ones allowed) and no artifact type of its own (the parser fills in the config's
    media type when the manifest names none, as the referrers API reports it)."""
    if parsed.media_type not in mt.IMAGE_MANIFESTS:
        return False
    if parsed.config is None or parsed.config.media_type not in IMAGE_CONFIGS:
        return False
    if parsed.artifact_type not in (None, parsed.config.media_type):
        return False
    return all(is_foreign(layer) or layer.media_type in LAYER_TYPES for layer in parsed.layers)


def is_platform_image(child: Descriptor) -> bool:
    """An index entry that is a platform's image (not an attestation manifest)."""
    if child.media_type not in mt.IMAGE_MANIFESTS:
        return False
    if (child.annotations or {}).get("vnd.docker.reference.type") == _ATTESTATION:
        return False
    platform = child.platform or {}
    return platform.get("os") != "unknown" and platform.get("architecture") != "unknown"


def wants_scan(parsed: ParsedManifest) -> bool:
    """Whether a push of ``parsed`` is worth a scan: an image, or an index of images."""
    if parsed.is_index:
        return any(is_platform_image(child) for child in parsed.manifests)
    return is_image(parsed)


async def schedule(
    db: Database,
    conn: Connection,
    digest: str,
    parsed: ParsedManifest,
    repository: str,
    tags: tuple[str, ...] | list[str],
) -> str:
    """Inside the push's write transaction: queue the scan and mark its images queued; returns
    the job's id ("" when the site setting ``scanningEnabled`` is off: nothing is queued)."""
    if not (await site_settings.load_on(db, conn)).scanning_enabled:
        return ""
    job_id = await jobs.enqueue(
        conn,
        SCAN_ACTION,
        {"digest": digest, "repository": repository, "tag": tags[0] if tags else ""},
    )
    images = (
        [str(c.digest) for c in parsed.manifests if is_platform_image(c)]
        if parsed.is_index
        else [digest]
    )
    now = utcnow()
    await conn.execute(
        db.insert(sr.image_scans)
        .values(
            [
                {"manifest_digest": d, "status": "queued", "queued_at": now, "job_id": job_id}
                for d in dict.fromkeys(images)
            ]
        )
        .on_conflict_do_nothing(index_elements=["manifest_digest"])
    )
    return job_id
