"""Test helpers of the verifier's unit tests: ids, key files built from generated keys, injected time."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

USER_ID = "259254409320316419"
KEY_ID = "259254409320382211"
ORG_ID = "259254409320250883"


def pem_of(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, fmt: str = "pkcs1") -> str:
    if fmt == "pkcs8":
        private_format = serialization.PrivateFormat.PKCS8
    else:
        private_format = serialization.PrivateFormat.TraditionalOpenSSL
    return private_key.private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption()).decode()


def key_file_text(
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    fmt: str = "pkcs1",
    key_id: str = KEY_ID,
    user_id: str = USER_ID,
    expiration: str | None = "9999-12-31T23:59:59Z",
    overrides: dict[str, Any] | None = None,
) -> str:
    """A key file in ZITADEL's field order; ``overrides`` replace fields, or drop them with the value None."""
    document: dict[str, Any] = {"type": "serviceaccount", "keyId": key_id, "key": pem_of(private_key, fmt)}
    if expiration is not None:
        document["expirationDate"] = expiration
    document["userId"] = user_id
    for name, value in (overrides or {}).items():
        if value is None:
            document.pop(name, None)
        else:
            document[name] = value
    return json.dumps(document)


def pem_body(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """A distinctive slice of the base64 body of the PEM: must never appear in any output."""
    lines = pem_of(private_key).splitlines()
    return lines[3]


@dataclass
class FakeTime:
    """Monotonic time that only moves when the code under test sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
