"""The registry starts, answers /v2/ and /_ping in DTR's shape."""

from __future__ import annotations

import httpx


def test_base_and_ping(client: httpx.Client) -> None:
    r = client.get("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert r.headers["x-request-id"]
    ping = client.get("/_ping")
    assert ping.status_code == 200
    assert ping.json() == {"Error": "", "Healthy": True}
