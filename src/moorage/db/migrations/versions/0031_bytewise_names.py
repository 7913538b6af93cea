"""Repository and tag names collated "C" on PostgreSQL, so the catalog's and the tags list's
pages (ordered by code point, ``registry.listing``) are index scans, not a sort of every row:
measured at 100,000 repositories, a catalog page took 14 ms as a parallel sequential scan and
top-N sort, and 0.13 ms through the unique index. SQLite compares bytewise already: nothing
changes there.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-04 21:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Rebuilds the unique index on repositories.name and the tags primary key with the column.
    op.execute('ALTER TABLE repositories ALTER COLUMN name TYPE VARCHAR(255) COLLATE "C"')
    op.execute('ALTER TABLE tags ALTER COLUMN name TYPE VARCHAR(128) COLLATE "C"')


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute('ALTER TABLE tags ALTER COLUMN name TYPE VARCHAR(128) COLLATE "default"')
    op.execute('ALTER TABLE repositories ALTER COLUMN name TYPE VARCHAR(255) COLLATE "default"')
