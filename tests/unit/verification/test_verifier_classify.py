"""The rule tables: each documented answer of ZITADEL, both server generations, to its kind and retry class."""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx
import pytest
from zitadel_bootstrap.verification.classify import (
    API_RULES,
    DISCOVERY_RULES,
    TOKEN_RULES,
    USERS_ME_RULES,
    Rule,
    classify,
)


def oauth(error: str, description: str = "") -> str:
    return json.dumps({"error": error, "error_description": description})


def gateway(code: int, message: str) -> str:
    return json.dumps({"code": code, "message": message, "details": []})


TABLE: list[tuple[str, Sequence[Rule], int, str, str, str]] = [
    # token endpoint, ZITADEL after the 2026 fix
    (
        "assertion rejected",
        TOKEN_RULES,
        400,
        oauth("invalid_grant", "invalid assertion"),
        "key_rejected",
        "consistency",
    ),
    ("user deactivated", TOKEN_RULES, 400, oauth("invalid_request", "Errors.User.NotActive"), "user_inactive", "fatal"),
    (
        "empty scope",
        TOKEN_RULES,
        400,
        oauth("invalid_request", "The scope of your request is missing"),
        "request_rejected",
        "fatal",
    ),
    ("unknown grant type", TOKEN_RULES, 400, oauth("unsupported_grant_type"), "request_rejected", "fatal"),
    # token endpoint, ZITADEL up to v4.13
    (
        "legacy: assertion rejected",
        TOKEN_RULES,
        500,
        oauth("server_error", "Errors.Internal"),
        "key_rejected",
        "consistency",
    ),
    (
        "legacy: user deactivated",
        TOKEN_RULES,
        400,
        oauth("invalid_request", "Errors.User.NotActive"),
        "user_inactive",
        "fatal",
    ),
    # any endpoint
    ("rate limited", TOKEN_RULES, 429, oauth("invalid_request", "Too Many Requests"), "rate_limited", "transient"),
    ("instance blocked", API_RULES, 429, "Your ZITADEL instance is blocked.", "rate_limited", "transient"),
    ("outage", API_RULES, 503, gateway(14, "unavailable"), "server_error", "transient"),
    ("other 5xx", TOKEN_RULES, 502, "bad gateway", "server_error", "transient"),
    ("redirect", DISCOVERY_RULES, 302, "", "bad_response", "fatal"),
    ("discovery 404", DISCOVERY_RULES, 404, "not found", "discovery_failed", "fatal"),
    # the REST gateway
    (
        "audience without ZITADEL",
        API_RULES,
        401,
        gateway(16, "Errors.Token.Invalid (AUTH-7fs1e)"),
        "audience_rejected",
        "fatal",
    ),
    ("other 401", API_RULES, 401, gateway(16, "auth header missing"), "token_rejected", "fatal"),
    ("no membership", API_RULES, 404, gateway(5, "membership not found (AUTHZ-cdgFk)"), "grant_missing", "consistency"),
    (
        "no permission",
        API_RULES,
        403,
        gateway(7, "No matching permissions found (AUTH-5mWD2)"),
        "roles_missing",
        "consistency",
    ),
    (
        "unknown org",
        API_RULES,
        403,
        gateway(7, "Organisation doesn't exist (AUTH-Bs7Ds)"),
        "org_not_found",
        "consistency",
    ),
    ("other 403", API_RULES, 403, gateway(7, "forbidden"), "permission_denied", "fatal"),
    ("users/me: no user", USERS_ME_RULES, 404, gateway(5, "Errors.User.NotFound"), "user_not_found", "consistency"),
    (
        "users/me: no membership",
        USERS_ME_RULES,
        404,
        gateway(5, "membership not found (AUTHZ-cdgFk)"),
        "grant_missing",
        "consistency",
    ),
    ("memberships: other 404", API_RULES, 404, gateway(5, "Not Found"), "bad_response", "fatal"),
    ("teapot", API_RULES, 418, "I'm a teapot", "bad_response", "fatal"),
]


@pytest.mark.parametrize(("case", "rules", "status", "body", "kind", "retry"), TABLE, ids=[row[0] for row in TABLE])
def test_each_documented_answer_is_classified_by_kind_and_retry_class(
    case: str, rules: Sequence[Rule], status: int, body: str, kind: str, retry: str
) -> None:
    failure = classify(rules, httpx.Response(status, text=body), "The step", now=0.0)
    assert (failure.kind, failure.retry_class) == (kind, retry), case
    assert failure.message.startswith("The step ")
    assert failure.hint


def test_transient_answers_carry_retry_after_and_others_do_not() -> None:
    throttled = httpx.Response(429, text="slow down", headers={"Retry-After": "3"})
    assert classify(API_RULES, throttled, "x", now=0.0).retry_after == 3.0
    rejected = httpx.Response(403, text=gateway(7, "AUTH-5mWD2"), headers={"Retry-After": "3"})
    assert classify(API_RULES, rejected, "x", now=0.0).retry_after is None


@pytest.mark.parametrize("rules", [DISCOVERY_RULES, TOKEN_RULES, API_RULES, USERS_ME_RULES])
def test_every_table_ends_with_a_rule_for_any_answer(rules: Sequence[Rule]) -> None:
    assert (rules[-1].statuses, rules[-1].marker) == (None, None)


def test_server_text_in_a_classified_message_is_redacted() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    failure = classify(TOKEN_RULES, httpx.Response(400, text=oauth("invalid_grant", f"bad {token}")), "x", now=0.0)
    assert token not in failure.message
    assert "[redacted]" in failure.message
