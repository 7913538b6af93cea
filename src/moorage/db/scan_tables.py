"""The vulnerability database's tables (``moorage.scanning.vulndb``): OSV records in generations,
the (ecosystem, package) index and aliases of each, the work table of the import under way, and
the database's one status row.

They are declared on ``moorage.db.tables.metadata``, the one MetaData of the schema; Alembic's
``env.py`` imports this module with ``tables`` so the metadata it compares holds every table.

A record row is one version of an OSV record, visible in generations ``gen_from`` up to (not
including) ``gen_to`` (NULL: still current). The status row names the generation readers see; an
import stages the next generation beside it and flips the pointer in one short transaction
(``moorage.scanning.vulndb`` tells the whole design).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from moorage.db.tables import metadata

# Longest id, alias and package name stored (OSV ids are short; Go module paths and Maven
# coordinates are the long names). Longer values are refused by the importer, never cut.
MAX_ID = 255
MAX_NAME = 1024
MAX_ECOSYSTEM = 255

vuln_records = Table(
    "vuln_records",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(MAX_ID), nullable=False),
    Column("modified", DateTime(timezone=True), nullable=False),
    Column("withdrawn", DateTime(timezone=True), nullable=True),
    # The record's JSON exactly as the archive held it, zlib-compressed.
    Column("document", LargeBinary, nullable=False),
    # Which kind of import brought it: ``online`` (the feed) or ``offline`` (a file).
    Column("source", String(16), nullable=False),
    Column("gen_from", Integer, nullable=False),
    Column("gen_to", Integer, nullable=True),
    UniqueConstraint("id", "gen_from", name="uq_vuln_records_id_gen_from"),
    Index("ix_vuln_records_gen_from", "gen_from"),
    Index("ix_vuln_records_gen_to", "gen_to"),
)

vuln_packages = Table(
    "vuln_packages",
    metadata,
    Column(
        "record_pk",
        Integer,
        ForeignKey("vuln_records.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    # As the record says (``Debian:12``, ``Ubuntu:22.04:LTS``, ``PyPI``) and its base (``Debian``).
    Column("ecosystem", String(MAX_ECOSYSTEM), nullable=False),
    Column("base_ecosystem", String(MAX_ECOSYSTEM), nullable=False),
    Column("name", String(MAX_NAME), nullable=False),
    # The name as lookups compare it (``vulndb.records.package_key``: PEP 503 for PyPI).
    Column("name_key", String(MAX_NAME), nullable=False),
    PrimaryKeyConstraint("record_pk", "ecosystem", "name_key", name="pk_vuln_packages"),
    Index("ix_vuln_packages_lookup", "name_key", "base_ecosystem", "ecosystem"),
)

vuln_aliases = Table(
    "vuln_aliases",
    metadata,
    Column(
        "record_pk",
        Integer,
        ForeignKey("vuln_records.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("alias", String(MAX_ID), nullable=False),
    PrimaryKeyConstraint("record_pk", "alias", name="pk_vuln_aliases"),
    Index("ix_vuln_aliases_alias", "alias"),
)

# What the import under way has seen (one import at a time: the status row's lock), so a record
# met twice counts once and a full snapshot can tell which current records it no longer holds.
vuln_import_seen = Table(
    "vuln_import_seen",
    metadata,
    Column("generation", Integer, nullable=False),
    Column("id", String(MAX_ID), nullable=False),
    Column("modified", DateTime(timezone=True), nullable=False),
    # added | updated | unchanged | withdrawn
    Column("outcome", String(16), nullable=False),
    PrimaryKeyConstraint("generation", "id", name="pk_vuln_import_seen"),
)

vuln_db_status = Table(
    "vuln_db_status",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    # The generation readers see (0: no database yet) and what it holds.
    Column("generation", Integer, nullable=False, server_default="0"),
    Column("newest_modified", DateTime(timezone=True), nullable=True),
    Column("imported_at", DateTime(timezone=True), nullable=True),
    Column("source", String(2048), nullable=True),
    Column("record_count", Integer, nullable=False, server_default="0"),
    Column("withdrawn_count", Integer, nullable=False, server_default="0"),
    Column("last_report", Text, nullable=True),  # JSON counts of the last successful import
    # The last update attempt, whatever its outcome: succeeded | failed.
    Column("last_outcome", String(16), nullable=True),
    Column("last_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_source", String(2048), nullable=True),
    Column("last_error", Text, nullable=True),
    # The import under way: who holds the update lock, until when (renewed as it goes), and
    # how far it is (JSON).
    Column("lock_token", String(36), nullable=True),
    Column("lock_holder", String(255), nullable=True),
    Column("lock_until", DateTime(timezone=True), nullable=True),
    Column("lock_since", DateTime(timezone=True), nullable=True),
    Column("progress", Text, nullable=True),
)
