"""The registry starts, answers /v2/ and /_ping in DTR's shape."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import RunningRegistry


@pytest.fixture(scope="module")
def registry(shared_registry: RunningRegistry) -> RunningRegistry:
    """The session's shared server: this module only talks to it."""
    return shared_registry


def test_base_and_ping(client: httpx.Client) -> None:
    r = client.get("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert r.headers["x-request-id"]
    ping = client.get("/_ping")
    assert ping.status_code == 200
    assert ping.json() == {"Error": "", "Healthy": True}
