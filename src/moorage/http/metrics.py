"""Prometheus metrics: what each request did, counted by an ASGI middleware, and ``/metrics``.

``RequestMetrics`` wraps the whole app and records, per request, its route family (a small fixed
set derived from the path, never the path itself, so label cardinality stays bounded), method
and status, its latency, and the body bytes received and sent (the lengths of the ASGI body
messages: nothing is copied). ``/metrics`` adds the figures read from the database at scrape
time (``moorage.http.metrics_collect``) and is guarded by ``metrics_access`` and
``metrics_networks`` (docs/metrics.md).

Several serving processes (``moorage serve --workers N``): a scrape reaches one of them, so the
request metrics live in prometheus_client's multiprocess files. ``moorage serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` (``<data>/metrics``, emptied before the workers start) before any
worker imports prometheus_client, which then keeps every value in a file per process; the
process answering a scrape merges them all. Without that variable (the in-process test app, a
single process) the values live in this app's own ``CollectorRegistry``: no global registry.
The database figures are read once per scrape by the answering process, so they are never
multiplied by the number of processes.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import values as prometheus_values
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moorage.config import Settings
from moorage.db.engine import Database
from moorage.errors import Denied, MoorageError, Unauthorized
from moorage.http.api.common import error_response
from moorage.http.metrics_collect import read_figures
from moorage.http.proxies import parse_networks
from moorage.http.services import services

log = logging.getLogger("moorage.metrics")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

FAMILIES = (
    "v2_base",
    "v2_catalog",
    "v2_blob",
    "v2_upload",
    "v2_manifest",
    "v2_tags",
    "v2_referrers",
    "v2_trust",
    "token",
    "api",
    "enzi",
    "ui",
    "ping",
    "metrics",
    "other",
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Registry requests run from a millisecond (a HEAD) to minutes (a large layer).
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

# The /v2 routes' shapes (moorage.http.v2.routes; a repository name may hold slashes).
_V2 = (
    (re.compile(r"/v2/.+/_trust/.*"), "v2_trust"),
    (re.compile(r"/v2/.+/blobs/uploads(?:/[^/]*)?"), "v2_upload"),
    (re.compile(r"/v2/.+/blobs/[^/]+"), "v2_blob"),
    (re.compile(r"/v2/.+/manifests/[^/]+"), "v2_manifest"),
    (re.compile(r"/v2/.+/tags/list"), "v2_tags"),
    (re.compile(r"/v2/.+/referrers/[^/]+"), "v2_referrers"),
)
# The first path segment of the web UI's pages (moorage.http.ui.routes); other paths reach its
# catch-all 404 page and count as ``other``.
_UI_SEGMENTS = frozenset(
    {
        "login",
        "logout",
        "static",
        "repositories",
        "admin",
        "tokens",
        "account",
        "scanning",
        "signing",
        "jobs",
    }
)


def route_family(path: str) -> str:
    """The family of a request path: one of ``FAMILIES``, whatever the path."""
    if path.startswith("/v2"):
        if path in ("/v2", "/v2/"):
            return "v2_base"
        if path == "/v2/_catalog":
            return "v2_catalog"
        if path.startswith("/v2/"):
            for pattern, family in _V2:
                if pattern.fullmatch(path):
                    return family
        return "other"
    if path.startswith(("/auth/", "/.well-known/jwks.json")):
        return "token"
    if path.startswith(("/api/v0/", "/v1/")) or path in ("/api/v0", "/v1"):
        return "api"
    if path.startswith("/enzi/v0/") or path == "/enzi/v0":
        return "enzi"
    if path in ("/_ping", "/_notary_server/health"):
        return "ping"
    if path == "/metrics":
        return "metrics"
    if path == "/" or path[1:].partition("/")[0] in _UI_SEGMENTS:
        return "ui"
    return "other"


def multiprocess_dir() -> Path | None:
    """The multiprocess directory when prometheus_client writes its values to files (it chose
    when it was first imported, from ``PROMETHEUS_MULTIPROC_DIR``), else None."""
    if prometheus_values.ValueClass is prometheus_values.MutexValue:
        return None
    path = os.environ.get(MULTIPROC_ENV)
    return Path(path) if path and os.path.isdir(path) else None


class HttpMetrics:
    """The metrics this process records, and the scrape that reports them.

    Built once per app. In multiprocess mode the metrics are in no registry (their values are in
    the directory's files, merged at scrape time); otherwise in this object's own registry."""

    def __init__(self, *, multiprocess: Path | None = None) -> None:
        self.multiprocess = multiprocess
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if multiprocess else self.registry
        self.requests = Counter(
            "moorage_http_requests",
            "HTTP requests answered, by route family, method and status",
            ["family", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "moorage_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by route family",
            ["family"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.received = Counter(
            "moorage_http_received_bytes",
            "Request body bytes received, by route family",
            ["family"],
            registry=registry,
        )
        self.sent = Counter(
            "moorage_http_sent_bytes",
            "Response body bytes sent, by route family",
            ["family"],
            registry=registry,
        )
        # Each process's pool, summed over the live processes.
        self.pool_size = Gauge(
            "moorage_db_pool_size",
            "Database connections the serving processes' pools keep",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_checked_out = Gauge(
            "moorage_db_pool_checked_out",
            "Database connections in use by the serving processes",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._db: Database | None = None
        self._pool_seen: tuple[int, int] | None = None

    # -- recording --------------------------------------------------------------------------

    def watch_pool(self, db: Database | None) -> None:
        """Report ``db``'s pool (None: stop; the lifespan sets and clears it)."""
        self._db = db
        self._pool_seen = None
        if self.multiprocess is None:
            return
        if db is None:
            # This process's live gauges leave the sums (its counters stay in the totals).
            with contextlib.suppress(OSError):
                mark_process_dead(os.getpid(), str(self.multiprocess))  # type: ignore[no-untyped-call]
        else:
            forget_dead_processes(self.multiprocess)

    def sample_pool(self) -> None:
        """Set the pool gauges from the pool's two counters, written only when they moved."""
        status = self._db.pool_status() if self._db is not None else None
        if status is None or status == self._pool_seen:
            return
        self._pool_seen = status
        self.pool_size.set(status[0])
        self.pool_checked_out.set(status[1])

    def observe(
        self, family: str, method: str, status: int, seconds: float, received: int, sent: int
    ) -> None:
        self.requests.labels(family, method if method in METHODS else "other", str(status)).inc()
        self.latency.labels(family).observe(seconds)
        if received:
            self.received.labels(family).inc(received)
        if sent:
            self.sent.labels(family).inc(sent)
        self.sample_pool()

    # -- scraping ---------------------------------------------------------------------------

    def process_collector(self) -> Collector:
        """What the processes recorded: every process's files, or this app's registry."""
        if self.multiprocess is not None:
            return MultiProcessCollector(None, path=str(self.multiprocess))  # type: ignore[no-untyped-call]
        return self.registry

    async def scrape(self, settings: Settings) -> bytes:
        """The exposition text: the processes' metrics, then the database's figures."""
        self.sample_pool()
        families: list[Metric] = list(self.process_collector().collect())
        for family in families:
            # The same series in both modes: multiprocess mode has no ``_created`` samples.
            family.samples = [x for x in family.samples if not x.name.endswith("_created")]
        if self._db is not None:
            up = 1
            try:
                figures = await read_figures(
                    self._db, heartbeat_interval=settings.heartbeat_seconds
                )
            except Exception as exc:  # the request metrics are still worth having
                log.warning("metrics: the database figures could not be read", exc_info=exc)
                up = 0
            else:
                families.extend(figures.collect())
            families.append(
                GaugeMetricFamily(
                    "moorage_metrics_database_up",
                    "1 when this scrape read the database's figures, 0 when it could not",
                    value=up,
                )
            )
        return generate_latest(_Families(families))


def forget_dead_processes(directory: Path) -> None:
    """Remove the live gauges of processes that are gone (a worker killed before it could say
    so), so the pool sums count only running processes. Counters are kept: totals never drop."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                path.unlink()
        except PermissionError:
            pass  # alive, another user's


class _Families(Collector):
    """Metric families already collected, as one collector to expose."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


class RequestMetrics:
    """Pure ASGI middleware: one observation per HTTP request, counted at the edge."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        family = route_family(scope["path"])
        status = 500
        received = 0
        sent = 0
        length: int | None = None

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, sent, length
            kind = message["type"]
            if kind == "http.response.body":
                sent += len(message.get("body", b""))
            elif kind == "http.response.start":
                status = message["status"]
                length = _content_length(message.get("headers", ()))
            elif kind == "http.response.pathsend":
                if length is None:
                    with contextlib.suppress(OSError):
                        length = os.stat(message["path"]).st_size
                sent += length or 0
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            self.metrics.observe(
                family,
                scope["method"],
                status,
                time.perf_counter() - start,
                received,
                sent,
            )


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


# -- the /metrics route ---------------------------------------------------------------------


def _in_networks(
    address: str | None, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    if not address or not networks:
        return False
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return any(parsed in network for network in networks)


def metrics_routes(metrics: HttpMetrics, settings: Settings) -> list[Route]:
    """``GET /metrics`` as ``metrics_access`` says; none when it is ``off`` (the path is then
    unknown, answered like any other by the web UI's 404 page)."""
    if settings.metrics_access == "off":
        return []
    networks = parse_networks(settings.metrics_networks)
    public = settings.metrics_access == "public"

    async def refusal(request: Request) -> MoorageError | None:
        # The client as moorage.http.proxies decided: the peer, or the address a trusted
        # proxy forwarded; a forwarded header from anyone else was dropped before this.
        if public or _in_networks(request.client.host if request.client else None, networks):
            return None
        try:
            principal = await services(request).authorizer.api_principal(request)
        except MoorageError as exc:
            return exc
        if principal.is_anonymous:
            return Unauthorized("sign in as a system administrator to read the metrics")
        if not principal.is_admin:
            return Denied("only system administrators may read the metrics")
        return None

    async def endpoint(request: Request) -> Response:
        refused = await refusal(request)
        if refused is not None:
            return error_response(refused)
        body = await metrics.scrape(services(request).settings)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    return [Route("/metrics", endpoint, methods=["GET"])]
