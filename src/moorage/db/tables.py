"""Table definitions (SQLAlchemy Core) on the schema's one MetaData; the jobrunner's tables are
declared on it in ``job_tables``. Alembic migrations create them; keep both in step."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Names sorted and compared by code point (the OCI catalog's and tags list's order): on
# PostgreSQL the columns are collated "C", so the pages' `ORDER BY name COLLATE "C"` walks the
# unique index instead of sorting every row (migration 0031); SQLite's default is already binary.
BYTEWISE_NAME = String(255).with_variant(String(255, collation="C"), "postgresql")
BYTEWISE_TAG = String(128).with_variant(String(128, collation="C"), "postgresql")

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", BYTEWISE_NAME, nullable=False, unique=True),
    Column("namespace", String(255), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("visibility", String(16), nullable=False, server_default="private"),
    Column("short_description", String(140), nullable=False, server_default=""),
    Column("long_description", Text, nullable=False, server_default=""),
    Column("immutable_tags", Boolean, nullable=False, server_default=false()),
    Column("scan_on_push", Boolean, nullable=False, server_default=false()),
    Column("enable_manifest_lists", Boolean, nullable=False, server_default=false()),
    Column("tag_limit", Integer, nullable=False, server_default="0"),
    # DTR's counters: pushes counted with each push event, pulls as the pull buffer flushes.
    Column("pulls", BigInteger, nullable=False, server_default="0"),
    Column("pushes", BigInteger, nullable=False, server_default="0"),
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
    # By digest alone: the scanner's results are keyed by content and found from any repository.
    Index("ix_manifests_digest", "digest"),
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
    Column("name", BYTEWISE_TAG, primary_key=True),
    Column(
        "manifest_id",
        Integer,
        ForeignKey("manifests.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("pushed_by", String(255), nullable=True),  # DTR's tag "author"
    Index("ix_tags_manifest", "manifest_id"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(36), primary_key=True),
    # The repository by name: it is created only when the first blob or manifest lands,
    # so an upload that never finishes leaves no repository behind.
    Column("repository", String(255), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("hash_algorithm", String(16), nullable=False),
    Column("hash_state", LargeBinary, nullable=False),
    # A request appending to the upload holds it under a lease so no two write at once.
    Column("writer", String(36), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Who started it (no foreign key: an upload is transient), for the per-account limit.
    Column("account_id", Integer, nullable=True),
    Index("ix_uploads_repository", "repository"),
    Index("ix_uploads_account", "account_id"),
    Index("ix_uploads_updated_at", "updated_at"),
)


# ---- identity and access -------------------------------------------------------------------

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("is_org", Boolean, nullable=False, server_default=false()),
    Column("full_name", String(255), nullable=False, server_default=""),
    Column("email", String(255), nullable=False, server_default=""),
    Column("password_hash", String(255), nullable=True),
    Column("is_admin", Boolean, nullable=False, server_default=false()),
    Column("is_active", Boolean, nullable=False, server_default=true()),
    Column("is_imported", Boolean, nullable=False, server_default=false()),
    Column("ldap_dn", String(1024), nullable=True),
    # Set when the directory sync deactivated the account (so a later sync that finds the
    # user again re-activates it, while an administrator's deactivation stays).
    Column("ldap_deactivated", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

org_members = Table(
    "org_members",
    metadata,
    Column("org_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("is_owner", Boolean, nullable=False, server_default=false()),
    Index("ix_org_members_user", "user_id"),
)

teams = Table(
    "teams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("org_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", String(1024), nullable=False, server_default=""),
    # Member sync from the directory (enzi's memberSyncConfig): the members of a group entry
    # (ldap_group_dn, its ldap_group_member_attr) or the entries a search finds.
    Column("ldap_sync_enabled", Boolean, nullable=False, server_default=false()),
    Column("ldap_select_group_members", Boolean, nullable=False, server_default=true()),
    Column("ldap_group_dn", String(1024), nullable=True),
    Column("ldap_group_member_attr", String(255), nullable=False, server_default="member"),
    Column("ldap_search_base_dn", String(1024), nullable=True),
    Column("ldap_filter", String(1024), nullable=True),
    Column("ldap_search_subtree", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("org_id", "name", name="uq_teams_org_name"),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    # eNZi's team admin (``isAdmin`` of a team membership): manages the team and its members.
    Column("is_admin", Boolean, nullable=False, server_default=false()),
    Index("ix_team_members_user", "user_id"),
)

# eNZi's adminMemberSyncConfig of an organization: the directory entries (a group's members or
# a search) that each LDAP sync makes the organization's admins (``org_members.is_owner``).
org_admin_sync = Table(
    "org_admin_sync",
    metadata,
    Column("org_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("enable_sync", Boolean, nullable=False, server_default=false()),
    Column("select_group_members", Boolean, nullable=False, server_default=true()),
    Column("group_dn", String(1024), nullable=False, server_default=""),
    Column("group_member_attr", String(255), nullable=False, server_default="member"),
    Column("search_base_dn", String(1024), nullable=False, server_default=""),
    Column("search_filter", String(1024), nullable=False, server_default=""),
    Column("search_scope_subtree", Boolean, nullable=False, server_default=false()),
)

# eNZi's groupLinkConfig of a team (a SAML assertion's group attribute): stored and answered;
# Moorage has no SAML, so nothing reads it yet.
team_group_links = Table(
    "team_group_links",
    metadata,
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("enable_link", Boolean, nullable=False, server_default=false()),
    Column("group_name", String(1024), nullable=False, server_default=""),
)

# eNZi's account public keys (content trust signers): ``key_id`` is the SHA-256 of the key's
# DER (SubjectPublicKeyInfo) bytes, ``certificates`` a JSON array of ``{label, cert}``.
account_public_keys = Table(
    "account_public_keys",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("key_id", String(64), primary_key=True),
    Column("public_key", Text, nullable=False),
    Column("label", String(255), nullable=False, server_default=""),
    Column("certificates", Text, nullable=False, server_default="[]"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

repository_team_access = Table(
    "repository_team_access",
    metadata,
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("level", String(16), nullable=False),
    Index("ix_repository_team_access_team", "team_id"),
)

namespace_team_access = Table(
    "namespace_team_access",
    metadata,
    Column("namespace", String(255), primary_key=True),
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("level", String(16), nullable=False),
    Index("ix_namespace_team_access_team", "team_id"),
)

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # "api" | "refresh"
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("label", String(255), nullable=False, server_default=""),
    Column("is_active", Boolean, nullable=False, server_default=true()),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    # DTR's creatorUa: the User-Agent of the request that made the token ("" when unknown).
    Column("creator_ua", Text, nullable=False, server_default=""),
    Index("ix_access_tokens_account", "account_id"),
)

# Failed sign-ins per (source, account) and per source (account_id 0), in fixed windows
# (moorage.auth.throttle). Rows exist only for real accounts and are pruned when their window ends.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("failures", Integer, nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Index("ix_login_throttle_window_start", "window_start"),
)

site_settings = Table(
    "site_settings",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

# A user's own settings (DTR's /api/v0/accounts/{username}/settings): the content cache.
user_settings = Table(
    "user_settings",
    metadata,
    Column(
        "account_id",
        Integer,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("content_cache_uuid", String(36), nullable=False, server_default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("private_pem", Text, nullable=False),  # the PEM sealed by SecretBox (never in clear)
    Column("created_at", DateTime(timezone=True), nullable=False),
)

ldap_syncs = Table(
    "ldap_syncs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status", String(16), nullable=False),
    Column("result", Text, nullable=False, server_default="{}"),
    Column("trigger", String(16), nullable=False, server_default="manual"),
    Column("runner", String(255), nullable=False, server_default=""),
    Index("ix_ldap_syncs_started_at", "started_at"),
)

# ---- repository events (DTR's activity stream; written in the change's own transaction) -----

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type", String(32), nullable=False),
    # No foreign key: a repository's events outlive it (REPO_DELETE is one of them).
    Column("repository_id", Integer, nullable=True),
    Column("repository", String(255), nullable=False, server_default=""),
    Column("object_type", String(32), nullable=False, server_default=""),
    Column("object_id", String(255), nullable=False, server_default=""),
    Column("actor", String(255), nullable=True),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("details", Text, nullable=False, server_default="{}"),
    Index("ix_events_repository_id", "repository_id", "id"),
    Index("ix_events_published_at", "published_at"),
    Index("ix_events_actor", "actor", "id"),
)


# Blobs whose row online GC deleted and whose bytes it deletes later (DESIGN.md §6).
gc_blob_tombstones = Table(
    "gc_blob_tombstones",
    metadata,
    Column("digest", String(150), primary_key=True),
    Column("size", BigInteger, nullable=False),
    # Set (with the time) in the transaction that deletes the bytes.
    Column("bytes_deleted", Boolean, nullable=False, server_default=false()),
    Column("deleted_at", DateTime(timezone=True), nullable=False),
)

# Web UI sessions (moorage.http.ui): in SQL so every replica knows them. The cookie holds a
# random id; only its SHA-256 is stored.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # Set when the sign-in used an access token: such a session cannot manage credentials,
    # and ends with the token.
    Column(
        "access_token_id",
        Integer,
        ForeignKey("access_tokens.id", ondelete="CASCADE"),
        nullable=True,
    ),
    Index("ix_ui_sessions_account", "account_id"),
    Index("ix_ui_sessions_expires", "expires_at"),
)

# ---- webhooks (DTR's /api/v0/webhooks), delivered from the events outbox ---------------------

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("type", String(32), nullable=False),
    # "" (everything), a namespace "ns", or a repository "ns/repo".
    Column("key", String(255), nullable=False, server_default=""),
    Column("endpoint", Text, nullable=False),
    Column("tls_cert", Text, nullable=True),
    Column("secret_sealed", Text, nullable=True),  # SecretBox-sealed HMAC secret
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("created_by", String(255), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The scope the hook belongs to (deleted with it): its repository, or its namespace's
    # account. A repository hook made (by an administrator) before its repository existed has
    # no id; the repository's delete removes hooks by name too.
    Column(
        "repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=True
    ),
    Column("namespace_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    # Deliveries go out only while this account still administers the scope.
    Column("created_by_id", Integer, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    Column("inactive_reason", Text, nullable=True),  # why the hook stopped (None: by request)
    # DTR's ``skipTLSVerification``: deliveries to an https endpoint skip certificate checks.
    Column("skip_tls_verification", Boolean, nullable=False, server_default=false()),
    # DTR's ``lastSuccessfulAt``: the last delivery the endpoint accepted (None: never).
    Column("last_successful_at", DateTime(timezone=True), nullable=True),
    Index("ix_webhooks_type", "type"),
    Index("ix_webhooks_key", "key"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("webhook_id", String(36), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", Integer, nullable=True),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),  # waiting | delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("response_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("webhook_id", "event_id"),
    Index("ix_webhook_deliveries_webhook", "webhook_id", "created_at"),
)

# Attempts of each delivery (the history readable per webhook).
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "delivery_id",
        String(36),
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempt", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # delivered | failed
    Column("response_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),
)

# Named cursors over the events table (the webhook dispatcher's: the last event id handled).
event_cursors = Table(
    "event_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("last_id", Integer, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# ---- tag pruning policies (DTR's /api/v0/repositories/{ns}/{repo}/pruningPolicies) -----------

pruning_policies = Table(
    "pruning_policies",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "repository_id",
        Integer,
        ForeignKey("repositories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("rules", Text, nullable=False, server_default="[]"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_pruned_at", DateTime(timezone=True), nullable=True),  # DTR's lastPrunedAt
    Index("ix_pruning_policies_repository", "repository_id"),
)

# One row per running ``moorage serve`` / ``moorage worker`` (``db/replica_heartbeats.py``):
# a replica whose ``last_seen`` is older than a few heartbeat intervals is down.
replicas = Table(
    "replicas",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # serve | worker
    Column("host", String(255), nullable=False),
    Column("address", String(255), nullable=False, server_default=""),
    Column("version", String(64), nullable=False, server_default=""),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)
