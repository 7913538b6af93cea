"""The signature trust store: cosign public keys and Notation root certificates registered per
repository or namespace (``db/signature_tables.py``).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signature_trust",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=True),
        sa.Column("namespace_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(1024), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_signature_trust_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["accounts.id"],
            name=op.f("fk_signature_trust_namespace_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("scope", "fingerprint", name="uq_signature_trust_scope_fingerprint"),
    )
    op.create_index("ix_signature_trust_repository", "signature_trust", ["repository_id"])
    op.create_index("ix_signature_trust_namespace", "signature_trust", ["namespace_id"])


def downgrade() -> None:
    op.drop_table("signature_trust")
