"""Notary's tables (``moorage.trust``): every version of every role's signed metadata per GUN,
the server-held signing keys (timestamp, and snapshot when the client hands it to the server),
and the changefeed.

Declared on ``moorage.db.tables.metadata`` (Alembic's ``env.py`` imports this module with
``tables``). ``repository`` is the registry repository a GUN names (the GUN without the
registry host), so deleting a repository deletes its trust data by that column.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from moorage.db.tables import metadata

MAX_GUN = 512
MAX_ROLE = 255

trust_metadata = Table(
    "trust_metadata",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("gun", String(MAX_GUN), nullable=False),
    Column("repository", String(MAX_GUN), nullable=False),
    Column("role", String(MAX_ROLE), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    # The signed JSON exactly as it was uploaded (or signed by the server): the bytes clients hash.
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("gun", "role", "version", name="uq_trust_metadata_gun_role_version"),
    Index("ix_trust_metadata_gun_role_sha256", "gun", "role", "sha256"),
    Index("ix_trust_metadata_repository", "repository"),
)

trust_keys = Table(
    "trust_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("gun", String(MAX_GUN), nullable=False),
    Column("repository", String(MAX_GUN), nullable=False),
    Column("role", String(16), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("algorithm", String(32), nullable=False),
    # The TUF public key's ``keyval.public`` bytes (DER SubjectPublicKeyInfo for ecdsa).
    Column("public", LargeBinary, nullable=False),
    # The PKCS#8 private key, PEM, sealed by the data folder's secret box.
    Column("sealed_private", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("gun", "key_id", name="uq_trust_keys_gun_key_id"),
    Index("ix_trust_keys_gun_role", "gun", "role"),
    Index("ix_trust_keys_repository", "repository"),
)

trust_changes = Table(
    "trust_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("gun", String(MAX_GUN), nullable=False),
    Column("repository", String(MAX_GUN), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("category", String(16), nullable=False),  # "update" or "deletion"
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_trust_changes_gun_id", "gun", "id"),
)
