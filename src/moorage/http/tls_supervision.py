"""The serving supervisor's TLS duties (standard library only, like ``moorage.http.server``).

- ``RedirectServer``: plain HTTP on ``http_redirect_port`` answered with ``308 Permanent
  Redirect`` to the same host, path and query over https; nothing else is served there. The host
  is the ``public_url``'s when one is set (no client chooses it), else the request's ``Host``
  (checked: a name or an address, nothing else), with the TLS port unless it is 443. A small
  ``http.server`` on threads: a redirect needs no ASGI app, and it stays in the supervisor.
- ``RenewalWatch``: every ``tls_check_seconds``, the renewal check (``moorage.cli.tls_setup``,
  run as a child process so the supervisor never imports the database or ``cryptography``);
  when it made a new certificate, SIGHUP to this process: granian, and uvicorn with more than
  one worker, then start new workers (which read the new files) before stopping the old ones.
  Neither reloads a certificate inside a running worker. uvicorn with one worker has no
  supervisor to do it: a restart picks the certificate up (logged).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("moorage.http")
# The check's module, run by name (the supervisor imports no CLI code); exit 10: renewed.
RENEW_COMMAND = ("-m", "moorage.cli.tls_setup")
RENEWED = 10
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _valid_host(host: str) -> bool:
    """A DNS name or IPv4 address, or an IPv6 address in brackets (checked label by label: no
    pattern that backtracks on what an unauthenticated client sends)."""
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1] if host.endswith("]") else "")
        except ValueError:
            return False
        return True
    labels = host.removesuffix(".").split(".")
    return all(_LABEL.fullmatch(label) for label in labels)


def https_origin(host_header: str | None, public_url: str | None, tls_port: int) -> str | None:
    """``https://host[:port]`` for a redirect, None when the request names no usable host."""
    if public_url:
        parts = urlsplit(public_url)
        if parts.netloc:
            return f"https://{parts.netloc}"
    if not host_header:
        return None
    host = host_header.strip()
    if host.startswith("["):
        host = host[: host.find("]") + 1] if "]" in host else ""
    else:
        host = host.rpartition(":")[0] if ":" in host else host
    if not host or len(host) > 255 or not _valid_host(host):
        return None
    return f"https://{host}" if tls_port == 443 else f"https://{host}:{tls_port}"


def _target(raw_path: str) -> str:
    """The path and query of a request line (origin-form, or absolute-form's path)."""
    if not raw_path.startswith("/"):
        parts = urlsplit(raw_path)
        raw_path = parts.path + (f"?{parts.query}" if parts.query else "")
    if not raw_path.startswith("/") or any(c in raw_path for c in "\r\n"):
        return "/"
    return raw_path


def _handler(public_url: str | None, tls_port: int) -> type[BaseHTTPRequestHandler]:
    class Redirect(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "moorage"
        sys_version = ""
        timeout = 10  # a client that sends nothing is dropped

        def _redirect(self) -> None:
            origin = https_origin(self.headers.get("Host"), public_url, tls_port)
            if origin is None:
                body = b"a Host header is needed to redirect to https\n"
                self.send_response(400)
            else:
                body = b""
                self.send_response(308)
                self.send_header("Location", origin + _target(self.path))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)
            self.close_connection = True

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _redirect

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("redirected to https", extra={"request": format % args})

    return Redirect


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class RedirectServer:
    """The redirect listener on its own thread, until ``stop``."""

    def __init__(self, host: str, port: int, *, tls_port: int, public_url: str | None) -> None:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]
        server_class = type("_RedirectServer", (_Server,), {"address_family": family})
        self._server = server_class((host, port), _handler(public_url, tls_port))
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moorage-https-redirect", daemon=True
        )

    def start(self) -> RedirectServer:
        self._thread.start()
        log.info("plain HTTP redirected to https", extra={"port": self.port})
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class RenewalWatch:
    """Runs ``command`` every ``interval`` seconds; on exit code 10 calls ``renewed``."""

    def __init__(
        self,
        interval: float,
        renewed: Callable[[], None],
        command: list[str] | None = None,
    ) -> None:
        self.interval = interval
        self._renewed = renewed
        self._command = command or [sys.executable, *RENEW_COMMAND]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="moorage-tls-renewal", daemon=True)

    def start(self) -> RenewalWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def check_once(self) -> bool:
        """One check; True when it renewed the certificate."""
        try:
            done = subprocess.run(self._command, check=False, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.error("server certificate check did not run", extra={"error": str(exc)})
            return False
        if done.returncode == RENEWED:
            self._renewed()
            return True
        if done.returncode != 0:
            log.error("server certificate check failed", extra={"status": done.returncode})
        return False

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_once()


def restart_workers(graceful: bool) -> Callable[[], None]:
    """What to do once a new certificate is written: SIGHUP to this supervisor (its server
    replaces the workers one by one), or only say that a restart is needed."""

    def renewed() -> None:
        if graceful:
            log.info("server certificate renewed; restarting the workers to load it")
            os.kill(os.getpid(), signal.SIGHUP)
        else:
            log.warning(
                "server certificate renewed; restart moorage to serve it (uvicorn with one "
                "worker cannot replace its worker)"
            )

    return renewed


def start_tls_duties(s: dict[str, Any], host: str, port: int) -> list[Callable[[], None]]:
    """Start what the settings ask for; returns the stop callbacks."""
    stops: list[Callable[[], None]] = []
    redirect = int(s.get("http_redirect_port") or 0)
    if redirect:
        server = RedirectServer(host, redirect, tls_port=port, public_url=s.get("public_url"))
        stops.append(server.start().stop)
    if s.get("tls") == "auto":
        graceful = s["server"] == "granian" or int(s["workers"]) > 1
        watch = RenewalWatch(float(s["tls_check_seconds"]), restart_workers(graceful))
        stops.append(watch.start().stop)
    return stops
