"""What ZITADEL's answers mean: one rule table per endpoint, from (HTTP status, ZITADEL error id) to a stable
failure ``kind`` and a retry class.

- consistency: right after creation ZITADEL's projections lag (unknown key, missing membership or roles);
  retried for the settle time from the first such answer, then reported as what it is;
- transient: 5xx, 429, timeouts, refused connections; retried until the deadline;
- fatal: everything else (inactive user, wrong audience, identity mismatch, malformed answers); reported at once.

ZITADEL's error ids are stable across versions, its messages are not: rules match ids (or OAuth error codes),
never prose. Server text that ends up in a message is redacted first.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from .errors import (
    KIND_AUDIENCE_REJECTED,
    KIND_BAD_RESPONSE,
    KIND_DISCOVERY_FAILED,
    KIND_GRANT_MISSING,
    KIND_KEY_REJECTED,
    KIND_ORG_NOT_FOUND,
    KIND_PERMISSION_DENIED,
    KIND_RATE_LIMITED,
    KIND_REQUEST_REJECTED,
    KIND_ROLES_MISSING,
    KIND_SERVER_ERROR,
    KIND_TOKEN_REJECTED,
    KIND_USER_INACTIVE,
    KIND_USER_NOT_FOUND,
)
from .redaction import redact

RetryClass = Literal["consistency", "transient", "fatal"]

ORG_HEADER = "x-zitadel-orgid"

# ZITADEL error ids (and OAuth error codes) that select a classification.
ZITADEL_TOKEN_INVALID = "AUTH-7fs1e"  # noqa: S105 - an error id, not a secret
ZITADEL_MEMBERSHIP_NOT_FOUND = "AUTHZ-cdgFk"
ZITADEL_NO_MATCHING_PERMISSIONS = "AUTH-5mWD2"
ZITADEL_ORG_NOT_FOUND = "AUTH-Bs7Ds"
ZITADEL_USER_NOT_ACTIVE = "Errors.User.NotActive"
ZITADEL_LEGACY_INTERNAL = "Errors.Internal"
OAUTH_INVALID_GRANT = "invalid_grant"
OAUTH_UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
#: What a blocked self-hosted instance says with its 429 (text/plain, no error id).
ZITADEL_INSTANCE_BLOCKED = "blocked"

HINT_KEY_REJECTED = (
    "The key is not active yet (ZITADEL needs a few seconds after creating a key or user), has expired, or was "
    "deleted, or the machine user was deleted; check the keyId/userId in the key file against the instance."
)
HINT_KEY_REJECTED_LEGACY = (
    HINT_KEY_REJECTED + " ZITADEL up to v4.13 reports every assertion problem as 500 Errors.Internal."
)
HINT_USER_INACTIVE = "The machine user is deactivated or locked; reactivate it in ZITADEL."
HINT_AUDIENCE = (
    "The token's audience lacks ZITADEL's own project: use the audience 'zitadel' or the instance's "
    "iamProjectId (GET /management/v1/iam)."
)
HINT_GRANT_MISSING = (
    "The grant (membership) was not created, was removed, or is still propagating; create it or wait and retry."
)
HINT_ROLES_MISSING = "The membership lacks required roles: they were changed, or the change is still propagating."
HINT_TRANSIENT = "The instance is overloaded, restarting or unreachable; raise the deadline or retry later."
#: A refused connection or an unknown host name at a proof's first request: the configuration, not the load.
HINT_NOTHING_ANSWERS = (
    "Nothing answers at that address: check the issuer, which comes from zitadel:domain, zitadel:port and "
    "zitadel:insecure (or the issuer input or setting)."
)
HINT_BLOCKED = "The instance says it is blocked (quota or billing); ask its administrator."
HINT_ISSUER = "Is the issuer the instance's external URL (e.g. https://my-instance.zitadel.cloud)?"
HINT_CLIENT_BUG = "This is a client bug or an unsupported server; please report it."


class StepError(Exception):
    """One classified answer of one attempt; the run turns the last one into a VerificationError."""

    def __init__(
        self,
        kind: str,
        retry_class: RetryClass,
        message: str,
        *,
        hint: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_class = retry_class
        self.message = message
        self.hint = hint
        self.retry_after = retry_after


@dataclass(frozen=True)
class Rule:
    """One row of a table: the answers it matches and what they mean.

    ``statuses`` None matches any status that is not 200; ``marker`` None matches any body, else the marker must
    occur in the answer's error text (an error id or an OAuth error code). ``explains`` completes
    "<what> ..." and may use ``{status}`` and ``{text}`` (the redacted error text).
    """

    statuses: frozenset[int] | None
    marker: str | None
    kind: str
    retry: RetryClass
    explains: str
    hint: str

    def matches(self, status: int, text: str) -> bool:
        return (self.statuses is None or status in self.statuses) and (self.marker is None or self.marker in text)


def _rule(
    statuses: Sequence[int] | range | None, marker: str | None, kind: str, retry: RetryClass, explains: str, hint: str
) -> Rule:
    return Rule(None if statuses is None else frozenset(statuses), marker, kind, retry, explains, hint)


_REDIRECTS = range(300, 400)
_SERVER_ERRORS = range(500, 600)

#: Answers every endpoint can give: throttling, outages, redirects.
COMMON_RULES: tuple[Rule, ...] = (
    _rule(
        [429],
        ZITADEL_INSTANCE_BLOCKED,
        KIND_RATE_LIMITED,
        "transient",
        "was rate-limited (HTTP 429: {text})",
        HINT_BLOCKED,
    ),
    _rule([429], None, KIND_RATE_LIMITED, "transient", "was rate-limited (HTTP 429: {text})", HINT_TRANSIENT),
    _rule(_SERVER_ERRORS, None, KIND_SERVER_ERROR, "transient", "failed with HTTP {status} ({text})", HINT_TRANSIENT),
    _rule(
        _REDIRECTS,
        None,
        KIND_BAD_RESPONSE,
        "fatal",
        "was redirected (HTTP {status}); credentials are never sent after a redirect",
        "Use the final origin as the issuer. " + HINT_ISSUER,
    ),
)

DISCOVERY_RULES: tuple[Rule, ...] = (
    *COMMON_RULES,
    _rule(None, None, KIND_DISCOVERY_FAILED, "fatal", "answered HTTP {status} ({text})", HINT_ISSUER),
)

TOKEN_RULES: tuple[Rule, ...] = (
    # Deactivation is strongly consistent in ZITADEL: no point in retrying.
    _rule(
        None,
        ZITADEL_USER_NOT_ACTIVE,
        KIND_USER_INACTIVE,
        "fatal",
        f"was refused: the user is not active ({ZITADEL_USER_NOT_ACTIVE})",
        HINT_USER_INACTIVE,
    ),
    _rule([400], OAUTH_INVALID_GRANT, KIND_KEY_REJECTED, "consistency", "was refused: {text}", HINT_KEY_REJECTED),
    _rule(
        [500],
        ZITADEL_LEGACY_INTERNAL,
        KIND_KEY_REJECTED,
        "consistency",
        "was refused: {text} (an older ZITADEL's answer to a rejected assertion)",
        HINT_KEY_REJECTED_LEGACY,
    ),
    *COMMON_RULES,
    _rule(
        [400, 401],
        OAUTH_UNSUPPORTED_GRANT_TYPE,
        KIND_REQUEST_REJECTED,
        "fatal",
        "was refused: {text}",
        "The server does not accept the JWT-bearer grant. " + HINT_ISSUER,
    ),
    _rule([400, 401], None, KIND_REQUEST_REJECTED, "fatal", "was refused: {text}", HINT_CLIENT_BUG),
    _rule(None, None, KIND_BAD_RESPONSE, "fatal", "answered HTTP {status} ({text})", HINT_ISSUER),
)

_API_RULES_BEFORE_404: tuple[Rule, ...] = (
    _rule(
        [401],
        ZITADEL_TOKEN_INVALID,
        KIND_AUDIENCE_REJECTED,
        "fatal",
        "was refused with 401 ({text}): the token is not valid for ZITADEL's API",
        HINT_AUDIENCE,
    ),
    _rule([401], None, KIND_TOKEN_REJECTED, "fatal", "was refused with 401 ({text})", HINT_AUDIENCE),
    _rule(
        [403],
        ZITADEL_NO_MATCHING_PERMISSIONS,
        KIND_ROLES_MISSING,
        "consistency",
        "was refused with 403 ({text})",
        HINT_ROLES_MISSING,
    ),
    _rule(
        [403],
        ZITADEL_ORG_NOT_FOUND,
        KIND_ORG_NOT_FOUND,
        "consistency",
        f"was refused with 403 ({{text}}): the org in {ORG_HEADER} is unknown to the instance",
        "Check the org id; a just-created org may take a moment to appear.",
    ),
    _rule([403], None, KIND_PERMISSION_DENIED, "fatal", "was refused with 403 ({text})", HINT_ROLES_MISSING),
    _rule(
        [404],
        ZITADEL_MEMBERSHIP_NOT_FOUND,
        KIND_GRANT_MISSING,
        "consistency",
        "found no membership ({text})",
        HINT_GRANT_MISSING,
    ),
)
_API_FALLBACK = _rule(
    None,
    None,
    KIND_BAD_RESPONSE,
    "fatal",
    "answered HTTP {status} ({text})",
    "Does the issuer serve ZITADEL's REST API (/auth/v1)? " + HINT_ISSUER,
)

#: ZITADEL's REST gateway (body ``{"code","message","details"}``), e.g. memberships/me.
API_RULES: tuple[Rule, ...] = (*_API_RULES_BEFORE_404, *COMMON_RULES, _API_FALLBACK)

#: users/me: a 404 without the membership error id means the user is gone (or not propagated yet).
USERS_ME_RULES: tuple[Rule, ...] = (
    *_API_RULES_BEFORE_404,
    _rule(
        [404],
        None,
        KIND_USER_NOT_FOUND,
        "consistency",
        "found no user ({text})",
        "The machine user was deleted, or was created a moment ago and is still propagating.",
    ),
    *COMMON_RULES,
    _API_FALLBACK,
)


def classify(rules: Sequence[Rule], response: httpx.Response, what: str, now: float) -> StepError:
    """The failure a non-200 answer stands for, by the first rule that matches it."""
    status = response.status_code
    text = error_text(response)
    for rule in rules:
        if rule.matches(status, text):
            retry_after = None
            if rule.retry == "transient":
                retry_after = parse_retry_after(response.headers.get("retry-after"), now)
            message = f"{what} {rule.explains.format(status=status, text=text)}"
            return StepError(rule.kind, rule.retry, message, hint=rule.hint, retry_after=retry_after)
    raise AssertionError("every rule table ends with a rule that matches any answer")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP date (RFC 9110 10.2.3); None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - now)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def error_text(response: httpx.Response) -> str:
    """The server's own words about an error, redacted: OAuth error fields or the gRPC-gateway message."""
    body = json_object(response)
    if body is None:
        return redact(response.text[:1000]) or f"HTTP {response.status_code}"
    parts = [
        str(body[name])
        for name in ("error", "error_description", "message")
        if isinstance(body.get(name), str | int) and str(body[name])
    ]
    if not parts and "code" in body:
        parts.append(f"code {body['code']}")
    return redact(" / ".join(parts)) or f"HTTP {response.status_code}"
