"""Settings precedence: flags > MOORAGE_* environment > YAML file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from moorage.config import Settings, load_settings
from moorage.errors import ConfigError


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("MOORAGE_LISTEN", "MOORAGE_DATA", "MOORAGE_DATABASE"):
        monkeypatch.delenv(key, raising=False)
    s = load_settings()
    assert s.listen == "127.0.0.1:5000"
    assert s.data == Path("./var")
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("/var/moorage.db")


def test_yaml_env_and_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "moorage.yml"
    cfg.write_text("listen: 127.0.0.1:6000\ndata: /srv/a\nlog-level: debug\n")
    monkeypatch.delenv("MOORAGE_LISTEN", raising=False)
    monkeypatch.delenv("MOORAGE_DATABASE", raising=False)
    monkeypatch.setenv("MOORAGE_DATA", "/srv/from-env")
    s = load_settings(cfg)
    assert s.listen == "127.0.0.1:6000"  # from the file
    assert s.log_level == "debug"
    assert s.data == Path("/srv/from-env")  # env beats file
    s = load_settings(cfg, data=Path("/srv/flag"), listen="0.0.0.0:7000")
    assert s.data == Path("/srv/flag") and s.port == 7000 and s.host == "0.0.0.0"


def test_bad_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Settings(listen="nope")
    cfg = tmp_path / "bad.yml"
    cfg.write_text("- a list\n")
    with pytest.raises(ConfigError):
        load_settings(cfg)
    cfg.write_text("unknown_key: 1\n")
    with pytest.raises(ConfigError, match="unknown_key"):
        load_settings(cfg)
