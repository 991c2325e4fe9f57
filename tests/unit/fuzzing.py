"""Shared by the property tests: one reproducible Hypothesis profile, key material, and the leak check.

The profile is derandomized (the examples are a function of the test's source), so CI sees the same inputs on
every run, and keeps no example database, so no run leaves files behind or depends on an earlier one.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, settings

#: Every property runs at least this many examples.
MIN_EXAMPLES = 1000

FUZZ = settings(
    max_examples=MIN_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    # Big structures (huge strings, whole key files) are the point here, not a sign of a slow strategy.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

#: A slice of a secret this long in a message counts as a leak.
LEAK_WINDOW = 24

# repr() and JSON escape line breaks: compare with them, and any white space, removed on both sides.
_FLATTEN = re.compile(r"\\+[nrt]?|\s+")


def _flat(text: str) -> str:
    return _FLATTEN.sub("", text)


@cache
def _windows(secret_values: tuple[str, ...]) -> frozenset[str]:
    windows: set[str] = set()
    for secret in secret_values:
        flat = _flat(secret)
        windows.update(flat[i : i + LEAK_WINDOW] for i in range(len(flat) - LEAK_WINDOW + 1))
    return frozenset(windows)


def leaked_slice(text: str, secret_values: tuple[str, ...]) -> str | None:
    """The first LEAK_WINDOW-long slice of any secret that ``text`` contains (escaped or not), else None."""
    flat = _flat(text)
    windows = _windows(secret_values)
    for i in range(len(flat) - LEAK_WINDOW + 1):
        if flat[i : i + LEAK_WINDOW] in windows:
            return flat[i : i + LEAK_WINDOW]
    return None


def pem_body(pem: str) -> str:
    """The base64 lines of a PEM block: the part that is the key."""
    return "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey, fmt: str) -> str:
    private_format = {
        "pkcs1": serialization.PrivateFormat.TraditionalOpenSSL,
        "pkcs8": serialization.PrivateFormat.PKCS8,
    }[fmt]
    return key.private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption()).decode()


@dataclass(frozen=True)
class PemKey:
    """A PEM private key and what the key-file parser must make of it."""

    label: str
    pem: str
    #: "RS256" or "ES256" for a key the parser accepts; None for one it must refuse with KeyFileError.
    algorithm: str | None
    #: The public key as DER, to tell that the parsed key is this one.
    public_der: bytes

    @property
    def body(self) -> str:
        return pem_body(self.pem)


def _public_der(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@cache
def pem_keys() -> tuple[PemKey, ...]:
    """Keys generated once per session: the forms ZITADEL and other tools write, and forms to refuse."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    small_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - must be refused
    p384 = ec.generate_private_key(ec.SECP384R1())
    edwards = ed25519.Ed25519PrivateKey.generate()
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    return (
        PemKey("rsa2048-pkcs1", _pem(rsa_key, "pkcs1"), "RS256", _public_der(rsa_key)),
        PemKey("rsa2048-pkcs8", _pem(rsa_key, "pkcs8"), "RS256", _public_der(rsa_key)),
        PemKey("p256-sec1", _pem(ec_key, "pkcs1"), "ES256", _public_der(ec_key)),
        PemKey("p256-pkcs8", _pem(ec_key, "pkcs8"), "ES256", _public_der(ec_key)),
        PemKey("rsa1024-pkcs1", _pem(small_rsa, "pkcs1"), None, _public_der(small_rsa)),
        PemKey("p384-pkcs8", _pem(p384, "pkcs8"), None, _public_der(p384)),
        PemKey("ed25519-pkcs8", _pem(edwards, "pkcs8"), None, _public_der(edwards)),
        PemKey("rsa2048-encrypted", encrypted, None, _public_der(rsa_key)),
    )


@cache
def fake_secrets() -> tuple[str, ...]:
    """Secret-looking strings (a token, a client secret) drawn once per session."""
    return (
        f"zbs_{secrets.token_urlsafe(40)}",
        f"eyJhbGciOiJSUzI1NiJ9.{secrets.token_urlsafe(48)}.{secrets.token_urlsafe(32)}",
    )


@cache
def secret_texts() -> tuple[str, ...]:
    """Everything no message may quote: every PEM body and every fake secret."""
    return tuple(key.body for key in pem_keys()) + fake_secrets()
