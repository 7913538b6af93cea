"""The pull policy: a signature and a vulnerability rule for manifest pulls, per repository or
namespace (``db/policy_tables.py``).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-04 19:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pull_policies",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=True),
        sa.Column("namespace_id", sa.Integer(), nullable=True),
        sa.Column("namespace", sa.String(255), nullable=True),
        sa.Column("require_signature", sa.Boolean(), nullable=False),
        sa.Column("max_severity", sa.String(16), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_pull_policies_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["accounts.id"],
            name=op.f("fk_pull_policies_namespace_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("scope", name="uq_pull_policies_scope"),
    )
    op.create_index("ix_pull_policies_repository", "pull_policies", ["repository_id"])
    op.create_index("ix_pull_policies_namespace", "pull_policies", ["namespace_id"])
    op.create_index("ix_pull_policies_namespace_name", "pull_policies", ["namespace"])


def downgrade() -> None:
    op.drop_table("pull_policies")
