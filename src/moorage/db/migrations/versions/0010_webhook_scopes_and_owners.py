"""Webhooks belong to their scope and their creator: repository / namespace / creator ids and
the reason a hook stopped

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:40:00

Existing hooks get the ids their names point at now: ``key`` ``ns/repo`` → the repository,
``ns`` → the namespace's account, ``created_by`` → the account of that name.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repository_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("namespace_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("inactive_reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_webhooks_repository_id_repositories"),
            "repositories",
            ["repository_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_webhooks_namespace_id_accounts"),
            "accounts",
            ["namespace_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_webhooks_created_by_id_accounts"),
            "accounts",
            ["created_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_webhooks_key", ["key"], unique=False)
    op.execute(
        "UPDATE webhooks SET repository_id = "
        "(SELECT repositories.id FROM repositories WHERE repositories.name = webhooks.key) "
        "WHERE webhooks.key LIKE '%/%'"
    )
    op.execute(
        "UPDATE webhooks SET namespace_id = "
        "(SELECT accounts.id FROM accounts WHERE accounts.name = webhooks.key) "
        "WHERE webhooks.key <> '' AND webhooks.key NOT LIKE '%/%'"
    )
    op.execute(
        "UPDATE webhooks SET created_by_id = "
        "(SELECT accounts.id FROM accounts WHERE accounts.name = webhooks.created_by) "
        "WHERE webhooks.created_by IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_index("ix_webhooks_key")
        batch_op.drop_constraint(
            batch_op.f("fk_webhooks_created_by_id_accounts"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_webhooks_namespace_id_accounts"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_webhooks_repository_id_repositories"), type_="foreignkey"
        )
        batch_op.drop_column("inactive_reason")
        batch_op.drop_column("created_by_id")
        batch_op.drop_column("namespace_id")
        batch_op.drop_column("repository_id")
