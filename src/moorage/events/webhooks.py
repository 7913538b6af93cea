"""Webhooks (DTR's ``/api/v0/webhooks``), delivered from the events outbox.

Events are written in the transaction of their change (``events.store.record``). The
``Dispatcher`` that every serving process runs reads the events after a cursor kept in SQL and,
in one write transaction, creates one delivery (and one ``webhook`` job) per matching webhook
and moves the cursor: an event is turned into deliveries exactly once, whichever replica does
it, and a crash before that transaction commits only means a later pass does it. The
``webhook`` job POSTs the payload with httpx; a failed attempt errors the job and the job runner
retries it with backoff. Every attempt is kept (``webhook_attempts``) for the delivery history.

Event ids come from a sequence; on PostgreSQL a transaction may commit after a later id is
already visible. The dispatcher stops at such a gap until the gap is ``GAP_WAIT`` seconds old
(a rolled-back id never appears), so a late commit is not skipped.

The HMAC secret is sealed with the replica's ``SecretBox`` and never returned nor logged; when
set, each POST carries ``X-Moorage-Signature-256: sha256=<hex HMAC-SHA256 of the body>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import ssl
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import and_, delete, func, select, update

from moorage.auth.secretbox import SecretBox
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.errors import InvalidInput, NotFound
from moorage.events import store as events
from moorage.jobs import store as jobs

log = logging.getLogger("moorage.webhooks")

REPO_EVENT = "REPO_EVENT"
TYPES = frozenset(
    {
        events.TAG_PUSH,
        events.TAG_PULL,
        events.TAG_DELETE,
        events.MANIFEST_PUSH,
        events.MANIFEST_PULL,
        events.MANIFEST_DELETE,
        REPO_EVENT,
    }
)
REPO_EVENT_TYPES = frozenset({events.CREATE_REPO, events.REPO_DELETE})
SIGNATURE_HEADER = "X-Moorage-Signature-256"
ACTION = "webhook"
PRUNE_ACTION = "tagprune"
CURSOR = "webhooks"
DELIVERY_ATTEMPTS = 6  # 2 + 4 + 8 + 16 + 32 seconds of backoff between them
TIMEOUT = 10.0
GAP_WAIT = 10.0
BATCH = 500
MAX_ERROR = 2000


class NoSuchWebhook(NotFound):
    code, default_message = "NO_SUCH_WEBHOOK", "no such webhook"


def _iso(value: dt.datetime) -> str:
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    type: str
    key: str
    endpoint: str
    tls_cert: str | None
    secret_sealed: str | None
    active: bool
    created_by: str | None
    created_at: dt.datetime

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "key": self.key,
            "endpoint": self.endpoint,
            "tlsCert": self.tls_cert or "",
            "authenticated": self.secret_sealed is not None,
            "inactive": not self.active,
            "createdBy": self.created_by or "",
            "createdAt": _iso(self.created_at),
        }


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        type=row.type,
        key=row.key,
        endpoint=row.endpoint,
        tls_cert=row.tls_cert,
        secret_sealed=row.secret_sealed,
        active=bool(row.active),
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
    )


def validate(event_type: str, endpoint: str) -> None:
    if event_type not in TYPES:
        raise InvalidInput(f"unknown webhook type {event_type!r}", detail={"types": sorted(TYPES)})
    try:
        url = httpx.URL(endpoint)
    except Exception as exc:
        raise InvalidInput(f"invalid endpoint {endpoint!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidInput("the endpoint must be an http:// or https:// URL")


def validate_cert(tls_cert: str | None) -> None:
    if tls_cert:
        try:
            ssl.create_default_context(cadata=tls_cert)
        except (ssl.SSLError, ValueError) as exc:
            raise InvalidInput("tlsCert is not a PEM certificate") from exc


async def _ensure_cursor(conn: Connection) -> None:
    found = (
        await conn.execute(select(t.event_cursors.c.name).where(t.event_cursors.c.name == CURSOR))
    ).first()
    if found is None:
        newest = (await conn.execute(select(func.max(t.events.c.id)))).scalar()
        await conn.execute(
            t.event_cursors.insert().values(
                name=CURSOR, last_id=int(newest or 0), updated_at=utcnow()
            )
        )


async def create(
    db: Database,
    box: SecretBox,
    *,
    event_type: str,
    key: str,
    endpoint: str,
    tls_cert: str | None,
    secret: str | None,
    actor: str | None,
) -> Webhook:
    validate(event_type, endpoint)
    validate_cert(tls_cert)
    webhook_id = str(uuid.uuid4())
    async with db.write() as conn:
        # Deliveries start with the events after the first webhook exists.
        await _ensure_cursor(conn)
        await conn.execute(
            t.webhooks.insert().values(
                id=webhook_id,
                type=event_type,
                key=key,
                endpoint=endpoint,
                tls_cert=tls_cert or None,
                secret_sealed=box.seal(secret) if secret else None,
                active=True,
                created_by=actor,
                created_at=utcnow(),
            )
        )
    return await get(db, webhook_id)


async def get(db: Database, webhook_id: str) -> Webhook:
    async with db.read() as conn:
        row = (await conn.execute(select(t.webhooks).where(t.webhooks.c.id == webhook_id))).first()
    if row is None:
        raise NoSuchWebhook(detail={"id": webhook_id})
    return _webhook(row)


async def listing(db: Database) -> list[Webhook]:
    async with db.read() as conn:
        rows = await conn.execute(select(t.webhooks).order_by(t.webhooks.c.created_at))
        return [_webhook(r) for r in rows]


async def modify(
    db: Database, webhook_id: str, *, endpoint: str | None, active: bool | None
) -> Webhook:
    current = await get(db, webhook_id)
    values: dict[str, Any] = {}
    if endpoint is not None:
        validate(current.type, endpoint)
        values["endpoint"] = endpoint
    if active is not None:
        values["active"] = active
    if values:
        async with db.write() as conn:
            await conn.execute(
                update(t.webhooks).where(t.webhooks.c.id == webhook_id).values(**values)
            )
    return await get(db, webhook_id)


async def remove(db: Database, webhook_id: str) -> None:
    async with db.write() as conn:
        done = await conn.execute(delete(t.webhooks).where(t.webhooks.c.id == webhook_id))
    if not done.rowcount:
        raise NoSuchWebhook(detail={"id": webhook_id})


async def deliveries(db: Database, webhook_id: str, limit: int = 100) -> list[dict[str, Any]]:
    await get(db, webhook_id)
    d, a = t.webhook_deliveries, t.webhook_attempts
    async with db.read() as conn:
        rows = list(
            await conn.execute(
                select(d)
                .where(d.c.webhook_id == webhook_id)
                .order_by(d.c.created_at.desc(), d.c.id)
                .limit(limit)
            )
        )
        out = []
        for row in rows:
            tries = await conn.execute(
                select(a).where(a.c.delivery_id == row.id).order_by(a.c.attempt, a.c.id)
            )
            out.append(
                {
                    "id": row.id,
                    "eventID": "" if row.event_id is None else str(row.event_id),
                    "status": row.status,
                    "attempts": int(row.attempts),
                    "responseCode": row.response_code,
                    "error": row.error or "",
                    "createdAt": _iso(row.created_at),
                    "updatedAt": _iso(row.updated_at),
                    "payload": json.loads(row.payload),
                    "history": [
                        {
                            "attempt": int(x.attempt),
                            "status": x.status,
                            "responseCode": x.response_code,
                            "error": x.error or "",
                            "at": _iso(x.at),
                        }
                        for x in tries
                    ],
                }
            )
    return out


# ---- matching and payloads ----------------------------------------------------------------


def type_matches(webhook_type: str, event_type: str) -> bool:
    if webhook_type == REPO_EVENT:
        return event_type in REPO_EVENT_TYPES
    return webhook_type == event_type


def key_matches(key: str, repository: str) -> bool:
    if not key:
        return True
    if "/" in key:
        return key == repository
    return repository.split("/", 1)[0] == key if "/" in repository else False


def payload(event: events.Event) -> dict[str, Any]:
    namespace, _, short = event.repository.partition("/")
    contents: dict[str, Any] = {
        "namespace": namespace,
        "repository": short,
        "eventID": str(event.id),
        "actor": event.actor if event.actor is not None else events.ANONYMOUS,
        "at": _iso(event.published_at),
        **event.details,
    }
    if event.object_type == events.TAG:
        contents["tag"] = event.object_id
        contents["imageName"] = f"{event.repository}:{event.object_id}"
    elif event.object_type == events.MANIFEST:
        contents["digest"] = event.object_id
        contents["imageName"] = f"{event.repository}@{event.object_id}"
    if event.type in REPO_EVENT_TYPES:
        contents["type"] = event.type
    kind = REPO_EVENT if event.type in REPO_EVENT_TYPES else event.type
    return {"type": kind, "createdAt": _iso(event.published_at), "contents": contents}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post(
    endpoint: str, body: bytes, *, secret: str | None, tls_cert: str | None
) -> tuple[int | None, str | None]:
    """One POST: (response code, error); error None means a 2xx answer."""
    headers = {"Content-Type": "application/json", "User-Agent": "moorage-webhooks"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    verify: ssl.SSLContext | bool = True
    try:
        if tls_cert:
            verify = ssl.create_default_context(cadata=tls_cert)
        async with httpx.AsyncClient(verify=verify, timeout=TIMEOUT) as client:
            response = await client.post(endpoint, content=body, headers=headers)
    except (httpx.HTTPError, ssl.SSLError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"the endpoint answered {response.status_code}"


async def send_test(
    box: SecretBox, *, event_type: str, endpoint: str, tls_cert: str | None, secret: str | None
) -> dict[str, Any]:
    validate(event_type, endpoint)
    validate_cert(tls_cert)
    body = {
        "type": event_type,
        "createdAt": _iso(utcnow()),
        "contents": {"test": True, "namespace": "test", "repository": "test"},
    }
    code, error = await post(endpoint, json.dumps(body).encode(), secret=secret, tls_cert=tls_cert)
    return {"responseCode": code, "error": error or "", "delivered": error is None}


# ---- the dispatcher --------------------------------------------------------------------------


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
        await _ensure_cursor(conn)
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
            _webhook(r)
            for r in await conn.execute(select(t.webhooks).where(t.webhooks.c.active.is_(True)))
        ]
        prune: set[int] = set()
        for event in handled:
            if event.type == events.TAG_PUSH and event.repository_id is not None:
                prune.add(event.repository_id)
            for hook in hooks:
                if type_matches(hook.type, event.type) and key_matches(hook.key, event.repository):
                    await _enqueue(conn, hook, event.id, payload(event), now)
        for repository_id in sorted(prune):
            if await _has_pruning(conn, repository_id):
                await jobs._insert(
                    conn, PRUNE_ACTION, {"repositoryID": repository_id}, max_attempts=3
                )
        await conn.execute(
            update(t.event_cursors)
            .where(t.event_cursors.c.name == CURSOR)
            .values(last_id=handled[-1].id, updated_at=now)
        )
    return len(handled)


async def _has_pruning(conn: Connection, repository_id: int) -> bool:
    limit = (
        await conn.execute(
            select(t.repositories.c.tag_limit).where(t.repositories.c.id == repository_id)
        )
    ).scalar()
    if limit:
        return True
    found = (
        await conn.execute(
            select(t.pruning_policies.c.id)
            .where(
                and_(
                    t.pruning_policies.c.repository_id == repository_id,
                    t.pruning_policies.c.enabled.is_(True),
                )
            )
            .limit(1)
        )
    ).first()
    return found is not None


async def _enqueue(
    conn: Connection, hook: Webhook, event_id: int | None, body: dict[str, Any], now: dt.datetime
) -> str:
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
    await jobs._insert(conn, ACTION, {"delivery": delivery_id}, max_attempts=DELIVERY_ATTEMPTS)
    return delivery_id


class Dispatcher:
    """Runs ``dispatch_once`` every ``interval`` seconds in the background."""

    def __init__(self, db: Database, interval: float = 0.5, poke: Any = None) -> None:
        self.db = db
        self.interval = interval
        self.poke = poke
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="moorage-webhook-dispatcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 10.0)

    async def _loop(self) -> None:
        while True:
            try:
                if await dispatch_once(self.db) and self.poke is not None:
                    self.poke()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook dispatch failed")
            await asyncio.sleep(self.interval)


# ---- the delivery job ------------------------------------------------------------------------


async def deliver(
    db: Database, box: SecretBox, delivery_id: str, attempt: int, last_attempt: bool
) -> str | None:
    """One attempt of one delivery; returns the error (None when delivered)."""
    d = t.webhook_deliveries
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(d, t.webhooks.c.endpoint, t.webhooks.c.tls_cert, t.webhooks.c.secret_sealed)
                .join(t.webhooks, t.webhooks.c.id == d.c.webhook_id)
                .where(d.c.id == delivery_id)
            )
        ).first()
    if row is None or row.status == "delivered":
        return None  # the webhook was deleted, or an earlier attempt got through
    secret = box.open(row.secret_sealed) if row.secret_sealed else None
    started = time.monotonic()
    code, error = await post(
        row.endpoint, row.payload.encode(), secret=secret, tls_cert=row.tls_cert
    )
    status = "delivered" if error is None else ("failed" if last_attempt else "waiting")
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            t.webhook_attempts.insert().values(
                delivery_id=delivery_id,
                attempt=attempt,
                status="delivered" if error is None else "failed",
                response_code=code,
                error=error,
                at=now,
            )
        )
        await conn.execute(
            update(d)
            .where(d.c.id == delivery_id)
            .values(
                status=status,
                attempts=d.c.attempts + 1,
                response_code=code,
                error=error,
                updated_at=now,
            )
        )
    log.info(
        "webhook delivery attempt",
        extra={
            "delivery": delivery_id,
            "attempt": attempt,
            "code": code,
            "ok": error is None,
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return error


async def webhook_job(ctx: Any) -> None:
    """The ``webhook`` action: one attempt; an error makes the runner retry with backoff."""
    delivery_id = str(ctx.parameters.get("delivery", ""))
    box = SecretBox.in_data_folder(ctx.registry.settings.data)
    attempt = int(ctx.job.attempt)
    error = await deliver(
        ctx.db, box, delivery_id, attempt, last_attempt=attempt >= ctx.job.max_attempts
    )
    await ctx.log(f"delivery {delivery_id} attempt {attempt}: {error or 'delivered'}")
    if error is not None:
        raise RuntimeError(error)


async def tagprune_job(ctx: Any) -> None:
    """The ``tagprune`` action: apply a repository's pruning policies and tag limit."""
    from moorage.registry import pruning

    repository_id = int(ctx.parameters.get("repositoryID", 0))
    pruned = await pruning.prune(ctx.db, repository_id)
    await ctx.log(
        f"pruned {len(pruned)} tags: {', '.join(pruned)}" if pruned else "nothing to prune"
    )
