"""Webhooks as DTR has them: ``skipTLSVerification`` and ``lastSuccessfulAt``

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 13:00:00.000000

Existing hooks verify TLS (as they did) and have no successful delivery on record.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "skip_tls_verification", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("last_successful_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("last_successful_at")
        batch_op.drop_column("skip_tls_verification")
