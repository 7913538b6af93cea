"""A world of users, an organization, teams and repositories, shared by a module's tests, on
the in-process app (these tests check answers, not a server)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.auth.world import World
from tests.inprocess import ThreadedApp


@pytest.fixture(scope="module")
def world(app_registry: ThreadedApp) -> World:
    with app_registry.client(auth=None) as c:
        built = World(c, app_registry.admin).build()
    return built


@pytest.fixture()
def api(app_registry: ThreadedApp, world: World) -> Iterator[httpx.Client]:
    """An anonymous client (each request names its credentials); the world uses it too."""
    with app_registry.client(auth=None) as c:
        world.client = c
        yield c
