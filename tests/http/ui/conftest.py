"""Signed-in web UI clients (a real ``moorage serve`` or the in-process app), and a world of
users and teams."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.auth.world import World
from tests.conftest import RunningRegistry
from tests.inprocess import ThreadedApp

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:2000]
    return found.group(1)


def browser(registry: RunningRegistry | ThreadedApp) -> httpx.Client:
    """An httpx client that behaves like a browser: cookies kept, no credentials sent."""
    return registry.client(auth=None, timeout=30.0, follow_redirects=False)


@contextlib.contextmanager
def sign_in(
    registry: RunningRegistry | ThreadedApp, user: str, password: str
) -> Iterator[httpx.Client]:
    with browser(registry) as client:
        form = client.get("/login")
        assert form.status_code == 200
        r = client.post(
            "/login",
            data={"csrf": csrf_of(form), "username": user, "password": password, "next": "/"},
        )
        assert r.status_code == 303, r.text[:2000]
        yield client


@pytest.fixture(scope="module")
def world(registry: RunningRegistry | ThreadedApp) -> World:
    with registry.client(auth=None) as c:
        built = World(c, registry.admin).build()
    return built
