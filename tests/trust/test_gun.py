"""A GUN and the repository it names: this registry's host before it, or none; another host
with a port is not this registry's; and token scopes map the same way."""

from __future__ import annotations

import pytest

from moorage.trust.errors import InvalidGUN
from moorage.trust.gun import own_hosts, parse, scope_repository

HOSTS = own_hosts("127.0.0.1:5000", "https://dtr.example.com/")


def test_hosts_are_the_request_netloc_and_public_url() -> None:
    assert {"127.0.0.1:5000", "dtr.example.com"} == HOSTS


@pytest.mark.parametrize(
    ("name", "repository"),
    [
        ("127.0.0.1:5000/team/app", "team/app"),
        ("DTR.example.com/team/app", "team/app"),
        ("team/app", "team/app"),
        ("my.org/app", "my.org/app"),  # a dotted namespace, no host: the repository itself
        ("dtr.example.com/app", "dtr.example.com/app"),  # host + one component: no namespace
    ],
)
def test_gun_names_its_repository(name: str, repository: str) -> None:
    gun = parse(name, HOSTS)
    assert (gun.name, gun.repository) == (name, repository)


@pytest.mark.parametrize(
    "name", ["elsewhere:5000/team/app", "", "team/App", "team/*", "a" * 600, "team//app"]
)
def test_other_guns_are_invalid(name: str) -> None:
    with pytest.raises(InvalidGUN):
        parse(name, HOSTS)


def test_scopes_map_like_paths() -> None:
    assert scope_repository("127.0.0.1:5000/team/app", HOSTS) == "team/app"
    assert scope_repository("team/app", HOSTS) == "team/app"
    assert scope_repository("elsewhere:5000/team/app", HOSTS) == "elsewhere:5000/team/app"
