"""The periodic LDAP sync's cron, derived from ``syncIntervalSeconds``."""

from __future__ import annotations

import pytest

from moorage.auth.ldap.config import LdapConfig, sync_schedule
from moorage.queue.crons import validate


def _config(seconds: int, *, enabled: bool = True) -> LdapConfig:
    return LdapConfig.model_construct(enabled=enabled, sync_interval_seconds=seconds)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (5, "*/5 * * * * *"),
        (7, "*/6 * * * * *"),  # rounded down to a divisor of a minute
        (45, "*/30 * * * * *"),
        (60, "0 */1 * * * *"),
        (90, "0 */1 * * * *"),
        (1800, "0 */30 * * * *"),
        (3600, "0 0 */1 * * *"),
        (5400, "0 0 */1 * * *"),
        (6 * 3600, "0 0 */6 * * *"),
        (86400, "0 0 0 * * *"),
        (3 * 86400, "0 0 0 */3 * *"),
    ],
)
def test_interval_to_cron(seconds: int, expected: str) -> None:
    assert sync_schedule(_config(seconds)) == expected
    assert validate(expected) == expected


def test_no_cron_when_off() -> None:
    assert sync_schedule(_config(0)) is None
    assert sync_schedule(_config(60, enabled=False)) is None
