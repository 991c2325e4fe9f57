"""verify()/try_verify() against a local fake ZITADEL: success, every documented answer of both server generations,
retries within settle/deadline budgets, Retry-After, timeouts, malformed answers and pagination."""

from __future__ import annotations

import email.utils
import random
import socket
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from zitadel_bootstrap.verification import (
    ApiProofError,
    DeadlineExceededError,
    DiscoveryError,
    Grant,
    MachineKey,
    TokenExchangeError,
    VerificationError,
    VerificationRequest,
    match_grants,
    parse_key_file,
    try_verify,
    verify,
)
from zitadel_bootstrap.verification.classify import StepError, parse_retry_after
from zitadel_bootstrap.verification.exchange import read_discovery
from zitadel_bootstrap.verification.http import build_client

from .fake_zitadel import (
    INVALID_GRANT,
    LEGACY_INTERNAL,
    MEMBERSHIP_NOT_FOUND,
    NO_PERMISSION,
    ORG_UNKNOWN,
    TOKEN_INVALID,
    FakeZitadel,
    Reply,
)
from .helpers import KEY_ID, ORG_ID, USER_ID, FakeTime, key_file_text

MakeRequest = Callable[..., VerificationRequest]


# --- success ---------------------------------------------------------------------------------------------


def test_opaque_token_success_reports_ids_roles_and_token_facts(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    result = verify(make_request(), **run_kwargs)
    assert result.verified is True
    assert (result.user_id, result.key_id, result.org_id) == (USER_ID, KEY_ID, ORG_ID)
    assert result.roles_found == {f"org:{ORG_ID}": ("ORG_OWNER",)}
    assert (result.token_type, result.token_format, result.expires_in) == ("Bearer", "opaque", 43199)
    assert result.attempts == 4  # discovery, token, users/me, memberships
    assert result.failure_kind is None


def test_jwt_access_token_is_reported_as_jwt(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.access_token_type = "jwt"
    assert verify(make_request(), **run_kwargs).token_format == "jwt"


def test_token_request_is_a_jwt_bearer_grant_with_openid_and_audience_scope_and_no_client_auth(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    verify(make_request(), **run_kwargs)
    (token_request,) = fake.seen("token")
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in token_request.headers
    form = token_request.form
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert form["scope"] == "openid urn:zitadel:iam:org:project:id:zitadel:aud"
    assert set(form) == {"grant_type", "assertion", "scope"}


def test_api_calls_carry_the_bearer_token_and_the_org_header(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    verify(make_request(), **run_kwargs)
    for request in fake.seen("users_me") + fake.seen("memberships"):
        assert request.headers["authorization"].removeprefix("Bearer ") in fake.tokens
        assert request.headers["x-zitadel-orgid"] == ORG_ID
    assert fake.seen("memberships")[0].json == {"query": {"offset": "0", "limit": 100, "asc": True}}


def test_without_org_id_no_org_header_is_sent_and_identity_alone_is_proven(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    result = verify(make_request(org_id=None, grants=()), **run_kwargs)
    assert result.verified
    assert result.roles_found == {}
    assert "x-zitadel-orgid" not in fake.seen("users_me")[0].headers
    assert fake.seen("memberships") == []


def test_one_connection_is_reused_for_all_requests(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    verify(make_request(), **run_kwargs)
    assert len({request.client_port for request in fake.requests}) == 1


def test_ec_key_verifies_end_to_end(fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]) -> None:
    ec_private = ec.generate_private_key(ec.SECP256R1())
    fake.register_key("ec-key", USER_ID, ec_private.public_key())
    key = parse_key_file(key_file_text(ec_private, key_id="ec-key"))
    assert verify(make_request(key=key), **run_kwargs).verified


def test_instance_project_and_project_grant_memberships_are_matched_by_their_kind(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.add_membership(["IAM_OWNER"], iam=True)
    fake.add_membership(["PROJECT_OWNER"], projectId="300")
    fake.add_membership(["PROJECT_GRANT_OWNER"], projectGrantId="400")
    grants = (
        Grant("instance", "", ("IAM_OWNER",)),
        Grant("org", ORG_ID, ("ORG_OWNER",)),
        Grant("project", "300", ("PROJECT_OWNER",)),
        Grant("project_grant", "400", ("PROJECT_GRANT_OWNER",), project_id="300"),
    )
    result = verify(make_request(grants=grants), **run_kwargs)
    assert result.roles_found == {
        "instance": ("IAM_OWNER",),
        f"org:{ORG_ID}": ("ORG_OWNER",),
        "project:300": ("PROJECT_OWNER",),
        "project_grant:400": ("PROJECT_GRANT_OWNER",),
    }


def test_match_grants_does_not_confuse_a_project_membership_with_an_org_of_the_same_id() -> None:
    match = match_grants([Grant("org", "300", ("ORG_OWNER",))], [{"projectId": "300", "roles": ["ORG_OWNER"]}])
    assert [grant.key for grant in match.missing] == ["org:300"]


def test_memberships_are_paginated_until_total_result(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.memberships = [{"userId": USER_ID, "roles": ["ORG_OWNER"], "orgId": str(900 + index)} for index in range(150)]
    fake.add_membership(["ORG_OWNER", "ORG_USER_MANAGER"], orgId=ORG_ID)
    result = verify(make_request(), **run_kwargs)
    assert result.roles_found == {f"org:{ORG_ID}": ("ORG_OWNER", "ORG_USER_MANAGER")}
    assert [request.json["query"]["offset"] for request in fake.seen("memberships")] == ["0", "100"]


def test_discovery_issuer_is_used_as_the_assertion_audience(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    # The fake validates aud against its own issuer: a token means the audience matched exactly.
    result = verify(make_request(issuer=fake.url + "/"), **run_kwargs)
    assert result.verified


# --- token endpoint answers, both server generations ----------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["new-400-invalid_grant", "legacy-500-internal"])
def test_rejected_assertion_is_key_rejected_after_the_settle_time(
    fake: FakeZitadel,
    make_request: MakeRequest,
    run_kwargs: dict[str, Any],
    fake_time: FakeTime,
    legacy: bool,
) -> None:
    fake.legacy = legacy
    fake.keys.clear()  # unknown key: what a deleted key or a lagging projection looks like
    with pytest.raises(TokenExchangeError) as caught:
        verify(make_request(settle=10.0), **run_kwargs)
    error = caught.value
    assert error.kind == "key_rejected"
    assert f"user {USER_ID} (key {KEY_ID}, org {ORG_ID})" in str(error)
    for cause in ("not active yet", "expired", "deleted"):
        assert cause in error.hint
    assert ("Errors.Internal" in error.hint) is legacy
    assert len(fake.seen("token")) > 2
    assert 9.0 <= sum(fake_time.sleeps) <= 10.0
    assert {request.path for request in fake.requests} == {"/.well-known/openid-configuration", "/oauth/v2/token"}
    assert ("server_error / Errors.Internal" if legacy else "invalid_grant / invalid assertion") in str(error)


@pytest.mark.parametrize("refusal", [INVALID_GRANT, LEGACY_INTERNAL])
def test_key_lagging_after_creation_then_accepted_is_verified(
    fake: FakeZitadel,
    make_request: MakeRequest,
    run_kwargs: dict[str, Any],
    fake_time: FakeTime,
    refusal: dict[str, str],
) -> None:
    status = 400 if refusal is INVALID_GRANT else 500
    fake.script("token", Reply(status, refusal), Reply(status, refusal))
    result = verify(make_request(), **run_kwargs)
    assert result.verified
    assert len(fake_time.sleeps) == 2
    assert result.attempts == 6


def test_zero_settle_reports_a_rejected_key_at_once_as_refresh_needs(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    fake.script("token", Reply(400, INVALID_GRANT))
    result = try_verify(make_request(settle=0.0), **run_kwargs)
    assert (result.verified, result.failure_kind) == (False, "key_rejected")
    assert fake_time.sleeps == []


def test_inactive_user_is_reported_at_once_without_retry(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    fake.user_state = "USER_STATE_INACTIVE"
    with pytest.raises(TokenExchangeError) as caught:
        verify(make_request(), **run_kwargs)
    assert caught.value.kind == "user_inactive"
    assert "deactivated or locked" in caught.value.hint
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    "body",
    [
        {"error": "invalid_request", "error_description": "The scope of your request is missing"},
        {"error": "invalid_request", "error_description": "assertion missing"},
        {"error": "unsupported_grant_type", "error_description": "grant_type not supported"},
    ],
)
def test_client_side_refusals_are_request_rejected_without_retry(
    fake: FakeZitadel,
    make_request: MakeRequest,
    run_kwargs: dict[str, Any],
    fake_time: FakeTime,
    body: dict[str, str],
) -> None:
    fake.script("token", Reply(400, body))
    with pytest.raises(TokenExchangeError) as caught:
        verify(make_request(), **run_kwargs)
    assert caught.value.kind == "request_rejected"
    assert body["error_description"] in str(caught.value)
    assert fake_time.sleeps == []


def test_not_active_is_recognised_even_when_an_old_server_sends_it_with_500(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.script("token", Reply(500, {"error": "server_error", "error_description": "Errors.User.NotActive"}))
    assert try_verify(make_request(), **run_kwargs).failure_kind == "user_inactive"


def test_token_200_with_malformed_json_is_bad_response_without_retry(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    fake.script("token", Reply(200, '{"access_token": "abc"', raw=True, headers={"Content-Type": "application/json"}))
    with pytest.raises(TokenExchangeError) as caught:
        verify(make_request(), **run_kwargs)
    assert caught.value.kind == "bad_response"
    assert fake_time.sleeps == []


def test_jwt_access_token_for_another_subject_is_identity_mismatch(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    other = jwt.encode({"sub": "999", "iss": fake.url}, "k" * 32, algorithm="HS256")
    fake.script("token", Reply(200, {"access_token": other, "token_type": "Bearer", "expires_in": 60}))
    assert try_verify(make_request(), **run_kwargs).failure_kind == "identity_mismatch"


# --- API answers ------------------------------------------------------------------------------------------


def test_wrong_project_audience_is_audience_rejected_with_the_iam_project_hint(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    # ZITADEL issues a token for any project id; only the API call shows the audience is wrong.
    with pytest.raises(ApiProofError) as caught:
        verify(make_request(audience="170079991923474433"), **run_kwargs)
    assert caught.value.kind == "audience_rejected"
    assert "AUTH-7fs1e" in str(caught.value)
    assert "'zitadel'" in caught.value.hint
    assert "iamProjectId" in caught.value.hint
    assert fake_time.sleeps == []


def test_other_401_is_token_rejected(fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]) -> None:
    expired = Reply(401, {"code": 16, "message": "Errors.Token.Expired"})
    fake.script("users_me", expired, expired)
    assert try_verify(make_request(), **run_kwargs).failure_kind == "token_rejected"


def test_a_fresh_token_refused_once_is_replaced_by_another_before_giving_up(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    # An instance that restarted forgets the tokens it issued: one new token tells that from a token that never works.
    fake.script("users_me", Reply(401, {"code": 16, "message": "Errors.Token.Invalid (AUTH-7fs1e)"}))
    assert verify(make_request(), **run_kwargs).verified is True
    assert len(fake.seen("token")) == 2


def test_users_me_for_another_user_is_identity_mismatch(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.me_user_id = "111111111111111111"
    with pytest.raises(ApiProofError) as caught:
        verify(make_request(), **run_kwargs)
    assert caught.value.kind == "identity_mismatch"
    assert f"authenticated user 111111111111111111, not {USER_ID}" in str(caught.value)


def test_users_me_reporting_an_inactive_state_is_user_inactive(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.script("users_me", Reply(200, {"user": {"id": USER_ID, "state": "USER_STATE_LOCKED"}}))
    assert try_verify(make_request(), **run_kwargs).failure_kind == "user_inactive"


def test_users_me_with_omitted_zero_state_is_accepted(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.script("users_me", Reply(200, {"user": {"id": USER_ID}}))
    assert verify(make_request(), **run_kwargs).verified


def test_users_me_malformed_json_is_bad_response(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.script("users_me", Reply(200, "<html>proxy</html>", raw=True))
    result = try_verify(make_request(), **run_kwargs)
    assert result.failure_kind == "bad_response"
    assert result.token_type == "Bearer"  # what was learned before the failure is kept


def test_membership_not_found_is_grant_missing_after_settle(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    fake.script("memberships", *[Reply(404, MEMBERSHIP_NOT_FOUND)] * 50)
    with pytest.raises(ApiProofError) as caught:
        verify(make_request(settle=5.0), **run_kwargs)
    assert caught.value.kind == "grant_missing"
    assert "AUTHZ-cdgFk" in str(caught.value)
    assert "removed" in caught.value.hint
    assert 4.0 <= sum(fake_time.sleeps) <= 5.0


def test_membership_lagging_then_present_is_verified(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    fake.script("memberships", Reply(404, MEMBERSHIP_NOT_FOUND), Reply(200, {"details": {"totalResult": "0"}}))
    result = verify(make_request(), **run_kwargs)
    assert result.verified
    assert len(fake_time.sleeps) == 2
    assert len(fake.seen("token")) == 1  # the token is reused across API retries


def test_empty_membership_result_is_grant_missing_naming_the_org(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.memberships = []
    result = try_verify(make_request(settle=0.0), **run_kwargs)
    assert result.failure_kind == "grant_missing"
    assert f"no membership on org {ORG_ID}" in (result.failure or "")


def test_membership_without_a_required_role_is_roles_missing_naming_it(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.memberships = []
    fake.add_membership(["ORG_USER_MANAGER"], orgId=ORG_ID)
    result = try_verify(make_request(settle=0.0), **run_kwargs)
    assert result.failure_kind == "roles_missing"
    assert "lacks ORG_OWNER (has ORG_USER_MANAGER)" in (result.failure or "")
    assert result.roles_found == {f"org:{ORG_ID}": ("ORG_USER_MANAGER",)}


@pytest.mark.parametrize(
    ("body", "kind"),
    [(NO_PERMISSION, "roles_missing"), (ORG_UNKNOWN, "org_not_found")],
)
def test_403_answers_are_classified_by_their_zitadel_id(
    fake: FakeZitadel,
    make_request: MakeRequest,
    run_kwargs: dict[str, Any],
    body: dict[str, Any],
    kind: str,
) -> None:
    fake.script("memberships", Reply(403, body))
    assert try_verify(make_request(settle=0.0), **run_kwargs).failure_kind == kind


def test_unclassified_403_is_permission_denied(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.script("users_me", Reply(403, {"code": 7, "message": "forbidden"}))
    assert try_verify(make_request(), **run_kwargs).failure_kind == "permission_denied"


def test_token_invalid_body_matches_zitadel(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.script("memberships", Reply(401, TOKEN_INVALID))
    assert try_verify(make_request(), **run_kwargs).failure_kind == "audience_rejected"


# --- transient faults, budgets ----------------------------------------------------------------------------


def test_429_retry_after_seconds_is_honoured_exactly(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    fake.script("token", Reply(429, {"error": "rate limited"}, headers={"Retry-After": "7"}))
    assert verify(make_request(), **run_kwargs).verified
    assert fake_time.sleeps == [7.0]


def test_429_retry_after_http_date_is_honoured(
    fake: FakeZitadel, make_request: MakeRequest, fake_time: FakeTime
) -> None:
    wall = 1_900_000_000.0
    fake.clock = lambda: wall  # the fake validates iat/exp against the same injected wall clock
    fake.script(
        "users_me",
        Reply(429, "slow down", raw=True, headers={"Retry-After": email.utils.formatdate(wall + 12, usegmt=True)}),
    )
    result = verify(make_request(), clock=lambda: wall, monotonic=fake_time.monotonic, sleep=fake_time.sleep)
    assert result.verified
    assert fake_time.sleeps == [12.0]


def test_assertion_time_comes_from_the_injected_clock(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.clock = lambda: 1_900_000_000.0
    assert try_verify(make_request(settle=0.0), **run_kwargs).failure_kind == "key_rejected"  # real clock: too old
    assert verify(make_request(), **{**run_kwargs, "clock": lambda: 1_900_000_000.5}).verified


def test_parse_retry_after_accepts_seconds_and_dates_and_ignores_garbage() -> None:
    now = 1_900_000_000.0
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-1", now) is None
    assert parse_retry_after(None, now) is None


def test_retry_after_beyond_the_deadline_gives_up_at_once(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    fake.script("token", Reply(429, {}, headers={"Retry-After": "120"}))
    with pytest.raises(DeadlineExceededError) as caught:
        verify(make_request(deadline=30.0), **run_kwargs)
    assert caught.value.kind == "deadline_exceeded"
    assert caught.value.last_kind == "rate_limited"
    assert "asked to wait 120.0 s" in str(caught.value)
    assert fake_time.sleeps == []


def test_blocked_instance_429_says_so_in_the_hint(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.script("token", *[Reply(429, "Your ZITADEL instance is blocked.", raw=True)] * 100)
    with pytest.raises(DeadlineExceededError) as caught:
        verify(make_request(deadline=5.0), **run_kwargs)
    assert "blocked" in caught.value.hint


def test_server_errors_then_success_are_retried(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    fake.script("discovery", Reply(503, "unavailable", raw=True))
    fake.script("memberships", Reply(502, "bad gateway", raw=True))
    assert verify(make_request(), **run_kwargs).verified
    assert len(fake_time.sleeps) == 2


def test_persistent_server_errors_exceed_the_deadline_on_the_fake_clock(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    fake.script("users_me", *[Reply(503, {"code": 14, "message": "unavailable"})] * 200)
    with pytest.raises(DeadlineExceededError) as caught:
        verify(make_request(deadline=20.0, settle=20.0), **run_kwargs)
    error = caught.value
    assert error.last_kind == "server_error"
    for part in ("identity proof", "20 s deadline", "HTTP 503"):
        assert part in str(error)
    assert sum(fake_time.sleeps) <= 20.0
    assert fake_time.now - 1000.0 <= 20.0


def test_settle_shorter_than_deadline_stops_consistency_retries_but_not_transient_ones(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    # Six 503s asking for 1 s each outlast the 2 s settle time: transient faults are not bound by it.
    fake.script("token", *[Reply(503, "down", raw=True, headers={"Retry-After": "1"})] * 6)
    fake.script("memberships", *[Reply(404, MEMBERSHIP_NOT_FOUND)] * 100)
    result = try_verify(make_request(deadline=60.0, settle=2.0), **run_kwargs)
    assert result.failure_kind == "grant_missing"
    assert len(fake.seen("token")) == 7
    assert fake_time.sleeps[:6] == [1.0] * 6
    assert 1.0 <= sum(fake_time.sleeps[6:]) <= 2.0


def test_backoff_is_exponential_with_full_jitter_and_capped(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    fake.script("token", *[Reply(500, "boom", raw=True)] * 12)
    assert verify(make_request(deadline=600.0), **run_kwargs).verified
    caps = [min(5.0, 0.5 * 2**n) for n in range(12)]
    assert all(0.05 <= delay <= cap for delay, cap in zip(fake_time.sleeps, caps, strict=True))
    assert max(fake_time.sleeps[6:]) > 1.0  # later waits may use the larger cap


def test_request_timeout_is_retried(fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]) -> None:
    fake.script("users_me", Reply(200, {"user": {"id": USER_ID}}, delay=30.0))  # released at teardown
    result = verify(make_request(request_timeout=1.0), **run_kwargs)
    assert result.verified
    assert len(fake.seen("users_me")) == 2


def test_persistent_timeouts_exceed_the_deadline_with_last_kind_timeout(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.script("discovery", *[Reply(200, {}, delay=5.0)] * 20)
    with pytest.raises(DeadlineExceededError) as caught:
        verify(make_request(request_timeout=0.1, deadline=2.0, settle=2.0), **run_kwargs)
    assert caught.value.last_kind == "timeout"
    assert "timed out after 0.1 s" in str(caught.value)


def test_a_refused_first_connection_fails_at_once_as_a_configuration_error(
    make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    # A wrong port: nothing ever answered there. Before, this waited out the whole deadline (30 s of dots).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(VerificationError) as caught:
        verify(make_request(issuer=f"http://127.0.0.1:{port}", deadline=30.0, settle=30.0), **run_kwargs)
    assert not isinstance(caught.value, DeadlineExceededError)
    assert caught.value.kind == "connection_failed"
    assert fake_time.sleeps == [], "a configuration error is not retried"
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "zitadel:port" in message


def test_a_host_name_that_does_not_resolve_fails_at_once(
    make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    with pytest.raises(VerificationError) as caught:
        verify(make_request(issuer="http://zitadel.invalid", deadline=30.0, settle=30.0), **run_kwargs)
    assert caught.value.kind == "connection_failed"
    assert fake_time.sleeps == []
    assert "zitadel.invalid" in str(caught.value)
    assert "zitadel:domain" in str(caught.value)


def test_check_never_raises_and_reports_kind_attempts_and_elapsed(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    fake.keys.clear()
    result = try_verify(make_request(settle=3.0), **run_kwargs)
    assert (result.verified, result.failure_kind) == (False, "key_rejected")
    assert result.attempts == 1 + len(fake.seen("token"))
    assert result.elapsed_seconds == pytest.approx(sum(fake_time.sleeps))
    assert (result.user_id, result.key_id, result.org_id) == (USER_ID, KEY_ID, ORG_ID)


def test_expired_key_fails_before_any_request(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], rsa_key: rsa.RSAPrivateKey
) -> None:
    key = parse_key_file(key_file_text(rsa_key, expiration="2001-01-01T00:00:00Z"))
    result = try_verify(make_request(key=key), **run_kwargs)
    assert result.failure_kind == "key_expired"
    assert fake.requests == []


# --- discovery --------------------------------------------------------------------------------------------


def test_discovery_without_the_jwt_bearer_grant_fails_without_retry(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], fake_time: FakeTime
) -> None:
    fake.grant_types = ["authorization_code"]
    with pytest.raises(DiscoveryError, match="does not advertise the JWT-bearer grant") as caught:
        verify(make_request(), **run_kwargs)
    assert caught.value.kind == "discovery_failed"
    assert fake_time.sleeps == []


def test_discovery_404_points_at_the_issuer(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]
) -> None:
    fake.script("discovery", Reply(404, "not found", raw=True))
    with pytest.raises(DiscoveryError) as caught:
        verify(make_request(), **run_kwargs)
    assert "external URL" in caught.value.hint


def test_redirect_is_not_followed(fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any]) -> None:
    fake.script("discovery", Reply(302, "", raw=True, headers={"Location": "https://elsewhere.example/"}))
    result = try_verify(make_request(), **run_kwargs)
    assert result.failure_kind == "bad_response"
    assert len(fake.requests) == 1


def test_plain_http_token_endpoint_is_refused_unless_insecure() -> None:
    document = {
        "issuer": "https://acme.zitadel.cloud",
        "token_endpoint": "http://acme.zitadel.cloud/oauth/v2/token",
        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
    }
    response = httpx.Response(200, json=document)
    with pytest.raises(StepError, match="plain-http token endpoint") as caught:
        read_discovery(response, issuer="https://acme.zitadel.cloud", insecure=False, now=0.0)
    assert caught.value.kind == "discovery_failed"
    found = read_discovery(response, issuer="https://acme.zitadel.cloud", insecure=True, now=0.0)
    assert found.token_endpoint == document["token_endpoint"]


def test_https_client_always_verifies_certificates_and_hostnames() -> None:
    with build_client(None) as client:
        context = client._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_injected_transport_serves_every_request(machine_key: MachineKey) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, text="down")

    fake_time = FakeTime()
    result = try_verify(
        VerificationRequest(issuer="https://acme.zitadel.cloud", key=machine_key),
        transport=httpx.MockTransport(handler),
        monotonic=fake_time.monotonic,
        sleep=fake_time.sleep,
        rng=random.Random(1),  # noqa: S311 - reproducible jitter
    )
    assert result.failure_kind == "deadline_exceeded"
    assert len(seen) == result.attempts > 1
    assert {str(item.url) for item in seen} == {"https://acme.zitadel.cloud/.well-known/openid-configuration"}
