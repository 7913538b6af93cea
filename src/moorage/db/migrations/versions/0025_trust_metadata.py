"""Notary trust metadata and server keys (placeholder)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 05:40:00.000000
"""

from __future__ import annotations

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
