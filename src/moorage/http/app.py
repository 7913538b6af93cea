"""Build the ASGI application for one serving process."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from moorage import __version__
from moorage.auth.credentials import Authenticator
from moorage.auth.jwt_tokens import TokenSigner
from moorage.auth.ldap.login import LdapService
from moorage.auth.secretbox import SecretBox
from moorage.config import Settings
from moorage.db import replica_heartbeats
from moorage.db.engine import Database
from moorage.events.store import PullBuffer
from moorage.http import ca, ping, token, ui
from moorage.http.accesslog import AccessLog
from moorage.http.api.app import api_v0, docker_v1, enzi_v0
from moorage.http.authn import RbacAuthorizer
from moorage.http.gate import RequestGate
from moorage.http.metrics import HttpMetrics, RequestMetrics, metrics_routes, multiprocess_dir
from moorage.http.proxies import TrustedProxies
from moorage.http.services import Services, ServicesSlot
from moorage.http.v2 import routes as v2
from moorage.jobs import ldapsync
from moorage.jobs.runner import JobRunner
from moorage.registry.context import RegistryContext
from moorage.services.access import AccessPolicy
from moorage.storage.configured import make_storage
from moorage.webhooks.dispatch import Dispatcher


def create_app(settings: Settings) -> RequestMetrics:
    slot = ServicesSlot()
    # This app's request metrics (moorage.http.metrics): in its own registry, or in the
    # multiprocess files when `moorage serve` set PROMETHEUS_MULTIPROC_DIR.
    metrics = HttpMetrics(multiprocess=multiprocess_dir())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Everything started here is stopped in reverse order, whatever fails on the way in or
        # out: the loops (each waits for its pass in flight and runs its final step), then the
        # database, closed only once no task or thread of the app is still using it.
        async with contextlib.AsyncExitStack() as started:
            db = Database(settings.database_url)
            started.push_async_callback(db.close)
            metrics.watch_pool(db)
            started.callback(metrics.watch_pool, None)
            ctx = RegistryContext(db=db, storage=make_storage(settings), settings=settings)
            directory = LdapService(db, SecretBox.in_data_folder(settings.data))
            policy = AccessPolicy(ctx)
            authenticator = Authenticator(db, directory)
            signer = await TokenSigner.load_or_create(
                db, settings.token_issuer, box=SecretBox.in_data_folder(settings.data)
            )
            pulls = PullBuffer(
                db,
                flush_interval=settings.event_flush_interval,
                compact_interval=settings.event_compaction_interval,
            )
            runner = None
            if settings.job_workers > 0:
                runner = JobRunner(
                    ctx,
                    capacity=settings.job_workers,
                    lease_seconds=settings.job_lease_seconds,
                    poll_seconds=settings.job_poll_seconds,
                )
            slot.fill(
                Services(
                    settings=settings,
                    registry=ctx,
                    policy=policy,
                    authenticator=authenticator,
                    signer=signer,
                    authorizer=RbacAuthorizer(db, policy, authenticator, signer, settings),
                    ldap=directory,
                    pulls=pulls,
                    job_runner=runner,
                )
            )
            started.callback(slot.empty)
            pulls.start()
            started.push_async_callback(pulls.stop)
            # The periodic LDAP sync is the ldapsync cron: in step with the settings (a
            # database written before crons followed them gets its cron here).
            await ldapsync.schedule(db)
            if runner is not None:
                runner.start()
                started.push_async_callback(runner.stop)
            dispatcher = Dispatcher(
                db, interval=settings.job_poll_seconds, poke=runner.poke if runner else None
            )
            dispatcher.start()
            started.push_async_callback(dispatcher.stop)
            heartbeat = replica_heartbeats.Heartbeat(
                db,
                replica_heartbeats.own_replica_id(settings),
                kind="serve",
                host=socket.gethostname(),
                address=settings.listen,
                version=__version__,
                interval=settings.heartbeat_seconds,
            )
            heartbeat.start()
            started.push_async_callback(heartbeat.stop)
            yield

    app = Starlette(
        routes=[
            Route("/_ping", ping.ping, methods=["GET", "HEAD"]),
            Route("/_notary_server/health", ping.notary_health, methods=["GET"]),
            *metrics_routes(metrics, settings),
            *ca.routes(settings),
            *token.routes(),
            *v2.routes(),
        ],
        lifespan=lifespan,
    )
    app.router.routes.extend(
        [
            Mount("/api/v0", api_v0()),
            Mount("/enzi/v0", enzi_v0()),
            Mount("/v1", docker_v1()),
        ]
    )
    # The web UI last: /v2, /auth, /api/v0, /enzi/v0 and /_ping keep priority.
    # Plain routes, not a catch-all mount, so a wrong method elsewhere still gets its 405.
    app.router.routes.extend(ui.routes())
    # Forwarded headers count only from trusted proxies (moorage.http.proxies); the access log
    # outside it records both the client and the proxy that spoke for it.
    # Body limits, the caller before an API body, read-only mode: moorage.http.gate.
    gated = RequestGate(app, slot, settings)
    # Outermost: every request counted, its time including the layers below.
    return RequestMetrics(AccessLog(TrustedProxies(gated, settings.trusted_proxies)), metrics)
