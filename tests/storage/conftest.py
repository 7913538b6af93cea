"""Object-store servers for the storage tests, each started once per session (on first use)
and stopped by its PID at the end; a test that needs an absent one skips, naming why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import free_port
from tests.services import objectstores
from tests.services.objectstores import ObjectStoreServer


def _server(kind: str, ports: int = 1) -> Iterator[ObjectStoreServer]:
    reason = objectstores.missing(kind)
    if reason is not None:
        pytest.skip(reason)
    server = objectstores.start(kind, *(free_port() for _ in range(ports)))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[ObjectStoreServer]:
    yield from _server("s3")


@pytest.fixture(scope="session")
def azure_server() -> Iterator[ObjectStoreServer]:
    yield from _server("azure")


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[ObjectStoreServer]:
    yield from _server("gcs")


@pytest.fixture(scope="session")
def swift_server() -> Iterator[ObjectStoreServer]:
    """Proxy, account, container and object servers and memcached: five ports."""
    yield from _server("swift", ports=5)
