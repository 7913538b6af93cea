"""Per-action defaults (DTR's action configs): parameters every job of an action starts with.

A job's own parameters win over its action's (DTR: "overwritten by any corresponding parameters
set in the job itself"); the runner merges them when it starts the job, so jobs queued by
Moorage itself (crons, webhooks, scans) take them too.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select

from moorage.db import job_tables as jt
from moorage.db.engine import Database, as_utc, utcnow
from moorage.errors import NotFound


class NoSuchActionConfig(NotFound):
    code, default_message = "NO_SUCH_ACTION_CONFIG", "no config for this action"


@dataclass(frozen=True, slots=True)
class ActionConfig:
    action: str
    parameters: dict[str, Any] = field(default_factory=dict)
    submitted_action: str | None = None  # DTR's name it was put with (``gc``)
    id: str = ""
    updated_at: dt.datetime | None = None

    @property
    def name(self) -> str:
        return self.submitted_action or self.action


def _config(row: Any) -> ActionConfig:
    return ActionConfig(
        action=row.action,
        parameters=json.loads(row.parameters or "{}"),
        submitted_action=row.submitted_action,
        id=row.id,
        updated_at=as_utc(row.updated_at),
    )


async def put(db: Database, config: ActionConfig) -> ActionConfig:
    """Create or replace the action's config (its id stays)."""
    now = utcnow()
    values = {
        "parameters": json.dumps(config.parameters),
        "submitted_action": config.submitted_action,
        "updated_at": now,
    }
    async with db.write() as conn:
        await conn.execute(
            db.insert(jt.action_configs)
            .values(action=config.action, id=str(uuid.uuid4()), created_at=now, **values)
            .on_conflict_do_update(index_elements=["action"], set_=values)
        )
    return await get(db, config.action)


async def get(db: Database, action: str) -> ActionConfig:
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(jt.action_configs).where(jt.action_configs.c.action == action)
            )
        ).first()
    if row is None:
        raise NoSuchActionConfig(detail={"action": action})
    return _config(row)


async def listing(db: Database) -> list[ActionConfig]:
    async with db.read() as conn:
        rows = await conn.execute(select(jt.action_configs).order_by(jt.action_configs.c.action))
        return [_config(r) for r in rows]


async def remove(db: Database, action: str) -> None:
    async with db.write() as conn:
        result = await conn.execute(
            delete(jt.action_configs).where(jt.action_configs.c.action == action)
        )
    if result.rowcount == 0:
        raise NoSuchActionConfig(detail={"action": action})


async def defaults(db: Database, action: str) -> dict[str, Any]:
    """The action's configured parameters; none when it has no config."""
    async with db.read() as conn:
        text = (
            await conn.execute(
                select(jt.action_configs.c.parameters).where(jt.action_configs.c.action == action)
            )
        ).scalar()
    found: Any = json.loads(text) if text else {}
    return found if isinstance(found, dict) else {}
