"""Registry-wide settings changed at run time (DTR's ``/api/v0/meta/settings``), stored in SQL
so every replica sees a change at once (from its next request: within one, the settings are
read once, ``db.request_memo``)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from moorage.db import request_memo
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.errors import Unsupported


class SiteSettings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    create_repository_on_push: bool = Field(False, alias="createRepositoryOnPush")
    read_only_registry: bool = Field(False, alias="readOnlyRegistry")
    repo_event_history_days: int = Field(0, alias="repoEventHistoryDays", ge=0)
    repo_event_history_count: int = Field(0, alias="repoEventHistoryCount", ge=0)
    # Online GC (moorage.jobs.gc): untagged manifests are collected only when this is on.
    gc_collect_untagged_manifests: bool = Field(False, alias="gcCollectUntaggedManifests")
    # Jobs history compaction: finished jobs older than the days, beyond the newest count, go.
    job_history_compaction_days: int = Field(30, alias="jobHistoryCompactionDays", ge=0)
    job_history_max_count: int = Field(10000, alias="jobHistoryMaxCount", ge=0)
    # Webhooks (moorage.webhooks): networks (CIDRs) endpoints may reach besides public addresses.
    webhook_allowed_networks: list[str] = Field(
        default_factory=list, alias="webhookAllowedNetworks", max_length=256
    )

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        try:
            return [str(ipaddress.ip_network(v.strip(), strict=False)) for v in values]
        except ValueError as exc:
            raise ValueError(f"not a network in CIDR notation (10.0.0.0/8): {exc}") from exc


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
        rows = await conn.execute(_LOAD)
        stored = {r.key: json.loads(r.value) for r in rows}
    known = {k: v for k, v in stored.items() if k in SiteSettings.model_fields}
    loaded = SiteSettings(**known)
    request_memo.remember(_memo_key(db), loaded.model_copy(deep=True))
    return loaded


async def update(db: Database, changes: dict[str, Any]) -> SiteSettings:
    """Apply wire-named changes (unknown keys refused by validation) and return the result."""
    current = await load(db)
    merged = SiteSettings.model_validate({**current.model_dump(by_alias=True), **changes})
    if current.read_only_registry and merged.read_only_registry and merged != current:
        # Read-only mode holds every write but the one that ends it (moorage.http.gate).
        raise Unsupported("the registry is in read-only mode: turn readOnlyRegistry off first")
    values = merged.model_dump()
    request_memo.forget(_memo_key(db))
    async with db.write() as conn:
        for key, value in values.items():
            await conn.execute(
                db.insert(t.site_settings)
                .values(key=key, value=json.dumps(value))
                .on_conflict_do_update(index_elements=["key"], set_={"value": json.dumps(value)})
            )
    request_memo.remember(_memo_key(db), merged.model_copy(deep=True))
    return merged
