"""eNZi's member-sync and group-link configurations

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 19:00:00.000000

``org_admin_sync``: an organization's ``adminMemberSyncConfig`` (the LDAP group or search
whose users each sync makes the organization's admins); ``team_group_links``: a team's
``groupLinkConfig`` (a SAML group name, stored only); ``team_members.is_admin``: eNZi's team
admins. No rows: every organization and team starts with sync and link off, as before, and
every team member as a plain member.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "org_admin_sync",
        sa.Column(
            "org_id",
            sa.Integer(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("enable_sync", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("select_group_members", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("group_dn", sa.String(1024), nullable=False, server_default=""),
        sa.Column("group_member_attr", sa.String(255), nullable=False, server_default="member"),
        sa.Column("search_base_dn", sa.String(1024), nullable=False, server_default=""),
        sa.Column("search_filter", sa.String(1024), nullable=False, server_default=""),
        sa.Column("search_scope_subtree", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "team_group_links",
        sa.Column(
            "team_id",
            sa.Integer(),
            sa.ForeignKey("teams.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("enable_link", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("group_name", sa.String(1024), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("team_group_links")
    op.drop_table("org_admin_sync")
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.drop_column("is_admin")
