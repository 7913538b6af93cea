"""Migration 0022: policies stored in Moorage's old rule language keep meaning what they meant
in DTR's (days → ``updated_at_duration bf``, ``matches`` anchored), gain ``last_pruned_at``, and
the downgrade brings back what the old code can read (disabling what it cannot)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from moorage.db.engine import sync_url
from moorage.db.migrate import alembic_config, upgrade
from moorage.registry.pruning_rules import TagFacts, parse_rules

OLD_RULES = [
    {"field": "tag", "operator": "sw", "values": ["dev-"]},
    {"field": "tag", "operator": "matches", "values": [r"dev-\d+", "(?i)rc"]},
    {"field": "updated_at", "operator": "older_than", "values": [30]},
    {"field": "updated_at", "operator": "lt", "values": [1.5]},
]


@pytest.fixture()
def database_url(db_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if db_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    server = request.getfixturevalue("pg_server")
    url: str = server.create_database()
    return url


def _rules(url: str) -> dict[str, tuple[bool, list[dict[str, object]]]]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, enabled, rules FROM pruning_policies")).all()
    finally:
        engine.dispose()
    return {r.id: (bool(r.enabled), json.loads(r.rules)) for r in rows}


def test_old_rules_are_translated_both_ways(database_url: str) -> None:
    upgrade(database_url, "0021")
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO repositories (id, name, namespace, created_at) "
                    "VALUES (1, 'admin/app', 'admin', CURRENT_TIMESTAMP)"
                )
            )
            for pid, rules in (("old", OLD_RULES), ("plain", [OLD_RULES[0]])):
                conn.execute(
                    text(
                        "INSERT INTO pruning_policies (id, repository_id, enabled, rules, "
                        "created_at) VALUES (:id, 1, :on, :rules, CURRENT_TIMESTAMP)"
                    ),
                    {"id": pid, "on": True, "rules": json.dumps(rules)},
                )
    finally:
        engine.dispose()

    upgrade(database_url)
    after = _rules(database_url)
    assert after["old"] == (
        True,
        [
            {"field": "tag", "operator": "sw", "values": ["dev-"]},
            {"field": "tag", "operator": "matches", "values": [r"^(?:dev-\d+)$", "(?i)^(?:rc)$"]},
            {"field": "updated_at_duration", "operator": "bf", "values": ["720h"]},
            {"field": "updated_at_duration", "operator": "bf", "values": ["36h"]},
        ],
    )
    assert after["plain"] == (True, [OLD_RULES[0]])
    parse_rules(after["old"][1])  # every translated rule is a valid DTR rule
    # The anchored pattern still refuses what the old full match refused.
    (anchored,) = [r for r in parse_rules(after["old"][1]) if r.operator == "matches"]
    assert anchored.values == (r"^(?:dev-\d+)$", "(?i)^(?:rc)$")
    now = dt.datetime.now(dt.UTC)
    for name, expected in (("dev-12", True), ("a-dev-12", False), ("RC", True), ("rc1", False)):
        assert anchored.matches(TagFacts(name, "sha256:x", now), now) is expected, name

    # A DTR-only policy, then back down: it is disabled; the translated ones come back.
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO pruning_policies (id, repository_id, enabled, rules, "
                    "created_at) VALUES ('dtr', 1, :on, :rules, CURRENT_TIMESTAMP)"
                ),
                {
                    "on": True,
                    "rules": json.dumps(
                        [{"field": "vulnerability_all", "operator": "gt", "values": ["0"]}]
                    ),
                },
            )
    finally:
        engine.dispose()
    command.downgrade(alembic_config(database_url), "0021")
    before = _rules(database_url)
    assert before["dtr"][0] is False
    assert before["old"] == (
        True,
        [
            {"field": "tag", "operator": "sw", "values": ["dev-"]},
            {"field": "tag", "operator": "matches", "values": [r"dev-\d+", "(?i)rc"]},
            {"field": "updated_at", "operator": "older_than", "values": [30.0]},
            {"field": "updated_at", "operator": "older_than", "values": [1.5]},
        ],
    )
