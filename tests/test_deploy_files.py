"""The files in deploy/ are what the docs tell operators to install: the example configuration
loads as it is shipped, and the systemd units start commands that exist with options they take."""

from __future__ import annotations

import configparser
import os
import shlex
from pathlib import Path

import pytest

from moorage.cli.main import build_parser
from moorage.config import load_settings
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"


def test_the_example_configuration_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("MOORAGE_")]:
        monkeypatch.delenv(name)
    settings = load_settings(DEPLOY / "moorage.yml")
    assert settings.database_url.startswith("postgresql://")
    assert settings.trusted_proxies == ["10.0.0.10/32"]
    assert settings.heartbeat_seconds == 10 and settings.workers == 4
    assert settings.data == Path("/var/lib/moorage")


@pytest.mark.parametrize("unit", ["moorage.service", "moorage-worker.service"])
def test_systemd_units_start_a_real_command(unit: str) -> None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / unit).read_text())
    service = parser["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/bin/moorage")
    args = build_parser(["serve"]).parse_args(argv[1:])
    assert args.command == argv[1] and args.config == Path("/etc/moorage/moorage.yml")
    assert service["User"] == "moorage" and service["UMask"] == "0077"
    assert "/var/lib/moorage" in service["ReadWritePaths"]
