"""Access tokens and events as DTR has them

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 13:00:00.000000

Access tokens get DTR's ``creatorUa`` (the User-Agent of the request that made them; "" for
the tokens made before). ``generatedBy`` needs no column: it follows from the token's kind.
Events need no change: DTR's ``actorType``, ``repository`` and the object's ``name`` and
``content`` are read from the columns they already have.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("creator_ua", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.drop_column("creator_ua")
