"""The webhooks themselves: who may own one, where it may point, and its rows.

A hook belongs to its scope: a repository hook (``key`` ``ns/repo``) to its repository, a
namespace hook (``ns``) to the namespace's account, both deleted with them; a global hook
(``""``) to the registry. Who may manage hooks is DTR's rule (``manage_refusal``): system
administrators any; administrators of a repository its hooks; administrators of a namespace (the
user of a personal namespace, the owners of an organization, teams granted ``admin`` on it) its
namespace hooks; global hooks only system administrators. A hook is delivered only while its
creator still may manage it; otherwise delivery stops and the hook is marked inactive with the
reason. Endpoints are checked by ``moorage.remote``'s guard against
the site setting ``webhookAllowedNetworks`` when the hook is made or changed and at every
delivery.

The HMAC secret is sealed with the replica's ``SecretBox`` and never returned nor logged.
"""

from __future__ import annotations

import datetime as dt
import ssl
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update

from moorage.auth import accounts, grants
from moorage.auth.levels import Level, Principal, RepositoryFacts
from moorage.auth.secretbox import SecretBox
from moorage.db import site_settings
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.errors import InvalidInput, NoSuchAccount, NotFound
from moorage.registry import repositories
from moorage.remote import outbound
from moorage.remote.addresses import parse_networks
from moorage.webhooks.payloads import GLOBAL_TYPES, TYPE_ORDER, TYPES

CURSOR = "webhooks"
SETTING = "webhookAllowedNetworks"


class NoSuchWebhook(NotFound):
    code, default_message = "NO_SUCH_WEBHOOK", "no such webhook"


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
    created_by_id: int | None
    created_at: dt.datetime
    inactive_reason: str | None = None
    skip_tls_verification: bool = False
    last_successful_at: dt.datetime | None = None


def row_webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        type=row.type,
        key=row.key,
        endpoint=row.endpoint,
        tls_cert=row.tls_cert,
        secret_sealed=row.secret_sealed,
        active=bool(row.active),
        created_by=row.created_by,
        created_by_id=row.created_by_id,
        created_at=as_utc(row.created_at),
        inactive_reason=row.inactive_reason,
        skip_tls_verification=bool(row.skip_tls_verification),
        last_successful_at=(
            None if row.last_successful_at is None else as_utc(row.last_successful_at)
        ),
    )


# ---- who may manage hooks, and where they may point --------------------------------------------


async def manage_refusal(db: Database, principal: Principal, key: str) -> str | None:
    """Why ``principal`` may not manage webhooks on ``key`` (None: they may)."""
    if principal.is_admin:
        return None
    if principal.is_anonymous:
        return "sign in first"
    if not key:
        return "only system administrators may manage global webhooks"
    if "/" not in key:
        async with db.read() as conn:
            level = await grants.namespace_level(conn, principal, key)
        if level < Level.ADMIN:
            return "only administrators of the namespace may manage its webhooks"
        return None
    async with db.read() as conn:
        repo = await repositories.find(conn, key)
    facts = RepositoryFacts(
        key,
        repositories.namespace_of(key),
        repo.id if repo else None,
        repo.visibility if repo else "private",
    )
    if await grants.level_on(db, principal, facts) < Level.ADMIN:
        return "only repository administrators may manage this repository's webhooks"
    return None


async def creator_refusal(db: Database, hook: Webhook) -> str | None:
    """Why ``hook`` may no longer be delivered: its creator's access to its scope is gone."""
    account = None
    if hook.created_by_id is not None:
        async with db.read() as conn:
            account = await accounts.by_id(conn, hook.created_by_id)
    if account is None:
        return f"the webhook's creator {hook.created_by or ''!r} no longer exists"
    if not account.is_active:
        return f"the webhook's creator {account.name!r} is deactivated"
    principal = Principal(account.id, account.name, is_admin=account.is_admin, via="webhook")
    why = await manage_refusal(db, principal, hook.key)
    if why is None:
        return None
    return f"the webhook's creator {account.name!r} no longer has the access it needs ({why})"


async def guard(db: Database) -> outbound.Guard:
    """The address guard with the networks the site settings allow."""
    return guard_of(await site_settings.load(db))


def guard_of(site: site_settings.SiteSettings) -> outbound.Guard:
    """The address guard with the networks ``site`` allows."""
    return outbound.Guard(allowed=parse_networks(site.webhook_allowed_networks), setting=SETTING)


def validate_type(event_type: str) -> None:
    if event_type not in TYPES:
        raise InvalidInput(
            f"unknown webhook type {event_type!r}", detail={"types": list(TYPE_ORDER)}
        )


def validate_cert(tls_cert: str | None) -> None:
    if tls_cert:
        try:
            outbound.tls_context(tls_cert)
        except (ssl.SSLError, ValueError) as exc:
            raise InvalidInput("tlsCert is not a PEM certificate") from exc


async def check_endpoint(db: Database, endpoint: str) -> outbound.Target:
    return await outbound.check(endpoint, await guard(db))


# ---- rows --------------------------------------------------------------------------------------


async def ensure_cursor(conn: Connection) -> None:
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


async def _scope_ids(conn: Connection, key: str) -> tuple[int | None, int | None]:
    """(repository id, namespace account id) of ``key``; a namespace must exist."""
    if not key:
        return None, None
    if "/" in key:
        repo = await repositories.find(conn, key)
        return (repo.id if repo else None), None
    account = await accounts.find(conn, key)
    if account is None:
        raise NoSuchAccount(f"no namespace named {key!r}", detail={"key": key})
    return None, account.id


async def create(
    db: Database,
    box: SecretBox,
    *,
    event_type: str,
    key: str,
    endpoint: str,
    tls_cert: str | None,
    secret: str | None,
    creator: Principal,
    skip_tls_verification: bool = False,
) -> Webhook:
    validate_type(event_type)
    if event_type in GLOBAL_TYPES and key:
        raise InvalidInput(f"{event_type} is a global event: its webhook takes no key")
    validate_cert(tls_cert)
    await check_endpoint(db, endpoint)
    webhook_id = str(uuid.uuid4())
    async with db.write() as conn:
        # Deliveries start with the events after the first webhook exists.
        await ensure_cursor(conn)
        repository_id, namespace_id = await _scope_ids(conn, key)
        await conn.execute(
            t.webhooks.insert().values(
                id=webhook_id,
                type=event_type,
                key=key,
                endpoint=endpoint,
                tls_cert=tls_cert or None,
                secret_sealed=box.seal(secret) if secret else None,
                active=True,
                skip_tls_verification=skip_tls_verification,
                created_by=creator.name,
                created_by_id=creator.account_id,
                repository_id=repository_id,
                namespace_id=namespace_id,
                created_at=utcnow(),
            )
        )
    return await get(db, webhook_id)


async def namespace_exists(db: Database, namespace: str) -> bool:
    async with db.read() as conn:
        return await accounts.find(conn, namespace) is not None


async def get(db: Database, webhook_id: str) -> Webhook:
    async with db.read() as conn:
        row = (await conn.execute(select(t.webhooks).where(t.webhooks.c.id == webhook_id))).first()
    if row is None:
        raise NoSuchWebhook(detail={"id": webhook_id})
    return row_webhook(row)


async def listing(
    db: Database,
    *,
    webhook_type: str | None = None,
    key: str | None = None,
    author_id: int | None = None,
) -> list[Webhook]:
    """Hooks, oldest first: of one type, on one ``key`` (a namespace's own hooks, not its
    repositories'), made by one account, as asked."""
    w = t.webhooks
    query = select(w).order_by(w.c.created_at, w.c.id)
    if webhook_type is not None:
        query = query.where(w.c.type == webhook_type)
    if key is not None:
        query = query.where(w.c.key == key)
    if author_id is not None:
        query = query.where(w.c.created_by_id == author_id)
    async with db.read() as conn:
        return [row_webhook(r) for r in await conn.execute(query)]


async def modify(
    db: Database,
    webhook_id: str,
    *,
    endpoint: str | None = None,
    active: bool | None = None,
    tls_cert: str | None = None,
    skip_tls_verification: bool | None = None,
) -> Webhook:
    """Change what is given (``tls_cert`` ``""`` removes the certificate)."""
    current = await get(db, webhook_id)
    values: dict[str, Any] = {}
    if endpoint is not None:
        await check_endpoint(db, endpoint)
        values["endpoint"] = endpoint
    if tls_cert is not None:
        validate_cert(tls_cert)
        values["tls_cert"] = tls_cert or None
    if skip_tls_verification is not None:
        values["skip_tls_verification"] = skip_tls_verification
    if active is True and not current.active:
        why = await creator_refusal(db, current)
        if why is not None:
            raise InvalidInput(
                f"this webhook cannot be activated again: {why}; create a new one",
                detail={"id": webhook_id},
            )
        values["inactive_reason"] = None
    if active is not None:
        values["active"] = active
    if values:
        async with db.write() as conn:
            await conn.execute(
                update(t.webhooks).where(t.webhooks.c.id == webhook_id).values(**values)
            )
    return await get(db, webhook_id)


async def succeeded(db: Database, webhook_id: str, at: dt.datetime) -> None:
    """DTR's ``lastSuccessfulAt``: a delivery was accepted at ``at``."""
    async with db.write() as conn:
        await conn.execute(
            update(t.webhooks).where(t.webhooks.c.id == webhook_id).values(last_successful_at=at)
        )


async def deactivate(db: Database, webhook_id: str, reason: str) -> None:
    async with db.write() as conn:
        await conn.execute(
            update(t.webhooks)
            .where(t.webhooks.c.id == webhook_id)
            .values(active=False, inactive_reason=reason[:2000])
        )


async def remove(db: Database, webhook_id: str) -> None:
    async with db.write() as conn:
        done = await conn.execute(delete(t.webhooks).where(t.webhooks.c.id == webhook_id))
    if not done.rowcount:
        raise NoSuchWebhook(detail={"id": webhook_id})
