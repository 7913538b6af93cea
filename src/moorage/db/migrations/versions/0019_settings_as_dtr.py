"""Site and user settings as DTR has them

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 13:00:00.000000

The site settings keep their rows: ``site_settings.load`` reads the old history keys
(``repo_event_history_days/count``, ``job_history_compaction_days``/``job_history_max_count``)
as DTR's and the next write replaces them. New: ``user_settings``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_settings",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("content_cache_uuid", sa.String(length=36), server_default="", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_user_settings_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_user_settings")),
    )


def downgrade() -> None:
    op.drop_table("user_settings")
