"""Pure JWT-bearer verification of ZITADEL machine keys (no Pulumi imports here; see ``provider`` for that)."""

from .assertion import DEFAULT_ASSERTION_LIFETIME_SECONDS, build_assertion
from .errors import (
    ApiProofError,
    DeadlineExceededError,
    DiscoveryError,
    InvalidInputError,
    KeyFileError,
    TokenExchangeError,
    VerificationError,
)
from .exchange import JWT_BEARER_GRANT_TYPE
from .grants import GrantMatch, match_grants
from .keyfile import MachineKey, parse_key_file
from .model import (
    GRANT_LEVELS,
    ZITADEL_AUDIENCE,
    Grant,
    GrantLevel,
    RetryPolicy,
    VerificationRequest,
    VerificationResult,
)
from .proof import held_permissions, try_verify, user_ids_named, verify

__all__ = [
    "DEFAULT_ASSERTION_LIFETIME_SECONDS",
    "GRANT_LEVELS",
    "JWT_BEARER_GRANT_TYPE",
    "ZITADEL_AUDIENCE",
    "ApiProofError",
    "DeadlineExceededError",
    "DiscoveryError",
    "Grant",
    "GrantLevel",
    "GrantMatch",
    "InvalidInputError",
    "KeyFileError",
    "MachineKey",
    "RetryPolicy",
    "TokenExchangeError",
    "VerificationError",
    "VerificationRequest",
    "VerificationResult",
    "build_assertion",
    "held_permissions",
    "match_grants",
    "parse_key_file",
    "try_verify",
    "user_ids_named",
    "verify",
]
