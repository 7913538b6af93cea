"""``/api/v0/meta/settings``: registry-wide settings (system administrators only), as DTR 2.7
has them: ``GET`` answers ``responses.Settings``, ``POST`` takes any part of ``forms.Settings``
(and Moorage's own settings) and answers 202 with no body. What each setting does here:
docs/settings.md."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from moorage.db import site_settings
from moorage.db.engine import Database
from moorage.db.site_settings import SiteSettings
from moorage.errors import InvalidSettings
from moorage.events import store as events
from moorage.http.api.common import Admin, AppServices
from moorage.http.api.models.settings import ReplicaFacts, Settings, SettingsForm

router = APIRouter(tags=["settings"])

_SETTABLE = frozenset(f.alias or name for name, f in SiteSettings.model_fields.items())
_EVENT_HISTORY = frozenset(
    {"repoEventHistoryCompactionEnabled", "repoEventHistoryMaxAge", "repoEventHistoryToKeep"}
)
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": SettingsForm.model_json_schema()}},
    }
}


def _replica_values(replica: ReplicaFacts) -> dict[str, Any]:
    """The keys of ``responses.Settings`` this replica's configuration decides: a body may
    carry them back unchanged (a script that GETs, edits and POSTs), not change them."""
    return {
        "replicaID": replica.replica_id,
        "replicaSettings": {
            k: v.model_dump(by_alias=True) for k, v in replica.replica_settings.items()
        },
        "storageVolume": replica.storage_volume,
        "nfsHost": replica.nfs_host,
        "nfsPath": replica.nfs_path,
        "logProtocol": replica.log_protocol,
        "logHost": replica.log_host,
    }


async def _changes(db: Database, body: Any, replica: ReplicaFacts) -> dict[str, Any]:
    """The settable part of ``body``; InvalidSettings naming each key that is not one or has
    a wrong value (all of them at once)."""
    if not isinstance(body, dict):
        raise InvalidSettings("the settings are a JSON object")
    fixed = _replica_values(replica)
    found: list[dict[str, str]] = []
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key in _SETTABLE:
            changes[key] = value
        elif key in fixed:
            if value != fixed[key]:
                found.append({"setting": key, "msg": "set by the replica's configuration"})
        elif key == "webTLSKey":
            if value not in ("", None):
                found.append(
                    {
                        "setting": key,
                        "msg": "no TLS key is kept in the database: the key is the "
                        "configuration's tls_key file",
                    }
                )
        else:
            found.append({"setting": str(key)[:100], "msg": "no such setting"})
    if found:
        try:
            site_settings.merge(await site_settings.load(db), changes)
        except InvalidSettings as exc:
            found.extend(exc.detail)
        named = ", ".join(p["setting"] for p in found)
        raise InvalidSettings(f"invalid settings: {named}", detail=found)
    return changes


@router.get("/meta/settings", response_model=Settings)
async def get_settings(services: AppServices, principal: Admin) -> Settings:
    """DTR's ``responses.Settings`` and Moorage's own settings (system administrators)."""
    site = await site_settings.load(services.db)
    return Settings.of(site, ReplicaFacts.of(services.settings))


@router.post(
    "/meta/settings",
    status_code=202,
    response_class=Response,
    responses={202: {"description": "success (no body)"}},
    openapi_extra=_BODY,
)
async def set_settings(request: Request, services: AppServices, principal: Admin) -> Response:
    """Change the settings the body names (system administrators); an unknown key or a wrong
    type refuses the whole change (400 ``INVALID_SETTINGS``, each key named in ``detail``)."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise InvalidSettings("the body is not JSON") from exc
    changes = await _changes(services.db, body, ReplicaFacts.of(services.settings))
    await site_settings.update(services.db, changes)
    if _EVENT_HISTORY & changes.keys():
        await events.compact_by_settings(services.db)  # a tighter history applies at once
    return Response(status_code=202)
