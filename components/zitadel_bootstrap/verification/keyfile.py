"""Parse a ZITADEL machine key file (the JSON that ``MachineKey.key_details`` holds).

Shape written by ZITADEL: ``{"type": "serviceaccount", "keyId", "key", "expirationDate", "userId"}`` where ``key``
is a PEM private key (PKCS#1 RSA from ZITADEL; PKCS#8 and EC keys from other tools are accepted too).
Errors name the offending field and never echo its value: the file is a credential.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import KIND_KEY_EXPIRED, KeyFileError

SERVICE_ACCOUNT_KEY_TYPE = "serviceaccount"
#: Types of ZITADEL key files that are safe to name in a message (anything else is not quoted).
_KNOWN_KEY_TYPES = frozenset({"application", "serviceaccount", "user"})
MIN_RSA_KEY_BITS = 2048

Algorithm = Literal["RS256", "ES256"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_HINT = "Use the key file exactly as ZITADEL returned it (the provider's MachineKey.key_details)."


@dataclass(frozen=True)
class MachineKey:
    """A parsed machine key. ``private_key`` is kept out of repr and equality so it never lands in logs."""

    key_id: str
    user_id: str
    private_key: PrivateKey = field(repr=False, compare=False)
    algorithm: Algorithm
    expiration: datetime | None = None

    def is_expired(self, now: float) -> bool:
        return self.expiration is not None and self.expiration.timestamp() <= now


def _decode_document(text: str | bytes) -> dict[str, Any]:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise KeyFileError("The key file is not UTF-8 text.", hint=_HINT) from exc
    stripped = text.strip()
    if not stripped:
        raise KeyFileError("The key file is empty.", hint=_HINT)
    if not stripped.startswith(("{", "[")):
        # ZITADEL's REST gateway hands out key_details base64-encoded; accept that form too.
        try:
            stripped = base64.b64decode(stripped, validate=True).decode("utf-8").strip()
        except (binascii.Error, ValueError) as exc:
            raise KeyFileError("The key file is neither JSON nor base64-encoded JSON.", hint=_HINT) from exc
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError as exc:
        # Only the position is reported: the document itself is a credential.
        raise KeyFileError(
            f"The key file is not valid JSON (line {exc.lineno}, column {exc.colno}).", hint=_HINT
        ) from exc
    except (RecursionError, ValueError) as exc:
        # Nesting beyond the parser's depth, or an integer beyond Python's digit limit: no key file looks so.
        raise KeyFileError("The key file is not a ZITADEL key file (its JSON is nested or sized absurdly).") from exc
    if not isinstance(document, dict):
        raise KeyFileError("The key file must be a JSON object.", hint=_HINT)
    return document


def _required_string(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if value is None:
        raise KeyFileError(f"The key file has no '{name}' field.", hint=_HINT)
    if not isinstance(value, str) or not value.strip():
        raise KeyFileError(f"The key file's '{name}' field must be a non-empty string.", hint=_HINT)
    return value


def _required_id(document: dict[str, Any], name: str) -> str:
    value = _required_string(document, name)
    if any(ch.isspace() for ch in value):
        raise KeyFileError(f"The key file's '{name}' field contains whitespace.", hint=_HINT)
    return value


def _check_rsa_consistency(key: rsa.RSAPrivateKey) -> None:
    """The arithmetic checks of OpenSSL's RSA key check (RFC 8017 section 3.2): n = p*q, e*d = 1 mod lcm(p-1, q-1),
    and the CRT values derived from them. A key that fails them would sign garbage or, per OpenSSL, misbehave."""
    numbers = key.private_numbers()
    p, q, d = numbers.p, numbers.q, numbers.d
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    consistent = (
        p > 2
        and q > 2
        and p % 2 == 1
        and q % 2 == 1
        and p * q == n
        and (d * e) % ((p - 1) * (q - 1) // math.gcd(p - 1, q - 1)) == 1
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and (numbers.iqmp * q) % p == 1
    )
    if not consistent:
        raise KeyFileError(
            "The key file's RSA key is damaged: its numbers do not form a key pair.",
            hint="Download the key again, or create a new one; " + _HINT,
        )


def _load_private_key(pem: str) -> tuple[PrivateKey, Algorithm]:
    try:
        # OpenSSL's RSA key check costs about 28 ms per 2048-bit key, nearly all of it the primality tests of p
        # and q. Even loaded only once per key and process, it was most of a verification's CPU in the provider.
        # It is skipped here, and _check_rsa_consistency does the arithmetic part of the same check instead. What
        # that gives up is the proof that p and q are prime, a guard against weak keys from a faulty generator:
        # the keys checked here are made by ZITADEL's own generator.
        loaded = serialization.load_pem_private_key(
            pem.encode("utf-8"), password=None, unsafe_skip_rsa_key_validation=True
        )
    except TypeError as exc:
        raise KeyFileError(
            "The key file's 'key' field holds an encrypted private key.",
            hint="ZITADEL key files hold an unencrypted PEM key; decrypt it first.",
        ) from exc
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        # UnsupportedAlgorithm: a well-formed key of a kind this cryptography build cannot load (an exotic curve).
        raise KeyFileError(
            "The key file's 'key' field is not a readable PEM private key "
            "(expected 'BEGIN RSA PRIVATE KEY' or 'BEGIN PRIVATE KEY').",
            hint=_HINT,
        ) from exc
    if isinstance(loaded, rsa.RSAPrivateKey):
        _check_rsa_consistency(loaded)
        if loaded.key_size < MIN_RSA_KEY_BITS:
            raise KeyFileError(
                f"The key file's RSA key has {loaded.key_size} bits; at least {MIN_RSA_KEY_BITS} are required.",
                hint=_HINT,
            )
        return loaded, "RS256"
    if isinstance(loaded, ec.EllipticCurvePrivateKey):
        if not isinstance(loaded.curve, ec.SECP256R1):
            raise KeyFileError(
                f"The key file's EC key uses curve {loaded.curve.name}; ZITADEL accepts ES256 (P-256) only.",
                hint=_HINT,
            )
        return loaded, "ES256"
    raise KeyFileError(
        f"The key file's 'key' field holds a {type(loaded).__name__.lstrip('_')} key; "
        "ZITADEL accepts RSA (RS256) and EC P-256 (ES256) keys.",
        hint=_HINT,
    )


def _parse_expiration(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise KeyFileError("The key file's 'expirationDate' must be an RFC 3339 string.", hint=_HINT)
    # The value is never quoted: a key pasted into the wrong field must not end up in a message. Nor in a printed
    # traceback: the parser's own error quotes the value, so it is not chained (``from None``).
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise KeyFileError("The key file's 'expirationDate' is not an RFC 3339 date.", hint=_HINT) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise KeyFileError(
            "The key file's 'expirationDate' lies outside the years 1 to 9999 in UTC.", hint=_HINT
        ) from None


def parse_key_file(text: str | bytes) -> MachineKey:
    """Parse and validate a machine key file; raise KeyFileError naming what is wrong."""
    document = _decode_document(text)
    key_type = document.get("type")
    if key_type is not None and key_type != SERVICE_ACCOUNT_KEY_TYPE:
        shown = repr(key_type) if isinstance(key_type, str) and key_type in _KNOWN_KEY_TYPES else "another value"
        raise KeyFileError(
            f"The key file's 'type' is {shown}, not {SERVICE_ACCOUNT_KEY_TYPE!r}.",
            hint="Application (API/OIDC client) keys cannot log in as a service account; "
            "create a machine key for the machine user.",
        )
    key_id = _required_id(document, "keyId")
    user_id = _required_id(document, "userId")
    pem = _required_string(document, "key")
    expiration = _parse_expiration(document.get("expirationDate"))
    private_key, algorithm = _load_private_key(pem)
    return MachineKey(
        key_id=key_id,
        user_id=user_id,
        private_key=private_key,
        algorithm=algorithm,
        expiration=expiration,
    )


def ensure_not_expired(key: MachineKey, now: float) -> None:
    """Fail fast for a key whose expirationDate has passed: ZITADEL would only say 'invalid assertion'."""
    if key.expiration is not None and key.expiration.timestamp() <= now:
        raise KeyFileError(
            f"Machine key {key.key_id} of user {key.user_id} expired at "
            f"{key.expiration.strftime('%Y-%m-%dT%H:%M:%SZ')}.",
            kind=KIND_KEY_EXPIRED,
            hint="Create a new machine key (replace the MachineKey resource) and use its key file.",
        )
