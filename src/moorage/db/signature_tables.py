"""The signature trust store (``moorage.trust.signatures.trust_stores``): the public keys
(cosign) and X.509 root certificates (Notation) that an administrator registers for one
repository or a whole namespace.

Declared on ``moorage.db.tables.metadata`` (Alembic's ``env.py`` imports this module). Exactly
one of ``repository_id`` and ``namespace_id`` is set; both cascade, so deleting a repository or
an account takes its trust with it and a repository made again under the same name starts
with none. ``scope`` spells the owner (``repository:<id>`` / ``namespace:<id>``) so the unique
constraint holds on every database (a constraint over nullable columns would not).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from moorage.db.tables import metadata

MAX_SUBJECT = 1024

signature_trust = Table(
    "signature_trust",
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
    Column("kind", String(16), nullable=False),  # "publicKey" (cosign) | "certificate" (Notation)
    # A key: SHA-256 of its DER SubjectPublicKeyInfo; a certificate: SHA-256 of its DER.
    Column("fingerprint", String(64), nullable=False),
    Column("subject", String(MAX_SUBJECT), nullable=False),  # a certificate's subject, a key's type
    Column("pem", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(255), nullable=True),
    UniqueConstraint("scope", "fingerprint", name="uq_signature_trust_scope_fingerprint"),
    Index("ix_signature_trust_repository", "repository_id"),
    Index("ix_signature_trust_namespace", "namespace_id"),
)
