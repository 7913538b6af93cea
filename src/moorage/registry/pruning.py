"""Tag pruning: DTR's pruning policies (rules in ``pruning_rules``) and ``tagLimit``.

A policy prunes a tag when all of its rules match. ``tagLimit`` (a repository setting) keeps
the newest N tags. Pruning runs as the ``tagprune`` job, queued by the push itself
(``manifests.put``) in its write transaction when it pushes a tag to a repository with an
enabled policy or a limit: whether it does is a column of the repository lookup the push runs
anyway (``prunes_on_push``), so a repository with neither pays no statement for pruning. That
lookup runs before the bytes are stored: a policy created during a push takes effect from the
next push (the job reads the policies again when it runs). Creating or updating a policy with
DTR's ``initialEvaluation`` (its default) queues a run too, in the same transaction. A
repository with immutable tags is never pruned (its tags neither move nor go away).

Rules on what a scan found need the scanning layer, which sits above this one: callers that
have it (the job, the API) hand in a ``ScanFactsLoader``; without one, scan rules match no tag,
as they match no tag that was never scanned. Each policy's ``lastPrunedAt`` is the last run in
which it pruned a tag.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, delete, exists, false, or_, select
from sqlalchemy.sql.elements import Label

from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.errors import NotFound
from moorage.events import store as events
from moorage.queue import jobs
from moorage.registry.pruning_rules import Rule, ScanFacts, TagFacts, parse_rules

__all__ = ["Policy", "Rule", "ScanFacts", "ScanFactsLoader", "TagFacts", "parse_rules"]

PRUNE_ACTION = "tagprune"
PRUNE_ATTEMPTS = 3

# (db, repository id, manifest digests, with components and licenses) → the facts of each
# digest that has a completed scan (a digest left out: no completed scan).
ScanFactsLoader = Callable[[Database, int, list[str], bool], Awaitable[dict[str, ScanFacts]]]


class NoSuchPolicy(NotFound):
    code, default_message = "NO_SUCH_PRUNING_POLICY", "no such pruning policy"


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    repository_id: int
    enabled: bool
    rules: list[Rule]
    last_pruned_at: dt.datetime | None = None

    def prunes(self, tag: TagFacts, now: dt.datetime) -> bool:
        try:
            return bool(self.rules) and all(r.matches(tag, now) for r in self.rules)
        except (ValueError, KeyError, IndexError, re.error):
            return False  # a stored rule this version cannot read prunes nothing


def _stored_rules(rules: list[Rule]) -> str:
    """The rules as the ``rules`` column holds them."""
    return json.dumps([r.as_dict() for r in rules])


def _policy(row: Any) -> Policy:
    raw = json.loads(row.rules or "[]")
    return Policy(
        id=row.id,
        repository_id=int(row.repository_id),
        enabled=bool(row.enabled),
        rules=[Rule(r["field"], r["operator"], tuple(str(v) for v in r["values"])) for r in raw],
        last_pruned_at=as_utc(row.last_pruned_at) if row.last_pruned_at else None,
    )


async def listing(db: Database, repository_id: int) -> list[Policy]:
    p = t.pruning_policies
    async with db.read() as conn:
        rows = await conn.execute(
            select(p).where(p.c.repository_id == repository_id).order_by(p.c.created_at, p.c.id)
        )
        return [_policy(r) for r in rows]


async def create(
    db: Database, repository_id: int, enabled: bool, rules: list[Rule], *, evaluate: bool = False
) -> Policy:
    """Store a new policy; ``evaluate`` (DTR's ``initialEvaluation``): queue a pruning run of
    the repository in the same transaction."""
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
        if evaluate and enabled:
            await schedule(conn, repository_id)
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
    db: Database,
    repository_id: int,
    policy_id: str,
    enabled: bool | None,
    rules: list[Rule] | None,
    *,
    evaluate: bool = False,
) -> Policy:
    """Change one policy's state and/or rules (None: as it was; its id stays)."""
    p = t.pruning_policies
    where = and_(p.c.repository_id == repository_id, p.c.id == policy_id)
    async with db.write() as conn:
        row = (await conn.execute(select(p).where(where))).first()
        if row is None:
            raise NoSuchPolicy(detail={"id": policy_id})
        policy = _policy(row)
        policy = replace(
            policy,
            enabled=policy.enabled if enabled is None else enabled,
            rules=policy.rules if rules is None else rules,
        )
        await conn.execute(
            p.update()
            .where(where)
            .values(enabled=policy.enabled, rules=_stored_rules(policy.rules))
        )
        if evaluate and policy.enabled:
            await schedule(conn, repository_id)
    return policy


async def remove(db: Database, repository_id: int, policy_id: str) -> bool:
    """Delete one policy of the repository; whether there was one (DTR answers 204 either
    way: "success or pruning policy does not exist")."""
    p = t.pruning_policies
    async with db.write() as conn:
        done = await conn.execute(
            delete(p).where(and_(p.c.repository_id == repository_id, p.c.id == policy_id))
        )
    return bool(done.rowcount)


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


async def _tags(conn: Connection, repository_id: int) -> list[TagFacts]:
    """The repository's tags, newest first (no scan facts yet)."""
    tg, m = t.tags, t.manifests
    rows = await conn.execute(
        select(tg.c.name, tg.c.updated_at, m.c.digest)
        .select_from(tg.join(m, m.c.id == tg.c.manifest_id))
        .where(tg.c.repository_id == repository_id)
        .order_by(tg.c.updated_at.desc(), tg.c.name)
    )
    return [TagFacts(r.name, r.digest, as_utc(r.updated_at)) for r in rows]


async def _with_scans(
    db: Database,
    repository_id: int,
    tags: list[TagFacts],
    policies: list[Policy],
    scan_facts: ScanFactsLoader | None,
) -> list[TagFacts]:
    """``tags`` with what their scans found, read only when an enabled policy asks for it."""
    rules = [r for p in policies if p.enabled for r in p.rules]
    if scan_facts is None or not tags or not any(r.needs_scan for r in rules):
        return tags
    contents = any(r.needs_contents for r in rules)
    found = await scan_facts(db, repository_id, sorted({tag.digest for tag in tags}), contents)
    return [replace(tag, scan=found.get(tag.digest)) for tag in tags]


def select_prunable(
    tags: list[TagFacts], policies: list[Policy], tag_limit: int, now: dt.datetime
) -> tuple[list[TagFacts], set[str]]:
    """The tags (newest first in ``tags``) the policies and the limit would remove, and the
    ids of the policies that pruned one."""
    doomed: list[TagFacts] = []
    pruning: set[str] = set()
    for tag in tags:
        matched = [p.id for p in policies if p.enabled and p.prunes(tag, now)]
        if matched:
            doomed.append(tag)
            pruning.update(matched)
    if tag_limit > 0:
        gone = {tag.name for tag in doomed}
        doomed += [tag for tag in tags if tag.name not in gone][tag_limit:]
    return doomed, pruning


async def plan(
    db: Database,
    repository_id: int,
    policies: list[Policy] | None = None,
    *,
    with_limit: bool = True,
    scan_facts: ScanFactsLoader | None = None,
) -> list[TagFacts]:
    """Dry run: the tags that would be pruned now, newest first (``policies`` None: the
    stored ones)."""
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
    if policies is None:
        policies = await listing(db, repository_id)
    tags = await _with_scans(db, repository_id, tags, policies, scan_facts)
    limit = int(repo.tag_limit or 0) if with_limit else 0
    return select_prunable(tags, policies, limit, utcnow())[0]


async def prune(
    db: Database, repository_id: int, scan_facts: ScanFactsLoader | None = None
) -> list[str]:
    """Remove the tags the policies and the limit select (a TAG_DELETE event each); each
    policy that pruned a tag gets ``last_pruned_at``."""
    policies = await listing(db, repository_id)
    async with db.read() as conn:
        tags = await _tags(conn, repository_id)
    facts = {
        tag.name: tag for tag in await _with_scans(db, repository_id, tags, policies, scan_facts)
    }
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
        # The tags as they are now (the scan facts were read before, outside the write).
        current = [
            replace(tag, scan=facts[tag.name].scan)
            if tag.name in facts and facts[tag.name].digest == tag.digest
            else tag
            for tag in await _tags(conn, repository_id)
        ]
        doomed, pruning = select_prunable(current, policies, int(repo.tag_limit or 0), now)
        for tag in doomed:
            await conn.execute(
                delete(t.tags).where(
                    and_(t.tags.c.repository_id == repository_id, t.tags.c.name == tag.name)
                )
            )
            await events.record(
                conn,
                events.TAG_DELETE,
                repository=repo.name,
                repository_id=repository_id,
                object_type=events.TAG,
                object_id=tag.name,
                actor=None,
                details={"reason": "pruned"},
            )
        if pruning:
            p = t.pruning_policies
            await conn.execute(
                p.update()
                .where(and_(p.c.repository_id == repository_id, p.c.id.in_(sorted(pruning))))
                .values(last_pruned_at=now)
            )
    return [tag.name for tag in doomed]


# ---- queued by the push ----------------------------------------------------------------------


def prunes_on_push() -> Label[bool]:
    """A column for a query on ``repositories``: whether a tag pushed to the repository queues
    a pruning run (a tag limit or an enabled policy, and tags that are not immutable)."""
    r, p = t.repositories, t.pruning_policies
    enabled_policy = exists().where(and_(p.c.repository_id == r.c.id, p.c.enabled.is_(True)))
    return and_(r.c.immutable_tags == false(), or_(r.c.tag_limit > 0, enabled_policy)).label(
        "prunes"
    )


async def repositories_to_prune(db: Database) -> list[int]:
    """Every repository a pruning run would change something in: tags that are not immutable
    and a tag limit or an enabled policy (what a ``tagprune`` run without a repository goes
    through: DTR's periodic evaluation, as an administrator's cron)."""
    r = t.repositories
    async with db.read() as conn:
        rows = await conn.execute(select(r.c.id).where(prunes_on_push()).order_by(r.c.id))
        return [int(row.id) for row in rows]


async def schedule(conn: Connection, repository_id: int) -> str:
    """Inside a write transaction (the push's, a policy's creation): queue one ``tagprune``
    run of the repository (it exists exactly when the transaction commits); its job's id."""
    return await jobs.enqueue(
        conn, PRUNE_ACTION, {"repositoryID": repository_id}, max_attempts=PRUNE_ATTEMPTS
    )
