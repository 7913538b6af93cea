"""LDAP settings: one JSON document in ``site_settings`` under the key ``ldap``, so every replica
reads the same one. The reader's password is write-only: it is sealed with the data folder's
``secret.key`` (see ``moorage.auth.secretbox``), never returned by the API and never logged.

The periodic sync is the ``ldapsync`` cron of the job runner; ``sync_schedule`` turns
``syncIntervalSeconds`` into its schedule, ``@every`` that many seconds (``moorage.queue.crons``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select

from moorage.auth.secretbox import SecretBox
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.errors import InvalidInput
from moorage.queue import crons

log = logging.getLogger("moorage.ldap")

CONFIG_KEY = "ldap"
MIN_SYNC_INTERVAL = 5  # seconds; 0 turns the periodic sync off
MAX_SYNC_INTERVAL = int(crons.MAX_EVERY.total_seconds())

_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+")


def ldap_filter(value: str) -> str:
    """A search filter in parentheses, its parentheses balanced (ValueError otherwise)."""
    value = value.strip()
    if not value:
        return ""
    if not value.startswith("("):
        value = f"({value})"
    depth = 0
    for ch in value.replace("\\(", "").replace("\\)", ""):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0:
        raise ValueError("unbalanced parentheses in LDAP filter")
    return value


def attribute_name(value: str) -> str:
    if not _ATTRIBUTE.fullmatch(value):
        raise ValueError(f"not an LDAP attribute name: {value!r}")
    return value


class UserSearchConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    base_dn: str = Field(alias="baseDN", min_length=1, max_length=1024)
    scope_subtree: bool = Field(True, alias="scopeSubtree")
    username_attr: str = Field("uid", alias="usernameAttr")
    full_name_attr: str = Field("cn", alias="fullNameAttr")
    email_attr: str = Field("mail", alias="emailAttr")
    filter: str = Field("", max_length=1024)

    @field_validator("username_attr", "full_name_attr", "email_attr")
    @classmethod
    def _attrs(cls, value: str) -> str:
        return attribute_name(value)

    @field_validator("filter")
    @classmethod
    def _flt(cls, value: str) -> str:
        return ldap_filter(value)


class LdapConfig(BaseModel):
    """The LDAP settings as ``/enzi/v0/config/auth/ldap`` accepts them (enzi's names as aliases),
    without the password; the API's answer is built from them at the edge."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    enabled: bool = False
    server_url: str = Field("", alias="serverURL", max_length=1024)
    start_tls: bool = Field(False, alias="startTLS")
    tls_skip_verify: bool = Field(False, alias="tlsSkipVerify")
    root_certs: str = Field("", alias="rootCerts", max_length=1_000_000)
    reader_dn: str = Field("", alias="readerDN", max_length=1024)
    user_search_configs: list[UserSearchConfig] = Field(
        default_factory=list, alias="userSearchConfigs", max_length=20
    )
    jit_user_provisioning: bool = Field(True, alias="jitUserProvisioning")
    sync_interval_seconds: int = Field(0, alias="syncIntervalSeconds", ge=0)

    @model_validator(mode="before")
    @classmethod
    def _hours(cls, data: Any) -> Any:
        """``syncIntervalHours`` (may be fractional) is another way to say the interval."""
        if isinstance(data, dict) and "syncIntervalHours" in data:
            data = dict(data)
            hours = data.pop("syncIntervalHours")
            if (
                not isinstance(hours, int | float)
                or isinstance(hours, bool)
                or not math.isfinite(hours)
                or not 0 <= hours <= MAX_SYNC_INTERVAL / 3600
            ):
                raise ValueError(
                    f"syncIntervalHours must be a number from 0 to {MAX_SYNC_INTERVAL // 3600}"
                )
            seconds = round(hours * 3600)
            given = data.get("syncIntervalSeconds", data.get("sync_interval_seconds"))
            if given is not None and given != seconds:
                raise ValueError("syncIntervalHours and syncIntervalSeconds disagree")
            data["syncIntervalSeconds"] = seconds
        return data

    @field_validator("server_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"ldaps?://[^/\s?#]+/?", value, re.IGNORECASE):
            raise ValueError("serverURL must look like ldap://host[:port] or ldaps://host[:port]")
        return value.rstrip("/")

    @field_validator("root_certs")
    @classmethod
    def _certs(cls, value: str) -> str:
        if value.strip():
            from cryptography import x509

            try:
                x509.load_pem_x509_certificates(value.encode())
            except ValueError as exc:
                raise ValueError("rootCerts must hold PEM certificates") from exc
        return value

    @field_validator("sync_interval_seconds")
    @classmethod
    def _interval(cls, value: int) -> int:
        if 0 < value < MIN_SYNC_INTERVAL or value > MAX_SYNC_INTERVAL:
            raise ValueError(
                f"syncIntervalSeconds is 0 (off) or from {MIN_SYNC_INTERVAL} "
                f"to {MAX_SYNC_INTERVAL} ({MAX_SYNC_INTERVAL // 86400} days)"
            )
        return value

    @model_validator(mode="after")
    def _complete(self) -> LdapConfig:
        if self.server_url.lower().startswith("ldaps://") and self.start_tls:
            raise ValueError("startTLS is for ldap:// URLs; ldaps:// is TLS from the start")
        if self.enabled and not self.server_url:
            raise ValueError("serverURL is needed to enable LDAP")
        if self.enabled and not self.user_search_configs:
            raise ValueError("at least one userSearchConfig is needed to enable LDAP")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.start_tls or self.server_url.lower().startswith("ldaps://")


@dataclass(frozen=True, slots=True)
class StoredConfig:
    config: LdapConfig
    sealed_password: str | None  # the reader's password, sealed by a SecretBox


def _parse_stored(raw: str | None) -> StoredConfig:
    if not raw:
        return StoredConfig(LdapConfig.model_validate({}), None)
    doc = json.loads(raw)
    try:
        config = LdapConfig.model_validate(doc.get("config") or {})
    except ValidationError:
        log.error("stored LDAP configuration is invalid; LDAP is off until it is set again")
        config = LdapConfig.model_validate({})
    return StoredConfig(config, doc.get("readerPasswordSealed") or None)


async def load_config(db: Database) -> StoredConfig:
    async with db.read() as conn:
        raw = (
            await conn.execute(
                select(t.site_settings.c.value).where(t.site_settings.c.key == CONFIG_KEY)
            )
        ).scalar()
    return _parse_stored(raw)


async def save_config(db: Database, box: SecretBox, changes: dict[str, Any]) -> StoredConfig:
    """Merge wire-named changes into the stored configuration.

    ``readerPassword``: absent or null keeps the stored one, ``""`` clears it (anonymous reads)."""
    changes = dict(changes)
    changes.pop("readerPasswordSet", None)  # GET's answer may be sent back as it is
    has_password = "readerPassword" in changes
    password = changes.pop("readerPassword", None)
    if password is not None and not isinstance(password, str):
        raise InvalidInput("readerPassword must be a string")
    async with db.write() as conn:
        raw = (
            await conn.execute(
                select(t.site_settings.c.value)
                .where(t.site_settings.c.key == CONFIG_KEY)
                .with_for_update()
            )
        ).scalar()
        current = _parse_stored(raw)
        base = current.config.model_dump(by_alias=True)
        if "syncIntervalHours" in changes:
            base.pop("syncIntervalSeconds")
        try:
            merged = LdapConfig.model_validate({**base, **changes})
        except ValidationError as exc:
            problems = [
                {"setting": ".".join(str(p) for p in e["loc"]) or "ldap", "msg": e["msg"]}
                for e in exc.errors()
            ]
            raise InvalidInput("invalid LDAP configuration", detail=problems) from exc
        sealed = current.sealed_password
        if has_password and password is not None:
            sealed = box.seal(password) if password else None
        value = json.dumps(
            {"config": merged.model_dump(by_alias=True), "readerPasswordSealed": sealed}
        )
        await conn.execute(
            db.insert(t.site_settings)
            .values(key=CONFIG_KEY, value=value)
            .on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )
    return StoredConfig(merged, sealed)


def sync_schedule(config: LdapConfig) -> str | None:
    """The schedule of the periodic sync, ``@every`` exactly ``syncIntervalSeconds``; None
    when it is off (LDAP disabled or an interval of 0)."""
    seconds = config.sync_interval_seconds
    if not config.enabled or seconds <= 0:
        return None
    return crons.every(dt.timedelta(seconds=seconds))
