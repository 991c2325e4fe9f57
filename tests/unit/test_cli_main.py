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
from zitadel_bootstrap import __version__
from zitadel_bootstrap.cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[2]
#: The command `pip install` put next to the interpreter that runs the tests (.venv/bin/zitadel-bootstrap).
INSTALLED = Path(sys.executable).parent / "zitadel-bootstrap"
#: Each subcommand (and each `run` action) with what its help says it does and the exit codes it lists.
HELP = {
    ("verify",): ("machine key logs in", "exit codes: 0 verified, 1 not verified", "2 bad usage or bad input"),
    ("run",): ("pulumi commands", "exit codes: 0 done (no drift), 7 drift found", "1 failed", "2 bad usage"),
    ("run", "up"): ("`pulumi up --yes`", "exit codes: 0 done, 1 failed", "2 bad usage"),
    ("run", "drift-check"): ("--expect-no-changes", "exit codes: 0 no drift, 7 drift found", "1 error", "2 bad"),
    ("run", "destroy"): ("`pulumi destroy --yes`", "exit codes: 0 destroyed, 1 failed", "2 bad usage"),
    ("adopt-user",): ("Import the machine user", "exit codes: 0 imported, 1 failed, 2 bad usage"),
    ("recover",): ("interrupted or failed", "Exit status: 0 ready", "3 something is left for a person", "2 bad"),
    ("key-file",): ("readable by its owner only (0600)", "exit codes: 0 written, 1 the stack could not be read"),
}
SUBCOMMANDS = ("verify", "run", "adopt-user", "recover", "key-file")


def test_help_lists_every_subcommand_with_its_exit_codes() -> None:
    lines = " ".join(build_parser().format_help().split())  # argparse wraps the summaries
    for name in SUBCOMMANDS:
        assert f" {name} " in lines, f"{name} missing from:\n{lines}"
    assert "(0 verified, 1 not, 2 bad input)" in lines
    assert "(0, 7 drift, 1, 2)" in lines
    assert "(0 ready, 3 needs a person, 1, 2)" in lines
    assert "mode 0600 (0, 1, 2)" in lines


@pytest.mark.parametrize("words", list(HELP), ids=" ".join)
def test_each_subcommand_help_says_what_it_does_and_its_exit_codes(
    words: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as shown:
        main([*words, "--help"])
    assert shown.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith(f"usage: zitadel-bootstrap {' '.join(words)} "), text
    for expected in HELP[words]:
        assert expected in text, f"{expected!r} missing from:\n{text}"


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as shown:
        main(["--version"])
    assert shown.value.code == 0
    assert capsys.readouterr().out.strip() == f"zitadel-bootstrap {__version__}"


def test_the_installed_console_script_runs_the_command() -> None:
    assert INSTALLED.is_file(), f"{INSTALLED} missing: pip install -e ./components"
    version = subprocess.run([INSTALLED, "--version"], capture_output=True, text=True, check=True, timeout=60)
    assert version.stdout.strip() == f"zitadel-bootstrap {__version__}"
    usage = subprocess.run([INSTALLED], capture_output=True, text=True, check=False, timeout=60)
    assert usage.returncode == 2
    assert "usage: zitadel-bootstrap" in usage.stderr


def _key_file(user_id: str) -> str:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return json.dumps({"type": "serviceaccount", "keyId": "1", "key": pem.decode(), "userId": user_id})


def _fake_pulumi(folder: Path, monkeypatch: pytest.MonkeyPatch, answer: str) -> Path:
    """A `pulumi` (ZB_PULUMI) that records its arguments in ``folder/argv`` and then runs ``answer`` (shell)."""
    script = folder / "pulumi"
    script.write_text(f'#!/bin/sh\necho "$@" > {folder / "argv"}\n{answer}\n')
    script.chmod(0o755)
    monkeypatch.setenv("ZB_PULUMI", str(script))
    return folder / "argv"


@pytest.fixture
def fake_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A `pulumi` that answers `stack output machineKeys --show-secrets --json` like a stack with two accounts."""
    keys = {"ci": _key_file("100"), "auditor": _key_file("200")}
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    _fake_pulumi(tmp_path, monkeypatch, f"cat {tmp_path / 'keys.json'}")
    return keys


def test_key_file_writes_the_account_key_readable_by_its_owner_only(
    fake_pulumi: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "ci.json"
    assert main(["key-file", "ci", "--output", str(target), "--stack", "prod"]) == 0
    assert target.read_text() == fake_pulumi["ci"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert (tmp_path / "argv").read_text().split() == [
        *("stack", "output", "machineKeys", "--show-secrets", "--json", "--stack", "prod")
    ]
    printed = capsys.readouterr()
    assert "PRIVATE KEY" not in printed.out + printed.err
    assert json.loads(fake_pulumi["ci"])["key"].splitlines()[1] not in printed.out + printed.err
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
    assert "PRIVATE KEY" not in err
    assert not (tmp_path / "x.json").exists()


def test_key_file_into_a_missing_folder_is_bad_usage(
    fake_pulumi: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["key-file", "ci", "--output", str(tmp_path / "no" / "ci.json")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "argv").exists()  # the stack is not read for a file that cannot be written


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("echo 'error: no stack named prod found' >&2; exit 255", "no stack named prod found"),
        (
            "echo \"error: current stack does not have output property 'machineKeys'\" >&2; exit 255",
            "does not have output property 'machineKeys'",
        ),
        ("echo '\"not a map\"'", "the stack has no output machineKeys of key files (found str)"),
        ("echo 'Enter your passphrase'", "the stack output machineKeys is not JSON"),
    ],
    ids=["no-stack", "no-output", "not-a-map", "not-json"],
)
def test_key_file_without_the_stacks_keys_fails_with_the_reason(
    answer: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_pulumi(tmp_path, monkeypatch, answer)
    assert main(["key-file", "ci", "--output", str(tmp_path / "ci.json"), "--stack", "prod"]) == 1
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "ci.json").exists()


def test_key_file_without_a_pulumi_cli_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZB_PULUMI", str(tmp_path / "nothing-here"))
    assert main(["key-file", "ci", "--output", str(tmp_path / "ci.json")]) == 1
    assert "is not executable" in capsys.readouterr().err


def _old_command(module: str, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *words],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.mark.parametrize(
    ("module", "words", "new"),
    [
        ("tools.recover", (), "zitadel-bootstrap recover"),
        ("tools.pipeline", ("up",), "zitadel-bootstrap run"),
        ("tools.pipeline", ("adopt-user",), "zitadel-bootstrap"),
    ],
)
def test_the_0_2_module_commands_say_the_new_command_and_run_it(module: str, words: tuple[str, ...], new: str) -> None:
    done = _old_command(module, *words, "--help")
    assert done.returncode == 0, done.stderr
    assert f"python -m {module} is now `{new}`" in done.stderr
    assert f"usage: {' '.join([new, *words])} " in done.stdout, done.stdout


def test_the_0_2_pipeline_command_passes_its_arguments_on() -> None:
    done = _old_command("tools.pipeline", "up", "--attempts", "0")
    assert done.returncode == 2
    assert "python -m tools.pipeline is now `zitadel-bootstrap run`" in done.stderr
    assert "pipeline: --attempts must be at least 1" in done.stderr


def test_the_0_2_recover_command_passes_its_arguments_on() -> None:
    done = _old_command("tools.recover", "--dry-run")  # --stack is required: the new command's usage error
    assert done.returncode == 2
    assert "python -m tools.recover is now `zitadel-bootstrap recover`" in done.stderr
    assert "usage: zitadel-bootstrap recover" in done.stderr
    assert "--stack" in done.stderr.splitlines()[-1]


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
