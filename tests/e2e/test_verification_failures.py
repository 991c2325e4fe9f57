"""How the verification resource fails under the real engine: bad input at preview, lag, a broken token endpoint.

Each test has a stack and an org of its own; faults and lag are cleared after each test (``clean_faults``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.e2e.harness import EngineStack
from tests.e2e.identities import provision
from tests.e2e.leaks import assert_no_leaks
from tools.standin import StandIn

TOKEN_PATH = "/oauth/v2/token"


@pytest.mark.parametrize(
    ("case", "overrides", "secret_overrides", "prop", "reason"),
    [
        ("http_issuer_without_insecure", {"insecure": False}, {}, "issuer", "uses plain http"),
        ("unparsable_key", {}, {"keyJson": '{"type": "serviceaccount", "keyId": '}, "key_json", "not valid JSON"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_invalid_input_fails_at_preview_naming_the_property_and_creates_nothing(
    engine_root: str,
    standin: StandIn,
    tmp_path: Path,
    case: str,
    overrides: dict[str, object],
    secret_overrides: dict[str, str],
    prop: str,
    reason: str,
) -> None:
    identity = provision(standin, case.replace("_", "-"))
    engine = EngineStack.create(tmp_path, "invalid")
    plain, secrets = identity.stack_config(standin.issuer, **overrides)
    engine.configure(plain, {**secrets, **secret_overrides})

    with pytest.raises(auto.CommandError) as previewed:
        engine.preview(f"invalid {case}: preview")
    message = str(previewed.value)
    assert f"property {prop} value" in message, message
    assert reason in message, message
    assert engine.resources() == []

    # `up` stops at the same check, before anything reaches the state.
    with pytest.raises(auto.CommandError) as upped:
        engine.up(f"invalid {case}: up")
    assert f"property {prop} value" in str(upped.value)
    assert engine.resources() == [], "a resource was created from invalid input"
    assert_no_leaks(list(engine.files()), engine.captured, identity.all_keys, standin.issuer)


def test_up_succeeds_through_lag_on_new_keys_and_memberships(
    engine_root: str, clean_faults: StandIn, tmp_path: Path
) -> None:
    standin = clean_faults
    engine = EngineStack.create(tmp_path, "lag")
    # The lag counts from each object's creation: create them last, right before `up`, so the engine's own
    # start-up (about 2 s) does not use it all up.
    lag_seconds = 5
    standin.set_lag(keys_ms=lag_seconds * 1000, memberships_ms=lag_seconds * 1000)
    identity = provision(standin, "lag")
    engine.configure(*identity.stack_config(standin.issuer))

    result = engine.up(f"lag: up through {lag_seconds} s of key and membership lag")
    assert result.outputs["verified"].value is True
    state = engine.resources()[0]["outputs"]
    # Without lag a proof takes 4 requests (discovery, token, users/me, memberships): more means retries.
    assert state["attempts"] > 4, state
    assert state["elapsed_seconds"] >= 1, state
    assert_no_leaks(list(engine.files()), engine.captured, identity.all_keys, standin.issuer)


def test_up_fails_clearly_while_the_token_endpoint_fails_and_converges_after(
    engine_root: str, clean_faults: StandIn, tmp_path: Path
) -> None:
    standin = clean_faults
    identity = provision(standin, "fault")
    engine = EngineStack.create(tmp_path, "fault")
    deadline = 4
    engine.configure(*identity.stack_config(standin.issuer, deadlineSeconds=deadline))
    standin.inject_fault(TOKEN_PATH, status=500, count=10_000)

    with pytest.raises(auto.CommandError) as failed:
        engine.up("fault: up while the token endpoint answers 500")
    message = str(failed.value)
    assert f"Verification of user {identity.user_id}" in message, message
    assert "did not finish: the token exchange still failed" in message, message
    assert "HTTP 500 (server_error" in message, message
    assert engine.resources() == [], "a failed proof must not be recorded as a resource"

    standin.clear_faults()
    result = engine.up("fault: up after the fault is cleared")
    assert result.outputs["verified"].value is True
    engine.preview_refresh("fault: refresh preview after convergence", expect_no_changes=True)
    assert_no_leaks(list(engine.files()), engine.captured, identity.all_keys, standin.issuer)
