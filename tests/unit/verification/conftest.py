"""Fixtures of the verifier's unit tests: keys generated here, a local fake ZITADEL, injected time."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from zitadel_bootstrap.verification import (
    Grant,
    MachineKey,
    RetryPolicy,
    VerificationRequest,
    parse_key_file,
)

from .fake_zitadel import FakeZitadel
from .helpers import KEY_ID, ORG_ID, USER_ID, FakeTime, key_file_text


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def key_json(rsa_key: rsa.RSAPrivateKey) -> str:
    return key_file_text(rsa_key)


@pytest.fixture(scope="session")
def machine_key(key_json: str) -> MachineKey:
    return parse_key_file(key_json)


@pytest.fixture
def fake(rsa_key: rsa.RSAPrivateKey) -> Iterator[FakeZitadel]:
    server = FakeZitadel().start()
    server.register_key(KEY_ID, USER_ID, rsa_key.public_key())
    server.add_membership(["ORG_OWNER"], orgId=ORG_ID)
    yield server
    server.stop()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_request(fake: FakeZitadel, machine_key: MachineKey) -> Callable[..., VerificationRequest]:
    def build(**overrides: Any) -> VerificationRequest:
        policy = overrides.pop("policy", None) or RetryPolicy(
            deadline_seconds=overrides.pop("deadline", 60.0),
            settle_seconds=overrides.pop("settle", 60.0),
            request_timeout_seconds=overrides.pop("request_timeout", 5.0),
        )
        values: dict[str, Any] = {
            "issuer": fake.url,
            "key": machine_key,
            "grants": (Grant("org", ORG_ID, ("ORG_OWNER",)),),
            "org_id": ORG_ID,
            "insecure": True,
            "policy": policy,
        }
        values.update(overrides)
        return VerificationRequest(**values)

    return build


@pytest.fixture
def run_kwargs(fake_time: FakeTime) -> dict[str, Any]:
    """Injected time for verify()/check(): real wall clock (the fake checks iat/exp), fake monotonic and sleep."""
    # A seeded generator makes the jittered backoff reproducible.
    return {"monotonic": fake_time.monotonic, "sleep": fake_time.sleep, "rng": random.Random(7)}  # noqa: S311
