"""The scanner's results (``moorage.scanning``): layer inventories cached by digest, one scan per
image manifest, its components layer by layer, their findings, and the overrides admins set.

Declared on ``moorage.db.tables.metadata``, the one MetaData of the schema; Alembic's ``env.py``
imports this module with ``tables`` so the metadata it compares holds every table.

Results are keyed by content, not by repository: an image manifest digest is scanned once
whichever repositories hold it, and a layer shared by a thousand images is read once (its
inventory keyed by the layer digest and the analysers' version). Who may see a result is decided
by the repositories that hold the manifest, at read time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from moorage.db.tables import metadata

MAX_DIGEST = 200
MAX_NAME = 1024
MAX_VERSION = 255
MAX_ID = 255
MAX_LICENSE = 255  # a longer licence expression is kept (and searched) by its first 255 characters

# One layer's inventory (``scanning.inventory.layers.LayerInventory`` as zlib-compressed JSON),
# valid for the analysers' combined version that produced it.
scan_layers = Table(
    "scan_layers",
    metadata,
    Column("layer_digest", String(MAX_DIGEST), nullable=False),
    Column("analyzers", String(64), nullable=False),
    Column("inventory", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("scanned_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("layer_digest", "analyzers", name="pk_scan_layers"),
)

# One image manifest's scan. status: queued | scanning | scanned | failed; ``reason`` says why a
# scan failed (never shown as "0 vulnerabilities"). Counts are DTR's critical / major / minor.
image_scans = Table(
    "image_scans",
    metadata,
    Column("manifest_digest", String(MAX_DIGEST), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("os", String(255), nullable=True),  # e.g. "debian 12", "alpine 3.18.4"
    Column("os_detail", Text, nullable=True),  # JSON: id, version_id, codename, ecosystem …
    Column("critical", Integer, nullable=False, server_default="0"),
    Column("major", Integer, nullable=False, server_default="0"),
    Column("minor", Integer, nullable=False, server_default="0"),
    Column("vulndb_generation", Integer, nullable=True),  # the database generation matched
    Column("job_id", String(36), nullable=True),
    Column("queued_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),  # DTR's check_completed_at
    Index("ix_image_scans_status", "status"),
)

# What the image holds, each component attributed to the layer that introduced it. ``ecosystem``
# and ``match_name`` are what the vulnerability database is asked with (``Debian:12`` and the
# source package for OS packages; ``PyPI`` and the PEP 503 name …), so a database update can find
# the images its changed records name without reading a layer again.
image_scan_components = Table(
    "image_scan_components",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column(
        "manifest_digest",
        String(MAX_DIGEST),
        ForeignKey("image_scans.manifest_digest", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("layer_index", Integer, nullable=False),
    Column("layer_digest", String(MAX_DIGEST), nullable=False),
    Column("type", String(32), nullable=False),  # purl type: deb, apk, rpm, pypi, npm …
    Column("name", String(MAX_NAME), nullable=False),
    Column("version", String(MAX_VERSION), nullable=False),
    Column("namespace", String(MAX_NAME), nullable=True),
    Column("source_name", String(MAX_NAME), nullable=True),
    Column("source_version", String(MAX_VERSION), nullable=True),
    Column("arch", String(64), nullable=True),
    Column("path", Text, nullable=False),
    Column("licenses", Text, nullable=False, server_default="[]"),  # JSON list
    Column("ecosystem", String(255), nullable=True),  # NULL: no vulnerability ecosystem known
    Column("match_name", String(MAX_NAME), nullable=True),
    # Why this component could not be matched (an unparseable version …), else NULL.
    Column("match_problem", Text, nullable=True),
    Index("ix_image_scan_components_manifest", "manifest_digest"),
    Index("ix_image_scan_components_match", "match_name", "ecosystem"),
    Index("ix_image_scan_components_name", "name"),
    Index("ix_image_scan_components_layer", "layer_digest"),
)


# Each licence a component declares (lower-case: SPDX IDs compare case-insensitively), so
# "images by licence" is an index scan rather than a LIKE over every component's JSON list.
def license_key(name: str) -> str:
    """How a licence is stored in ``image_scan_component_licenses`` and searched: trimmed,
    lower-case, at most ``MAX_LICENSE`` characters."""
    return name.strip().lower()[:MAX_LICENSE]


def license_rows(component_pk: int, digest: str, licences: Iterable[str]) -> list[dict[str, Any]]:
    """The ``image_scan_component_licenses`` rows of one component: each distinct licence once,
    in its ``license_key`` form, blank ones left out."""
    keys = sorted({license_key(x) for x in licences if x.strip()})
    return [{"component_pk": component_pk, "manifest_digest": digest, "license": k} for k in keys]


image_scan_component_licenses = Table(
    "image_scan_component_licenses",
    metadata,
    Column(
        "component_pk",
        Integer,
        ForeignKey("image_scan_components.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "manifest_digest",
        String(MAX_DIGEST),
        ForeignKey("image_scans.manifest_digest", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("license", String(MAX_LICENSE), nullable=False),
    Index("ix_image_scan_component_licenses_license", "license", "manifest_digest"),
    Index("ix_image_scan_component_licenses_component", "component_pk"),
)

# One vulnerability affecting one component (aliases merged: ``vuln_id`` is the primary ID,
# ``ids`` every ID of the finding as a JSON list, also rows of image_scan_finding_ids).
image_scan_findings = Table(
    "image_scan_findings",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column(
        "component_pk",
        Integer,
        ForeignKey("image_scan_components.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("manifest_digest", String(MAX_DIGEST), nullable=False),
    Column("vuln_id", String(MAX_ID), nullable=False),
    Column("ids", Text, nullable=False),
    Column("severity", String(16), nullable=False),  # critical | major | minor | unknown
    Column("cvss", Float, nullable=True),
    Column("cvss_vector", String(255), nullable=True),
    Column("fixed_version", String(MAX_VERSION), nullable=True),
    Column("status", String(64), nullable=True),  # "will not fix", "fix deferred" …
    Column("summary", Text, nullable=True),
    # Set when an override or a VEX statement says it does not apply (the finding is kept).
    Column("suppressed_by", String(64), nullable=True),
    Index("ix_image_scan_findings_manifest", "manifest_digest"),
    Index("ix_image_scan_findings_component", "component_pk"),
)

image_scan_finding_ids = Table(
    "image_scan_finding_ids",
    metadata,
    Column(
        "finding_pk",
        Integer,
        ForeignKey("image_scan_findings.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("vuln_id", String(MAX_ID), nullable=False),
    PrimaryKeyConstraint("finding_pk", "vuln_id", name="pk_image_scan_finding_ids"),
    Index("ix_image_scan_finding_ids_vuln", "vuln_id"),
)

# DTR's layer overrides: a vulnerability marked as not applying to a component of a layer.
scan_overrides = Table(
    "scan_overrides",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("layer_digest", String(MAX_DIGEST), nullable=False),
    Column("component", String(MAX_NAME), nullable=False),
    # DTR's componentVersion: NULL, the override covers every version of the component in the
    # layer; else only that version (a layer's content never changes, so this is rarely needed).
    Column("component_version", String(MAX_VERSION), nullable=True),
    Column("vuln_id", String(MAX_ID), nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint(
        "layer_digest", "component", "vuln_id", name="uq_scan_overrides_layer_component_vuln"
    ),
    Index("ix_scan_overrides_vuln", "vuln_id"),
)

# OpenVEX statements imported by an admin: ``product`` is what the statement names (an image
# digest or a package URL), ``status`` OpenVEX's (not_affected | affected | fixed |
# under_investigation); a not_affected or fixed statement suppresses the matching findings and the
# reason (justification, impact statement) is shown beside them.
scan_vex_statements = Table(
    "scan_vex_statements",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("document_id", String(MAX_NAME), nullable=False),
    Column("vuln_id", String(MAX_ID), nullable=False),
    Column("product", String(MAX_NAME), nullable=False),
    # A package URL the statement narrows ``product`` to (OpenVEX ``subcomponents``), else NULL.
    Column("subcomponent", String(MAX_NAME), nullable=True),
    Column("status", String(32), nullable=False),
    Column("justification", String(255), nullable=True),
    Column("impact_statement", Text, nullable=True),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_scan_vex_statements_vuln", "vuln_id"),
    Index("ix_scan_vex_statements_document", "document_id"),
)
