"""What a TLS failure is called: the certificate problem by name with the trust setting, or a server that does not
speak TLS with the zitadel:insecure way out. Before, every TLS failure read "could not be verified"."""

from __future__ import annotations

import ssl

import httpx
from zitadel_bootstrap.verification.http import is_tls_failure, tls_failure


def wrapped(cause: BaseException) -> httpx.ConnectError:
    """An httpx connect error with the ssl error as its cause, as httpx raises it."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise httpx.ConnectError(str(inner)) from inner
    except httpx.ConnectError as outer:
        return outer


def test_an_untrusted_certificate_is_named_with_its_reason_and_ssl_cert_file() -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    cause.verify_message = "unable to get local issuer certificate"
    error = wrapped(cause)
    assert is_tls_failure(error)
    problem, way_out = tls_failure(error, "zitadel.example.com:443")
    assert problem == (
        "the TLS certificate of zitadel.example.com:443 could not be verified: unable to get local issuer certificate"
    )
    assert "SSL_CERT_FILE" in way_out
    assert "zitadel:domain" in way_out


def test_a_server_that_does_not_speak_tls_points_at_plain_http_and_zitadel_insecure() -> None:
    cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    cause.reason = "WRONG_VERSION_NUMBER"
    problem, way_out = tls_failure(wrapped(cause), "127.0.0.1:8080")
    assert problem == "127.0.0.1:8080 did not answer in TLS (WRONG_VERSION_NUMBER): it may serve plain http"
    assert "zitadel:insecure" in way_out
    assert "never for a remote instance" in way_out
