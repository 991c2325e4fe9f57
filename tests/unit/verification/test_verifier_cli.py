"""`zitadel-bootstrap verify`: exit 0 verified, 1 not verified, 2 bad usage or input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from zitadel_bootstrap.cli.verify import main

from .fake_zitadel import FakeZitadel
from .helpers import ORG_ID, USER_ID

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def key_path(key_json: str, tmp_path: Path) -> Path:
    path = tmp_path / "key.json"
    path.write_text(key_json)
    return path


def _run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.StringIO(stdin), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_verified_exits_0_with_a_summary_defaulting_to_org_owner(fake: FakeZitadel, key_path: Path) -> None:
    code, out, err = _run(["--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--org-id", ORG_ID])
    assert code == 0, err
    assert f"verified: user {USER_ID}" in out
    assert f"org:{ORG_ID}: ORG_OWNER" in out
    assert len(fake.seen("memberships")) == 1


def test_json_output_is_the_result_dict(fake: FakeZitadel, key_path: Path) -> None:
    code, out, _ = _run(["--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--org-id", ORG_ID, "--json"])
    data = json.loads(out)
    assert code == 0
    assert data["verified"] is True
    assert data["roles_found"] == {f"org:{ORG_ID}": ["ORG_OWNER"]}
    assert data["failure_kind"] is None


def test_not_verified_exits_1_with_the_reason_on_stderr(fake: FakeZitadel, key_path: Path) -> None:
    code, out, err = _run(
        ["--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--audience", "170079991923474433"]
    )
    assert code == 1
    assert out == ""
    assert "not verified (audience_rejected)" in err
    assert "iamProjectId" in err


def test_not_verified_with_json_exits_1_with_the_failure_in_the_json(fake: FakeZitadel, key_path: Path) -> None:
    fake.user_state = "USER_STATE_INACTIVE"
    code, out, err = _run(
        ["--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--org-id", ORG_ID, "--json"]
    )
    data = json.loads(out)
    assert code == 1
    assert err == ""
    assert data["verified"] is False
    assert data["failure_kind"] == "user_inactive"
    assert USER_ID in data["failure"]


def test_without_org_id_only_the_identity_is_proven(fake: FakeZitadel, key_path: Path) -> None:
    code, out, _ = _run(["--issuer", fake.url, "--insecure", "--key-file", str(key_path)])
    assert code == 0
    assert fake.seen("memberships") == []
    assert "x-zitadel-orgid" not in fake.seen("users_me")[0].headers
    assert "verified" in out


def test_instance_level_defaults_to_iam_owner(fake: FakeZitadel, key_path: Path) -> None:
    fake.add_membership(["IAM_OWNER"], iam=True)
    code, out, _ = _run(["--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--level", "instance"])
    assert code == 0
    assert "instance: IAM_OWNER" in out


def test_project_level_checks_the_project_membership(fake: FakeZitadel, key_path: Path) -> None:
    fake.add_membership(["PROJECT_OWNER_VIEWER"], projectId="300")
    code, _, err = _run(
        [
            *("--issuer", fake.url, "--insecure", "--key-file", str(key_path)),
            *("--level", "project", "--project-id", "300", "--role", "PROJECT_OWNER_VIEWER"),
        ]
    )
    assert code == 0, err


def test_key_file_dash_reads_stdin(fake: FakeZitadel, key_json: str) -> None:
    code, _, err = _run(["--issuer", fake.url, "--insecure", "--key-file", "-"], stdin=key_json)
    assert code == 0, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required"),
        (["--issuer", "https://acme.zitadel.cloud"], "--key-file"),
        (["--issuer", "https://a.example", "--key-file", "k", "--timeout", "soon"], "invalid float"),
        (["--issuer", "https://a.example", "--key-file", "k", "--level", "galaxy"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2(argv: list[str], message: str) -> None:
    code, out, err = _run(argv)
    assert code == 2
    assert out == ""
    assert message in err


def test_http_issuer_without_insecure_exits_2(key_path: Path) -> None:
    code, _, err = _run(["--issuer", "http://localhost:8080", "--key-file", str(key_path)])
    assert code == 2
    assert "plain http" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--role", "ORG_OWNER"], "need --org-id or --level"),
        (["--level", "project"], "needs --project-id"),
        (["--level", "org"], "needs --org-id"),
        (["--timeout", "-1"], "deadline_seconds"),
    ],
)
def test_inconsistent_options_exit_2(key_path: Path, extra: list[str], message: str) -> None:
    code, _, err = _run(["--issuer", "https://acme.zitadel.cloud", "--key-file", str(key_path), *extra])
    assert code == 2
    assert message in err


def test_unreadable_key_file_exits_2_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    code, _, err = _run(["--issuer", "https://acme.zitadel.cloud", "--key-file", str(missing)])
    assert code == 2
    assert str(missing) in err


def test_the_command_runs_as_a_separate_process(fake: FakeZitadel, key_path: Path) -> None:
    command = [sys.executable, "-m", "zitadel_bootstrap.cli.main", "verify", "--issuer", fake.url, "--insecure"]
    ok = subprocess.run(
        [*command, "--key-file", str(key_path), "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["verified"] is True
    bad = subprocess.run(
        [*command, "--key-file", "-"],
        cwd=REPO_ROOT,
        input="{}",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "no 'keyId' field" in bad.stderr
