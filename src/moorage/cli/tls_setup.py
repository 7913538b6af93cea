"""What ``moorage serve`` does for TLS before its workers start, and the renewal check the serving
supervisor runs (``python -m moorage.cli.tls_setup``).

``tls: auto`` with no ``tls_cert``/``tls_key``: the registry's own CA (``moorage.auth.own_ca``,
made once per database) signs this replica's server certificate for its names and addresses
(the ``public_url`` host, ``tls_san``, the listen address, the machine's host names, localhost),
kept in ``<data>/tls/<replica id>/`` (``server.crt``, ``server.key``, ``ca.crt``; mode 0600).
It is made again at start and by the check when it is missing, not signed by the CA, not for
the same names, or has less than 30 days left. A supplied certificate always wins: the workers
are then told ``tls: manual`` (no ``/ca``). Files are written beside their target and renamed
over it, the key before the certificate.

Run as a module it reads the settings ``serve`` handed the supervisor and exits 10 when it
wrote a new certificate (the supervisor then restarts its workers gracefully), 0 when the
current one is good, 1 when it could not check.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509

from moorage import logs
from moorage.auth import own_ca
from moorage.auth.secretbox import SecretBox, SecretUnreadable
from moorage.cli.options import with_database
from moorage.config import Settings
from moorage.db.engine import Database
from moorage.db.replica_heartbeats import own_replica_id
from moorage.errors import ConfigError, MoorageError
from moorage.http.server import SETTINGS_ENV

log = logging.getLogger("moorage.cli")
RENEWED = 10
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def tls_folder(settings: Settings) -> Path:
    """This replica's certificate files (one folder per replica: a shared data folder holds
    each replica's own)."""
    return settings.data.resolve() / "tls" / own_replica_id(settings)


def host_names(settings: Settings) -> list[str]:
    """The names and addresses the operator gave (the public one first), then the listen
    address."""
    names: list[str] = []
    if settings.public_url:
        public = urlsplit(settings.public_url).hostname
        if public:
            names.append(public)
    names.extend(settings.tls_san)
    if settings.host not in _WILDCARD_HOSTS:
        names.append(settings.host)
    return names


def machine_names() -> list[str]:
    """The machine's host names (those that are valid DNS names: ``my_host`` is skipped, not
    an error) and the loopback names."""
    names: list[str] = []
    machine = socket.gethostname()
    for name in (machine, socket.getfqdn(machine)):
        try:
            own_ca.general_name(name)
        except ConfigError:
            log.warning("host name left out of the certificate", extra={"host": name})
            continue
        names.append(name)
    return [*names, "localhost", "127.0.0.1", "::1"]


def certificate_names(settings: Settings) -> list[x509.GeneralName]:
    """Every name of this replica's certificate, once; a bad name given is a ConfigError."""
    return own_ca.unique_names([*host_names(settings), *machine_names()])


def _read_certificate(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _write_private(path: Path, data: bytes) -> None:
    """``data`` in a new file (0600) beside ``path``, synced, then renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


async def ensure_server_certificate(
    db: Database, settings: Settings, *, now: dt.datetime | None = None
) -> tuple[Path, Path, bool]:
    """This replica's certificate and key files, made again when they need it (True)."""
    box = SecretBox.in_data_folder(settings.data)
    try:
        ca, created = await own_ca.load_or_create(db, box)
    except SecretUnreadable as exc:
        raise ConfigError(
            f"the registry's CA key in the database was sealed with another secret key than "
            f"{box.path}: every replica needs the same secret key"
        ) from exc
    if created:
        log.info("created the registry's own CA", extra={"subject": ca.certificate.subject})
    folder = tls_folder(settings)
    folder.parent.mkdir(mode=0o700, exist_ok=True)
    folder.mkdir(mode=0o700, exist_ok=True)
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    names = certificate_names(settings)
    current = _read_certificate(cert_path) if key_path.exists() else None
    reason = own_ca.renewal_reason(current, ca.certificate, names, now=now)
    ca_path = folder / "ca.crt"
    if not ca_path.exists() or ca_path.read_bytes() != ca.pem:
        _write_private(ca_path, ca.pem)
    if reason is None:
        return cert_path, key_path, False
    made = own_ca.make_server_certificate(ca, names, now=now)
    _write_private(key_path, made.key_pem)
    _write_private(cert_path, made.cert_pem)
    log.info(
        "server certificate made by the registry's CA",
        extra={
            "reason": reason,
            "file": str(cert_path),
            "names": [str(n.value) for n in names],
            "not_after": made.certificate.not_valid_after_utc.isoformat(),
        },
    )
    return cert_path, key_path, True


def redirect_port(settings: Settings, tls_on: bool) -> int:
    """The plain-HTTP port answered with redirects to https (0: none)."""
    port = settings.http_redirect_port
    if port is None:
        return 80 if tls_on and settings.port == 443 else 0
    if port and not tls_on:
        raise ConfigError("http_redirect_port redirects to https: serve TLS too (tls: auto)")
    if port and port == settings.port:
        raise ConfigError("http_redirect_port must differ from the listen port")
    return port


def prepare(settings: Settings) -> Settings:
    """The settings the serving processes get: the own certificate's files in ``tls_cert`` and
    ``tls_key`` (``tls: auto``), ``tls: manual`` when a certificate was supplied, and the
    redirect port decided."""
    if settings.tls == "auto" and settings.tls_cert is not None:
        log.info("tls: auto ignored: the supplied certificate is served", extra={})
        settings = settings.model_copy(update={"tls": "manual"})
    if settings.tls == "auto":

        async def run(db: Database) -> tuple[Path, Path, bool]:
            return await ensure_server_certificate(db, settings)

        cert, key, _ = with_database(settings, run)
        settings = settings.model_copy(update={"tls_cert": cert, "tls_key": key})
    port = redirect_port(settings, settings.tls_cert is not None)
    return settings.model_copy(update={"http_redirect_port": port})


def main() -> int:
    """The supervisor's periodic check: renew the certificate when it needs it."""
    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    logs.configure(settings.log_level, settings.log_format)
    if settings.tls != "auto":
        return 0

    async def run(db: Database) -> bool:
        return (await ensure_server_certificate(db, settings))[2]

    try:
        return RENEWED if with_database(settings, run) else 0
    except (MoorageError, OSError) as exc:
        log.error("server certificate check failed", extra={"error": str(exc)})
        return 1


if __name__ == "__main__":
    sys.exit(main())
