"""``moorage serve``, ``migrate`` and ``worker``: ready the data folder and the database, then
serve (or run jobs)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import shutil
import sys
from pathlib import Path

from moorage import __version__
from moorage.auth import accounts
from moorage.auth.jwt_tokens import TokenSigner
from moorage.auth.secretbox import SecretBox, SecretUnreadable
from moorage.cli import tls_setup
from moorage.cli.options import ready_data_folder, settings_from, with_database
from moorage.config import Settings
from moorage.db.engine import Database
from moorage.db.migrate import upgrade
from moorage.errors import ConfigError
from moorage.http.server import SETTINGS_ENV, address_in_use

log = logging.getLogger("moorage.cli")
# Read by prometheus_client when it is first imported (each worker: moorage.http.metrics).
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def cmd_serve(args: argparse.Namespace) -> int:
    settings = settings_from(
        args,
        listen=args.listen,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        workers=args.workers,
        server=args.server,
        tls=args.tls,
        tls_san=args.tls_san,
        http_redirect_port=args.http_redirect_port,
    )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConfigError("TLS needs both a certificate and a key")
    # Before anything else: a second server on a busy port would share it (SO_REUSEPORT).
    problem = address_in_use(settings.host, settings.port)
    if problem is not None:
        raise ConfigError(problem)
    # A bad storage URL or missing credentials: one clear message here, not in every worker.
    from moorage.storage.configured import make_storage

    make_storage(settings)
    ready_data_folder(settings)
    if settings.migrate_on_start:
        upgrade(settings.database_url)
    bootstrap(settings)
    from moorage.cli.storage_cmd import adopt_stored_storage

    adopt_stored_storage(settings)  # the API's storage setting, when the configuration has none
    settings = tls_setup.prepare(settings)  # the own CA's certificate (tls: auto), the redirect
    if settings.http_redirect_port:
        problem = address_in_use(settings.host, settings.http_redirect_port)
        if problem is not None:
            raise ConfigError(f"{problem} (http_redirect_port: 0 turns the redirect off)")
    os.environ[METRICS_ENV] = str(fresh_metrics_dir(settings))
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    log.info(
        "starting",
        extra={
            "listen": settings.listen,
            "data": str(settings.data.resolve()),
            "workers": settings.workers,
            "server": settings.server,
            "tls": settings.tls if settings.tls_cert is not None else False,
            "version": __version__,
        },
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the small serving supervisor (same PID); see moorage.http.server.
    os.execv(sys.executable, [sys.executable, "-m", "moorage.http.server"])


def fresh_metrics_dir(settings: Settings) -> Path:
    """The serving processes' Prometheus files (moorage.http.metrics): one directory per listen
    address under ``<data>/metrics`` (two servers of one data folder on two ports count apart),
    private, emptied here before any worker starts. The workers inherit its name in
    ``PROMETHEUS_MULTIPROC_DIR``, set before any of them imports prometheus_client."""
    path = settings.data.resolve() / "metrics" / re.sub(r"[^A-Za-z0-9._-]", "_", settings.listen)
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.parent.chmod(0o700)
    path.mkdir(mode=0o700)
    path.chmod(0o700)
    return path


def bootstrap(settings: Settings) -> None:
    """Before any worker starts: the token signing key, and the first administrator
    (a generated password is printed once, never logged). Safe when replicas start together."""
    box = SecretBox.in_data_folder(settings.data)

    async def run(db: Database) -> str | None:
        try:
            await TokenSigner.load_or_create(db, settings.token_issuer, box=box)
        except SecretUnreadable as exc:
            raise ConfigError(
                f"the token signing key in the database was sealed with another secret key "
                f"than {box.path}: every replica needs the same secret key (set the same "
                "MOORAGE_SECRET_KEY on each, or copy secret.key from the first replica)"
            ) from exc
        password = settings.admin_password.get_secret_value() if settings.admin_password else None
        return await accounts.bootstrap_admin(db, settings.admin_name, password)

    generated = with_database(settings, run)
    if generated:
        print(
            f"\nFirst administrator created: user {settings.admin_name!r}, password {generated}\n"
            "It is shown this once. Change it in the web UI, with the API, or with "
            f"`moorage admin passwd {settings.admin_name}` on this machine. "
            "(MOORAGE_ADMIN_PASSWORD sets the password only when the first administrator "
            "is created; later starts ignore it.)\n",
            file=sys.stderr,
            flush=True,
        )


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    ready_data_folder(settings)
    upgrade(settings.database_url)
    log.info("database migrated", extra={"database": settings.database_url.split("@")[-1]})
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run only background jobs (no HTTP), until SIGTERM or SIGINT."""
    import signal
    import socket

    from moorage.db import replica_heartbeats
    from moorage.jobs.runner import JobRunner
    from moorage.registry.context import RegistryContext
    from moorage.storage.configured import make_storage

    settings = settings_from(args)
    if args.capacity is not None:
        settings = settings.model_copy(update={"job_workers": args.capacity})
    ready_data_folder(settings)
    if settings.migrate_on_start:
        upgrade(settings.database_url)
    from moorage.cli.storage_cmd import adopt_stored_storage

    adopt_stored_storage(settings)

    async def run() -> None:
        db = Database(settings.database_url)
        ctx = RegistryContext(db=db, storage=make_storage(settings), settings=settings)
        runner = JobRunner(
            ctx,
            capacity=max(1, settings.job_workers),
            lease_seconds=settings.job_lease_seconds,
            poll_seconds=settings.job_poll_seconds,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        host = socket.gethostname()
        heartbeat = replica_heartbeats.Heartbeat(
            db,
            replica_heartbeats.own_replica_id(settings, "worker"),
            kind="worker",
            host=host,
            address="",
            version=__version__,
            interval=settings.heartbeat_seconds,
        )
        runner.start()
        heartbeat.start()
        log.info("job worker started", extra={"worker": runner.worker})
        try:
            await stop.wait()
        finally:
            await heartbeat.stop()
            await runner.stop()
            await db.close()

    asyncio.run(run())
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from moorage.cli.options import add_common

    serve = sub.add_parser("serve", help="serve the registry")
    add_common(serve)
    serve.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:5000; MOORAGE_LISTEN)")
    serve.add_argument("--tls-cert", type=Path, help="TLS certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, help="TLS private key (PEM)")
    serve.add_argument(
        "--tls", choices=["manual", "auto"], help="auto: certificates from the registry's own CA"
    )
    serve.add_argument(
        "--tls-san", action="append", help="another name or address for the own certificate"
    )
    serve.add_argument(
        "--http-redirect-port", type=int, help="plain HTTP redirected to https (0: none)"
    )
    serve.add_argument("--workers", type=int, help="worker processes (MOORAGE_WORKERS)")
    serve.add_argument(
        "--server", choices=["granian", "uvicorn"], help="ASGI server (MOORAGE_SERVER)"
    )
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    add_common(migrate)
    migrate.set_defaults(func=cmd_migrate)

    worker = sub.add_parser("worker", help="run only background jobs (no HTTP)")
    add_common(worker)
    worker.add_argument("--capacity", type=int, help="jobs run at once (MOORAGE_JOB_WORKERS)")
    worker.set_defaults(func=cmd_worker)
