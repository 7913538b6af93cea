"""``DELETE /api/v0/api_tokens``: DTR's mass delete by username / usedbefore / generatedby.

A filter selects; a filter the server does not understand is a 400, never "everything"
(``?usedbefore=2000-01-01`` used to delete every token of the caller)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from moorage.db import tables as t
from tests.auth.creds_helpers import PASSWORD, access_token, app_services, new_user
from tests.inprocess import InProcessApp


async def _labels(inproc: InProcessApp, user: tuple[str, str]) -> list[str]:
    async with inproc.client(auth=user) as c:
        r = await c.get("/api/v0/api_tokens")
        assert r.status_code == 200, r.text
        return sorted(x["tokenLabel"] for x in r.json())


async def _refresh_tokens(inproc: InProcessApp, user: tuple[str, str], count: int) -> list[str]:
    """``count`` docker logins (refresh tokens, DTR's ``generatedby=auto``)."""
    found = []
    async with inproc.client(auth=user) as c:
        for _ in range(count):
            r = await c.get(
                "/auth/token",
                params={"service": inproc.settings.token_service, "offline_token": "true"},
            )
            found.append(str(r.json()["refresh_token"]))
    return found


async def _refresh_works(inproc: InProcessApp, refresh: str) -> bool:
    async with inproc.client(auth=None) as c:
        r = await c.post(
            "/auth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "service": inproc.settings.token_service,
            },
        )
        return r.status_code == 200


async def _age(inproc: InProcessApp, label: str, days: int) -> None:
    """Make the token ``label`` look last used ``days`` ago."""
    db = app_services(inproc).db
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    async with db.write() as conn:
        await conn.execute(
            update(t.access_tokens)
            .where(t.access_tokens.c.label == label)
            .values(created_at=when, last_used_at=when)
        )


async def test_usedbefore_selects_and_never_deletes_everything(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "ada")
    for label in ("old", "recent", "fresh"):
        await access_token(inproc, user, label)
    await _age(inproc, "old", 400)
    await _age(inproc, "recent", 10)
    async with inproc.client(auth=user) as c:
        # The reported call: nothing was used before 2000, so nothing goes.
        r = await c.delete("/api/v0/api_tokens?usedbefore=2000-01-01&generatedby=user")
        assert r.status_code == 200
        assert await _labels(inproc, user) == ["fresh", "old", "recent"]
        r = await c.delete(
            "/api/v0/api_tokens",
            params={"usedbefore": "2000-01-01T00:00:00Z", "generatedby": "auto"},
        )
        assert r.status_code == 200
        assert await _labels(inproc, user) == ["fresh", "old", "recent"]
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).isoformat()
        r = await c.delete(
            "/api/v0/api_tokens", params={"usedbefore": cutoff, "generatedby": "user"}
        )
        assert r.status_code == 200
        assert await _labels(inproc, user) == ["fresh", "recent"]
        r = await c.delete(
            "/api/v0/api_tokens", params={"usedbefore": "2999-01-01", "generatedby": "user"}
        )
        assert r.status_code == 200
        assert await _labels(inproc, user) == []


async def test_a_filter_the_server_does_not_know_is_refused(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "bea")
    await access_token(inproc, user, "keep")
    async with inproc.client(auth=user) as c:
        for query in (
            "usedbefore=yesterday",
            "usedbefore=2000-13-45",
            "generatedby=robot",
            "usedBefore=2000-01-01",  # DTR's names are lowercase
            "olderthan=30d",
            "usedbefore=2000-01-01&label=ci",
        ):
            r = await c.delete(f"/api/v0/api_tokens?{query}")
            assert r.status_code == 400, (query, r.text)
            assert r.json()["errors"][0]["code"] == "INVALID_PARAMETERS"
    assert await _labels(inproc, user) == ["keep"]


async def test_generatedby_auto_ends_docker_logins_only(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "cyd")
    await access_token(inproc, user, "ci")
    first, second = await _refresh_tokens(inproc, user, 2)
    async with inproc.client(auth=user) as c:
        r = await c.delete("/api/v0/api_tokens")  # DTR's default: generatedby=auto
        assert r.status_code == 200
    assert not await _refresh_works(inproc, first)
    assert not await _refresh_works(inproc, second)
    assert await _labels(inproc, user) == ["ci"]


async def test_username_names_whose_tokens_go(inproc: InProcessApp) -> None:
    dee = await new_user(inproc, "dee")
    eve = await new_user(inproc, "eve")
    await access_token(inproc, dee, "dee-token")
    await access_token(inproc, eve, "eve-token")
    async with inproc.client(auth=dee) as c:
        r = await c.delete("/api/v0/api_tokens", params={"username": "eve", "generatedby": "user"})
        assert r.status_code == 403
    assert await _labels(inproc, eve) == ["eve-token"]
    async with inproc.client() as admin:
        r = await admin.delete(
            "/api/v0/api_tokens", params={"username": "eve", "generatedby": "user"}
        )
        assert r.status_code == 200
    assert await _labels(inproc, eve) == []
    assert await _labels(inproc, dee) == ["dee-token"]
    # With an access token, one's own tokens are out of reach.
    created = await access_token(inproc, dee, "second")
    async with inproc.client(auth=("dee", created["token"])) as c:
        r = await c.delete("/api/v0/api_tokens", params={"generatedby": "user"})
        assert r.status_code == 403
    assert await _labels(inproc, ("dee", PASSWORD)) == ["dee-token", "second"]
