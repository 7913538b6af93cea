"""The periodic LDAP sync's schedule: ``@every`` exactly ``syncIntervalSeconds`` (nothing
rounded), intervals out of range refused, and the ``ldapsync`` cron kept in step with the
settings without losing its phase."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pydantic import ValidationError

from moorage.auth.ldap.config import MAX_SYNC_INTERVAL, LdapConfig, sync_schedule
from moorage.db.engine import utcnow
from moorage.jobs import ldapsync
from moorage.queue import crons
from moorage.registry.context import RegistryContext
from tests.inprocess import InProcessApp


def _config(seconds: int, *, enabled: bool = True) -> LdapConfig:
    return LdapConfig.model_construct(enabled=enabled, sync_interval_seconds=seconds)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (5, "@every 5s"),
        (7, "@every 7s"),  # not rounded to a divisor of a minute any more
        (45, "@every 45s"),
        (90, "@every 1m30s"),
        (3600, "@every 1h"),
        (5400, "@every 1h30m"),
        (86400 + 1, "@every 24h1s"),
        (3 * 86400, "@every 72h"),
        (MAX_SYNC_INTERVAL, "@every 8784h"),
    ],
)
def test_interval_to_schedule(seconds: int, expected: str) -> None:
    schedule = sync_schedule(_config(seconds))
    assert schedule == expected
    assert crons.validate(expected) == expected
    assert crons.interval(expected) == dt.timedelta(seconds=seconds)


def test_no_schedule_when_off() -> None:
    assert sync_schedule(_config(0)) is None
    assert sync_schedule(_config(60, enabled=False)) is None


@pytest.mark.parametrize(
    "setting",
    [
        {"syncIntervalSeconds": 3},
        {"syncIntervalSeconds": -1},
        {"syncIntervalSeconds": MAX_SYNC_INTERVAL + 1},
        {"syncIntervalSeconds": 10**30},
        {"syncIntervalHours": -0.5},
        {"syncIntervalHours": 9000},
        {"syncIntervalHours": math.inf},
        {"syncIntervalHours": math.nan},
        {"syncIntervalHours": True},
        {"syncIntervalHours": "1"},
    ],
)
def test_out_of_range_intervals_are_refused(setting: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as refused:
        LdapConfig.model_validate(setting)
    assert "syncInterval" in str(refused.value)


def test_hours_give_exact_seconds() -> None:
    config = LdapConfig.model_validate({"syncIntervalHours": 1.75})
    assert config.sync_interval_seconds == 6300
    assert sync_schedule(config.model_copy(update={"enabled": True})) == "@every 1h45m"


async def test_cron_follows_the_settings(ctx: RegistryContext) -> None:
    db = ctx.db
    before = utcnow()
    assert await ldapsync.schedule(db, _config(90)) == "@every 1m30s"
    cron = await crons.get(db, ldapsync.ACTION)
    assert cron.schedule == "@every 1m30s" and cron.next_run is not None
    assert before + dt.timedelta(seconds=90) <= cron.next_run
    assert cron.next_run <= utcnow() + dt.timedelta(seconds=90)
    # The same interval again (a serving process starting, another setting changed): the
    # cron keeps its next run.
    assert await ldapsync.schedule(db, _config(90)) == "@every 1m30s"
    assert (await crons.get(db, ldapsync.ACTION)).next_run == cron.next_run
    # Another interval: a new schedule from now.
    assert await ldapsync.schedule(db, _config(7)) == "@every 7s"
    again = await crons.get(db, ldapsync.ACTION)
    assert again.next_run is not None and again.next_run < cron.next_run
    # Off: no cron.
    assert await ldapsync.schedule(db, _config(7, enabled=False)) is None
    with pytest.raises(crons.NoSuchCron):
        await crons.get(db, ldapsync.ACTION)


async def test_api_refuses_intervals_out_of_range(inproc: InProcessApp) -> None:
    """Refused with the setting named; the stored settings and the crons stay as they were
    (an interval in hours of ``Infinity``, which Python's JSON reads, included)."""
    async with inproc.client() as c:
        before = (await c.get("/enzi/v0/config/auth/ldap")).json()
        for body in (
            b'{"syncIntervalSeconds": 31622401}',
            b'{"syncIntervalSeconds": 2}',
            b'{"syncIntervalHours": Infinity}',
            b'{"syncIntervalHours": 1e300}',
        ):
            r = await c.put(
                "/enzi/v0/config/auth/ldap",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code == 400, (body, r.text)
            error = r.json()["errors"][0]
            assert error["message"] == "invalid LDAP configuration", error
            assert "syncInterval" in str(error["detail"]), error
        assert (await c.get("/enzi/v0/config/auth/ldap")).json() == before
        assert (await c.get("/api/v0/crons/ldapsync")).status_code == 404
