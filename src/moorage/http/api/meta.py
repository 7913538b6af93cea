"""``/api/v0/meta/{features,alerts,cluster_status}`` and the per-user settings
(``/api/v0/accounts/{username}/settings``, ``/api/v0/accounts/language``), as DTR 2.7 has them.

Who may ask (DTR's Swagger): features and the language, any signed-in user; alerts and the
cluster status, system administrators; a user's settings, the user or a system administrator
(anyone else: 403 before the name is looked up, so it says nothing of who exists)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from sqlalchemy import select, text

from moorage.auth import accounts
from moorage.db import job_tables as jt
from moorage.db import replica_heartbeats, site_settings
from moorage.db.engine import Database, utcnow
from moorage.errors import Denied, NoSuchAccount, NoSuchUser
from moorage.http.api.common import Admin, AppServices, Db, SignedIn
from moorage.http.api.models.meta import Alert, ClusterStatus, ComponentHealth, Features, Language
from moorage.http.api.models.settings import ReplicaFacts, UserSettings, UserSettingsForm
from moorage.http.api.models.wire import rfc3339
from moorage.scanning.vulndb import status as vulndb_status

router = APIRouter(tags=["meta"])

LANGUAGE = "en"  # the web UI's one language
ONLINE_GC = "onlinegc"


async def _db_version(db: Database) -> int:
    """The schema's migration number (Alembic's revision ``0019`` → 19; 0 when unknown)."""
    async with db.read() as conn:
        revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    return int(revision) if isinstance(revision, str) and revision.isdigit() else 0


@router.get("/meta/features", response_model=Features)
async def get_features(db: Db, principal: SignedIn) -> Features:
    """What this registry can do (any signed-in user)."""
    site = await site_settings.load(db)
    return Features(
        scanning_enabled=site.scanning_enabled,
        scanning_licensed=True,
        promotion_licensed=False,  # no promotion policies yet (api/not_yet.py)
        mirroring_licensed=False,  # no mirroring yet (api/not_yet.py)
        metadata_store_opted_in=False,  # DTR's usage-metadata opt-in: nothing is sent here
        online_gc_enabled=True,
        db_version=await _db_version(db),
        ucp_host="",  # no UCP: Moorage signs users in itself
    )


@router.get("/meta/alerts", response_model=list[Alert])
async def get_alerts(db: Db, principal: Admin) -> list[Alert]:
    """What an administrator should know now (system administrators)."""
    site = await site_settings.load(db)
    found: list[Alert] = []
    if site.read_only_registry:
        found.append(
            Alert(
                id="read-only-registry",
                class_="warning",
                message="The registry is read-only: pushes and deletions are refused until an "
                "administrator turns readOnlyRegistry off.",
                url="/admin/settings",
            )
        )
    if site.scanning_enabled and (await vulndb_status.read(db)).generation == 0:
        found.append(
            Alert(
                id="no-vulnerability-database",
                class_="warning",
                message="Scanning is on but no vulnerability database has been imported: "
                "scans find no vulnerabilities until one is.",
                url="/scanning/database",
            )
        )
    return found


async def _component(check: Any) -> ComponentHealth:
    try:
        await check()
    except Exception as exc:  # any failure is the answer: the component is unhealthy
        return ComponentHealth(healthy=False, error=f"{type(exc).__name__}: {exc}"[:500])
    return ComponentHealth(healthy=True)


@router.get("/meta/cluster_status", response_model=ClusterStatus)
async def get_cluster_status(services: AppServices, principal: Admin) -> ClusterStatus:
    """This replica, every other registered one (down when its heartbeat is stale), the shared
    database and the shared storage (system administrators)."""
    db, storage = services.db, services.registry.storage
    database = await _component(db.check_health)
    store = await _component(storage.check_health)
    replica = ReplicaFacts.of(services.settings).replica_id
    problems = [
        f"{name}: {c.error}"
        for name, c in (("database", database), ("storage", store))
        if not c.healthy
    ]
    read_only = False
    holder = ""
    now = utcnow()
    health = {replica: "; ".join(problems) or "OK"}
    seen = {replica: rfc3339(now)}
    if database.healthy:
        read_only = (await site_settings.load(db)).read_only_registry
        async with db.read() as conn:
            running = select(jt.jobs.c.worker).where(
                jt.jobs.c.action == ONLINE_GC, jt.jobs.c.status == "running"
            )
            holder = (await conn.execute(running.limit(1))).scalar() or ""
        # Every replica that registered in the shared database (db/replica_heartbeats.py).
        for other in await replica_heartbeats.list_all(db):
            if other.id == replica:
                continue  # this replica, answered above
            seen.setdefault(other.id, rfc3339(other.last_seen))
            health.setdefault(
                other.id,
                "OK"
                if other.healthy(now, services.settings.heartbeat_seconds)
                else "down: no heartbeat since last seen",
            )
    return ClusterStatus(
        rethink_system_tables={"database": database, "storage": store},
        replica_health=health,
        replica_timestamp=seen,
        replica_readonly={name: read_only for name in health},
        gc_lock_holder=holder,
    )


@router.get("/accounts/language", response_model=Language)
async def get_language(principal: SignedIn) -> Language:
    """The web UI's language (any signed-in user)."""
    return Language(language=LANGUAGE)


async def _user_id(db: Database, principal: Any, username: str) -> int:
    if principal.name != username and not principal.is_admin:
        raise Denied("only the user or a system administrator may see a user's settings")
    try:
        async with db.read() as conn:
            user = await accounts.require_user(conn, username)
    except NoSuchAccount as exc:  # DTR's code here: NO_SUCH_USER (an organization is none)
        raise NoSuchUser(exc.message, detail=exc.detail) from exc
    return user.id


@router.get("/accounts/{username}/settings", response_model=UserSettings)
async def get_user_settings(db: Db, principal: SignedIn, username: str) -> UserSettings:
    """The user's settings (the user or a system administrator)."""
    account_id = await _user_id(db, principal, username)
    return UserSettings(content_cache_uuid=await site_settings.user_content_cache(db, account_id))


@router.patch("/accounts/{username}/settings", response_model=UserSettings)
async def update_user_settings(
    db: Db,
    principal: SignedIn,
    username: str,
    form: Annotated[UserSettingsForm, Body()],
) -> UserSettings:
    """Change the user's settings (the user or a system administrator); answers the result."""
    account_id = await _user_id(db, principal, username)
    if "contentCacheUUID" in form.model_fields_set:
        value = site_settings.content_cache_uuid(form.contentCacheUUID)
        await site_settings.set_user_content_cache(db, account_id, value)
    return UserSettings(content_cache_uuid=await site_settings.user_content_cache(db, account_id))
