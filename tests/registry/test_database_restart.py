"""PostgreSQL restarts under a running ``moorage serve`` (a database host's reboot or failover):
while it is down, requests fail in the registry's own error format and nothing is half-written;
once it is back, the same process serves and accepts pushes again without a restart.

A PostgreSQL server of this module's own (the session's is shared by the other tests)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import RunningRegistry, free_port
from tests.registry.pushing import push_image
from tests.services import postgres


@pytest.fixture(scope="module")
def own_pg(db_kind: str) -> Iterator[postgres.PostgresServer]:
    if db_kind != "postgres":
        pytest.skip("a PostgreSQL restart (the full run's --db postgres)")
    if os.environ.get("MOORAGE_TEST_PG_DSN") or not postgres.available():
        pytest.skip("needs PostgreSQL binaries to start and restart a server of its own")
    server = postgres.start(free_port())
    try:
        yield server
    finally:
        server.stop()


def _wait_until_serving(c: httpx.Client, name: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        r = c.get(f"/v2/{name}/tags/list")
        if r.status_code == 200 or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def test_serving_goes_on_after_postgresql_restarts(
    own_pg: postgres.PostgresServer, registry_factory: Callable[..., RunningRegistry]
) -> None:
    reg = registry_factory(database=own_pg.create_database())
    with reg.client() as c:
        push_image(c, "restart/app", "v1", b'{"n": 1}', [os.urandom(1000)])
        own_pg.halt()  # down: every pooled connection is cut
        try:
            down = c.get("/v2/restart/app/manifests/v1")
            assert down.status_code == 503, down.text
            assert down.json()["errors"][0]["code"] == "UNAVAILABLE", down.text
            # The DTR API says it in its own envelope.
            api = c.get("/api/v0/repositories/restart/app")
            assert api.status_code == 503, api.text
            assert api.json()["errors"][0]["code"] == "UNAVAILABLE", api.text
        finally:
            own_pg.restart()
        assert _wait_until_serving(c, "restart/app").json()["tags"] == ["v1"]
        push_image(c, "restart/app", "v2", b'{"n": 2}', [os.urandom(1000)])
        tags = c.get("/v2/restart/app/tags/list").json()["tags"]
        assert tags == ["v1", "v2"]
    assert reg.proc is not None and reg.proc.poll() is None  # the same process throughout
