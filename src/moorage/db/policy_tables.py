"""The pull policy (``moorage.services.pull_policy``): what a manifest pull of a repository
requires, set for one repository or a whole namespace.

Declared on ``moorage.db.tables.metadata`` (Alembic's ``env.py`` imports this module). Exactly
one of ``repository_id`` and ``namespace_id`` is set; both cascade, so deleting a repository or
an account takes its policy with it and a repository made again under the same name starts
with none. ``scope`` spells the owner (``repository:<id>`` / ``namespace:<id>``, as the
signature trust store spells it) so that each owner has at most one policy on every database.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from moorage.db.tables import metadata

pull_policies = Table(
    "pull_policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(64), nullable=False),
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        nullable=True,
    ),
    Column("namespace_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    # A namespace policy's account name too: a pull finds its namespace's policy by name, so
    # the pull path reads no account row (accounts are never renamed).
    Column("namespace", String(255), nullable=True),
    Column("require_signature", Boolean, nullable=False),
    Column(
        "max_severity", String(16), nullable=True
    ),  # none|low|medium|high|critical; None: no rule
    Column("mode", String(16), nullable=False),  # enforce | audit
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(255), nullable=True),
    UniqueConstraint("scope", name="uq_pull_policies_scope"),
    Index("ix_pull_policies_repository", "repository_id"),
    Index("ix_pull_policies_namespace", "namespace_id"),
    Index("ix_pull_policies_namespace_name", "namespace"),
)
