"""Prove a ZITADEL machine key end to end: discovery, JWT-bearer exchange (RFC 7523), then the ZITADEL API.

A token alone proves little: ZITADEL issues one even for a wrong project audience. So the token is used:
``GET /auth/v1/users/me`` proves the ZITADEL audience and the identity, ``POST /auth/v1/memberships/me/_search``
proves the grants. Every answer documented for both server generations is classified into a stable ``kind``
and a retry class:

- consistency: right after creation ZITADEL's projections lag (unknown key, missing membership or roles);
  retried for ``settle_seconds`` from the first such answer, then reported as what it is;
- transient: 5xx, 429, timeouts, refused connections; retried until ``deadline_seconds``;
- fatal: everything else (inactive user, wrong audience, identity mismatch, malformed answers); reported at once.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import logging
import math
import random
import re
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx

from .assertion import build_assertion
from .errors import (
    KIND_AUDIENCE_REJECTED,
    KIND_BAD_RESPONSE,
    KIND_CONNECTION_FAILED,
    KIND_DISCOVERY_FAILED,
    KIND_GRANT_MISSING,
    KIND_IDENTITY_MISMATCH,
    KIND_KEY_REJECTED,
    KIND_ORG_NOT_FOUND,
    KIND_PERMISSION_DENIED,
    KIND_RATE_LIMITED,
    KIND_REQUEST_REJECTED,
    KIND_ROLES_MISSING,
    KIND_SERVER_ERROR,
    KIND_TIMEOUT,
    KIND_TLS_FAILED,
    KIND_TOKEN_REJECTED,
    KIND_USER_INACTIVE,
    KIND_USER_NOT_FOUND,
    ApiProofError,
    DeadlineExceededError,
    DiscoveryError,
    TokenExchangeError,
    VerificationError,
)
from .keyfile import ensure_not_expired
from .model import Grant, VerificationRequest, VerificationResult

logger = logging.getLogger(__name__)

JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DISCOVERY_PATH = "/.well-known/openid-configuration"
USERS_ME_PATH = "/auth/v1/users/me"
MEMBERSHIPS_SEARCH_PATH = "/auth/v1/memberships/me/_search"
ORG_HEADER = "x-zitadel-orgid"
USER_STATE_ACTIVE = "USER_STATE_ACTIVE"
# Zero values are omitted by ZITADEL's REST gateway, so an absent state is "unspecified", not "inactive".
USER_STATES_NOT_INACTIVE = frozenset({USER_STATE_ACTIVE, "USER_STATE_UNSPECIFIED", ""})
MEMBERSHIPS_PAGE_LIMIT = 100
MAX_MEMBERSHIP_PAGES = 50
MIN_RETRY_DELAY_SECONDS = 0.05
USER_AGENT = "zitadel-bootstrap-verifier/1"

# ZITADEL error ids that select a classification (they are stable across versions; messages are not).
ZITADEL_TOKEN_INVALID = "AUTH-7fs1e"  # noqa: S105 - an error id, not a secret
ZITADEL_MEMBERSHIP_NOT_FOUND = "AUTHZ-cdgFk"
ZITADEL_NO_MATCHING_PERMISSIONS = "AUTH-5mWD2"
ZITADEL_ORG_NOT_FOUND = "AUTH-Bs7Ds"
ZITADEL_USER_NOT_ACTIVE = "Errors.User.NotActive"
ZITADEL_LEGACY_INTERNAL = "Errors.Internal"

RetryClass = Literal["consistency", "transient", "fatal"]
T = TypeVar("T")

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
HINT_ISSUER = "Is the issuer the instance's external URL (e.g. https://my-instance.zitadel.cloud)?"

_JWT_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_OPAQUE_PATTERN = re.compile(r"[A-Za-z0-9_+/=-]{40,}")
_PEM_PATTERN = re.compile(r"-----BEGIN[^-]*-----.*?(-----END[^-]*-----|$)", re.DOTALL)


def redact(text: str, limit: int = 300) -> str:
    """Make server-provided text safe to put into messages: no JWTs, long opaque strings or PEM blocks."""
    text = _PEM_PATTERN.sub("[redacted]", text)
    text = _JWT_PATTERN.sub("[redacted]", text)
    text = _OPAQUE_PATTERN.sub("[redacted]", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _StepError(Exception):
    """One classified answer of one attempt. Internal: turned into a VerificationError when retries stop."""

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
class Discovery:
    issuer: str
    token_endpoint: str


@dataclass(frozen=True)
class TokenGrant:
    """The token endpoint's answer. ``access_token`` is kept out of repr so it cannot reach a log."""

    access_token: str = field(repr=False)
    token_type: str
    token_format: Literal["opaque", "jwt"]
    expires_in: int | None


@dataclass(frozen=True)
class GrantMatch:
    roles_found: dict[str, tuple[str, ...]]
    missing: tuple[Grant, ...]
    lacking_roles: dict[str, tuple[str, ...]]


# --- pure helpers -----------------------------------------------------------------------------------------


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


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _error_text(response: httpx.Response) -> str:
    """The server's own words about an error, redacted: OAuth error fields or gRPC-gateway message."""
    body = _json_object(response)
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


def _b64url_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _jwt_claims(token: str) -> dict[str, Any] | None:
    """Claims of a JWT-shaped token (unverified: only used to tell the format and cross-check sub)."""
    segments = token.split(".")
    if len(segments) != 3:
        return None
    try:
        header = _b64url_json(segments[0])
        claims = _b64url_json(segments[1])
    except (ValueError, binascii.Error, UnicodeError):
        return None
    if not isinstance(header, dict) or "alg" not in header or not isinstance(claims, dict):
        return None
    return claims


def match_grants(grants: Sequence[Grant], memberships: Sequence[Mapping[str, Any]]) -> GrantMatch:
    """Which required grants are held, with which roles, and what is missing."""
    roles_found: dict[str, tuple[str, ...]] = {}
    missing: list[Grant] = []
    lacking: dict[str, tuple[str, ...]] = {}
    for grant in grants:
        held: set[str] = set()
        matched = False
        for membership in memberships:
            if _membership_matches(grant, membership):
                matched = True
                roles = membership.get("roles")
                if isinstance(roles, list):
                    held.update(role for role in roles if isinstance(role, str))
        if not matched:
            missing.append(grant)
            continue
        roles_found[grant.key] = tuple(sorted(held))
        absent = tuple(role for role in grant.roles if role not in held)
        if absent:
            lacking[grant.key] = absent
    return GrantMatch(roles_found=roles_found, missing=tuple(missing), lacking_roles=lacking)


def _membership_matches(grant: Grant, membership: Mapping[str, Any]) -> bool:
    # The membership kind is a oneof in ZITADEL's API: exactly one of these fields is set.
    if grant.level == "instance":
        return membership.get("iam") is True
    field_name = {"org": "orgId", "project": "projectId", "project_grant": "projectGrantId"}[grant.level]
    return membership.get(field_name) == grant.resource_id


def _status_failure(response: httpx.Response, what: str, now: float) -> _StepError | None:
    """Shared classification of 429, 5xx and redirects for every endpoint; None when none applies."""
    status = response.status_code
    if status == 429:
        text = _error_text(response)
        hint = HINT_TRANSIENT
        if "blocked" in text.lower():
            hint = "The instance says it is blocked (quota or billing); ask its administrator."
        return _StepError(
            KIND_RATE_LIMITED,
            "transient",
            f"{what} was rate-limited (HTTP 429: {text})",
            hint=hint,
            retry_after=parse_retry_after(response.headers.get("retry-after"), now),
        )
    if status >= 500:
        return _StepError(
            KIND_SERVER_ERROR,
            "transient",
            f"{what} failed with HTTP {status} ({_error_text(response)})",
            hint=HINT_TRANSIENT,
            retry_after=parse_retry_after(response.headers.get("retry-after"), now),
        )
    if 300 <= status < 400:
        return _StepError(
            KIND_BAD_RESPONSE,
            "fatal",
            f"{what} was redirected (HTTP {status}); credentials are never sent after a redirect",
            hint="Use the final origin as the issuer. " + HINT_ISSUER,
        )
    return None


def classify_discovery(response: httpx.Response, *, issuer: str, insecure: bool, now: float) -> Discovery:
    what = f"OIDC discovery at {issuer}{DISCOVERY_PATH}"
    failure = _status_failure(response, what, now)
    if failure is not None:
        raise failure
    if response.status_code != 200:
        raise _StepError(
            KIND_DISCOVERY_FAILED,
            "fatal",
            f"{what} answered HTTP {response.status_code} ({_error_text(response)})",
            hint=HINT_ISSUER,
        )
    document = _json_object(response)
    if document is None:
        raise _StepError(KIND_DISCOVERY_FAILED, "fatal", f"{what} did not return a JSON object", hint=HINT_ISSUER)
    grant_types = document.get("grant_types_supported")
    if not isinstance(grant_types, list) or JWT_BEARER_GRANT_TYPE not in grant_types:
        raise _StepError(
            KIND_DISCOVERY_FAILED,
            "fatal",
            f"{what} does not advertise the JWT-bearer grant ({JWT_BEARER_GRANT_TYPE})",
            hint="Every ZITADEL version supports it: the issuer is probably not a ZITADEL instance.",
        )
    token_endpoint = document.get("token_endpoint")
    if not isinstance(token_endpoint, str):
        raise _StepError(KIND_DISCOVERY_FAILED, "fatal", f"{what} has no token_endpoint", hint=HINT_ISSUER)
    parts = urlsplit(token_endpoint)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise _StepError(KIND_DISCOVERY_FAILED, "fatal", f"{what} has no usable token_endpoint", hint=HINT_ISSUER)
    if parts.scheme == "http" and not insecure:
        raise _StepError(
            KIND_DISCOVERY_FAILED,
            "fatal",
            f"{what} names a plain-http token endpoint; the assertion would travel unencrypted",
            hint="Fix the instance's external TLS settings (ExternalSecure), or use insecure for local tests.",
        )
    advertised = document.get("issuer")
    # The assertion's aud must equal the issuer ZITADEL itself uses, which discovery states authoritatively.
    effective_issuer = advertised if isinstance(advertised, str) and advertised else issuer
    if effective_issuer != issuer:
        logger.debug("discovery advertises issuer %s, configured %s; using the advertised one", advertised, issuer)
    return Discovery(issuer=effective_issuer, token_endpoint=token_endpoint)


def classify_token_response(response: httpx.Response, *, user_id: str, key_id: str, now: float) -> TokenGrant:
    what = f"The JWT-bearer token exchange for user {user_id} with key {key_id}"
    status = response.status_code
    body = _json_object(response)
    error = str(body.get("error", "")) if body else ""
    description = str(body.get("error_description", "")) if body else ""
    if status != 200 and ZITADEL_USER_NOT_ACTIVE in f"{error} {description}":
        # Deactivation is strongly consistent in ZITADEL: no point in retrying.
        raise _StepError(
            KIND_USER_INACTIVE,
            "fatal",
            f"{what} was refused: the user is not active ({ZITADEL_USER_NOT_ACTIVE})",
            hint=HINT_USER_INACTIVE,
        )
    if status == 400 and error == "invalid_grant":
        raise _StepError(
            KIND_KEY_REJECTED,
            "consistency",
            f"{what} was refused: {_error_text(response)}",
            hint=HINT_KEY_REJECTED,
        )
    if status == 500 and ZITADEL_LEGACY_INTERNAL in description:
        raise _StepError(
            KIND_KEY_REJECTED,
            "consistency",
            f"{what} was refused: {_error_text(response)} (an older ZITADEL's answer to a rejected assertion)",
            hint=HINT_KEY_REJECTED_LEGACY,
        )
    failure = _status_failure(response, what, now)
    if failure is not None:
        raise failure
    if status in (400, 401):
        hint = "This is a client bug or an unsupported server; please report it."
        if error == "unsupported_grant_type":
            hint = "The server does not accept the JWT-bearer grant. " + HINT_ISSUER
        raise _StepError(KIND_REQUEST_REJECTED, "fatal", f"{what} was refused: {_error_text(response)}", hint=hint)
    if status != 200:
        raise _StepError(
            KIND_BAD_RESPONSE,
            "fatal",
            f"{what} answered HTTP {status} ({_error_text(response)})",
            hint=HINT_ISSUER,
        )
    if body is None or not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise _StepError(KIND_BAD_RESPONSE, "fatal", f"{what} answered 200 without an access_token", hint=HINT_ISSUER)
    access_token: str = body["access_token"]
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise _StepError(KIND_BAD_RESPONSE, "fatal", f"{what} returned an unsupported token_type {token_type!r}")
    expires_in = _as_int(body.get("expires_in"))
    claims = _jwt_claims(access_token)
    if claims is not None and "sub" in claims and claims["sub"] != user_id:
        raise _StepError(
            KIND_IDENTITY_MISMATCH,
            "fatal",
            f"{what} returned a JWT access token for another subject ({redact(str(claims['sub']), 40)})",
            hint="The key file's userId does not match the user ZITADEL authenticated.",
        )
    return TokenGrant(
        access_token=access_token,
        token_type=token_type,
        token_format="jwt" if claims is not None else "opaque",
        expires_in=expires_in,
    )


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def classify_api_error(response: httpx.Response, what: str, now: float) -> _StepError:
    """Classify a non-200 answer of ZITADEL's REST gateway (body ``{"code","message","details"}``)."""
    status = response.status_code
    text = _error_text(response)
    if status == 401:
        if ZITADEL_TOKEN_INVALID in text:
            return _StepError(
                KIND_AUDIENCE_REJECTED,
                "fatal",
                f"{what} was refused with 401 ({text}): the token is not valid for ZITADEL's API",
                hint=HINT_AUDIENCE,
            )
        return _StepError(KIND_TOKEN_REJECTED, "fatal", f"{what} was refused with 401 ({text})", hint=HINT_AUDIENCE)
    if status == 403:
        if ZITADEL_NO_MATCHING_PERMISSIONS in text:
            return _StepError(
                KIND_ROLES_MISSING, "consistency", f"{what} was refused with 403 ({text})", hint=HINT_ROLES_MISSING
            )
        if ZITADEL_ORG_NOT_FOUND in text:
            return _StepError(
                KIND_ORG_NOT_FOUND,
                "consistency",
                f"{what} was refused with 403 ({text}): the org in {ORG_HEADER} is unknown to the instance",
                hint="Check the org id; a just-created org may take a moment to appear.",
            )
        return _StepError(
            KIND_PERMISSION_DENIED, "fatal", f"{what} was refused with 403 ({text})", hint=HINT_ROLES_MISSING
        )
    if status == 404 and ZITADEL_MEMBERSHIP_NOT_FOUND in text:
        return _StepError(
            KIND_GRANT_MISSING, "consistency", f"{what} found no membership ({text})", hint=HINT_GRANT_MISSING
        )
    failure = _status_failure(response, what, now)
    if failure is not None:
        return failure
    return _StepError(
        KIND_BAD_RESPONSE,
        "fatal",
        f"{what} answered HTTP {status} ({text})",
        hint="Does the issuer serve ZITADEL's REST API (/auth/v1)? " + HINT_ISSUER,
    )


# --- the run ----------------------------------------------------------------------------------------------


class _Verification:
    """One verification run: owns the budgets, the attempt counter and what has been learned so far."""

    def __init__(
        self,
        request: VerificationRequest,
        *,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        sleep: Callable[[float], None],
        rng: random.Random,
    ) -> None:
        self.request = request
        self.clock = clock
        self.monotonic = monotonic
        self.sleep = sleep
        self.rng = rng
        self.started = monotonic()
        self.deadline_at = self.started + request.policy.deadline_seconds
        self.attempts = 0
        self.token: TokenGrant | None = None
        self.roles_found: dict[str, tuple[str, ...]] = {}
        self._client: httpx.Client | None = None

    @property
    def elapsed(self) -> float:
        return max(0.0, self.monotonic() - self.started)

    def subject(self) -> str:
        key = self.request.key
        org = f", org {self.request.org_id}" if self.request.org_id else ""
        return f"user {key.user_id} (key {key.key_id}{org})"

    def run(self, client: httpx.Client) -> VerificationResult:
        self._client = client
        ensure_not_expired(self.request.key, self.clock())
        discovery = self._retrying("OIDC discovery", self._discover)
        self.token = self._retrying("the token exchange", lambda: self._exchange(discovery))
        token = self.token
        self._retrying("the identity proof (users/me)", lambda: self._prove_identity(token))
        if self.request.grants:
            self._retrying("the grant proof (memberships/me)", lambda: self._prove_grants(token))
        return self.result(verified=True)

    def result(self, *, verified: bool, error: VerificationError | None = None) -> VerificationResult:
        token = self.token
        return VerificationResult(
            verified=verified,
            user_id=self.request.key.user_id,
            key_id=self.request.key.key_id,
            org_id=self.request.org_id,
            roles_found=dict(self.roles_found),
            token_type=token.token_type if token else None,
            token_format=token.token_format if token else None,
            expires_in=token.expires_in if token else None,
            attempts=self.attempts,
            elapsed_seconds=self.elapsed,
            failure_kind=error.kind if error else None,
            failure=str(error) if error else None,
        )

    # transport

    def _send(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        assert self._client is not None  # noqa: S101 - set by run()
        remaining = self.deadline_at - self.monotonic()
        if remaining <= 0:
            raise _StepError(KIND_TIMEOUT, "transient", f"{what} had no time left", hint=HINT_TRANSIENT)
        timeout = min(self.request.policy.request_timeout_seconds, remaining)
        self.attempts += 1
        try:
            return self._client.request(method, url, timeout=timeout, **kwargs)
        except httpx.TimeoutException as exc:
            raise _StepError(
                KIND_TIMEOUT, "transient", f"{what} timed out after {timeout:.1f} s", hint=HINT_TRANSIENT
            ) from exc
        except httpx.ConnectError as exc:
            if _is_tls_failure(exc):
                raise _StepError(
                    KIND_TLS_FAILED,
                    "fatal",
                    f"{what} failed: the TLS certificate of {urlsplit(url).netloc} could not be verified",
                    hint="Fix the certificate, or add its CA to the trust store (SSL_CERT_FILE).",
                ) from exc
            raise _StepError(
                KIND_CONNECTION_FAILED, "transient", f"{what} could not connect ({exc})", hint=HINT_TRANSIENT
            ) from exc
        except httpx.TransportError as exc:
            raise _StepError(
                KIND_CONNECTION_FAILED,
                "transient",
                f"{what} failed in transit ({type(exc).__name__})",
                hint=HINT_TRANSIENT,
            ) from exc

    def _api_headers(self, token: TokenGrant) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token.access_token}"}
        if self.request.org_id:
            headers[ORG_HEADER] = self.request.org_id
        return headers

    # steps

    def _discover(self) -> Discovery:
        issuer = self.request.issuer
        response = self._send("GET", issuer + DISCOVERY_PATH, f"OIDC discovery at {issuer}")
        return classify_discovery(response, issuer=issuer, insecure=self.request.insecure, now=self.clock())

    def _exchange(self, discovery: Discovery) -> TokenGrant:
        key = self.request.key
        assertion = build_assertion(key, discovery.issuer, self.clock())
        response = self._send(
            "POST",
            discovery.token_endpoint,
            f"The token exchange for user {key.user_id}",
            data={"grant_type": JWT_BEARER_GRANT_TYPE, "assertion": assertion, "scope": self.request.scope},
        )
        return classify_token_response(response, user_id=key.user_id, key_id=key.key_id, now=self.clock())

    def _prove_identity(self, token: TokenGrant) -> None:
        user_id = self.request.key.user_id
        what = f"GET {USERS_ME_PATH} for user {user_id}"
        response = self._send("GET", self.request.issuer + USERS_ME_PATH, what, headers=self._api_headers(token))
        if response.status_code == 404 and ZITADEL_MEMBERSHIP_NOT_FOUND not in _error_text(response):
            raise _StepError(
                KIND_USER_NOT_FOUND,
                "consistency",
                f"{what} found no user ({_error_text(response)})",
                hint="The machine user was deleted, or was created a moment ago and is still propagating.",
            )
        if response.status_code != 200:
            raise classify_api_error(response, what, self.clock())
        body = _json_object(response)
        user = body.get("user") if body else None
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            raise _StepError(KIND_BAD_RESPONSE, "fatal", f"{what} returned no user object", hint=HINT_ISSUER)
        if user["id"] != user_id:
            raise _StepError(
                KIND_IDENTITY_MISMATCH,
                "fatal",
                f"{what} authenticated user {redact(user['id'], 40)}, not {user_id}",
                hint="The key file's userId does not belong to the key; use the key file of this machine user.",
            )
        state = user.get("state", "")
        if not isinstance(state, str) or state not in USER_STATES_NOT_INACTIVE:
            raise _StepError(
                KIND_USER_INACTIVE,
                "fatal",
                f"{what} reports the user in state {redact(str(state), 40)}",
                hint=HINT_USER_INACTIVE,
            )

    def _prove_grants(self, token: TokenGrant) -> None:
        memberships = self._list_memberships(token)
        match = match_grants(self.request.grants, memberships)
        self.roles_found = match.roles_found
        if match.missing:
            names = ", ".join(grant.describe() for grant in match.missing)
            raise _StepError(
                KIND_GRANT_MISSING,
                "consistency",
                f"user {self.request.key.user_id} has no membership on {names}",
                hint=HINT_GRANT_MISSING,
            )
        if match.lacking_roles:
            details = "; ".join(
                f"{name} lacks {', '.join(roles)} (has {', '.join(match.roles_found[name]) or 'none'})"
                for name, roles in sorted(match.lacking_roles.items())
            )
            raise _StepError(
                KIND_ROLES_MISSING,
                "consistency",
                f"user {self.request.key.user_id} lacks required roles: {details}",
                hint=HINT_ROLES_MISSING,
            )

    def _list_memberships(self, token: TokenGrant) -> list[dict[str, Any]]:
        what = f"POST {MEMBERSHIPS_SEARCH_PATH} for user {self.request.key.user_id}"
        url = self.request.issuer + MEMBERSHIPS_SEARCH_PATH
        collected: list[dict[str, Any]] = []
        for _page in range(MAX_MEMBERSHIP_PAGES):
            # int64/uint64 travel as strings through ZITADEL's REST gateway; limit is a uint32 number.
            query = {"query": {"offset": str(len(collected)), "limit": MEMBERSHIPS_PAGE_LIMIT, "asc": True}}
            response = self._send("POST", url, what, headers=self._api_headers(token), json=query)
            if response.status_code != 200:
                raise classify_api_error(response, what, self.clock())
            body = _json_object(response)
            if body is None:
                raise _StepError(KIND_BAD_RESPONSE, "fatal", f"{what} did not return a JSON object")
            page = body.get("result", [])  # omitted when empty
            if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
                raise _StepError(KIND_BAD_RESPONSE, "fatal", f"{what} returned a malformed result list")
            collected.extend(page)
            details = body.get("details")
            total = _as_int(details.get("totalResult")) if isinstance(details, dict) else None
            if not page or total is None or len(collected) >= total:
                return collected
        logger.debug("%s: stopped after %d pages", what, MAX_MEMBERSHIP_PAGES)
        return collected

    # retries

    def _retrying(self, step: str, operation: Callable[[], T]) -> T:
        policy = self.request.policy
        settle_until: float | None = None
        failures = 0
        while True:
            try:
                return operation()
            except _StepError as failure:
                failures += 1
                now = self.monotonic()
                if failure.retry_class == "fatal":
                    raise self._final_error(step, failure, failures) from failure
                if failure.retry_class == "consistency":
                    if settle_until is None:
                        settle_until = now + policy.settle_seconds
                    budget_end = min(settle_until, self.deadline_at)
                else:
                    budget_end = self.deadline_at
                left = budget_end - now
                if failure.retry_after is not None:
                    if failure.retry_after >= left:
                        raise self._final_error(step, failure, failures, waited_for=failure.retry_after) from failure
                    delay = max(failure.retry_after, MIN_RETRY_DELAY_SECONDS)
                else:
                    cap = min(policy.max_backoff, policy.initial_backoff * 2 ** min(failures - 1, 30))
                    # Full jitter spreads the retries of many accounts bootstrapped at once.
                    delay = min(max(self.rng.uniform(0, cap), MIN_RETRY_DELAY_SECONDS), left)
                # Sleeping into the deadline would leave no time for the next request: report the real failure now.
                if left <= 0 or now + delay >= self.deadline_at:
                    raise self._final_error(step, failure, failures) from failure
                logger.debug(
                    "%s for %s: attempt %d answered %s (%s); retrying in %.2f s",
                    step,
                    self.subject(),
                    failures,
                    failure.kind,
                    failure.retry_class,
                    delay,
                )
                self.sleep(delay)

    def _final_error(
        self, step: str, failure: _StepError, failures: int, *, waited_for: float | None = None
    ) -> VerificationError:
        attempts = f"{failures} attempt{'s' if failures != 1 else ''} in {self.elapsed:.1f} s"
        if failure.retry_class == "transient":
            deadline = f"the {self.request.policy.deadline_seconds:.0f} s deadline"
            reason = (
                f"the server asked to wait {waited_for:.1f} s, beyond {deadline}"
                if waited_for is not None
                else f"{deadline} leaves no time for another attempt"
            )
            return DeadlineExceededError(
                f"Verification of {self.subject()} did not finish: {step} still failed after {attempts} "
                f"and {reason}. Last answer: {failure.message}.",
                last_kind=failure.kind,
                hint=failure.hint,
            )
        message = f"Verification of {self.subject()} failed at {step} after {attempts}: {failure.message}."
        if step == "OIDC discovery":
            return DiscoveryError(message, kind=failure.kind, hint=failure.hint)
        if step == "the token exchange":
            return TokenExchangeError(message, kind=failure.kind, hint=failure.hint)
        return ApiProofError(message, kind=failure.kind, hint=failure.hint)


def _is_tls_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _build_client(transport: httpx.BaseTransport | None) -> httpx.Client:
    # verify=True always: there is deliberately no switch to turn TLS verification off.
    return httpx.Client(
        transport=transport,
        verify=True,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )


def _start(
    request: VerificationRequest,
    clock: Callable[[], float],
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    rng: random.Random | None,
) -> _Verification:
    if not isinstance(request, VerificationRequest):
        raise TypeError("request must be a VerificationRequest")
    # Jitter only needs to decorrelate clients, not to be unpredictable.
    jitter = rng or random.Random()  # noqa: S311
    return _Verification(request, clock=clock, monotonic=monotonic, sleep=sleep, rng=jitter)


def verify(
    request: VerificationRequest,
    *,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
    rng: random.Random | None = None,
) -> VerificationResult:
    """Prove the key works and holds the grants; raise a VerificationError subclass when it does not.

    ``clock`` is wall time (assertion iat/exp, Retry-After dates); ``monotonic`` and ``sleep`` drive the budgets.
    ``attempts`` in the result counts every HTTP request sent, retries and pages included.
    """
    run = _start(request, clock, monotonic, sleep, rng)
    with _build_client(transport) as client:
        result = run.run(client)
    logger.debug("verified %s in %d requests, %.2f s", run.subject(), result.attempts, result.elapsed_seconds)
    return result


def check(
    request: VerificationRequest,
    *,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
    rng: random.Random | None = None,
) -> VerificationResult:
    """Like ``verify`` but reports a failed proof as ``verified=False`` instead of raising (used by refresh).

    What was learned before the failure (token type, roles found) stays in the result.
    """
    run = _start(request, clock, monotonic, sleep, rng)
    try:
        with _build_client(transport) as client:
            return run.run(client)
    except VerificationError as error:
        logger.debug("verification of %s failed: %s", run.subject(), error.kind)
        return run.result(verified=False, error=error)
