"""A world of users, an organization, teams and repositories, shared by a module's tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.auth.world import World
from tests.conftest import RunningRegistry


@pytest.fixture(scope="module")
def world(registry: RunningRegistry) -> World:
    with registry.client(auth=None) as c:
        built = World(c, registry.admin).build()
    return built


@pytest.fixture()
def api(registry: RunningRegistry, world: World) -> Iterator[httpx.Client]:
    """An anonymous client (each request names its credentials); the world uses it too."""
    with registry.client(auth=None) as c:
        world.client = c
        yield c
