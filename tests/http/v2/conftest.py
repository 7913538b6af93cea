"""The /v2 protocol tests run against the in-process app, except where a real server is what
they test: a test that names the ``registry`` fixture (raw sockets, truncated bodies, the
access log) gets a client of that ``moorage serve`` process instead."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.inprocess import ThreadedApp


@pytest.fixture()
def client(request: pytest.FixtureRequest, db_kind: str) -> Iterator[httpx.Client]:
    # (``db_kind`` names the database parametrization, which both fixtures below depend on.)
    if "registry" in request.fixturenames:
        served = request.getfixturevalue("registry")
        with served.client() as c:
            yield c
        return
    app: ThreadedApp = request.getfixturevalue("app_registry")
    with app.client() as c:
        yield c
