"""One delivery's attempts, the test POST and the delivery history.

Each attempt checks again, before anything is sent, that the hook is active, that its creator
may still manage hooks on its scope (else the hook is made inactive with the reason and the
delivery is ``skipped``) and that the endpoint passes the address guard now (DNS may have
changed since the hook was made); the POST then goes to the very addresses that were checked.
Before the first attempt the payload is completed (``payloads.complete``: ``imageName`` with the
registry's host, the image's ``os`` and ``architecture``) and stored, so every attempt sends the
same bytes. A delivered attempt sets the hook's ``lastSuccessfulAt``.

TLS: an https endpoint's certificate is verified against the system's CAs, or against the
hook's ``tlsCert`` (a PEM bundle of CAs to trust) when it has one, unless the hook has DTR's
``skipTLSVerification``. Requests go through the site's ``httpProxy``/``httpsProxy`` unless
``noProxy`` names the endpoint (``remote.outbound``: the guard checks the endpoint itself).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from moorage.auth.secretbox import SecretBox
from moorage.db import site_settings
from moorage.db import tables as t
from moorage.db.engine import Database, as_utc, utcnow
from moorage.errors import InvalidInput
from moorage.registry.context import RegistryContext
from moorage.remote import outbound
from moorage.webhooks import hooks
from moorage.webhooks.facts import platform
from moorage.webhooks.payloads import complete, headers, needs_image, registry_host, sample_payload

log = logging.getLogger("moorage.webhooks")

TIMEOUT = 10.0
MAX_RESPONSE = 64 * 1024  # bytes of an answer read (and dropped); the rest is not read
MAX_ERROR = 2000


class Result(enum.Enum):
    DELIVERED = "delivered"
    FAILED = "failed"  # this attempt; another may follow
    SKIPPED = "skipped"  # the hook may no longer be delivered; no further attempt
    GONE = "gone"  # the delivery or its hook was deleted, or it was delivered already


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result
    code: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SampleOutcome:
    """What the test POST got back (``error`` empty when delivered)."""

    response_code: int | None
    error: str
    delivered: bool


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    status: str
    response_code: int | None
    error: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of one event (or test) to one hook, with its attempts."""

    id: str
    webhook_id: str
    event_id: str
    status: str
    attempts: int
    response_code: int | None
    error: str
    created_at: dt.datetime
    updated_at: dt.datetime
    payload: dict[str, Any]
    history: list[Attempt]


async def _record(
    db: Database,
    delivery_id: str,
    attempt: int,
    status: str,
    outcome: Outcome,
) -> None:
    d = t.webhook_deliveries
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            t.webhook_attempts.insert().values(
                delivery_id=delivery_id,
                attempt=attempt,
                status=outcome.result.value,
                response_code=outcome.code,
                error=outcome.error,
                at=now,
            )
        )
        await conn.execute(
            update(d)
            .where(d.c.id == delivery_id)
            .values(
                status=status,
                attempts=d.c.attempts + 1,
                response_code=outcome.code,
                error=outcome.error,
                updated_at=now,
            )
        )


async def _completed(
    registry: RegistryContext, delivery_id: str, stored: str, site: site_settings.SiteSettings
) -> bytes:
    """The delivery's payload completed (and stored so) before its first attempt."""
    body = json.loads(stored)
    if not needs_image(body):
        return stored.encode()
    os, architecture = await platform(registry, str(body["contents"].get("digest", "")))
    host = registry_host(registry.settings.public_url, site.dtr_host)
    done = json.dumps(complete(body, host, os, architecture), separators=(",", ":"))
    if done != stored:
        d = t.webhook_deliveries
        async with registry.db.write() as conn:
            await conn.execute(update(d).where(d.c.id == delivery_id).values(payload=done))
    return done.encode()


async def attempt(
    registry: RegistryContext, box: SecretBox, delivery_id: str, number: int, last_attempt: bool
) -> Outcome:
    """Attempt ``number`` of one delivery; records it and returns what happened."""
    db = registry.db
    d = t.webhook_deliveries
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(d.c.status, d.c.payload, d.c.attempts.label("tried"), t.webhooks)
                .join(t.webhooks, t.webhooks.c.id == d.c.webhook_id)
                .where(d.c.id == delivery_id)
            )
        ).first()
    if row is None or row.status in ("delivered", "skipped"):
        return Outcome(Result.GONE)
    hook = hooks.row_webhook(row)
    why = "the webhook is inactive" if not hook.active else await hooks.creator_refusal(db, hook)
    if why is not None:
        if hook.active:
            await hooks.deactivate(db, hook.id, why)
            log.warning("webhook made inactive", extra={"webhook": hook.id, "reason": why})
        outcome = Outcome(Result.SKIPPED, error=why)
        await _record(db, delivery_id, number, "skipped", outcome)
        return outcome
    started = time.monotonic()
    site = await site_settings.load(db)  # one read for the host, the guard and the proxies
    body = (
        row.payload.encode()
        if row.tried
        else await _completed(registry, delivery_id, row.payload, site)
    )
    try:
        target = await outbound.check(hook.endpoint, hooks.guard_of(site))
    except InvalidInput as exc:
        answer = outbound.Answer(None, exc.message[:MAX_ERROR])
    else:
        secret = box.open(hook.secret_sealed) if hook.secret_sealed else None
        answer = await outbound.post(
            target,
            body,
            headers(secret, body),
            tls_cert=hook.tls_cert,
            seconds=TIMEOUT,
            max_response=MAX_RESPONSE,
            proxies=_proxies(site),
            verify_tls=not hook.skip_tls_verification,
        )
    if answer.error is None:
        outcome, status = Outcome(Result.DELIVERED, answer.code), "delivered"
        await hooks.succeeded(db, hook.id, utcnow())
    else:
        outcome = Outcome(Result.FAILED, answer.code, answer.error)
        status = "failed" if last_attempt else "waiting"
    await _record(db, delivery_id, number, status, outcome)
    log.info(
        "webhook delivery attempt",
        extra={
            "delivery": delivery_id,
            "attempt": number,
            "code": answer.code,
            "ok": answer.error is None,
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return outcome


async def send_test(
    db: Database,
    *,
    event_type: str,
    endpoint: str,
    tls_cert: str | None,
    secret: str | None,
    public_url: str | None = None,
    skip_tls_verification: bool = False,
) -> SampleOutcome:
    """POST DTR's sample payload of ``event_type`` now. A refused endpoint raises before
    anything is sent, with the same answer whatever is (or is not) listening there."""
    hooks.validate_type(event_type)
    hooks.validate_cert(tls_cert)
    site = await site_settings.load(db)
    target = await outbound.check(endpoint, hooks.guard_of(site))
    sample = sample_payload(event_type, utcnow(), registry_host(public_url, site.dtr_host))
    body = json.dumps(sample).encode()
    answer = await outbound.post(
        target,
        body,
        headers(secret, body),
        tls_cert=tls_cert,
        seconds=TIMEOUT,
        max_response=MAX_RESPONSE,
        proxies=_proxies(site),
        verify_tls=not skip_tls_verification,
    )
    return SampleOutcome(answer.code, answer.error or "", answer.error is None)


def _proxies(site: site_settings.SiteSettings) -> outbound.Proxies:
    return outbound.Proxies(site.http_proxy, site.https_proxy, site.no_proxy)


async def history(db: Database, webhook_id: str, limit: int = 100) -> list[Delivery]:
    """A hook's deliveries, newest first, each with its attempts."""
    await hooks.get(db, webhook_id)
    d = t.webhook_deliveries
    async with db.read() as conn:
        rows = list(
            await conn.execute(
                select(d)
                .where(d.c.webhook_id == webhook_id)
                .order_by(d.c.created_at.desc(), d.c.id)
                .limit(limit)
            )
        )
    return [await _delivery(db, row) for row in rows]


async def attempts(db: Database, delivery_id: str) -> list[Attempt]:
    a = t.webhook_attempts
    async with db.read() as conn:
        tries = await conn.execute(
            select(a).where(a.c.delivery_id == delivery_id).order_by(a.c.attempt, a.c.id)
        )
        return [
            Attempt(int(x.attempt), x.status, x.response_code, x.error or "", as_utc(x.at))
            for x in tries
        ]


async def _delivery(db: Database, row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id="" if row.event_id is None else str(row.event_id),
        status=row.status,
        attempts=int(row.attempts),
        response_code=row.response_code,
        error=row.error or "",
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        payload=json.loads(row.payload),
        history=await attempts(db, row.id),
    )


async def find(db: Database, delivery_id: str) -> Delivery | None:
    """One delivery with its attempts (the Jobs page's detail of a ``webhook`` job)."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(t.webhook_deliveries).where(t.webhook_deliveries.c.id == delivery_id)
            )
        ).first()
    return None if row is None else await _delivery(db, row)
