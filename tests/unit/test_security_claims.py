"""Claims of docs/security.md that no other test holds: no command takes key material by value on its command line
(so none reaches `ps` or shell history), and every option that names key material names a file."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from zitadel_bootstrap.cli.main import build_parser

#: Destinations that would carry a key or a token by value if an option had them.
BY_VALUE = {"key", "key_json", "private_key", "token", "access_token", "jwt_profile_json", "assertion", "secret"}


def options(parser: argparse.ArgumentParser, path: str = "zitadel-bootstrap") -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:  # argparse offers no public walk of its actions
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from options(sub, f"{path} {name}")
        else:
            yield path, action


def test_no_command_takes_a_key_or_token_by_value_on_its_command_line() -> None:
    found = list(options(build_parser()))
    assert len({path for path, _ in found}) >= 7, "every subcommand was walked"
    by_value = [(path, action.dest) for path, action in found if action.dest in BY_VALUE]
    assert by_value == []


def test_every_option_about_a_key_names_a_file() -> None:
    keyed = [(path, action) for path, action in options(build_parser()) if "key" in action.dest]
    assert {action.dest for _, action in keyed} == {"key_file", "admin_key_file"}
    for path, action in keyed:
        assert action.dest.endswith("_file"), (path, action.dest)
        assert "file" in (action.help or "").lower() or action.metavar, (path, action.help)
