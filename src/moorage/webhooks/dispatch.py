"""The events outbox turned into deliveries.

Events are written in the transaction of their change (``events.store.record``). The
``Dispatcher`` that every serving process runs reads the events after a cursor kept in SQL and,
in one write transaction, creates one delivery, and the one ``webhook`` job that makes its
attempts, per matching active webhook, and moves the cursor: an event is turned into deliveries
exactly once, whichever replica does it, and a crash before that transaction commits only means
a later pass does it. Nothing else rides on it: tag pruning is queued by the push itself
(``registry.pruning``), so a registry without webhooks pays nothing here.

Event ids come from a sequence; on PostgreSQL a transaction may commit after a later id is
already visible. The dispatcher stops at such a gap until the gap is ``GAP_WAIT`` seconds old
(a rolled-back id never appears), so a late commit is not skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from moorage.background import BackgroundLoop
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.events import store as events
from moorage.queue import jobs
from moorage.webhooks.facts import facts
from moorage.webhooks.hooks import CURSOR, Webhook, ensure_cursor, row_webhook
from moorage.webhooks.payloads import key_matches, payload, type_matches

log = logging.getLogger("moorage.webhooks")

ACTION = "webhook"
DELIVERY_ATTEMPTS = 6  # 2 + 4 + 8 + 16 + 32 seconds of backoff between them
GAP_WAIT = 10.0
BATCH = 500


async def dispatch_once(db: Database) -> int:
    """Turn the events after the cursor into deliveries; returns how many events it handled."""
    e = t.events
    async with db.read() as conn:  # the common case, nothing new, costs no write
        last = (
            await conn.execute(
                select(t.event_cursors.c.last_id).where(t.event_cursors.c.name == CURSOR)
            )
        ).scalar()
        if last is not None:
            newer = (await conn.execute(select(e.c.id).where(e.c.id > last).limit(1))).first()
            if newer is None:
                return 0
    async with db.write() as conn:
        await ensure_cursor(conn)
        last = int(
            (
                await conn.execute(
                    select(t.event_cursors.c.last_id)
                    .where(t.event_cursors.c.name == CURSOR)
                    .with_for_update()
                )
            ).scalar_one()
        )
        rows = list(
            await conn.execute(select(e).where(e.c.id > last).order_by(e.c.id).limit(BATCH))
        )
        if not rows:
            return 0
        now = utcnow()
        handled: list[events.Event] = []
        expected = last + 1
        for row in rows:
            if int(row.id) != expected and now - as_utc(row.published_at) < dt.timedelta(
                seconds=GAP_WAIT
            ):
                break  # an earlier id may still commit
            handled.append(events._event(row))
            expected = int(row.id) + 1
        if not handled:
            return 0
        hooks = [
            row_webhook(r)
            for r in await conn.execute(select(t.webhooks).where(t.webhooks.c.active.is_(True)))
        ]
        for event in handled:
            matching = [
                hook
                for hook in hooks
                if type_matches(hook.type, event.type) and key_matches(hook.key, event.repository)
            ]
            if matching:  # what the payload needs beyond the event, read once per event
                body = payload(event, await facts(conn, event))
                for hook in matching:
                    await enqueue(conn, hook, event.id, body, now)
        await conn.execute(
            update(t.event_cursors)
            .where(t.event_cursors.c.name == CURSOR)
            .values(last_id=handled[-1].id, updated_at=now)
        )
    return len(handled)


async def enqueue(
    conn: Connection, hook: Webhook, event_id: int | None, body: dict[str, Any], now: dt.datetime
) -> str:
    """One delivery and the one job that makes all its attempts."""
    delivery_id = str(uuid.uuid4())
    await conn.execute(
        t.webhook_deliveries.insert().values(
            id=delivery_id,
            webhook_id=hook.id,
            event_id=event_id,
            payload=json.dumps(body, separators=(",", ":")),
            status="waiting",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
    )
    await jobs.enqueue(conn, ACTION, {"delivery": delivery_id}, max_attempts=DELIVERY_ATTEMPTS)
    return delivery_id


class Dispatcher:
    """Runs ``dispatch_once`` every ``interval`` seconds in the background; ``poke`` (the job
    runner's) is called when a pass queued deliveries."""

    def __init__(
        self, db: Database, interval: float = 0.5, poke: Callable[[], None] | None = None
    ) -> None:
        self.db = db
        self.interval = interval
        self.poke = poke
        self._loop = BackgroundLoop(
            "webhook-dispatcher",
            self._pass,
            interval=interval,
            logger=log,
            failure="webhook dispatch failed",
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _pass(self) -> None:
        if await dispatch_once(self.db) and self.poke is not None:
            self.poke()
