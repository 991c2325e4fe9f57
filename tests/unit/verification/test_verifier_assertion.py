"""The RFC 7523 assertion: claims exactly as ZITADEL validates them, signed by the machine key."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from zitadel_bootstrap.verification import InvalidInputError, MachineKey, build_assertion, parse_key_file
from zitadel_bootstrap.verification.assertion import MAX_ASSERTION_LIFETIME_SECONDS

from .helpers import KEY_ID, USER_ID, key_file_text

ISSUER = "https://acme.zitadel.cloud"
NOW = 1_767_225_600.75


def _decode(token: str, public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey, algorithm: str) -> dict[str, object]:
    return jwt.decode(
        token,
        public_key,
        algorithms=[algorithm],
        audience=ISSUER,
        options={"verify_exp": False, "verify_iat": False, "require": ["iss", "sub", "aud", "iat", "exp"]},
    )


def test_claims_are_iss_sub_user_and_aud_issuer_verified_with_the_public_key(
    machine_key: MachineKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    claims = _decode(build_assertion(machine_key, ISSUER, NOW), rsa_key.public_key(), "RS256")
    assert claims["iss"] == claims["sub"] == USER_ID
    assert claims["aud"] == ISSUER


def test_header_carries_the_key_id_and_rs256(machine_key: MachineKey) -> None:
    header = jwt.get_unverified_header(build_assertion(machine_key, ISSUER, NOW))
    assert header["kid"] == KEY_ID
    assert header["alg"] == "RS256"


def test_iat_is_rounded_down_so_it_is_never_ahead_of_the_clock(machine_key: MachineKey) -> None:
    claims = jwt.decode(build_assertion(machine_key, ISSUER, NOW), options={"verify_signature": False})
    assert claims["iat"] == int(NOW)
    assert claims["iat"] <= NOW


def test_exp_is_iat_plus_lifetime_and_within_the_hour(machine_key: MachineKey) -> None:
    default = jwt.decode(build_assertion(machine_key, ISSUER, NOW), options={"verify_signature": False})
    assert 0 < default["exp"] - default["iat"] <= 3600
    custom = jwt.decode(
        build_assertion(machine_key, ISSUER, NOW, lifetime_seconds=120), options={"verify_signature": False}
    )
    assert custom["exp"] - custom["iat"] == 120


@pytest.mark.parametrize("lifetime", [0, -5, MAX_ASSERTION_LIFETIME_SECONDS + 1])
def test_lifetime_outside_one_second_to_one_hour_is_refused(machine_key: MachineKey, lifetime: int) -> None:
    with pytest.raises(InvalidInputError, match="lifetime"):
        build_assertion(machine_key, ISSUER, NOW, lifetime_seconds=lifetime)


def test_ec_key_signs_an_es256_assertion(ec_key: ec.EllipticCurvePrivateKey) -> None:
    key = parse_key_file(key_file_text(ec_key))
    token = build_assertion(key, ISSUER, NOW)
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert _decode(token, ec_key.public_key(), "ES256")["sub"] == USER_ID
