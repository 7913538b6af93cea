"""``/api/v0/action_configs`` (system administrators only): per-action job defaults, DTR's
``ActionConfig``: ``parameters`` every job of the action starts with, its own winning (merged
by the runner when the job starts: ``moorage.queue.action_configs``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from starlette.responses import Response

from moorage.errors import InvalidInput
from moorage.http.api.common import Admin, Db
from moorage.http.api.models.jobs import ActionConfig, ActionConfigList
from moorage.jobs.actions import resolve
from moorage.jobs.gc import validate as validate_gc
from moorage.jobs.scan import validate as validate_scan
from moorage.queue import action_configs

router = APIRouter(tags=["action_configs"])


def _parameters(action: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("parameters must be an object", detail={"parameters": str(value)[:100]})
    if action == "onlinegc":
        validate_gc(value)
    validate_scan(action, value)
    return value


@router.get("/action_configs")
async def list_action_configs(db: Db, principal: Admin) -> ActionConfigList:
    return ActionConfigList(
        action_configs=[ActionConfig.of(c) for c in await action_configs.listing(db)]
    )


@router.post("/action_configs", status_code=202)
async def set_action_config(
    db: Db, principal: Admin, body: Annotated[dict[str, Any], Body()]
) -> ActionConfig:
    """DTR's ``ActionConfigCreate``: ``action`` (DTR's name or Moorage's) and ``parameters``
    (both required); replaces the action's config."""
    action, submitted = resolve(body.get("action"))
    if "parameters" not in body:
        raise InvalidInput("parameters is required (an object; {} for none)")
    config = action_configs.ActionConfig(
        action=action,
        parameters=_parameters(action, body.get("parameters")),
        submitted_action=submitted,
    )
    return ActionConfig.of(await action_configs.put(db, config))


@router.get("/action_configs/{action}")
async def get_action_config(action: str, db: Db, principal: Admin) -> ActionConfig:
    return ActionConfig.of(await action_configs.get(db, resolve(action)[0]))


@router.delete("/action_configs/{action}", status_code=204)
async def delete_action_config(action: str, db: Db, principal: Admin) -> Response:
    """The config goes; the action's jobs start with their own parameters only."""
    await action_configs.remove(db, resolve(action)[0])
    return Response(status_code=204)
