"""One error family for the verifier.

Every error carries a stable machine-readable ``kind`` (used by the verification resource's outputs, the CLI's
JSON and tests) and a ``hint`` that says how to fix the likely cause. Messages name the operation and the user, key
and org ids; they never contain key material, assertions or tokens.
"""

from __future__ import annotations

# Stable failure kinds. Strings, not an Enum, because they travel through Pulumi state and CLI JSON.
KIND_KEY_FILE_INVALID = "key_file_invalid"
KIND_KEY_EXPIRED = "key_expired"
KIND_BAD_INPUT = "bad_input"
KIND_DISCOVERY_FAILED = "discovery_failed"
KIND_KEY_REJECTED = "key_rejected"
KIND_USER_INACTIVE = "user_inactive"
KIND_USER_NOT_FOUND = "user_not_found"
KIND_REQUEST_REJECTED = "request_rejected"
KIND_AUDIENCE_REJECTED = "audience_rejected"
KIND_TOKEN_REJECTED = "token_rejected"  # noqa: S105 - a failure kind, not a secret
KIND_IDENTITY_MISMATCH = "identity_mismatch"
KIND_GRANT_MISSING = "grant_missing"
KIND_ROLES_MISSING = "roles_missing"
KIND_ORG_NOT_FOUND = "org_not_found"
KIND_PERMISSION_DENIED = "permission_denied"
KIND_RATE_LIMITED = "rate_limited"
KIND_SERVER_ERROR = "server_error"
KIND_TIMEOUT = "timeout"
KIND_CONNECTION_FAILED = "connection_failed"
KIND_TLS_FAILED = "tls_failed"
KIND_BAD_RESPONSE = "bad_response"
KIND_DEADLINE_EXCEEDED = "deadline_exceeded"


class VerificationError(Exception):
    """Base of every error the verifier raises on purpose."""

    default_kind = "verification_failed"

    def __init__(self, message: str, *, kind: str | None = None, hint: str = "") -> None:
        self.message = message
        self.kind: str = kind or self.default_kind
        self.hint: str = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} Hint: {self.hint}"
        return self.message


class InvalidInputError(VerificationError):
    """A request parameter is unusable; ``field`` names it (snake_case, as in the provider's inputs)."""

    default_kind = KIND_BAD_INPUT

    def __init__(self, message: str, *, field: str, hint: str = "", kind: str | None = None) -> None:
        self.field = field
        super().__init__(message, kind=kind, hint=hint)


class KeyFileError(InvalidInputError):
    """The machine key file cannot be used. The message names the field, never the key text."""

    default_kind = KIND_KEY_FILE_INVALID

    def __init__(self, message: str, *, hint: str = "", kind: str | None = None) -> None:
        super().__init__(message, field="key_json", hint=hint, kind=kind)


class DiscoveryError(VerificationError):
    """The issuer does not serve a usable OpenID Connect discovery document."""

    default_kind = KIND_DISCOVERY_FAILED


class TokenExchangeError(VerificationError):
    """The token endpoint refused the JWT-bearer grant or answered something unusable."""

    default_kind = KIND_KEY_REJECTED


class ApiProofError(VerificationError):
    """A token was issued, but the ZITADEL API calls do not prove the identity or the grants."""

    default_kind = KIND_GRANT_MISSING


class DeadlineExceededError(VerificationError):
    """Transient faults (5xx, 429, timeouts, refused connections) outlasted the deadline.

    ``last_kind`` is the kind of the last transient fault seen (e.g. ``server_error``).
    """

    default_kind = KIND_DEADLINE_EXCEEDED

    def __init__(self, message: str, *, last_kind: str, hint: str = "") -> None:
        self.last_kind = last_kind
        super().__init__(message, kind=KIND_DEADLINE_EXCEEDED, hint=hint)
