"""A steady refusal: the same wrong roles, unchanged past the settle time, are a configuration mistake, not read lag.

The CLI (cli/verify.py, ``--settle-seconds``) fails early naming the roles required and found; the library
(proof.py) does so only when the policy asks (``RetryPolicy.steady_refusal_seconds``), so the provider's waits
are unchanged. Time is fake (it moves only when the verifier sleeps); the network is the local fake ZITADEL.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from zitadel_bootstrap import clock
from zitadel_bootstrap.cli.verify import build_parser, main
from zitadel_bootstrap.verification import RetryPolicy, VerificationRequest, try_verify
from zitadel_bootstrap.verification.errors import InvalidInputError

from .fake_zitadel import FakeZitadel
from .helpers import ORG_ID, USER_ID, FakeTime


@pytest.fixture
def key_path(key_json: str, tmp_path: Path) -> Path:
    path = tmp_path / "key.json"
    path.write_text(key_json)
    return path


@pytest.fixture
def fake_clock(fake_time: FakeTime) -> Iterator[FakeTime]:
    with clock.use(clock.Clock(now=time.time, monotonic=fake_time.monotonic, sleep=fake_time.sleep)):
        yield fake_time


@pytest.fixture
def user_manager_only(fake: FakeZitadel) -> FakeZitadel:
    fake.memberships.clear()
    fake.add_membership(["ORG_USER_MANAGER"], orgId=ORG_ID)
    return fake


def run_cli(argv: list[str], *, as_json: bool = False) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main([*argv, *(["--json"] if as_json else [])], stdin=io.StringIO(""), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def cli_args(fake: FakeZitadel, key_path: Path, *extra: str) -> list[str]:
    return ["--issuer", fake.url, "--insecure", "--key-file", str(key_path), "--org-id", ORG_ID, *extra]


def test_cli_fails_a_steady_wrong_role_set_after_the_settle_time_naming_both_role_sets(
    user_manager_only: FakeZitadel, fake_clock: FakeTime, key_path: Path
) -> None:
    start = fake_clock.now
    code, out, err = run_cli(cli_args(user_manager_only, key_path, "--timeout", "60", "--settle-seconds", "10"))
    waited = fake_clock.now - start
    assert code == 1
    assert out == ""
    assert 10.0 <= waited <= 20.0, waited  # the settle time, not the 60 s deadline
    final = err.strip().splitlines()[-1]
    assert final.startswith("not verified (roles_missing): "), err
    assert f"user {USER_ID} holds ORG_USER_MANAGER on org {ORG_ID}, not ORG_OWNER" in final
    assert "not read lag" in final
    assert "Grant ORG_OWNER" in final


def test_cli_settle_time_defaults_to_10_s_and_is_documented(
    user_manager_only: FakeZitadel, fake_clock: FakeTime, key_path: Path
) -> None:
    assert "--settle-seconds" in build_parser().format_help()
    start = fake_clock.now
    code, _, err = run_cli(cli_args(user_manager_only, key_path, "--timeout", "60"))
    assert code == 1
    assert 10.0 <= fake_clock.now - start <= 20.0
    assert "ORG_USER_MANAGER" in err


def test_cli_json_reports_the_steady_refusal_with_the_roles_found(
    user_manager_only: FakeZitadel, fake_clock: FakeTime, key_path: Path
) -> None:
    code, out, _ = run_cli(cli_args(user_manager_only, key_path, "--settle-seconds", "10"), as_json=True)
    report = json.loads(out)
    assert code == 1
    assert report["failure_kind"] == "roles_missing"
    assert report["roles_found"] == {f"org:{ORG_ID}": ["ORG_USER_MANAGER"]}
    assert "ORG_USER_MANAGER" in report["failure"]
    assert report["elapsed_seconds"] < 20.0


def test_cli_rejects_a_negative_settle_time(key_path: Path) -> None:
    code, _, err = run_cli(
        ["--issuer", "https://acme.zitadel.cloud", "--key-file", str(key_path), "--settle-seconds", "-1"]
    )
    assert code == 2
    assert "steady_refusal_seconds" in err


def test_a_changing_role_set_resets_the_settle_clock(
    user_manager_only: FakeZitadel, fake_time: FakeTime, make_request: Callable[..., VerificationRequest]
) -> None:
    # The roles change every 6 s: never unchanged for the 10 s settle time, so the deadline decides.
    start = fake_time.now
    role_sets = (["ORG_USER_MANAGER"], ["ORG_USER_MANAGER", "ORG_OWNER_VIEWER"])

    def sleep(seconds: float) -> None:
        fake_time.sleep(seconds)
        user_manager_only.memberships[0]["roles"] = role_sets[int((fake_time.now - start) // 6) % 2]

    policy = RetryPolicy(deadline_seconds=40.0, settle_seconds=40.0, steady_refusal_seconds=10.0)
    result = try_verify(make_request(policy=policy), monotonic=fake_time.monotonic, sleep=sleep)
    assert result.failure_kind == "roles_missing"
    assert fake_time.now - start >= 35.0
    assert result.failure is not None
    assert "not read lag" not in result.failure


def test_a_role_set_that_turns_right_within_the_settle_time_is_verified(
    user_manager_only: FakeZitadel, fake_time: FakeTime, make_request: Callable[..., VerificationRequest]
) -> None:
    start = fake_time.now

    def sleep(seconds: float) -> None:
        fake_time.sleep(seconds)
        if fake_time.now - start >= 7.0:  # the role change shows after 7 s of read lag
            user_manager_only.memberships[0]["roles"] = ["ORG_OWNER"]

    policy = RetryPolicy(deadline_seconds=60.0, settle_seconds=60.0, steady_refusal_seconds=10.0)
    result = try_verify(make_request(policy=policy), monotonic=fake_time.monotonic, sleep=sleep)
    assert result.verified is True, result.failure


def test_no_membership_at_all_keeps_waiting_until_the_deadline(
    fake: FakeZitadel,
    make_request: Callable[..., VerificationRequest],
    run_kwargs: dict[str, Any],
    fake_time: FakeTime,
) -> None:
    fake.memberships.clear()
    start = fake_time.now
    policy = RetryPolicy(deadline_seconds=40.0, settle_seconds=40.0, steady_refusal_seconds=5.0)
    result = try_verify(make_request(policy=policy), **run_kwargs)
    assert result.failure_kind == "grant_missing"
    assert fake_time.now - start >= 35.0


def test_an_empty_role_set_is_read_lag_too(
    fake: FakeZitadel,
    make_request: Callable[..., VerificationRequest],
    run_kwargs: dict[str, Any],
    fake_time: FakeTime,
) -> None:
    fake.memberships.clear()
    fake.add_membership([], orgId=ORG_ID)
    start = fake_time.now
    policy = RetryPolicy(deadline_seconds=40.0, settle_seconds=40.0, steady_refusal_seconds=5.0)
    result = try_verify(make_request(policy=policy), **run_kwargs)
    assert result.failure_kind == "roles_missing"
    assert fake_time.now - start >= 35.0


def test_without_steady_refusal_the_library_waits_the_whole_settle_time_as_before(
    user_manager_only: FakeZitadel,
    make_request: Callable[..., VerificationRequest],
    run_kwargs: dict[str, Any],
    fake_time: FakeTime,
) -> None:
    # The provider's policies never set steady_refusal_seconds: its create/update follows its own role change,
    # whose old roles are exactly what ZITADEL's read lag shows for a while.
    assert RetryPolicy().steady_refusal_seconds is None
    start = fake_time.now
    result = try_verify(make_request(deadline=40.0, settle=40.0), **run_kwargs)
    assert result.failure_kind == "roles_missing"
    assert fake_time.now - start >= 35.0


def test_the_library_stops_early_when_the_policy_asks(
    user_manager_only: FakeZitadel,
    make_request: Callable[..., VerificationRequest],
    run_kwargs: dict[str, Any],
    fake_time: FakeTime,
) -> None:
    start = fake_time.now
    policy = RetryPolicy(deadline_seconds=60.0, settle_seconds=60.0, steady_refusal_seconds=10.0)
    result = try_verify(make_request(policy=policy), **run_kwargs)
    assert result.verified is False
    assert result.failure_kind == "roles_missing"
    assert 10.0 <= fake_time.now - start <= 20.0
    assert result.roles_found == {f"org:{ORG_ID}": ("ORG_USER_MANAGER",)}
    assert result.failure is not None
    assert f"holds ORG_USER_MANAGER on org {ORG_ID}, not ORG_OWNER" in result.failure


@pytest.mark.parametrize("value", [-1.0, float("nan"), 4000.0])
def test_the_policy_rejects_unusable_steady_refusal_times(value: float) -> None:
    with pytest.raises(InvalidInputError, match="steady_refusal_seconds"):
        RetryPolicy(steady_refusal_seconds=value)
