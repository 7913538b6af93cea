"""Each licence of each scanned component in a row of its own, indexed (images by licence).

Filled from the components' JSON lists already stored, in batches.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 13:00:00.000000
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

MAX_LICENSE = 255
BATCH = 5000


def upgrade() -> None:
    op.create_table(
        "image_scan_component_licenses",
        sa.Column("component_pk", sa.Integer(), nullable=False),
        sa.Column("manifest_digest", sa.String(length=200), nullable=False),
        sa.Column("license", sa.String(length=MAX_LICENSE), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_pk"],
            ["image_scan_components.pk"],
            name=op.f("fk_image_scan_component_licenses_component_pk_image_scan_components"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["manifest_digest"],
            ["image_scans.manifest_digest"],
            name=op.f("fk_image_scan_component_licenses_manifest_digest_image_scans"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("image_scan_component_licenses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_image_scan_component_licenses_license",
            ["license", "manifest_digest"],
            unique=False,
        )
        batch_op.create_index(
            "ix_image_scan_component_licenses_component", ["component_pk"], unique=False
        )
    components = sa.table(
        "image_scan_components",
        sa.column("pk", sa.Integer),
        sa.column("manifest_digest", sa.String),
        sa.column("licenses", sa.Text),
    )
    licences = sa.table(
        "image_scan_component_licenses",
        sa.column("component_pk", sa.Integer),
        sa.column("manifest_digest", sa.String),
        sa.column("license", sa.String),
    )
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(components.c.pk, components.c.manifest_digest, components.c.licenses)
            .where(sa.and_(components.c.pk > last, components.c.licenses != "[]"))
            .order_by(components.c.pk)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1].pk
        values = []
        for pk, digest, text in rows:
            try:
                names = json.loads(text or "[]")
            except ValueError:
                continue
            keys = {str(n).strip().lower()[:MAX_LICENSE] for n in names if str(n).strip()}
            values += [
                {"component_pk": pk, "manifest_digest": digest, "license": k} for k in sorted(keys)
            ]
        if values:
            bind.execute(licences.insert(), values)


def downgrade() -> None:
    op.drop_table("image_scan_component_licenses")
