"""Every `pulumi` command README.md shows exists in the real CLI with every flag it uses."""

from __future__ import annotations

import subprocess

import pytest

from tests.readme_commands import Command, pulumi_subcommand, readme_commands

PULUMI_COMMANDS = [command for command in readme_commands() if command.program == "pulumi"]


def test_the_readme_shows_pulumi_commands() -> None:
    assert len(PULUMI_COMMANDS) >= 5


@pytest.mark.parametrize("command", PULUMI_COMMANDS, ids=lambda c: c.line[:60])
def test_a_readme_pulumi_command_matches_the_real_cli(command: Command, engine: str) -> None:
    words, flags = pulumi_subcommand(command.argv)
    shown = subprocess.run([engine, *words, "--help"], capture_output=True, text=True, check=False, timeout=60)
    assert shown.returncode == 0, shown.stderr
    usage = shown.stdout
    # The help of the command itself (an unknown word shows its parent's help): its usage line, or an alias.
    usage_line = usage.split("\nUsage:", 1)[1].strip().splitlines()[0]
    aliases = usage.split("\nAliases:", 1)[1].strip().splitlines()[0] if "\nAliases:" in usage else ""
    named = usage_line.startswith(f"pulumi {' '.join(words)} ") or (
        usage_line.startswith(f"pulumi {' '.join(words[:-1])}") and words[-1] in aliases.replace(",", " ").split()
    )
    assert named, f"`pulumi {' '.join(words)}` is not a command of the CLI:\n{usage[:400]}"
    missing = [flag for flag in flags if not any(f"{flag}{end}" in usage for end in (" ", "="))]
    assert missing == [], f"`pulumi {' '.join(words)}` has no {missing}"
