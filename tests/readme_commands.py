"""The command blocks of README.md, read the way a newcomer copies them, for the tests that keep them true.

Each ``sh`` block is split into commands (comments dropped, ``\\`` continuations joined, input redirections set
apart). A command is checked by the layer that can check it: unit tests run ``make -n``, parse ``zitadel-bootstrap``
lines with the command's own parser and look at the paths, and the e2e layer checks each ``pulumi`` line's
subcommand and flags against the real CLI's ``--help``. A command no layer knows fails the unit test, so the README
cannot show a command that nothing checks.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
#: pulumi subcommands that take a further subcommand word.
PULUMI_GROUPS = frozenset({"stack", "config", "package", "plugin", "policy", "state"})


@dataclass(frozen=True)
class Command:
    line: str
    argv: tuple[str, ...]
    #: The file named after ``<``, if any.
    stdin: str | None = None

    @property
    def program(self) -> str:
        return self.argv[0]


def _strip_comment(line: str) -> str:
    """Drop a trailing ``# comment`` outside quotes."""
    quote = None
    for index, char in enumerate(line):
        if char in "'\"" and quote in (None, char):
            quote = None if quote == char else char
        elif char == "#" and quote is None and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def readme_commands(path: Path = README) -> list[Command]:
    text = path.read_text()
    commands: list[Command] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for raw in joined.splitlines():
            line = _strip_comment(raw).strip()
            if not line:
                continue
            stdin = None
            match = re.search(r"\s<\s*(\S+)", line)
            if match:
                stdin = match.group(1)
                line = (line[: match.start()] + line[match.end() :]).strip()
            commands.append(Command(raw.strip(), tuple(shlex.split(line)), stdin))
    return commands


def pulumi_subcommand(argv: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(subcommand words, flags) of a ``pulumi ...`` command line."""
    words = [argv[1]]
    if argv[1] in PULUMI_GROUPS and len(argv) > 2 and not argv[2].startswith("-"):
        words.append(argv[2])
    flags = [arg.split("=", 1)[0] for arg in argv[1:] if arg.startswith("-")]
    return words, flags
