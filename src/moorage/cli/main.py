"""``moorage`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from moorage import __version__, logs
from moorage.auth import accounts
from moorage.auth.jwt_tokens import TokenSigner
from moorage.config import Settings, load_settings
from moorage.db.engine import Database
from moorage.db.migrate import upgrade
from moorage.errors import ConfigError
from moorage.http.server import SETTINGS_ENV

log = logging.getLogger("moorage.cli")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML config file")
    parser.add_argument("--data", type=Path, help="data folder (default ./var; MOORAGE_DATA)")
    parser.add_argument(
        "--database", help="database URL, e.g. postgresql://user:pw@host/db (MOORAGE_DATABASE)"
    )


def _settings(args: argparse.Namespace, **extra: object) -> Settings:
    return load_settings(args.config, data=args.data, database=args.database, **extra)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(
        args,
        listen=args.listen,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        workers=args.workers,
        server=args.server,
    )
    logs.configure(settings.log_level, settings.log_format)
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConfigError("TLS needs both a certificate and a key")
    settings.data.mkdir(parents=True, exist_ok=True)
    if settings.migrate_on_start:
        upgrade(settings.database_url)
    _bootstrap(settings)
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    log.info(
        "starting",
        extra={
            "listen": settings.listen,
            "data": str(settings.data.resolve()),
            "workers": settings.workers,
            "server": settings.server,
            "tls": settings.tls_cert is not None,
            "version": __version__,
        },
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the small serving supervisor (same PID); see moorage.http.server.
    os.execv(sys.executable, [sys.executable, "-m", "moorage.http.server"])


def _bootstrap(settings: Settings) -> None:
    """Before any worker starts: the token signing key, and the first administrator
    (a generated password is printed once, never logged)."""

    async def run() -> str | None:
        db = Database(settings.database_url)
        try:
            await TokenSigner.load_or_create(db, settings.token_issuer)
            password = (
                settings.admin_password.get_secret_value() if settings.admin_password else None
            )
            return await accounts.bootstrap_admin(db, settings.admin_name, password)
        finally:
            await db.close()

    generated = asyncio.run(run())
    if generated:
        print(
            f"\nFirst administrator created: user {settings.admin_name!r}, password {generated}\n"
            "It is shown this once; change it with the API or set MOORAGE_ADMIN_PASSWORD.\n",
            file=sys.stderr,
            flush=True,
        )


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    logs.configure(settings.log_level, settings.log_format)
    settings.data.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    log.info("database migrated", extra={"database": settings.database_url.split("@")[-1]})
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run only background jobs (no HTTP), until SIGTERM or SIGINT."""
    import signal

    from moorage.http.app import make_storage
    from moorage.jobs.runner import JobRunner
    from moorage.registry.context import RegistryContext

    settings = _settings(args)
    if args.capacity is not None:
        settings = settings.model_copy(update={"job_workers": args.capacity})
    logs.configure(settings.log_level, settings.log_format)
    settings.data.mkdir(parents=True, exist_ok=True)
    if settings.migrate_on_start:
        upgrade(settings.database_url)

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
        runner.start()
        log.info("job worker started", extra={"worker": runner.worker})
        try:
            await stop.wait()
        finally:
            await runner.stop()
            await db.close()

    asyncio.run(run())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moorage", description="Moorage container registry")
    parser.add_argument("--version", action="version", version=f"moorage {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the registry")
    _common(serve)
    serve.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:5000; MOORAGE_LISTEN)")
    serve.add_argument("--tls-cert", type=Path, help="TLS certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, help="TLS private key (PEM)")
    serve.add_argument("--workers", type=int, help="worker processes (MOORAGE_WORKERS)")
    serve.add_argument(
        "--server", choices=["granian", "uvicorn"], help="ASGI server (MOORAGE_SERVER)"
    )
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    _common(migrate)
    migrate.set_defaults(func=cmd_migrate)

    worker = sub.add_parser("worker", help="run only background jobs (no HTTP)")
    _common(worker)
    worker.add_argument("--capacity", type=int, help="jobs run at once (MOORAGE_JOB_WORKERS)")
    worker.set_defaults(func=cmd_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"moorage: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
