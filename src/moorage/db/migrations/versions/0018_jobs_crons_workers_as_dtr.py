"""Jobs, crons, workers and action configs as DTR has them

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 13:00:00.000000

The name a job or cron was submitted with when it was DTR's (``gc`` for ``onlinegc``), the
crons' DTR ``id`` (the crons already there get one here), the per-action capacity an
administrator set on a worker, and the per-action defaults (``action_configs``).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("submitted_action", sa.String(length=64), nullable=True))
    op.add_column("crons", sa.Column("id", sa.String(length=36), nullable=True))
    op.add_column("crons", sa.Column("submitted_action", sa.String(length=64), nullable=True))
    op.add_column(
        "job_workers", sa.Column("capacity_map", sa.Text(), nullable=False, server_default="{}")
    )
    conn = op.get_bind()
    crons = sa.table("crons", sa.column("action", sa.String), sa.column("id", sa.String))
    for (action,) in list(conn.execute(sa.select(crons.c.action))):
        conn.execute(sa.update(crons).where(crons.c.action == action).values(id=str(uuid.uuid4())))
    op.create_table(
        "action_configs",
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("submitted_action", sa.String(length=64), nullable=True),
        sa.Column("parameters", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("action"),
    )


def downgrade() -> None:
    op.drop_table("action_configs")
    with op.batch_alter_table("job_workers") as batch_op:
        batch_op.drop_column("capacity_map")
    with op.batch_alter_table("crons") as batch_op:
        batch_op.drop_column("submitted_action")
        batch_op.drop_column("id")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("submitted_action")
