"""Log in as the machine user: OIDC discovery, then the JWT-bearer token exchange (RFC 7523).

The readers turn ZITADEL's answers into what the proof needs next (the token endpoint, the token) or into a
classified ``StepError``; the run (``proof``) sends the requests, retries and counts them. The access token is kept
out of every repr, message and log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import jwt

from .classify import DISCOVERY_RULES, HINT_ISSUER, TOKEN_RULES, StepError, classify, json_object
from .errors import KIND_BAD_RESPONSE, KIND_DISCOVERY_FAILED, KIND_IDENTITY_MISMATCH
from .redaction import redact

logger = logging.getLogger(__name__)

#: RFC 7523, section 2.1: the grant type of a JWT used as an authorization grant.
JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DISCOVERY_PATH = "/.well-known/openid-configuration"


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


def read_discovery(response: httpx.Response, *, issuer: str, insecure: bool, now: float) -> Discovery:
    what = f"OIDC discovery at {issuer}{DISCOVERY_PATH}"
    if response.status_code != 200:
        raise classify(DISCOVERY_RULES, response, what, now)

    def broken(problem: str, hint: str = HINT_ISSUER) -> StepError:
        return StepError(KIND_DISCOVERY_FAILED, "fatal", f"{what} {problem}", hint=hint)

    document = json_object(response)
    if document is None:
        raise broken("did not return a JSON object")
    grant_types = document.get("grant_types_supported")
    if not isinstance(grant_types, list) or JWT_BEARER_GRANT_TYPE not in grant_types:
        raise broken(
            f"does not advertise the JWT-bearer grant ({JWT_BEARER_GRANT_TYPE})",
            "Every ZITADEL version supports it: the issuer is probably not a ZITADEL instance.",
        )
    token_endpoint = document.get("token_endpoint")
    if not isinstance(token_endpoint, str):
        raise broken("has no token_endpoint")
    parts = urlsplit(token_endpoint)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise broken("has no usable token_endpoint")
    if parts.scheme == "http" and not insecure:
        raise broken(
            "names a plain-http token endpoint; the assertion would travel unencrypted",
            "Fix the instance's external TLS settings (ExternalSecure), or use insecure for local tests.",
        )
    advertised = document.get("issuer")
    # The assertion's aud must equal the issuer ZITADEL itself uses, which discovery states authoritatively.
    effective_issuer = advertised if isinstance(advertised, str) and advertised else issuer
    if effective_issuer != issuer:
        logger.debug("discovery advertises issuer %s, configured %s; using the advertised one", advertised, issuer)
    return Discovery(issuer=effective_issuer, token_endpoint=token_endpoint)


def read_token(response: httpx.Response, *, user_id: str, key_id: str, now: float) -> TokenGrant:
    what = f"The JWT-bearer token exchange for user {user_id} with key {key_id}"
    if response.status_code != 200:
        raise classify(TOKEN_RULES, response, what, now)
    body = json_object(response)
    if body is None or not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise StepError(KIND_BAD_RESPONSE, "fatal", f"{what} answered 200 without an access_token", hint=HINT_ISSUER)
    access_token: str = body["access_token"]
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise StepError(KIND_BAD_RESPONSE, "fatal", f"{what} returned an unsupported token_type {token_type!r}")
    claims = jwt_claims(access_token)
    if claims is not None and "sub" in claims and claims["sub"] != user_id:
        raise StepError(
            KIND_IDENTITY_MISMATCH,
            "fatal",
            f"{what} returned a JWT access token for another subject ({redact(str(claims['sub']), 40)})",
            hint="The key file's userId does not match the user ZITADEL authenticated.",
        )
    return TokenGrant(
        access_token=access_token,
        token_type=token_type,
        token_format="jwt" if claims is not None else "opaque",
        expires_in=as_int(body.get("expires_in")),
    )


def jwt_claims(token: str) -> dict[str, Any] | None:
    """Claims of a JWT-shaped token, unverified: only used to tell the format and cross-check ``sub``."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if "alg" in header and isinstance(claims, dict) else None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
