"""Uploads: the account that started each (per-account limit), an index for idle ones; the
default ``uploadpurge`` schedule

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 01:40:00
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op
from croniter import croniter

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# ``moorage.jobs.schedules.DEFAULTS`` as of this revision (a migration is a frozen record, and
# the db layer does not import jobs; tests/registry/test_upload_limits.py checks they agree).
DEFAULTS = (("uploadpurge", "20 4 * * *", {"maxAgeSeconds": 86400}),)


def upgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_uploads_account", ["account_id"], unique=False)
        batch_op.create_index("ix_uploads_updated_at", ["updated_at"], unique=False)

    crons = sa.table(
        "crons",
        sa.column("action", sa.String),
        sa.column("schedule", sa.String),
        sa.column("parameters", sa.Text),
        sa.column("retries", sa.Integer),
        sa.column("next_run", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    conn = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    for action, schedule, parameters in DEFAULTS:
        present = conn.execute(sa.select(crons.c.action).where(crons.c.action == action)).first()
        if present is None:
            next_run: dt.datetime = croniter(schedule, now).get_next(dt.datetime)
            conn.execute(
                crons.insert().values(
                    action=action,
                    schedule=schedule,
                    parameters=json.dumps(parameters),
                    retries=0,
                    next_run=next_run,
                    created_at=now,
                    updated_at=now,
                )
            )


def downgrade() -> None:
    crons = sa.table("crons", sa.column("action", sa.String))
    op.get_bind().execute(
        crons.delete().where(crons.c.action.in_([action for action, _, _ in DEFAULTS]))
    )
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index("ix_uploads_updated_at")
        batch_op.drop_index("ix_uploads_account")
        batch_op.drop_column("account_id")
