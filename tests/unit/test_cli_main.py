"""`zitadel-bootstrap`: one command, its subcommands with their exit codes, the key file written 0600, and the 0.2
module commands that forward to it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from zitadel_bootstrap.cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ("verify", "run", "adopt-user", "recover", "key-file")


def test_help_lists_every_subcommand() -> None:
    text = build_parser().format_help()
    for name in SUBCOMMANDS:
        assert f"    {name}" in text, f"{name} missing from:\n{text}"


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_help_says_what_it_does_and_its_exit_codes(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as shown:
        main([name, "--help"])
    assert shown.value.code == 0
    text = capsys.readouterr().out
    assert "exit" in text.lower(), text
    assert "0" in text.lower().split("exit", 1)[1], text


def _key_file(user_id: str) -> str:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return json.dumps({"type": "serviceaccount", "keyId": "1", "key": pem.decode(), "userId": user_id})


@pytest.fixture
def fake_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A `pulumi` that answers `stack output machineKeys --show-secrets --json` like a stack with two accounts."""
    keys = {"ci": _key_file("100"), "auditor": _key_file("200")}
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    script = tmp_path / "pulumi"
    script.write_text(f"#!/bin/sh\ncat {tmp_path / 'keys.json'}\n")
    script.chmod(0o755)
    monkeypatch.setenv("ZB_PULUMI", str(script))
    return keys


def test_key_file_writes_the_account_key_readable_by_its_owner_only(
    fake_pulumi: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "ci.json"
    assert main(["key-file", "ci", "--output", str(target)]) == 0
    assert target.read_text() == fake_pulumi["ci"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    printed = capsys.readouterr()
    assert "PRIVATE KEY" not in printed.out + printed.err
    assert str(target) in printed.out


def test_key_file_refuses_an_existing_file_unless_forced(
    fake_pulumi: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "ci.json"
    target.write_text("old")
    target.chmod(0o644)
    assert main(["key-file", "ci", "--output", str(target)]) == 2
    assert target.read_text() == "old"
    assert "--force" in capsys.readouterr().err
    assert main(["key-file", "ci", "--output", str(target), "--force"]) == 0
    assert target.read_text() == fake_pulumi["ci"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".ci.json")] == []


def test_key_file_of_an_unknown_account_names_the_known_ones(
    fake_pulumi: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["key-file", "deployer", "--output", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "'deployer'" in err
    assert "auditor, ci" in err
    assert not (tmp_path / "x.json").exists()


def test_key_file_without_a_readable_stack_fails_with_pulumis_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "pulumi"
    script.write_text("#!/bin/sh\necho 'error: no stack named prod found' >&2\nexit 255\n")
    script.chmod(0o755)
    monkeypatch.setenv("ZB_PULUMI", str(script))
    assert main(["key-file", "ci", "--output", str(tmp_path / "ci.json"), "--stack", "prod"]) == 1
    assert "no stack named prod found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("module", "new"),
    [("tools.recover", "zitadel-bootstrap recover"), ("tools.pipeline", "zitadel-bootstrap run")],
)
def test_the_0_2_module_commands_say_the_new_command_and_run_it(module: str, new: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    assert f"is now `{new}`" in done.stderr
    assert f"usage: {new}" in done.stdout


def test_a_subcommand_loads_only_its_own_module() -> None:
    # `verify` runs in pipeline steps: it must not pay for the recovery's and the wrapper's imports (nor Pulumi's).
    code = (
        "import sys; from zitadel_bootstrap.cli.main import build_parser; build_parser('verify'); "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('zitadel_bootstrap.cli', 'pulumi', 'yaml')))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.split() == [
        "zitadel_bootstrap.cli",
        "zitadel_bootstrap.cli.main",
        "zitadel_bootstrap.cli.verify",
    ]
