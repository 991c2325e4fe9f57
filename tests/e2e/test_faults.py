"""Faults of ZITADEL during `pulumi up` of the real program: projection lag and rate limits are retried through;
an API that keeps failing fails `up` clearly, naming the account, and the next `up` converges."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.stacks import MACHINE_KEY, MACHINE_USER, ORG_MEMBER, VERIFICATION_TYPE, E2EStack
from tools.pulumi_cli import EXIT_FAILED
from tools.standin import StandIn


def one_account(standin: StandIn, user_name: str) -> list[dict[str, str]]:
    return [{"name": user_name, "orgId": standin.default_org_id, "userName": user_name}]


def test_projection_lag_of_new_keys_and_memberships_is_retried_through(clean_faults: StandIn, tmp_path: Path) -> None:
    standin = clean_faults
    stack = E2EStack.create(tmp_path, "lag", standin, one_account(standin, "lagging"))
    standin.set_lag(keys_ms=2000, memberships_ms=2000)
    stack.cli.up(label="up with projection lag")
    # The request count and duration stay on the verification resource: stack outputs hold what stays put.
    verification = stack.resource_outputs(VERIFICATION_TYPE, "lagging-verification")
    assert verification["attempts"] > 4, "the lag must have been retried, not missed"
    assert verification["elapsed_seconds"] >= 1.5
    standin.set_lag()
    stack.cli.drift_check(label="drift check after lag")


def test_rate_limited_api_answers_are_retried_through(clean_faults: StandIn, tmp_path: Path) -> None:
    standin = clean_faults
    stack = E2EStack.create(tmp_path, "ratelimit", standin, one_account(standin, "throttled"))
    standin.inject_fault("/auth/v1/users/me", status=429, count=2, retry_after=1)
    stack.cli.up(label="up through 429")
    # The request count and duration stay on the verification resource: stack outputs hold what stays put.
    verification = stack.resource_outputs(VERIFICATION_TYPE, "throttled-verification")
    assert verification["attempts"] >= 6, "two 429s must have been retried"
    assert verification["elapsed_seconds"] >= 1.5, "Retry-After: 1 must have been honoured, twice"


def test_an_api_that_keeps_failing_fails_up_by_account_and_the_next_up_converges(
    clean_faults: StandIn, tmp_path: Path
) -> None:
    standin = clean_faults
    stack = E2EStack.create(
        tmp_path, "failing", standin, one_account(standin, "unlucky"), verification={"deadlineSeconds": 4}
    )
    standin.inject_fault("/auth/v1/users/me", status=503, count=-1)
    failed = stack.cli.up(label="up: API keeps failing", expect=(EXIT_FAILED,))
    assert "unlucky-verification" in failed.output
    assert "failed with HTTP 503 (Service Unavailable)" in failed.output, failed.output[-2000:]
    # The plugin's part went through; only the proof is missing, and the user is there exactly once.
    in_state = stack.types_in_state()
    assert (in_state.get(MACHINE_USER), in_state.get(MACHINE_KEY), in_state.get(ORG_MEMBER)) == (1, 1, 1)
    assert VERIFICATION_TYPE not in in_state
    assert stack.user("unlucky") is not None

    standin.clear_faults()
    stack.cli.up(label="up after the API recovered")
    assert stack.cli.outputs()["serviceAccounts"]["unlucky"]["verified"] is True
    stack.cli.drift_check(label="drift check after recovery")
