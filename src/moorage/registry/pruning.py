"""Tag pruning: DTR's pruning policies (rules ``{field, operator, values}``) and ``tagLimit``.

A policy prunes a tag when all of its rules match. Fields: ``tag`` (operators ``eq``, ``neq``,
``sw``, ``ew``, ``matches``; a tag matches when it matches any of ``values``) and ``updated_at``
(operator ``older_than``, alias ``lt``; ``values[0]`` a number of days). ``tagLimit`` (a
repository setting) keeps the newest N tags. Pruning runs as the ``tagprune`` job, queued by
the push itself (``manifests.put``) in its write transaction when it pushes a tag to a repository
with an enabled policy or a limit: whether it does is a column of the repository lookup the push
runs anyway (``prunes_on_push``), so a repository with neither pays no statement for pruning.
That lookup runs before the bytes are stored: a policy created during a push takes effect from the
next push (the job reads the policies again when it runs). A repository with immutable tags is
never pruned (its tags neither move nor go away).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, exists, false, or_, select
from sqlalchemy.sql.elements import Label

from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.errors import InvalidInput, NotFound
from moorage.events import store as events
from moorage.queue import jobs

TAG_OPERATORS = ("eq", "neq", "sw", "ew", "matches")
AGE_OPERATORS = ("older_than", "lt")
PRUNE_ACTION = "tagprune"
PRUNE_ATTEMPTS = 3


class NoSuchPolicy(NotFound):
    code, default_message = "NO_SUCH_PRUNING_POLICY", "no such pruning policy"


@dataclass(frozen=True, slots=True)
class Rule:
    field: str
    operator: str
    values: tuple[str, ...]

    def matches(self, tag: str, updated_at: dt.datetime, now: dt.datetime) -> bool:
        if self.field == "tag":
            op = self.operator
            if op == "eq":
                return tag in self.values
            if op == "neq":
                return tag not in self.values
            if op == "sw":
                return any(tag.startswith(v) for v in self.values)
            if op == "ew":
                return any(tag.endswith(v) for v in self.values)
            return any(re.fullmatch(v, tag) for v in self.values)
        days = float(self.values[0])
        return now - updated_at > dt.timedelta(days=days)


def parse_rules(raw: Any) -> list[Rule]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("a pruning policy needs a non-empty list of rules")
    out: list[Rule] = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidInput("each rule is an object {field, operator, values}")
        field, operator, values = item.get("field"), item.get("operator"), item.get("values")
        if not isinstance(values, list) or not values:
            raise InvalidInput("a rule needs a non-empty list of values")
        strings = tuple(str(v) for v in values)
        if field == "tag":
            if operator not in TAG_OPERATORS:
                raise InvalidInput(f"tag rules take the operators {', '.join(TAG_OPERATORS)}")
            if operator == "matches":
                for v in strings:
                    try:
                        re.compile(v)
                    except re.error as exc:
                        raise InvalidInput(f"invalid regular expression {v!r}: {exc}") from exc
        elif field == "updated_at":
            if operator not in AGE_OPERATORS:
                raise InvalidInput("updated_at rules take the operator older_than (days)")
            try:
                if float(strings[0]) < 0:
                    raise ValueError
            except ValueError as exc:
                raise InvalidInput("updated_at takes a number of days") from exc
        else:
            raise InvalidInput("rules apply to the fields tag and updated_at")
        out.append(Rule(field, operator, strings))
    return out


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    repository_id: int
    enabled: bool
    rules: list[Rule]

    def prunes(self, tag: str, updated_at: dt.datetime, now: dt.datetime) -> bool:
        return bool(self.rules) and all(r.matches(tag, updated_at, now) for r in self.rules)


def _stored_rules(rules: list[Rule]) -> str:
    """The rules as the ``rules`` column holds them."""
    return json.dumps(
        [{"field": r.field, "operator": r.operator, "values": list(r.values)} for r in rules]
    )


def _policy(row: Any) -> Policy:
    raw = json.loads(row.rules or "[]")
    return Policy(
        id=row.id,
        repository_id=int(row.repository_id),
        enabled=bool(row.enabled),
        rules=[Rule(r["field"], r["operator"], tuple(r["values"])) for r in raw],
    )


async def listing(db: Database, repository_id: int) -> list[Policy]:
    p = t.pruning_policies
    async with db.read() as conn:
        rows = await conn.execute(
            select(p).where(p.c.repository_id == repository_id).order_by(p.c.created_at, p.c.id)
        )
        return [_policy(r) for r in rows]


async def create(db: Database, repository_id: int, enabled: bool, rules: list[Rule]) -> Policy:
    policy = Policy(str(uuid.uuid4()), repository_id, enabled, rules)
    async with db.write() as conn:
        await conn.execute(
            t.pruning_policies.insert().values(
                id=policy.id,
                repository_id=repository_id,
                enabled=enabled,
                rules=_stored_rules(rules),
                created_at=utcnow(),
            )
        )
    return policy


async def get(db: Database, repository_id: int, policy_id: str) -> Policy:
    p = t.pruning_policies
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(p).where(and_(p.c.repository_id == repository_id, p.c.id == policy_id))
            )
        ).first()
    if row is None:
        raise NoSuchPolicy(detail={"id": policy_id})
    return _policy(row)


async def update(
    db: Database, repository_id: int, policy_id: str, enabled: bool, rules: list[Rule]
) -> Policy:
    """Replace one policy's rules and state (its id stays)."""
    p = t.pruning_policies
    async with db.write() as conn:
        done = await conn.execute(
            p.update()
            .where(and_(p.c.repository_id == repository_id, p.c.id == policy_id))
            .values(enabled=enabled, rules=_stored_rules(rules))
        )
    if not done.rowcount:
        raise NoSuchPolicy(detail={"id": policy_id})
    return Policy(policy_id, repository_id, enabled, rules)


async def remove(db: Database, repository_id: int, policy_id: str) -> None:
    p = t.pruning_policies
    async with db.write() as conn:
        done = await conn.execute(
            delete(p).where(and_(p.c.repository_id == repository_id, p.c.id == policy_id))
        )
    if not done.rowcount:
        raise NoSuchPolicy(detail={"id": policy_id})


async def replace_all(
    db: Database, repository_id: int, policies: list[tuple[bool, list[Rule]]]
) -> None:
    async with db.write() as conn:
        await conn.execute(
            delete(t.pruning_policies).where(t.pruning_policies.c.repository_id == repository_id)
        )
        for enabled, rules in policies:
            await conn.execute(
                t.pruning_policies.insert().values(
                    id=str(uuid.uuid4()),
                    repository_id=repository_id,
                    enabled=enabled,
                    rules=_stored_rules(rules),
                    created_at=utcnow(),
                )
            )


async def _tags(conn: Connection, repository_id: int) -> list[tuple[str, dt.datetime]]:
    rows = await conn.execute(
        select(t.tags.c.name, t.tags.c.updated_at)
        .where(t.tags.c.repository_id == repository_id)
        .order_by(t.tags.c.updated_at.desc(), t.tags.c.name)
    )
    return [(r.name, as_utc(r.updated_at)) for r in rows]


def select_prunable(
    tags: list[tuple[str, dt.datetime]], policies: list[Policy], tag_limit: int, now: dt.datetime
) -> list[str]:
    """The tags (newest first in ``tags``) the policies and the limit would remove."""
    doomed = [
        name
        for name, updated in tags
        if any(p.enabled and p.prunes(name, updated, now) for p in policies)
    ]
    if tag_limit > 0:
        left = [name for name, _ in tags if name not in set(doomed)]
        doomed += left[tag_limit:]
    return doomed


async def plan(
    db: Database,
    repository_id: int,
    policies: list[Policy] | None = None,
    *,
    with_limit: bool = True,
) -> list[tuple[str, dt.datetime]]:
    """Dry run: the tags that would be pruned now, each with when it was last updated
    (``policies`` None: the stored ones)."""
    async with db.read() as conn:
        tags = await _tags(conn, repository_id)
        repo = (
            await conn.execute(
                select(t.repositories.c.tag_limit, t.repositories.c.immutable_tags).where(
                    t.repositories.c.id == repository_id
                )
            )
        ).first()
    if repo is None or repo.immutable_tags:
        return []  # immutable tags are never pruned
    limit = repo.tag_limit
    if policies is None:
        policies = await listing(db, repository_id)
    now = utcnow()
    stamps = dict(tags)
    return [
        (name, stamps[name])
        for name in select_prunable(tags, policies, int(limit or 0) if with_limit else 0, now)
    ]


async def prune(db: Database, repository_id: int) -> list[str]:
    """Remove the tags the policies and the limit select (a TAG_DELETE event each)."""
    policies = await listing(db, repository_id)
    now = utcnow()
    async with db.write() as conn:
        repo = (
            await conn.execute(
                select(
                    t.repositories.c.name,
                    t.repositories.c.tag_limit,
                    t.repositories.c.immutable_tags,
                ).where(t.repositories.c.id == repository_id)
            )
        ).first()
        if repo is None or repo.immutable_tags:
            return []  # immutable tags are never pruned
        tags = await _tags(conn, repository_id)
        doomed = select_prunable(tags, policies, int(repo.tag_limit or 0), now)
        for name in doomed:
            await conn.execute(
                delete(t.tags).where(
                    and_(t.tags.c.repository_id == repository_id, t.tags.c.name == name)
                )
            )
            await events.record(
                conn,
                events.TAG_DELETE,
                repository=repo.name,
                repository_id=repository_id,
                object_type=events.TAG,
                object_id=name,
                actor=None,
                details={"reason": "pruned"},
            )
    return doomed


# ---- queued by the push ----------------------------------------------------------------------


def prunes_on_push() -> Label[bool]:
    """A column for a query on ``repositories``: whether a tag pushed to the repository queues
    a pruning run (a tag limit or an enabled policy, and tags that are not immutable)."""
    r, p = t.repositories, t.pruning_policies
    enabled_policy = exists().where(and_(p.c.repository_id == r.c.id, p.c.enabled.is_(True)))
    return and_(r.c.immutable_tags == false(), or_(r.c.tag_limit > 0, enabled_policy)).label(
        "prunes"
    )


async def schedule(conn: Connection, repository_id: int) -> str:
    """Inside the push's write transaction: queue one ``tagprune`` run of the repository (it
    exists exactly when the push commits); returns the job's id."""
    return await jobs.enqueue(
        conn, PRUNE_ACTION, {"repositoryID": repository_id}, max_attempts=PRUNE_ATTEMPTS
    )
