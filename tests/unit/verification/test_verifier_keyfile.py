"""Key file parsing: the formats ZITADEL and other tools write, and errors that name the field, never the key."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from zitadel_bootstrap.verification import KeyFileError, parse_key_file
from zitadel_bootstrap.verification.keyfile import ensure_not_expired

from .helpers import KEY_ID, USER_ID, key_file_text, pem_body, pem_of


def test_pkcs1_rsa_key_file_parses_to_rs256_with_ids(rsa_key: rsa.RSAPrivateKey) -> None:
    key = parse_key_file(key_file_text(rsa_key, fmt="pkcs1"))
    assert (key.key_id, key.user_id, key.algorithm) == (KEY_ID, USER_ID, "RS256")
    assert isinstance(key.private_key, rsa.RSAPrivateKey)
    assert key.private_key.private_numbers() == rsa_key.private_numbers()


def test_pkcs8_rsa_key_file_parses_to_rs256(rsa_key: rsa.RSAPrivateKey) -> None:
    text = key_file_text(rsa_key, fmt="pkcs8")
    assert "BEGIN PRIVATE KEY" in text
    assert parse_key_file(text).algorithm == "RS256"


def test_ec_p256_key_file_parses_to_es256(ec_key: ec.EllipticCurvePrivateKey) -> None:
    assert parse_key_file(key_file_text(ec_key, fmt="pkcs8")).algorithm == "ES256"
    assert parse_key_file(key_file_text(ec_key, fmt="pkcs1")).algorithm == "ES256"


def test_ec_key_on_another_curve_is_refused_naming_the_curve() -> None:
    with pytest.raises(KeyFileError, match="secp384r1"):
        parse_key_file(key_file_text(ec.generate_private_key(ec.SECP384R1())))


def test_bytes_with_utf8_bom_are_accepted(rsa_key: rsa.RSAPrivateKey) -> None:
    assert parse_key_file(b"\xef\xbb\xbf" + key_file_text(rsa_key).encode()).key_id == KEY_ID


def test_base64_key_details_from_the_rest_gateway_are_accepted(rsa_key: rsa.RSAPrivateKey) -> None:
    wrapped = base64.b64encode(key_file_text(rsa_key).encode()).decode()
    assert parse_key_file(wrapped).user_id == USER_ID


def test_expiration_date_is_parsed_as_utc(rsa_key: rsa.RSAPrivateKey) -> None:
    key = parse_key_file(key_file_text(rsa_key, expiration="2030-01-02T03:04:05.123456789Z"))
    assert key.expiration == datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_missing_expiration_date_of_older_servers_means_no_expiry(rsa_key: rsa.RSAPrivateKey) -> None:
    assert parse_key_file(key_file_text(rsa_key, expiration=None)).expiration is None


@pytest.mark.parametrize("field", ["keyId", "userId", "key"])
def test_missing_field_is_named(rsa_key: rsa.RSAPrivateKey, field: str) -> None:
    with pytest.raises(KeyFileError, match=f"no '{field}' field") as caught:
        parse_key_file(key_file_text(rsa_key, overrides={field: None}))
    assert caught.value.kind == "key_file_invalid"


@pytest.mark.parametrize("field", ["keyId", "userId"])
def test_empty_or_non_string_id_is_named(rsa_key: rsa.RSAPrivateKey, field: str) -> None:
    for value in ("", 42):
        with pytest.raises(KeyFileError, match=f"'{field}' field must be a non-empty string"):
            parse_key_file(key_file_text(rsa_key, overrides={field: value}))


def test_malformed_pem_is_refused_without_echoing_it(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = pem_of(rsa_key)
    broken = pem.replace(pem_body(rsa_key) + "\n", "")  # a line short: the DER structure no longer parses
    with pytest.raises(KeyFileError, match="not a readable PEM private key") as caught:
        parse_key_file(key_file_text(rsa_key, overrides={"key": broken}))
    assert "BEGIN" not in str(caught.value).replace("'BEGIN RSA PRIVATE KEY'", "").replace("'BEGIN PRIVATE KEY'", "")


def test_pem_with_altered_bytes_is_refused_as_damaged_without_echoing_it(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = pem_of(rsa_key)
    broken = pem.replace(pem_body(rsa_key), pem_body(rsa_key)[::-1])  # bytes inside the modulus: n != p*q
    with pytest.raises(KeyFileError, match="numbers do not form a key pair") as caught:
        parse_key_file(key_file_text(rsa_key, overrides={"key": broken}))
    assert pem_body(rsa_key)[::-1] not in str(caught.value)
    assert "BEGIN" not in str(caught.value).replace("'BEGIN RSA PRIVATE KEY'", "").replace("'BEGIN PRIVATE KEY'", "")


def test_invalid_json_reports_the_position_but_not_the_content(rsa_key: rsa.RSAPrivateKey) -> None:
    text = key_file_text(rsa_key)[:-5]
    with pytest.raises(KeyFileError, match=r"not valid JSON \(line 1, column \d+\)") as caught:
        parse_key_file(text)
    assert pem_body(rsa_key) not in str(caught.value)


def test_json_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(KeyFileError, match="must be a JSON object"):
        parse_key_file(json.dumps(["keyId", "userId"]))


def test_empty_file_is_refused() -> None:
    with pytest.raises(KeyFileError, match="empty"):
        parse_key_file("  \n")


def test_application_key_is_refused_with_a_hint(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(KeyFileError, match="'application'") as caught:
        parse_key_file(key_file_text(rsa_key, overrides={"type": "application"}))
    assert "machine key" in caught.value.hint


def test_encrypted_private_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    with pytest.raises(KeyFileError, match="encrypted"):
        parse_key_file(key_file_text(rsa_key, overrides={"key": encrypted}))


def test_rsa_key_below_2048_bits_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weakness is the point
    with pytest.raises(KeyFileError, match="1024 bits"):
        parse_key_file(key_file_text(small))


def _damaged(key: rsa.RSAPrivateKey, **changes: int) -> rsa.RSAPrivateKey:
    """The key with some of its private numbers replaced, built without OpenSSL's check (as a corrupt file is)."""
    numbers = key.private_numbers()
    values = {
        "p": numbers.p,
        "q": numbers.q,
        "d": numbers.d,
        "dmp1": numbers.dmp1,
        "dmq1": numbers.dmq1,
        "iqmp": numbers.iqmp,
    } | changes
    return rsa.RSAPrivateNumbers(**values, public_numbers=numbers.public_numbers).private_key(
        unsafe_skip_rsa_key_validation=True
    )


@pytest.mark.parametrize("broken", ["d", "dmp1", "dmq1", "iqmp"])
def test_rsa_key_whose_numbers_do_not_form_a_key_pair_is_refused(rsa_key: rsa.RSAPrivateKey, broken: str) -> None:
    # OpenSSL's own check is skipped for speed; these are the relations the parser checks instead.
    numbers = rsa_key.private_numbers()
    value = {"d": numbers.d, "dmp1": numbers.dmp1, "dmq1": numbers.dmq1, "iqmp": numbers.iqmp}[broken]
    text = key_file_text(_damaged(rsa_key, **{broken: value + 2}))
    with pytest.raises(KeyFileError, match="numbers do not form a key pair") as caught:
        parse_key_file(text)
    assert pem_body(rsa_key) not in str(caught.value) + caught.value.hint


def test_rsa_key_with_swapped_factors_still_parses(rsa_key: rsa.RSAPrivateKey) -> None:
    # p and q in the other order form the same key pair once the CRT values follow: not a false refusal.
    numbers = rsa_key.private_numbers()
    p, q, d = numbers.q, numbers.p, numbers.d
    swapped = _damaged(rsa_key, p=p, q=q, dmp1=d % (p - 1), dmq1=d % (q - 1), iqmp=pow(q, -1, p))
    assert parse_key_file(key_file_text(swapped)).algorithm == "RS256"


def test_bad_expiration_date_is_named(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(KeyFileError, match="'expirationDate'"):
        parse_key_file(key_file_text(rsa_key, expiration="next tuesday"))


def test_repr_and_equality_leave_the_private_key_out(rsa_key: rsa.RSAPrivateKey) -> None:
    key = parse_key_file(key_file_text(rsa_key))
    other = parse_key_file(key_file_text(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    assert "private_key" not in repr(key)
    assert pem_body(rsa_key) not in repr(key)
    assert key == other  # same ids, different key material: equality never compares secrets


def test_expired_key_fails_fast_with_kind_key_expired(rsa_key: rsa.RSAPrivateKey) -> None:
    key = parse_key_file(key_file_text(rsa_key, expiration="2020-01-01T00:00:00Z"))
    with pytest.raises(KeyFileError, match=f"Machine key {KEY_ID} of user {USER_ID} expired at 2020-01-01") as caught:
        ensure_not_expired(key, datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    assert caught.value.kind == "key_expired"
    ensure_not_expired(key, datetime(2019, 1, 1, tzinfo=UTC).timestamp())
