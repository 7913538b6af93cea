"""What an SBOM is made from: one image manifest's stored scan (``image_scans``) and its
components layer by layer (``image_scan_components``), read in one snapshot, and the image as
the caller named it (repository, tag, digest, the registry's host for the image's purl).

Only a finished scan makes an SBOM: an image never scanned, still queued or scanning, or whose
scan failed, raises ``NotScanned`` (DTR's envelope at the edge, with the status and the reason).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from cyclonedx.spdx import fixup_id
from license_expression import get_spdx_licensing  # type: ignore[import-untyped]
from sqlalchemy import select

from moorage.db import scan_result_tables as st
from moorage.db.engine import Database, as_utc
from moorage.errors import Conflict
from moorage.scanning.purls import ComponentIdentity, ImageOs

SCANNED = "scanned"
# What package metadata writes for "no licence stated" (Python's ``License: UNKNOWN``): no claim.
NO_LICENCE = frozenset({"UNKNOWN", "NOASSERTION"})


_WORDS = re.compile(r"[()\s]+")
_OPERATORS = frozenset({"AND", "OR", "WITH"})
_LICENSING = get_spdx_licensing()


def spdx_expression(value: str) -> str | None:
    """``value`` as an SPDX licence expression (normalised: ``GPL-2.0+`` is
    ``GPL-2.0-or-later``), or None when it is not one.

    Written by hand on top of ``license_expression``: that library also accepts its own aliases
    (``GPL`` becomes ``GPL-1.0-or-later``), which would put words in a package's mouth; here
    every licence in the expression must be an SPDX licence ID as written (any case, deprecated
    IDs included) or a ``LicenseRef-``, and an exception must follow ``WITH``.
    """
    words = [w for w in _WORDS.split(value.strip()) if w]
    if not words:
        return None
    after_with = False
    for word in words:
        if word.upper() in _OPERATORS:
            after_with = word.upper() == "WITH"
            continue
        if not after_with and fixup_id(word) is None and not word.startswith("LicenseRef-"):
            return None
        after_with = False
    try:
        checked = _LICENSING.validate(value)
    except Exception:  # the library trips over some inputs (``file://LICENSE``)
        return None
    if checked.errors or not checked.normalized_expression:
        return None
    return str(checked.normalized_expression)


class NotScanned(Conflict):
    """The image has no finished scan to describe (never scanned, queued, scanning, failed)."""

    code, default_message = "NOT_SCANNED", "the image has not been scanned yet"


@dataclass(frozen=True, slots=True)
class StoredComponent:
    pk: int
    layer_index: int
    layer_digest: str
    path: str
    licenses: tuple[str, ...]
    identity: ComponentIdentity


@dataclass(frozen=True, slots=True)
class ScanResult:
    digest: str
    os: ImageOs
    completed_at: dt.datetime
    components: tuple[StoredComponent, ...]


@dataclass(frozen=True, slots=True)
class SbomTarget:
    """The image as the request named it: what the SBOM's subject says."""

    repository: str
    digest: str
    tag: str | None = None
    registry_host: str | None = None  # ``registry.example.com:5000``: the purl's repository_url


def _licenses(raw: str | None) -> tuple[str, ...]:
    try:
        values = json.loads(raw or "[]")
    except ValueError:
        return ()
    if not isinstance(values, list):
        return ()
    found = (v.strip() for v in values if isinstance(v, str))
    return tuple(v for v in found if v and v.upper() not in NO_LICENCE)


async def load(db: Database, digest: str) -> ScanResult:
    """The finished scan of the image manifest ``digest``, components ordered by layer."""
    scans, comps = st.image_scans.c, st.image_scan_components.c
    async with db.read() as conn:
        scan = (
            await conn.execute(
                select(
                    scans.status, scans.reason, scans.os, scans.os_detail, scans.completed_at
                ).where(scans.manifest_digest == digest)
            )
        ).first()
        if scan is None:
            raise NotScanned(
                "the image has not been scanned yet: scan it first",
                detail={"digest": digest, "status": "not scanned"},
            )
        if scan.status != SCANNED or scan.completed_at is None:
            reason = f" ({scan.reason})" if scan.status == "failed" and scan.reason else ""
            raise NotScanned(
                f"the image has no finished scan: its scan is {scan.status}{reason}",
                detail={"digest": digest, "status": scan.status, "reason": scan.reason},
            )
        rows = list(
            await conn.execute(
                select(
                    comps.pk,
                    comps.layer_index,
                    comps.layer_digest,
                    comps.type,
                    comps.name,
                    comps.version,
                    comps.namespace,
                    comps.source_name,
                    comps.source_version,
                    comps.arch,
                    comps.path,
                    comps.licenses,
                )
                .where(comps.manifest_digest == digest)
                .order_by(comps.layer_index, comps.pk)
            )
        )
    components = tuple(
        StoredComponent(
            pk=int(r.pk),
            layer_index=int(r.layer_index),
            layer_digest=r.layer_digest,
            path=r.path,
            licenses=_licenses(r.licenses),
            identity=ComponentIdentity(
                type=r.type,
                name=r.name,
                version=r.version,
                namespace=r.namespace,
                arch=r.arch,
                source_name=r.source_name,
                source_version=r.source_version,
            ),
        )
        for r in rows
    )
    return ScanResult(
        digest=digest,
        os=ImageOs.of(scan.os, scan.os_detail),
        completed_at=as_utc(scan.completed_at),
        components=components,
    )
