"""Value types of the verifier: what to prove (Grant, VerificationRequest), how hard to try (RetryPolicy),
and what was proven (VerificationResult). Validation lives here so the CLI, the library and the verification
resource's ``check`` reject the same inputs with the same words."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from zitadel_bootstrap.limits import (
    DEFAULT_DEADLINE_SECONDS,
    DEFAULT_INITIAL_BACKOFF_SECONDS,
    DEFAULT_MAX_BACKOFF_SECONDS,
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    MAX_DEADLINE_SECONDS,
)

from .errors import InvalidInputError
from .keyfile import MachineKey
from .redaction import shown

GrantLevel = Literal["instance", "org", "project", "project_grant"]
GRANT_LEVELS: tuple[str, ...] = get_args(GrantLevel)

# The reserved audience: ZITADEL replaces "zitadel" in the project-audience scope with its own project id.
ZITADEL_AUDIENCE = "zitadel"


def validate_issuer(issuer: object, *, insecure: bool | None) -> str:
    """Return the issuer normalised to ``scheme://host[:port]``; ``insecure=None`` skips the http check."""
    if not isinstance(issuer, str) or not issuer.strip():
        raise InvalidInputError("The issuer must be a non-empty URL.", field="issuer")
    candidate = issuer.strip()
    candidate = candidate[:-1] if candidate.endswith("/") else candidate
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError as exc:
        raise InvalidInputError(f"The issuer {shown(issuer)} is not a valid URL.", field="issuer") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInputError(
            f"The issuer {shown(issuer)} must be an absolute http(s) URL such as https://my-instance.zitadel.cloud.",
            field="issuer",
        )
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInputError(
            f"The issuer {shown(issuer)} must be an origin (scheme://host[:port]) without path, query or credentials.",
            field="issuer",
        )
    if port == 0:
        raise InvalidInputError(f"The issuer {shown(issuer)} has port 0.", field="issuer")
    if parts.scheme == "http" and insecure is False:
        raise InvalidInputError(
            f"The issuer {shown(issuer)} uses plain http, which would send the assertion and the token unencrypted.",
            field="issuer",
            hint="Use https, or set insecure (--insecure) for a local instance.",
        )
    return candidate


def validate_id(value: object, field_name: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"The {what} must be a non-empty string.", field=field_name)
    if any(ch.isspace() for ch in value) or ":" in value:
        raise InvalidInputError(f"The {what} {value!r} must not contain whitespace or ':'.", field=field_name)
    return value


def validate_audience(value: object) -> str:
    # Any other value is a project id; only "zitadel" or the instance's iamProjectId lets the API proof pass,
    # which the verifier reports as audience_rejected rather than guessing here.
    return validate_id(value, "audience", "audience ('zitadel' or a project id)")


def validate_seconds(
    value: object, field_name: str, *, allow_zero: bool, maximum: float = MAX_DEADLINE_SECONDS
) -> float:
    """``value`` as seconds, above zero (or zero with ``allow_zero``) and at most ``maximum`` (see limits)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{field_name} must be a number of seconds.", field=field_name)
    seconds = float(value)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "more than zero"
        raise InvalidInputError(f"{field_name} must be {bound} seconds, got {value}.", field=field_name)
    if seconds > maximum:
        raise InvalidInputError(f"{field_name} must be at most {maximum:g} seconds, got {value}.", field=field_name)
    return seconds


@dataclass(frozen=True)
class Grant:
    """A membership the token's user must hold, with at least these roles.

    ``resource_id`` is the org id (org), project id (project), project-grant id (project_grant), or "" (instance).
    """

    level: GrantLevel
    resource_id: str
    roles: tuple[str, ...]
    project_id: str | None = None

    def __post_init__(self) -> None:
        if self.level not in GRANT_LEVELS:
            raise InvalidInputError(
                f"Unknown grant level {self.level!r}; use one of {', '.join(GRANT_LEVELS)}.", field="grants"
            )
        if self.level == "instance":
            if self.resource_id:
                raise InvalidInputError(
                    "An instance grant has no resource id (leave resource_id empty).", field="grants"
                )
        else:
            validate_id(self.resource_id, "grants", f"{self.level} grant's resource_id")
        roles: object = self.roles  # callers may pass any sequence (or a bare string by mistake)
        if (
            isinstance(roles, str | bytes)
            or not isinstance(roles, list | tuple)
            or not all(isinstance(role, str) and role.strip() and role == role.strip() for role in roles)
        ):
            raise InvalidInputError(
                f"The {self.describe()} grant's roles must be a list of non-empty role names.", field="grants"
            )
        object.__setattr__(self, "roles", tuple(roles))
        if self.project_id is not None:
            validate_id(self.project_id, "grants", f"{self.level} grant's project_id")

    @property
    def key(self) -> str:
        """Stable name of the grant in ``VerificationResult.roles_found``."""
        return "instance" if self.level == "instance" else f"{self.level}:{self.resource_id}"

    def describe(self) -> str:
        if self.level == "instance":
            return "instance"
        if self.level == "project_grant" and self.project_id:
            return f"project grant {self.resource_id} (project {self.project_id})"
        return f"{self.level.replace('_', ' ')} {self.resource_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "resource_id": self.resource_id,
            "roles": list(self.roles),
            "project_id": self.project_id,
        }


@dataclass(frozen=True)
class RetryPolicy:
    """Time budgets.

    ``deadline_seconds`` bounds the whole verification (5xx, 429, timeouts and refused connections are retried
    until it runs out). ``settle_seconds`` bounds how long a consistency-class answer (unknown key right after
    creation, missing membership or roles) is retried, counted from the first such answer: long at create time
    because ZITADEL's projections lag, short on refresh so a revoked key or grant is reported quickly.

    ``steady_refusal_seconds`` (off when None) ends the wait early for a steady refusal: every required membership
    is there with roles, but the same wrong roles come back unchanged for this long, which read lag does not
    explain. A membership not found at all, or one without roles, is still waited for. The CLI sets it; the
    provider does not, since its create/update follows its own role change, whose old roles are what the lag shows.
    """

    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    settle_seconds: float = DEFAULT_DEADLINE_SECONDS  # create/update settle for the whole deadline
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    initial_backoff: float = DEFAULT_INITIAL_BACKOFF_SECONDS
    max_backoff: float = DEFAULT_MAX_BACKOFF_SECONDS
    steady_refusal_seconds: float | None = None  # off: the provider's policies; the CLI sets --settle-seconds

    def __post_init__(self) -> None:
        validate_seconds(self.deadline_seconds, "deadline_seconds", allow_zero=False, maximum=MAX_DEADLINE_SECONDS)
        # Create and update settle for the whole deadline; refresh passes its shorter refresh_settle_seconds.
        validate_seconds(self.settle_seconds, "settle_seconds", allow_zero=True, maximum=MAX_DEADLINE_SECONDS)
        validate_seconds(self.request_timeout_seconds, "request_timeout_seconds", allow_zero=False)
        validate_seconds(self.initial_backoff, "initial_backoff", allow_zero=False)
        validate_seconds(self.max_backoff, "max_backoff", allow_zero=False)
        if self.steady_refusal_seconds is not None:
            validate_seconds(self.steady_refusal_seconds, "steady_refusal_seconds", allow_zero=True)
        if self.max_backoff < self.initial_backoff:
            raise InvalidInputError("max_backoff must not be below initial_backoff.", field="max_backoff")


@dataclass(frozen=True)
class Waiting:
    """What a run waits for, told before each pause between attempts (``on_wait``). Ids, roles and classified
    reasons only (``message`` is a classified failure's, server text redacted): never key or token material."""

    step: str
    """The step retried, e.g. "the grant proof (memberships/me)"."""
    kind: str
    message: str
    delay: float
    """Seconds until the next attempt."""
    elapsed_seconds: float
    deadline_seconds: float
    roles_found: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unchanged_seconds: float | None = None
    """How long the same wrong roles have come back (only while a steady refusal is being timed)."""
    steady_refusal_seconds: float | None = None


@dataclass(frozen=True)
class VerificationRequest:
    """Everything needed to prove that ``key`` logs in at ``issuer`` and holds ``grants``."""

    issuer: str
    key: MachineKey
    grants: tuple[Grant, ...] = ()
    audience: str = ZITADEL_AUDIENCE
    org_id: str | None = None
    insecure: bool = False
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if not isinstance(self.insecure, bool):
            raise InvalidInputError("insecure must be true or false.", field="insecure")
        object.__setattr__(self, "issuer", validate_issuer(self.issuer, insecure=self.insecure))
        validate_audience(self.audience)
        if self.org_id is not None:
            validate_id(self.org_id, "org_id", "org id")
        if not isinstance(self.key, MachineKey):
            raise InvalidInputError("key must be a parsed MachineKey.", field="key_json")
        grants = tuple(self.grants)
        if not all(isinstance(grant, Grant) for grant in grants):
            raise InvalidInputError("grants must be Grant values.", field="grants")
        keys = [grant.key for grant in grants]
        if len(set(keys)) != len(keys):
            raise InvalidInputError("grants name the same membership twice; merge their roles.", field="grants")
        object.__setattr__(self, "grants", grants)
        if not isinstance(self.policy, RetryPolicy):
            raise InvalidInputError("policy must be a RetryPolicy.", field="policy")

    @property
    def scope(self) -> str:
        # `openid` yields an id_token; the project-audience scope puts the project (for "zitadel": ZITADEL's own
        # project) into the token audience, which ZITADEL's APIs require.
        return f"openid urn:zitadel:iam:org:project:id:{self.audience}:aud"


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of a verification. Holds ids and facts only: never a key, an assertion or a token."""

    verified: bool
    user_id: str | None
    key_id: str | None
    org_id: str | None
    roles_found: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    token_type: str | None = None
    token_format: Literal["opaque", "jwt"] | None = None
    expires_in: int | None = None
    attempts: int = 0
    elapsed_seconds: float = 0.0
    failure_kind: str | None = None
    failure: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, snake_case, stable key order."""
        return {
            "verified": self.verified,
            "user_id": self.user_id,
            "key_id": self.key_id,
            "org_id": self.org_id,
            "roles_found": {name: list(roles) for name, roles in sorted(self.roles_found.items())},
            "token_type": self.token_type,
            "token_format": self.token_format,
            "expires_in": self.expires_in,
            "attempts": self.attempts,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "failure_kind": self.failure_kind,
            "failure": self.failure,
        }
