"""Table definitions (SQLAlchemy Core). Alembic migrations create them; keep both in step."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("namespace", String(255), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

blobs = Table(
    "blobs",
    metadata,
    Column("digest", String(150), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

repository_blobs = Table(
    "repository_blobs",
    metadata,
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("digest", String(150), ForeignKey("blobs.digest"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_repository_blobs_digest", "digest"),
)

manifests = Table(
    "manifests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("digest", String(150), nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("artifact_type", String(255), nullable=True),
    Column("subject_digest", String(150), nullable=True),
    Column("config_digest", String(150), nullable=True),
    Column("size", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("annotations", String, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("repository_id", "digest", name="uq_manifests_repository_digest"),
    Index("ix_manifests_subject", "repository_id", "subject_digest"),
)

manifest_references = Table(
    "manifest_references",
    metadata,
    Column(
        "parent_id",
        Integer,
        ForeignKey("manifests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("child_digest", String(150), nullable=False),
    Column("child_kind", String(16), nullable=False),  # "blob" | "manifest"
    Column("media_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("platform_os", String(64), nullable=True),
    Column("platform_arch", String(64), nullable=True),
    Column("platform_variant", String(64), nullable=True),
    Index("ix_manifest_references_child", "child_digest"),
)

tags = Table(
    "tags",
    metadata,
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(128), primary_key=True),
    Column(
        "manifest_id",
        Integer,
        ForeignKey("manifests.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_tags_manifest", "manifest_id"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("offset", BigInteger, nullable=False),
    Column("hash_algorithm", String(16), nullable=False),
    Column("hash_state", LargeBinary, nullable=False),
    # A request appending to the upload holds it under a lease so no two write at once.
    Column("writer", String(36), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
