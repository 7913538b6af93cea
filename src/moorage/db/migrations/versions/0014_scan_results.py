"""Scan results: layer inventories by digest, image scans, their components and findings (every
ID of a finding), layer overrides and OpenVEX statements

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 05:28:36.979967
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.create_index("ix_manifests_digest", ["digest"], unique=False)

    op.create_table(
        "image_scans",
        sa.Column("manifest_digest", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("os", sa.String(length=255), nullable=True),
        sa.Column("os_detail", sa.Text(), nullable=True),
        sa.Column("critical", sa.Integer(), server_default="0", nullable=False),
        sa.Column("major", sa.Integer(), server_default="0", nullable=False),
        sa.Column("minor", sa.Integer(), server_default="0", nullable=False),
        sa.Column("vulndb_generation", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("manifest_digest", name=op.f("pk_image_scans")),
    )
    with op.batch_alter_table("image_scans", schema=None) as batch_op:
        batch_op.create_index("ix_image_scans_status", ["status"], unique=False)

    op.create_table(
        "scan_layers",
        sa.Column("layer_digest", sa.String(length=200), nullable=False),
        sa.Column("analyzers", sa.String(length=64), nullable=False),
        sa.Column("inventory", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("layer_digest", "analyzers", name="pk_scan_layers"),
    )
    op.create_table(
        "scan_overrides",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("layer_digest", sa.String(length=200), nullable=False),
        sa.Column("component", sa.String(length=1024), nullable=False),
        sa.Column("component_version", sa.String(length=255), nullable=True),
        sa.Column("vuln_id", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_overrides")),
        sa.UniqueConstraint(
            "layer_digest", "component", "vuln_id", name="uq_scan_overrides_layer_component_vuln"
        ),
    )
    with op.batch_alter_table("scan_overrides", schema=None) as batch_op:
        batch_op.create_index("ix_scan_overrides_vuln", ["vuln_id"], unique=False)

    op.create_table(
        "scan_vex_statements",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(length=1024), nullable=False),
        sa.Column("vuln_id", sa.String(length=255), nullable=False),
        sa.Column("product", sa.String(length=1024), nullable=False),
        sa.Column("subcomponent", sa.String(length=1024), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("justification", sa.String(length=255), nullable=True),
        sa.Column("impact_statement", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_scan_vex_statements")),
    )
    with op.batch_alter_table("scan_vex_statements", schema=None) as batch_op:
        batch_op.create_index("ix_scan_vex_statements_document", ["document_id"], unique=False)
        batch_op.create_index("ix_scan_vex_statements_vuln", ["vuln_id"], unique=False)

    op.create_table(
        "image_scan_components",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("manifest_digest", sa.String(length=200), nullable=False),
        sa.Column("layer_index", sa.Integer(), nullable=False),
        sa.Column("layer_digest", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("namespace", sa.String(length=1024), nullable=True),
        sa.Column("source_name", sa.String(length=1024), nullable=True),
        sa.Column("source_version", sa.String(length=255), nullable=True),
        sa.Column("arch", sa.String(length=64), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("licenses", sa.Text(), server_default="[]", nullable=False),
        sa.Column("ecosystem", sa.String(length=255), nullable=True),
        sa.Column("match_name", sa.String(length=1024), nullable=True),
        sa.Column("match_problem", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["manifest_digest"],
            ["image_scans.manifest_digest"],
            name=op.f("fk_image_scan_components_manifest_digest_image_scans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_image_scan_components")),
    )
    with op.batch_alter_table("image_scan_components", schema=None) as batch_op:
        batch_op.create_index("ix_image_scan_components_layer", ["layer_digest"], unique=False)
        batch_op.create_index(
            "ix_image_scan_components_manifest", ["manifest_digest"], unique=False
        )
        batch_op.create_index(
            "ix_image_scan_components_match", ["match_name", "ecosystem"], unique=False
        )
        batch_op.create_index("ix_image_scan_components_name", ["name"], unique=False)

    op.create_table(
        "image_scan_findings",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("component_pk", sa.Integer(), nullable=False),
        sa.Column("manifest_digest", sa.String(length=200), nullable=False),
        sa.Column("vuln_id", sa.String(length=255), nullable=False),
        sa.Column("ids", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("cvss", sa.Float(), nullable=True),
        sa.Column("cvss_vector", sa.String(length=255), nullable=True),
        sa.Column("fixed_version", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("suppressed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["component_pk"],
            ["image_scan_components.pk"],
            name=op.f("fk_image_scan_findings_component_pk_image_scan_components"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_image_scan_findings")),
    )
    with op.batch_alter_table("image_scan_findings", schema=None) as batch_op:
        batch_op.create_index("ix_image_scan_findings_component", ["component_pk"], unique=False)
        batch_op.create_index("ix_image_scan_findings_manifest", ["manifest_digest"], unique=False)

    op.create_table(
        "image_scan_finding_ids",
        sa.Column("finding_pk", sa.Integer(), nullable=False),
        sa.Column("vuln_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_pk"],
            ["image_scan_findings.pk"],
            name=op.f("fk_image_scan_finding_ids_finding_pk_image_scan_findings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("finding_pk", "vuln_id", name="pk_image_scan_finding_ids"),
    )
    with op.batch_alter_table("image_scan_finding_ids", schema=None) as batch_op:
        batch_op.create_index("ix_image_scan_finding_ids_vuln", ["vuln_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("manifests", schema=None) as batch_op:
        batch_op.drop_index("ix_manifests_digest")

    with op.batch_alter_table("image_scan_finding_ids", schema=None) as batch_op:
        batch_op.drop_index("ix_image_scan_finding_ids_vuln")

    op.drop_table("image_scan_finding_ids")
    with op.batch_alter_table("image_scan_findings", schema=None) as batch_op:
        batch_op.drop_index("ix_image_scan_findings_manifest")
        batch_op.drop_index("ix_image_scan_findings_component")

    op.drop_table("image_scan_findings")
    with op.batch_alter_table("image_scan_components", schema=None) as batch_op:
        batch_op.drop_index("ix_image_scan_components_name")
        batch_op.drop_index("ix_image_scan_components_match")
        batch_op.drop_index("ix_image_scan_components_manifest")
        batch_op.drop_index("ix_image_scan_components_layer")

    op.drop_table("image_scan_components")
    with op.batch_alter_table("scan_vex_statements", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_vex_statements_vuln")
        batch_op.drop_index("ix_scan_vex_statements_document")

    op.drop_table("scan_vex_statements")
    with op.batch_alter_table("scan_overrides", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_overrides_vuln")

    op.drop_table("scan_overrides")
    op.drop_table("scan_layers")
    with op.batch_alter_table("image_scans", schema=None) as batch_op:
        batch_op.drop_index("ix_image_scans_status")

    op.drop_table("image_scans")
