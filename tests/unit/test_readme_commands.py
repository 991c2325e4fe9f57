"""Every command block of README.md is checked: make targets dry-run, `zitadel-bootstrap` lines parse with the
command's own parser, paths exist. `pulumi` lines are checked against the real CLI in tests/e2e."""

from __future__ import annotations

import subprocess
import tomllib

import pytest
from zitadel_bootstrap.cli.main import build_parser

from tests.readme_commands import REPO, Command, readme_commands

COMMANDS = readme_commands()


def _ids(command: Command) -> str:
    return command.line[:60]


def test_the_readme_shows_the_two_commands_of_a_newcomer() -> None:
    makes = [c.argv for c in COMMANDS if c.program == "make" and c.argv[1:] in (("demo",), ("test",))]
    assert makes == [("make", "demo"), ("make", "test")]


@pytest.mark.parametrize("command", COMMANDS, ids=_ids)
def test_a_readme_command_is_checked_by_a_layer(command: Command) -> None:
    match command.program:
        case "make":
            dry = subprocess.run(
                ["make", "-n", *command.argv[1:]], cwd=REPO, capture_output=True, text=True, check=False, timeout=60
            )
            assert dry.returncode == 0, f"`make -n {' '.join(command.argv[1:])}`: {dry.stderr}"
        case "zitadel-bootstrap":
            parser = build_parser()
            if "--help" in command.argv:
                with pytest.raises(SystemExit) as shown:
                    parser.parse_args(list(command.argv[1:]))
                assert shown.value.code == 0
            else:
                parsed = parser.parse_args(list(command.argv[1:]))
                assert parsed is not None
        case "pip":
            assert command.argv[1] == "install"
            project = tomllib.loads((REPO / command.argv[-1] / "pyproject.toml").read_text())["project"]
            assert project["name"] == "zitadel-bootstrap"
        case "cp":
            assert (REPO / command.argv[1]).is_file(), f"{command.argv[1]} does not exist"
        case "pulumi":
            assert len(command.argv) > 1, "a pulumi command names its subcommand (checked in tests/e2e)"
        case _:
            pytest.fail(f"README shows `{command.line}`, which no test checks: add it to tests/readme_commands.py")
