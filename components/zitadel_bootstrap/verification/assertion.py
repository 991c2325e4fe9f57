"""Build the JWT assertion of the JWT-bearer grant (RFC 7523, section 3) for a ZITADEL machine key.

Pure: the time is passed in, nothing is read from the environment.
"""

from __future__ import annotations

import math

import jwt

from .errors import InvalidInputError
from .keyfile import MachineKey

# ZITADEL enforces no maximum lifetime, but a short one limits replay of a leaked assertion while tolerating a
# client clock that runs behind the server's by several minutes.
DEFAULT_ASSERTION_LIFETIME_SECONDS = 600
MAX_ASSERTION_LIFETIME_SECONDS = 3600


def build_assertion(
    key: MachineKey,
    issuer: str,
    now: float,
    lifetime_seconds: int = DEFAULT_ASSERTION_LIFETIME_SECONDS,
) -> str:
    """Sign the assertion that exchanges ``key`` for an access token at ``issuer``."""
    if not 1 <= lifetime_seconds <= MAX_ASSERTION_LIFETIME_SECONDS:
        raise InvalidInputError(
            f"Assertion lifetime {lifetime_seconds} s is outside 1..{MAX_ASSERTION_LIFETIME_SECONDS} s.",
            field="lifetime_seconds",
        )
    if not math.isfinite(now) or now < 0:
        raise InvalidInputError("The current time must be a finite, non-negative timestamp.", field="now")
    # RFC 7523 3.: "The JWT MAY contain an "iat" (issued at) claim that identifies the time at which the JWT was
    # issued." ZITADEL requires it and rejects one more than 1 s in the future, so round down, never up.
    issued_at = math.floor(now)
    claims = {
        # RFC 7523 3.: "The JWT MUST contain an "iss" (issuer) claim that contains a unique identifier for the
        # entity that issued the JWT." and "For the authorization grant, the subject typically identifies an
        # authorized accessor". ZITADEL requires iss == sub == the machine user id.
        "iss": key.user_id,
        "sub": key.user_id,
        # RFC 7523 3.: "The JWT MUST contain an "aud" (audience) claim containing a value that identifies the
        # authorization server as an intended audience." ZITADEL accepts exactly its issuer string.
        "aud": issuer,
        "iat": issued_at,
        # RFC 7523 3.: "The JWT MUST contain an "exp" (expiration time) claim that limits the time window during
        # which the JWT can be used."
        "exp": issued_at + lifetime_seconds,
    }
    # ZITADEL looks the verification key up by (kid, user id), so the header must carry the key id.
    return jwt.encode(claims, key.private_key, algorithm=key.algorithm, headers={"kid": key.key_id})
