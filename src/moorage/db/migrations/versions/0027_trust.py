"""Notary trust metadata, server-held keys and the changefeed (``db/trust_tables.py``).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 12:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trust_metadata",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("gun", sa.String(512), nullable=False),
        sa.Column("repository", sa.String(512), nullable=False),
        sa.Column("role", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("gun", "role", "version", name="uq_trust_metadata_gun_role_version"),
    )
    op.create_index(
        "ix_trust_metadata_gun_role_sha256", "trust_metadata", ["gun", "role", "sha256"]
    )
    op.create_index("ix_trust_metadata_repository", "trust_metadata", ["repository"])
    op.create_table(
        "trust_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("gun", sa.String(512), nullable=False),
        sa.Column("repository", sa.String(512), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(32), nullable=False),
        sa.Column("public", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_private", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("gun", "key_id", name="uq_trust_keys_gun_key_id"),
    )
    op.create_index("ix_trust_keys_gun_role", "trust_keys", ["gun", "role"])
    op.create_index("ix_trust_keys_repository", "trust_keys", ["repository"])
    op.create_table(
        "trust_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("gun", sa.String(512), nullable=False),
        sa.Column("repository", sa.String(512), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_trust_changes_gun_id", "trust_changes", ["gun", "id"])


def downgrade() -> None:
    op.drop_table("trust_changes")
    op.drop_table("trust_keys")
    op.drop_table("trust_metadata")
