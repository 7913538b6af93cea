"""``/api/v0/meta/settings``: registry-wide settings (system administrators only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ValidationError

from moorage.db import site_settings
from moorage.errors import InvalidInput
from moorage.events import store as events
from moorage.http.api.common import Admin, Db

router = APIRouter(tags=["settings"])


@router.get("/meta/settings")
async def get_settings(db: Db, principal: Admin) -> site_settings.SiteSettings:
    """The settings under DTR's names (the model's aliases)."""
    return await site_settings.load(db)


@router.post("/meta/settings")
async def set_settings(
    db: Db, principal: Admin, changes: Annotated[dict[str, Any], Body()]
) -> site_settings.SiteSettings:
    try:
        updated = await site_settings.update(db, changes)
    except ValidationError as exc:
        problems = [
            {"setting": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()
        ]
        raise InvalidInput("invalid settings", detail=problems) from exc
    if {"repoEventHistoryDays", "repoEventHistoryCount"} & changes.keys():
        await events.compact_by_settings(db)  # a tighter history applies at once
    return updated
