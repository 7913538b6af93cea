"""The import's state file: what a second run skips; private; a damaged one refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moorage.errors import ConfigError
from moorage.importer.state import ImportState


def test_what_is_recorded_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = ImportState.load(path)
    assert not state.done("acme/app", "v1", "sha256:aa")
    state.record_tag("acme/app", "v1", "sha256:aa")
    state.record_settings("acme/app")
    state.record_namespace("acme")
    assert path.stat().st_mode & 0o777 == 0o600
    again = ImportState.load(path)
    assert again.done("acme/app", "v1", "sha256:aa")
    assert not again.done("acme/app", "v1", "sha256:bb")  # the tag moved: copy it again
    assert again.settings == {"acme/app"} and again.namespaces == {"acme"}
    assert not (tmp_path / "state.json.partial").exists()


def test_no_file_keeps_nothing(tmp_path: Path) -> None:
    state = ImportState.load(None)
    state.record_tag("a/b", "t", "sha256:aa")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", ["{not json", json.dumps({"version": 99}), "[]"])
def test_a_damaged_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="state file"):
        ImportState.load(path)
