"""Registry-wide settings changed at run time (DTR's ``/api/v0/meta/settings``), stored in SQL
so every replica sees a change at once (from its next request: within one, the settings are
read once, ``db.request_memo``).

The model holds DTR 2.7's settings under DTR's names (the aliases) and types — durations as Go
writes them (``720h0m0s``) — beside Moorage's own (``gcCollectUntaggedManifests``,
``webhookAllowedNetworks``). Rows are stored one per field under the Python name; rows of the
names before DTR's (``repo_event_history_days`` …) are read as DTR's and replaced on the next
write. What each setting does here: docs/settings.md.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import uuid
from typing import Any

import durationpy
from cryptography import x509
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)
from sqlalchemy import delete, select

from moorage import logs
from moorage.db import request_memo
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, utcnow
from moorage.errors import InvalidSettings, InvalidUserSettings, Unsupported

LOG_LEVELS = logs.LEVELS
_MAX_PEM = 64 * 1024
_MAX_DURATION = dt.timedelta(days=100 * 365)
_DURATION_CHARACTERS = frozenset("0123456789.hmsuµn")


def go_duration(value: dt.timedelta) -> str:
    """``value`` as Go's ``time.Duration.String`` writes it: ``720h0m0s``, ``1m30s``, ``1.5s``,
    ``250ms``, ``0s``."""
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    if micros == 0:
        return "0s"
    if micros < 1_000:
        return f"{sign}{micros}µs"
    if micros < 1_000_000:
        return f"{sign}{_trim(micros / 1_000)}ms"
    hours, rest = divmod(micros, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds = _trim(rest / 1_000_000)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _trim(number: float) -> str:
    return f"{number:.6f}".rstrip("0").rstrip(".")


def parse_duration(value: Any) -> dt.timedelta:
    """A Go duration string (``720h``, ``1h30m``, ``90s``), not negative."""
    if not isinstance(value, str):
        raise ValueError("a duration is a string such as 720h or 30m")
    text = value.strip()
    if not text or not set(text) <= _DURATION_CHARACTERS:
        raise ValueError(f"not a duration such as 720h or 30m: {value[:50]!r}")
    try:
        parsed: dt.timedelta = durationpy.from_str(text)
    except Exception as exc:  # durationpy raises its own DurationError and ValueError
        raise ValueError(f"not a duration such as 720h or 30m: {value[:50]!r}") from exc
    if parsed < dt.timedelta(0) or parsed > _MAX_DURATION:
        raise ValueError("a duration from 0s to 876000h")
    return parsed


def _pem_certificates(value: str, name: str) -> str:
    if not value.strip():
        return ""
    if len(value) > _MAX_PEM:
        raise ValueError(f"{name} is longer than {_MAX_PEM} characters")
    try:
        x509.load_pem_x509_certificates(value.encode())
    except ValueError as exc:
        raise ValueError(f"{name} is not PEM certificates (-----BEGIN CERTIFICATE-----)") from exc
    return value


def _proxy(value: str) -> str:
    text = value.strip()
    if not text:
        return ""
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("http", "https") or not rest.strip("/"):
        raise ValueError("a proxy is an http:// or https:// URL (http://proxy.example.com:3128)")
    if any(c.isspace() for c in text) or len(text) > 2048:
        raise ValueError("a proxy URL has no spaces and at most 2048 characters")
    return text


class SiteSettings(BaseModel):
    """The stored settings (docs/settings.md says what each does)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", strict=True)

    dtr_host: str = Field("", alias="dtrHost", max_length=255, pattern=r"^[^\s/]*$")
    sso: bool = False
    create_repository_on_push: bool = Field(False, alias="createRepositoryOnPush")
    http_proxy: str = Field("", alias="httpProxy")
    https_proxy: str = Field("", alias="httpsProxy")
    no_proxy: str = Field("", alias="noProxy", max_length=4096)
    disable_upgrades: bool = Field(False, alias="disableUpgrades")
    report_analytics: bool = Field(False, alias="reportAnalytics")
    anonymize_analytics: bool = Field(False, alias="anonymizeAnalytics")
    disable_backup_warning: bool = Field(False, alias="disableBackupWarning")
    # "" : the configuration's log_level (moorage.config).
    log_level: str = Field("", alias="logLevel")
    web_tls_cert: str = Field("", alias="webTLSCert")
    web_tls_ca: str = Field("", alias="webTLSCA")
    web_tls_client_ca: str = Field("", alias="webTLSClientCA")
    client_cert_auth_enabled: bool = Field(False, alias="clientCertAuthEnabled")
    scanning_enabled: bool = Field(True, alias="scanningEnabled")
    scanning_sync_online: bool = Field(True, alias="scanningSyncOnline")
    scanning_deadline: int = Field(0, alias="scanningDeadline", ge=0)
    scanning_enable_auto_recheck: bool = Field(True, alias="scanningEnableAutoRecheck")
    # Jobs history compaction: finished jobs older than the age, beyond the newest to keep, go.
    job_history_compaction_enabled: bool = Field(True, alias="jobHistoryCompactionEnabled")
    job_history_to_keep: int = Field(10000, alias="jobHistoryToKeep", ge=0)
    job_history_max_age: dt.timedelta = Field(dt.timedelta(days=30), alias="jobHistoryMaxAge")
    # Events: older than the age (0s: any age) or beyond the newest to keep (0: any number) go.
    repo_event_history_compaction_enabled: bool = Field(
        False, alias="repoEventHistoryCompactionEnabled"
    )
    repo_event_history_to_keep: int = Field(0, alias="repoEventHistoryToKeep", ge=0)
    repo_event_history_max_age: dt.timedelta = Field(
        dt.timedelta(0), alias="repoEventHistoryMaxAge"
    )
    read_only_registry: bool = Field(False, alias="readOnlyRegistry")
    disable_persistent_cookies: bool = Field(False, alias="disablePersistentCookies")
    # Online GC (moorage.jobs.gc): untagged manifests are collected only when this is on.
    gc_collect_untagged_manifests: bool = Field(False, alias="gcCollectUntaggedManifests")
    # Webhooks (moorage.webhooks): networks (CIDRs) endpoints may reach besides public addresses.
    webhook_allowed_networks: list[str] = Field(
        default_factory=list, alias="webhookAllowedNetworks", max_length=256
    )

    @field_validator("job_history_max_age", "repo_event_history_max_age", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> dt.timedelta:
        return parse_duration(value)

    @field_serializer("job_history_max_age", "repo_event_history_max_age")
    def _go(self, value: dt.timedelta) -> str:
        return go_duration(value)

    @field_validator("web_tls_cert", "web_tls_ca", "web_tls_client_ca")
    @classmethod
    def _pem(cls, value: str) -> str:
        return _pem_certificates(value, "the value")

    @field_validator("http_proxy", "https_proxy")
    @classmethod
    def _proxies(cls, value: str) -> str:
        return _proxy(value)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().lower()
        if level == "warn":
            level = "warning"
        if level and level not in LOG_LEVELS:
            raise ValueError(f"one of {', '.join(LOG_LEVELS)} (or empty: the configuration's)")
        return level

    @field_validator("report_analytics")
    @classmethod
    def _no_analytics(cls, value: bool) -> bool:
        if value:
            raise ValueError("Moorage sends no usage analytics: reportAnalytics stays false")
        return value

    @field_validator("client_cert_auth_enabled")
    @classmethod
    def _no_client_certs(cls, value: bool) -> bool:
        if value:
            raise ValueError("Moorage has no client certificate sign-in: it stays false")
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        try:
            return [str(ipaddress.ip_network(v.strip(), strict=False)) for v in values]
        except ValueError as exc:
            raise ValueError(f"not a network in CIDR notation (10.0.0.0/8): {exc}") from exc


# The names before DTR's, read from old rows (and replaced by the next write).
_OLD_KEYS = (
    "repo_event_history_days",
    "repo_event_history_count",
    "job_history_compaction_days",
    "job_history_max_count",
)


def _from_old(stored: dict[str, Any]) -> dict[str, Any]:
    """Stored rows as the model's fields: old history rows mapped to DTR's settings."""
    known = {k: v for k, v in stored.items() if k in SiteSettings.model_fields}
    days, count = stored.get("repo_event_history_days"), stored.get("repo_event_history_count")
    if "repo_event_history_compaction_enabled" not in known and (days or count):
        known["repo_event_history_compaction_enabled"] = True
        known["repo_event_history_max_age"] = go_duration(dt.timedelta(days=int(days or 0)))
        known["repo_event_history_to_keep"] = int(count or 0)
    days = stored.get("job_history_compaction_days")
    if "job_history_compaction_enabled" not in known and days is not None:
        known["job_history_compaction_enabled"] = int(days) > 0
        if int(days) > 0:
            known["job_history_max_age"] = go_duration(dt.timedelta(days=int(days)))
    count = stored.get("job_history_max_count")
    if "job_history_to_keep" not in known and count is not None:
        known["job_history_to_keep"] = int(count)
    return known


# Built once: hot paths reuse the statement and its compiled form.
_LOAD = select(t.site_settings.c.key, t.site_settings.c.value)


def _memo_key(db: Database) -> tuple[str, Database]:
    return ("site_settings", db)


async def load(db: Database) -> SiteSettings:
    """The settings; in a request, as it first read them (the gate, the authorizer and the
    handler each ask) or as it last wrote them."""
    remembered = request_memo.recall(_memo_key(db))
    if isinstance(remembered, SiteSettings):
        return remembered.model_copy(deep=True)
    async with db.read() as conn:
        return await _load_on(db, conn)


async def load_on(db: Database, conn: Connection) -> SiteSettings:
    """``load`` on a connection the caller holds (inside a write transaction)."""
    remembered = request_memo.recall(_memo_key(db))
    if isinstance(remembered, SiteSettings):
        return remembered.model_copy(deep=True)
    return await _load_on(db, conn)


async def _load_on(db: Database, conn: Connection) -> SiteSettings:
    rows = await conn.execute(_LOAD)
    stored = {r.key: json.loads(r.value) for r in rows}
    loaded = SiteSettings.model_validate(_from_old(stored), strict=False)
    logs.set_moorage_level(loaded.log_level)  # another process's change reaches this one here
    request_memo.remember(_memo_key(db), loaded.model_copy(deep=True))
    return loaded


def problems(exc: ValidationError) -> list[dict[str, str]]:
    """Each refused setting by its DTR name, with the reason."""
    return [
        {
            "setting": ".".join(str(p) for p in e["loc"]),
            "msg": e["msg"].removeprefix("Value error, "),
        }
        for e in exc.errors()
    ]


def merge(current: SiteSettings, changes: dict[str, Any]) -> SiteSettings:
    """``current`` with the wire-named ``changes``; InvalidSettings naming each bad one."""
    wire = current.model_dump(by_alias=True, mode="json")
    try:
        return SiteSettings.model_validate({**wire, **changes})
    except ValidationError as exc:
        found = problems(exc)
        named = ", ".join(p["setting"] for p in found)
        raise InvalidSettings(f"invalid settings: {named}", detail=found) from exc


async def update(db: Database, changes: dict[str, Any]) -> SiteSettings:
    """Apply wire-named changes (unknown keys and wrong types refused: InvalidSettings) and
    return the result."""
    current = await load(db)
    merged = merge(current, changes)
    if current.read_only_registry and merged.read_only_registry and merged != current:
        # Read-only mode holds every write but the one that ends it (moorage.http.gate).
        raise Unsupported("the registry is in read-only mode: turn readOnlyRegistry off first")
    values = merged.model_dump(mode="json")
    request_memo.forget(_memo_key(db))
    async with db.write() as conn:
        for key, value in values.items():
            await conn.execute(
                db.insert(t.site_settings)
                .values(key=key, value=json.dumps(value))
                .on_conflict_do_update(index_elements=["key"], set_={"value": json.dumps(value)})
            )
        await conn.execute(delete(t.site_settings).where(t.site_settings.c.key.in_(_OLD_KEYS)))
    logs.set_moorage_level(merged.log_level)
    request_memo.remember(_memo_key(db), merged.model_copy(deep=True))
    return merged


# ---- a user's own settings (DTR's /api/v0/accounts/{username}/settings) --------------------


def content_cache_uuid(value: Any) -> str:
    """A content cache's UUID as DTR writes them (lowercase, with hyphens), or "" for none."""
    if value is None or value == "":
        return ""
    try:
        if not isinstance(value, str) or len(value) != 36:
            raise ValueError(value)
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise InvalidUserSettings(
            "contentCacheUUID is a content cache's UUID or empty",
            detail={"setting": "contentCacheUUID"},
        ) from exc


async def user_content_cache(db: Database, account_id: int) -> str:
    """The content cache the user pulls through ("": none chosen)."""
    u = t.user_settings
    async with db.read() as conn:
        value = (
            await conn.execute(select(u.c.content_cache_uuid).where(u.c.account_id == account_id))
        ).scalar()
    return value or ""


async def set_user_content_cache(db: Database, account_id: int, value: str) -> None:
    u = t.user_settings
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            db.insert(u)
            .values(account_id=account_id, content_cache_uuid=value, updated_at=now)
            .on_conflict_do_update(
                index_elements=["account_id"],
                set_={"content_cache_uuid": value, "updated_at": now},
            )
        )


# ---- the storage chosen through DTR's /api/v0/admin/settings/registry/simple ----------------

STORAGE_KEY = "registry_storage"  # a site_settings row beside the settings, not a field


async def load_storage(db: Database) -> dict[str, Any] | None:
    """The stored storage (``{"url", "accessKeySealed", "secretKeySealed"}``, the keys sealed by
    the caller's SecretBox), or None when none was chosen (moorage.http.api.registry_settings)."""
    async with db.read() as conn:
        stmt = select(t.site_settings.c.value).where(t.site_settings.c.key == STORAGE_KEY)
        raw = (await conn.execute(stmt)).scalar()
    return json.loads(raw) if raw else None


async def save_storage(db: Database, value: dict[str, Any]) -> None:
    text = json.dumps(value)
    async with db.write() as conn:
        await conn.execute(
            db.insert(t.site_settings)
            .values(key=STORAGE_KEY, value=text)
            .on_conflict_do_update(index_elements=["key"], set_={"value": text})
        )
