"""The verification library and CLI against the running stand-in (ZITADEL's own OIDC library behind it)."""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from zitadel_bootstrap.verification import (
    DeadlineExceededError,
    Grant,
    RetryPolicy,
    VerificationError,
    VerificationRequest,
    parse_key_file,
    try_verify,
    verify,
)

from tools.pulumi_cli import OPERATIONS_COMMAND
from tools.standin import StandIn

REPO = Path(__file__).resolve().parents[2]
_names = itertools.count()


@dataclass(frozen=True)
class Account:
    org_id: str
    user_id: str
    key_json: str


def new_account(
    standin: StandIn,
    *,
    roles: list[str] | None = None,
    token_type: str = "ACCESS_TOKEN_TYPE_BEARER",
    org_id: str | None = None,
) -> Account:
    org = org_id or standin.default_org_id
    user_id = standin.create_machine_user(org, f"it-{next(_names)}", token_type)  # type: ignore[arg-type]
    if roles:
        standin.add_org_member(org, user_id, roles)
    return Account(org, user_id, standin.add_machine_key(org, user_id))


def request(
    standin: StandIn,
    account: Account,
    *,
    roles: tuple[str, ...] = ("ORG_OWNER",),
    audience: str = "zitadel",
    deadline: float = 20.0,
    settle: float | None = None,
    key_json: str | None = None,
) -> VerificationRequest:
    grants = (Grant(level="org", resource_id=account.org_id, roles=roles),) if roles else ()
    return VerificationRequest(
        issuer=standin.issuer,
        key=parse_key_file(key_json or account.key_json),
        grants=grants,
        audience=audience,
        org_id=account.org_id,
        insecure=True,
        policy=RetryPolicy(
            deadline_seconds=deadline,
            settle_seconds=deadline if settle is None else settle,
            initial_backoff=0.1,
            max_backoff=0.5,
        ),
    )


def rejected(standin: StandIn, account: Account, **kwargs: object) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        verify(request(standin, account, **kwargs))  # type: ignore[arg-type]
    return caught.value


def test_bearer_user_with_org_owner_is_verified_with_an_opaque_token(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    result = verify(request(standin, account))
    assert result.verified is True
    assert result.user_id == account.user_id
    assert result.key_id == parse_key_file(account.key_json).key_id
    assert result.token_type == "Bearer"
    assert result.token_format == "opaque"
    assert result.expires_in == 43199
    assert "ORG_OWNER" in next(iter(result.roles_found.values()))


def test_jwt_user_gets_a_jwt_access_token_and_is_verified(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"], token_type="ACCESS_TOKEN_TYPE_JWT")
    result = verify(request(standin, account))
    assert result.verified is True
    assert result.token_format == "jwt"


def test_identity_alone_is_proven_without_grants(standin: StandIn) -> None:
    account = new_account(standin)
    result = verify(request(standin, account, roles=()))
    assert result.verified is True
    assert result.roles_found == {}


def test_key_signed_by_another_private_key_is_rejected_as_key_rejected(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    forged = json.loads(account.key_json)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged["key"] = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    error = rejected(standin, account, key_json=json.dumps(forged), settle=0.5)
    assert error.kind == "key_rejected"
    assert account.user_id in str(error)


def test_key_of_another_user_is_rejected(standin: StandIn) -> None:
    first = new_account(standin, roles=["ORG_OWNER"])
    second = new_account(standin, roles=["ORG_OWNER"])
    stolen = json.loads(first.key_json)
    stolen["userId"] = second.user_id
    error = rejected(standin, second, key_json=json.dumps(stolen), settle=0.5)
    assert error.kind == "key_rejected"


def test_expired_key_is_refused_before_any_request(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    expired = standin.add_machine_key(account.org_id, account.user_id, datetime.now(UTC) - timedelta(minutes=5))
    error = rejected(standin, account, key_json=expired, settle=0.5)
    assert error.kind == "key_expired"
    assert "expired at" in error.message


def test_deleted_key_is_rejected_as_key_rejected(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    standin.remove_key(account.user_id, parse_key_file(account.key_json).key_id)
    error = rejected(standin, account, settle=0.5)
    assert error.kind == "key_rejected"
    assert "key" in error.hint.lower()


def test_deactivated_user_is_reported_as_inactive(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    standin.deactivate_user(account.user_id)
    error = rejected(standin, account, settle=0.5)
    assert error.kind == "user_inactive"


def test_reactivated_user_is_verified_again(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    standin.deactivate_user(account.user_id)
    standin.reactivate_user(account.user_id)
    assert verify(request(standin, account)).verified is True


def test_deleted_user_is_rejected(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    standin.delete_user(account.user_id)
    error = rejected(standin, account, settle=0.5)
    # ZITADEL looks a key up among the keys of existing machine users: a deleted user's key is just unknown.
    assert error.kind == "key_rejected"


def test_removed_membership_is_reported_as_grant_missing(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    standin.remove_org_member(account.org_id, account.user_id)
    error = rejected(standin, account, settle=0.5)
    assert error.kind == "grant_missing"
    assert account.org_id in str(error)


def test_reduced_roles_are_reported_as_roles_missing(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    standin.set_org_member_roles(account.org_id, account.user_id, ["ORG_OWNER_VIEWER"])
    error = rejected(standin, account, settle=0.5)
    assert error.kind == "roles_missing"
    assert "ORG_OWNER" in str(error)


def test_unknown_project_audience_yields_a_token_the_api_refuses(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    error = rejected(standin, account, audience="123456789012345678", settle=0.5)
    assert error.kind == "audience_rejected"
    assert "zitadel" in error.hint


def test_instance_project_id_as_explicit_audience_is_verified(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    assert verify(request(standin, account, audience=standin.iam_project_id)).verified is True


def test_admin_key_proves_its_instance_grant(standin: StandIn) -> None:
    key = parse_key_file(standin.admin_key_json)
    result = verify(
        VerificationRequest(
            issuer=standin.issuer,
            key=key,
            grants=(Grant(level="instance", resource_id="", roles=("IAM_OWNER",)),),
            insecure=True,
        )
    )
    assert result.verified is True
    assert result.user_id == standin.admin_user_id


def test_project_level_grant_is_proven(standin: StandIn) -> None:
    account = new_account(standin)
    project_id = standin.create_project(account.org_id, f"p-{next(_names)}")
    standin.add_project_member(project_id, account.user_id, ["PROJECT_OWNER"])
    result = verify(
        VerificationRequest(
            issuer=standin.issuer,
            key=parse_key_file(account.key_json),
            grants=(Grant(level="project", resource_id=project_id, roles=("PROJECT_OWNER",)),),
            org_id=account.org_id,
            insecure=True,
        )
    )
    assert result.verified is True


def test_key_lag_is_waited_out_with_retries(standin: StandIn) -> None:
    standin.set_lag(keys_ms=1500)
    account = new_account(standin, roles=["ORG_OWNER"])
    result = verify(request(standin, account))
    assert result.verified is True
    assert result.attempts > 3


def test_membership_lag_is_waited_out_with_retries(standin: StandIn) -> None:
    standin.set_lag(memberships_ms=1500)
    account = new_account(standin, roles=["ORG_OWNER"])
    result = verify(request(standin, account))
    assert result.verified is True
    assert result.attempts > 3


def test_key_lag_under_the_legacy_error_style_is_waited_out(standin: StandIn) -> None:
    standin.set_token_error_style("legacy")
    standin.set_lag(keys_ms=1000)
    account = new_account(standin, roles=["ORG_OWNER"])
    assert verify(request(standin, account)).verified is True


def test_legacy_error_style_still_classifies_a_deleted_key(standin: StandIn) -> None:
    standin.set_token_error_style("legacy")
    account = new_account(standin, roles=["ORG_OWNER"])
    standin.remove_key(account.user_id, parse_key_file(account.key_json).key_id)
    error = rejected(standin, account, settle=0.5)
    assert error.kind == "key_rejected"


def test_rate_limit_with_retry_after_is_honoured_then_succeeds(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    standin.inject_fault("/oauth/v2/token", status=429, count=2, retry_after=1)
    result = verify(request(standin, account))
    assert result.verified is True
    assert result.attempts >= 3
    assert result.elapsed_seconds >= 2.0


def test_permanent_server_errors_end_in_a_deadline_error_that_names_them(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    standin.inject_fault("/auth/v1/users/me", status=503, count=-1)
    with pytest.raises(DeadlineExceededError) as caught:
        verify(request(standin, account, deadline=2.0))
    assert caught.value.last_kind == "server_error"
    assert "failed with HTTP 503" in str(caught.value)


def test_check_reports_a_lost_grant_as_unverified_without_raising(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    standin.remove_org_member(account.org_id, account.user_id)
    result = try_verify(request(standin, account, settle=0.5))
    assert result.verified is False
    assert result.failure_kind == "grant_missing"
    assert result.failure is not None
    assert account.user_id in result.failure


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OPERATIONS_COMMAND), "verify", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_verifies_from_stdin_and_prints_json_without_key_material(standin: StandIn) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    done = run_cli(
        "--issuer", standin.issuer, "--key-file", "-", "--org-id", account.org_id, "--insecure", "--json",
        stdin=account.key_json,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["verified"] is True
    assert report["user_id"] == account.user_id
    pem_body = json.loads(account.key_json)["key"].splitlines()[1]
    assert pem_body not in done.stdout + done.stderr


def test_cli_exits_1_with_the_reason_when_the_user_is_deactivated(standin: StandIn, tmp_path: Path) -> None:
    account = new_account(standin, roles=["ORG_OWNER"])
    standin.deactivate_user(account.user_id)
    key_file = tmp_path / "key.json"
    key_file.write_text(account.key_json)
    done = run_cli(
        "--issuer", standin.issuer, "--key-file", str(key_file), "--org-id", account.org_id, "--insecure",
        "--timeout", "3",
    )  # fmt: skip
    assert done.returncode == 1
    assert "the user is not active (Errors.User.NotActive)" in done.stderr


def test_cli_refuses_an_http_issuer_without_insecure(standin: StandIn) -> None:
    account = new_account(standin)
    done = run_cli("--issuer", standin.issuer, "--key-file", "-", stdin=account.key_json)
    assert done.returncode == 2
    assert "--insecure" in done.stderr


def test_cli_fails_a_steady_wrong_role_early_naming_the_roles_found(standin: StandIn, tmp_path: Path) -> None:
    # ORG_OWNER is required, the user holds only ORG_USER_MANAGER: not read lag, a mistake to report within the
    # settle time (and say what is waited for meanwhile), not after the whole --timeout.
    account = new_account(standin, roles=["ORG_USER_MANAGER"])
    key_file = tmp_path / "key.json"
    key_file.write_text(account.key_json)
    settle = 6.0
    started = time.monotonic()
    done = run_cli(
        "--issuer", standin.issuer, "--key-file", str(key_file), "--org-id", account.org_id, "--insecure",
        "--role", "ORG_OWNER", "--timeout", "60", "--settle-seconds", str(settle),
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert took < settle + 10.0, (took, done.stderr)
    assert done.stdout == ""
    assert "not verified (roles_missing)" in done.stderr
    assert "ORG_USER_MANAGER" in done.stderr
    assert "not ORG_OWNER" in done.stderr
    assert "verify: still waiting" in done.stderr
    pem_body = json.loads(account.key_json)["key"].splitlines()[1]
    assert pem_body not in done.stderr


def test_cli_waits_out_a_role_change_that_shows_within_the_settle_time(standin: StandIn, tmp_path: Path) -> None:
    # The required role shows up 3 s into the run (a grant still propagating): within the settle time, so verified.
    account = new_account(standin, roles=["ORG_USER_MANAGER"])
    key_file = tmp_path / "key.json"
    key_file.write_text(account.key_json)
    change = threading.Timer(3.0, standin.set_org_member_roles, (account.org_id, account.user_id, ["ORG_OWNER"]))
    change.start()
    try:
        done = run_cli(
            "--issuer", standin.issuer, "--key-file", str(key_file), "--org-id", account.org_id, "--insecure",
            "--timeout", "30", "--settle-seconds", "8", "--json",
        )  # fmt: skip
    finally:
        change.join()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verified"] is True
