"""Pruning policies as DTR has them

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 19:00:00.000000

``pruning_policies.last_pruned_at``: DTR's ``lastPrunedAt`` (the last run in which the policy
pruned a tag; NULL: never). The stored rules are rewritten into DTR's rule language, meaning
what they meant before: Moorage's ``updated_at`` ``older_than`` / ``lt`` N days becomes
``updated_at_duration`` ``bf`` "<N * 24>h", and a ``tag`` ``matches`` pattern, which used to
match the whole name, is anchored (``^(?:p)$``) now that ``matches`` finds the pattern anywhere
in the name as DTR's does. The other operators (``eq neq sw ew``) mean the same in both.

Downgrade turns durations back into days where it can; a policy the old rules cannot express
(one of DTR's newer fields or operators) is disabled rather than left to be misread.
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_policies = sa.table(
    "pruning_policies",
    sa.column("id", sa.String),
    sa.column("enabled", sa.Boolean),
    sa.column("rules", sa.Text),
)
_OLD_TAG = ("eq", "neq", "sw", "ew", "matches")
_ANCHORED = re.compile(r"(\(\?[aiLmsux]+\))?\^\(\?:(.*)\)\$", re.DOTALL)
_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


def _hours(days: float) -> str:
    hours = days * 24
    return f"{int(hours)}h" if hours == int(hours) else f"{hours:g}h"


def _anchored(pattern: str) -> str:
    """``pattern`` matching whole names only; global flags (``(?i)``) stay in front."""
    flags = _FLAGS.match(pattern)
    head = flags[0] if flags else ""
    return f"{head}^(?:{pattern[len(head) :]})$"


def _upgraded(rule: dict[str, Any]) -> dict[str, Any]:
    values = [str(v) for v in rule.get("values") or []]
    if rule.get("field") == "updated_at" and rule.get("operator") in {"older_than", "lt"}:
        try:
            days = float(values[0])
        except (IndexError, ValueError):
            return rule
        return {"field": "updated_at_duration", "operator": "bf", "values": [_hours(days)]}
    if rule.get("field") == "tag" and rule.get("operator") == "matches":
        return {**rule, "values": [_anchored(v) for v in values]}
    return {**rule, "values": values}


def _downgraded(rule: dict[str, Any]) -> dict[str, Any] | None:
    """The rule in the old language; None: it has no counterpart there."""
    field, operator, values = rule.get("field"), rule.get("operator"), rule.get("values") or []
    if field == "updated_at_duration" and operator == "bf" and values:
        text = str(values[0])
        match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)h", text)
        if match is None:
            return None
        return {"field": "updated_at", "operator": "older_than", "values": [float(match[1]) / 24]}
    if field == "tag" and operator == "matches":
        return {**rule, "values": [_unanchored(str(v)) for v in values]}
    if field == "tag" and operator in _OLD_TAG:
        return rule
    return None


def _unanchored(pattern: str) -> str:
    found = _ANCHORED.fullmatch(pattern)
    return (found[1] or "") + found[2] if found else pattern


def upgrade() -> None:
    with op.batch_alter_table("pruning_policies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_pruned_at", sa.DateTime(timezone=True), nullable=True))
    conn = op.get_bind()
    for row in conn.execute(sa.select(_policies.c.id, _policies.c.rules)).all():
        rules = json.loads(row.rules or "[]")
        new = json.dumps([_upgraded(r) for r in rules])
        if new != row.rules:
            conn.execute(_policies.update().where(_policies.c.id == row.id).values(rules=new))


def downgrade() -> None:
    conn = op.get_bind()
    for row in conn.execute(sa.select(_policies.c.id, _policies.c.rules)).all():
        old = [_downgraded(r) for r in json.loads(row.rules or "[]")]
        if any(r is None for r in old):
            conn.execute(_policies.update().where(_policies.c.id == row.id).values(enabled=False))
            continue
        conn.execute(
            _policies.update().where(_policies.c.id == row.id).values(rules=json.dumps(old))
        )
    with op.batch_alter_table("pruning_policies", schema=None) as batch_op:
        batch_op.drop_column("last_pruned_at")
