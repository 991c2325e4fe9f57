"""Nothing secret leaves the verifier: logs (at DEBUG, httpx included), errors, results and CLI output carry
ids and classified reasons only, never the key, the assertion or the token."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from zitadel_bootstrap.cli.verify import main
from zitadel_bootstrap.verification import VerificationRequest, try_verify
from zitadel_bootstrap.verification.redaction import redact

from .fake_zitadel import INVALID_GRANT, MEMBERSHIP_NOT_FOUND, FakeZitadel, Reply
from .helpers import KEY_ID, ORG_ID, USER_ID, pem_body

MakeRequest = Callable[..., VerificationRequest]


def _secrets(fake: FakeZitadel, rsa_key: rsa.RSAPrivateKey) -> list[str]:
    values = [pem_body(rsa_key), *fake.tokens, *fake.issued_assertions]
    assert len(values) > 1, "the scenario must have produced tokens or assertions to look for"
    # Signature segments and token suffixes too: a partial leak is still a leak.
    return values + [value.rsplit(".", 1)[-1] for value in fake.issued_assertions] + [t[-24:] for t in fake.tokens]


def _assert_clean(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text


def test_debug_logs_of_retries_and_failures_contain_no_key_assertion_or_token(
    fake: FakeZitadel,
    make_request: MakeRequest,
    run_kwargs: dict[str, Any],
    rsa_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # root: httpx and httpcore records are captured too
    fake.script("token", Reply(400, INVALID_GRANT), Reply(429, {}, headers={"Retry-After": "1"}))
    fake.script("memberships", Reply(404, MEMBERSHIP_NOT_FOUND))
    assert try_verify(make_request(), **run_kwargs).verified
    fake.memberships = []
    failed = try_verify(make_request(settle=1.0), **run_kwargs)
    assert failed.failure_kind == "grant_missing"
    assert any("retrying" in record.getMessage() for record in caplog.records)
    assert any(record.name.startswith("httpcore") for record in caplog.records)
    _assert_clean(caplog.text, _secrets(fake, rsa_key))
    _assert_clean(json.dumps(failed.to_dict()), _secrets(fake, rsa_key))


def test_server_text_quoting_the_assertion_or_token_is_redacted_from_errors(
    fake: FakeZitadel, make_request: MakeRequest, run_kwargs: dict[str, Any], rsa_key: rsa.RSAPrivateKey
) -> None:
    fake.echo_secrets = True
    fake.keys.clear()
    rejected = try_verify(make_request(settle=0.0), **run_kwargs)
    assert rejected.failure_kind == "key_rejected"
    assert "[redacted]" in (rejected.failure or "")
    fake.register_key(KEY_ID, USER_ID, rsa_key.public_key())
    wrong_audience = try_verify(make_request(audience="170079991923474433"), **run_kwargs)
    assert wrong_audience.failure_kind == "audience_rejected"
    _assert_clean(str(rejected.failure) + str(wrong_audience.failure), _secrets(fake, rsa_key))


def test_redact_removes_jwts_long_opaque_strings_and_pem_blocks() -> None:
    text = (
        "bad eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ and "
        "opqAAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJ and -----BEGIN RSA PRIVATE KEY-----\nMIIE\n"
        "-----END RSA PRIVATE KEY----- id 259254409320316419"
    )
    cleaned = redact(text)
    assert cleaned == "bad [redacted] and [redacted] and [redacted] id 259254409320316419"


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_output_contains_no_key_or_token_whether_verified_or_not(
    fake: FakeZitadel, key_json: str, rsa_key: rsa.RSAPrivateKey, tmp_path: Path, as_json: bool
) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(key_json)
    outputs: list[str] = []
    for audience in ("zitadel", "170079991923474433"):  # verified, then audience_rejected
        stdout, stderr = io.StringIO(), io.StringIO()
        argv = ["--issuer", fake.url, "--insecure", "--key-file", str(key_file), "--org-id", ORG_ID]
        argv += ["--audience", audience, "--verbose"] + (["--json"] if as_json else [])
        code = main(argv, stdout=stdout, stderr=stderr)
        assert code == (0 if audience == "zitadel" else 1)
        outputs.append(stdout.getvalue() + stderr.getvalue())
    _assert_clean("\n".join(outputs), _secrets(fake, rsa_key))
    assert "DEBUG" in outputs[0] or "DEBUG" in outputs[1], "--verbose logs the verifier's attempts"


def test_cli_bad_key_error_does_not_echo_the_key(key_json: str, rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(key_json[:-3])  # truncated JSON
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(
        ["--issuer", "https://acme.zitadel.cloud", "--key-file", str(key_file), "--json"], stdout=stdout, stderr=stderr
    )
    assert code == 2
    assert json.loads(stdout.getvalue())["failure_kind"] == "key_file_invalid"
    assert pem_body(rsa_key) not in stdout.getvalue() + stderr.getvalue()
