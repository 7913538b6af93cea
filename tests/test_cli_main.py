"""The command line imports only the module of the command it runs: ``moorage --help`` lists
every command without importing any, a command loads its own module and not the others', and
the command table in moorage.cli.main stays in step with what the modules define."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from moorage.cli.main import COMMANDS, build_parser, command_in, main

MODULES = sorted({c.module for c in COMMANDS.values()})


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _helps(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {action.dest: action.help for action in sub._choices_actions}


def test_the_table_matches_what_each_module_defines() -> None:
    full = build_parser(MODULES)
    assert list(_subcommands(full)) == list(COMMANDS)  # same commands, same order
    assert _helps(full) == {name: c.help for name, c in COMMANDS.items()}
    for module in MODULES:
        runnable = {
            name
            for name, p in _subcommands(build_parser([module])).items()
            if p.get_default("func") is not None or p._subparsers is not None
        }
        assert runnable == {n for n, c in COMMANDS.items() if c.module == module}, module


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name, command in COMMANDS.items():
        assert name in out
        assert command.help.split()[0] in out


def test_an_unknown_command_is_refused_with_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["no-such-command"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and all(name in err for name in COMMANDS)


def test_the_command_is_the_first_word_that_is_not_an_option() -> None:
    assert command_in(["--version"]) is None
    assert command_in([]) is None
    assert command_in(["-h", "user", "list", "--data", "x"]) == "user"


def _loaded_after(*argv: str) -> set[str]:
    """The modules a fresh interpreter holds after ``moorage <argv>`` (here: its --help)."""
    code = (
        "import json, sys\n"
        "from moorage.cli.main import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_imports_no_command_and_a_command_only_its_own() -> None:
    heavy = {"sqlalchemy", "moorage.http.app", "moorage.db.engine", "moorage.scanning"}
    top = _loaded_after("--help")
    assert not heavy & top
    assert not {f"moorage.cli.{m}" for m in MODULES} & top
    gc = _loaded_after("gc", "--help")
    assert "moorage.cli.gc" in gc
    assert not {"moorage.cli.admin", "moorage.cli.serve", "moorage.cli.vulndb"} & gc
    assert "moorage.http.app" not in gc
