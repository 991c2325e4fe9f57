"""Claims of docs/security.md about the network that no other test holds.

- The verifier and the recovery's client never follow a redirect: a bearer token stays with the issuer.
- An https certificate is always verified, with ``insecure`` too, and behind a plain-http issuer too: the recovery's
  client included. SSL_CERT_FILE or SSL_CERT_DIR is the trust the Python side takes (a local TLS server with a CA
  made here).
- The recovery's client (`recover`, `adopt-user`) fails at once on a certificate problem, naming it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import secrets
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from zitadel_bootstrap.cli.recover.zitadel_api import ZitadelApi, ZitadelApiError
from zitadel_bootstrap.verification import RetryPolicy, VerificationRequest, parse_key_file, try_verify
from zitadel_bootstrap.verification import http as verifier_http

from tests.unit.verification.helpers import FakeTime, key_file_text

ISSUER = "https://acme.zitadel.cloud"
#: As long and random as the opaque tokens ZITADEL issues.
TOKEN = secrets.token_urlsafe(64)
DISCOVERY = "/.well-known/openid-configuration"


@pytest.fixture(scope="module")
def key_json() -> str:
    return key_file_text(rsa.generate_private_key(public_exponent=65537, key_size=2048))


# --- the network: redirects -------------------------------------------------------------------------------------------


def discovery_document(issuer: str, token_endpoint: str | None = None) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "token_endpoint": token_endpoint or f"{issuer}/oauth/v2/token",
        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
    }


def redirecting_instance(seen: list[httpx.Request]) -> httpx.MockTransport:
    """An instance whose API redirects to another origin, which would answer anything it is sent."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host != "acme.zitadel.cloud":
            return httpx.Response(200, json={"user": {"id": "259254409320316419", "state": "USER_STATE_ACTIVE"}})
        if request.url.path == DISCOVERY:
            return httpx.Response(200, json=discovery_document(ISSUER))
        if request.url.path == "/oauth/v2/token":
            return httpx.Response(200, json={"access_token": TOKEN, "token_type": "Bearer", "expires_in": 43199})
        return httpx.Response(302, headers={"Location": f"https://collector.example{request.url.path}"})

    return httpx.MockTransport(handle)


def test_the_verifier_never_follows_a_redirect_so_the_token_stays_with_the_issuer(key_json: str) -> None:
    seen: list[httpx.Request] = []
    clock = FakeTime()
    result = try_verify(
        VerificationRequest(issuer=ISSUER, key=parse_key_file(key_json)),
        transport=redirecting_instance(seen),
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )
    assert (result.verified, result.failure_kind) == (False, "bad_response")
    assert "redirected" in (result.failure or "")
    assert {request.url.host for request in seen} == {"acme.zitadel.cloud"}
    assert [request.url.path for request in seen if "authorization" in request.headers] == ["/auth/v1/users/me"]
    # The process's own clients, which every real run uses, are built the same way.
    assert verifier_http.client_for("https://a.example").follow_redirects is False
    assert verifier_http.client_for("http://127.0.0.1:8080").follow_redirects is False


def test_the_recovery_client_never_follows_a_redirect(key_json: str) -> None:
    seen: list[httpx.Request] = []
    clock = FakeTime()
    api = ZitadelApi.login(
        ISSUER,
        key_json,
        insecure=False,
        transport=redirecting_instance(seen),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    try:
        with pytest.raises(ZitadelApiError) as refused:
            api.users_named("300000000000000001", "ci")
    finally:
        api.close()
    assert refused.value.status == 302
    assert {request.url.host for request in seen} == {"acme.zitadel.cloud"}
    assert TOKEN not in str(refused.value)


# --- the network: TLS -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalCa:
    """A CA made here, and a server certificate for 127.0.0.1 that it issued."""

    cert_file: Path
    cert_dir: Path
    server_cert: Path
    server_key: Path


def subject_hash(certificate: x509.Certificate) -> str:
    """OpenSSL's subject name hash (``openssl x509 -subject_hash``), the file name a CA needs in SSL_CERT_DIR: SHA-1
    of the name's canonical form, which for one lowercase UTF8String CN is its DER without the outer SEQUENCE."""
    der = certificate.subject.public_bytes()
    assert der[0] == 0x30, "a name is a SEQUENCE"
    assert der[1] < 0x80, "a short name: its length in one byte"
    return f"{int.from_bytes(hashlib.sha1(der[2:]).digest()[:4], 'little'):08x}"  # noqa: S324 - OpenSSL's choice


@pytest.fixture(scope="module")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCa:
    folder = tmp_path_factory.mktemp("ca")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zitadel-bootstrap security test ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_dir = folder / "certs"
    cert_dir.mkdir()
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    (folder / "ca.pem").write_bytes(ca_pem)
    (cert_dir / f"{subject_hash(ca)}.0").write_bytes(ca_pem)
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server-key.pem").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return LocalCa(folder / "ca.pem", cert_dir, folder / "server.pem", folder / "server-key.pem")


@dataclass
class Recording:
    """What a local server was sent: method and path of every request that got through (TLS included)."""

    seen: list[str] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)


def serve(recording: Recording, tls: ssl.SSLContext | None) -> tuple[ThreadingHTTPServer, str]:
    """A local server on a free port that records each request and answers ``answers[path]`` (else 404)."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            recording.seen.append(f"{self.command} {self.path}")
            body = json.dumps(recording.answers[self.path]).encode() if self.path in recording.answers else b"{}"
            self.send_response(200 if self.path in recording.answers else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer  # noqa: N815 - http.server's names

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda *_args: None  # type: ignore[method-assign]  # refused handshakes are the point
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scheme = "https" if tls else "http"
    return server, f"{scheme}://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def https_server(local_ca: LocalCa) -> Iterator[tuple[Recording, str]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(local_ca.server_cert, local_ca.server_key)
    recording = Recording()
    server, origin = serve(recording, context)
    yield recording, origin
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_server() -> Iterator[tuple[Recording, str]]:
    recording = Recording()
    server, origin = serve(recording, None)
    yield recording, origin
    server.shutdown()
    server.server_close()


@pytest.fixture
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The verifier's per-process clients start afresh and trust what the test sets, not the caller's variables."""
    clients: dict[str, httpx.Client] = {}
    monkeypatch.setattr(verifier_http, "_clients", clients)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    yield
    for client in clients.values():
        client.close()


def short_request(issuer: str, key_json: str, *, insecure: bool) -> VerificationRequest:
    policy = RetryPolicy(deadline_seconds=5.0, settle_seconds=5.0, request_timeout_seconds=5.0)
    return VerificationRequest(issuer=issuer, key=parse_key_file(key_json), insecure=insecure, policy=policy)


def run_proof(request: VerificationRequest) -> str | None:
    clock = FakeTime()
    return try_verify(request, monotonic=clock.monotonic, sleep=clock.sleep).failure_kind


@pytest.mark.usefixtures("fresh_clients")
def test_an_https_issuer_is_verified_even_with_insecure(https_server: tuple[Recording, str], key_json: str) -> None:
    recording, origin = https_server
    # `insecure` allows plain http; it never turns certificate checks off. The CA here is trusted by nobody.
    assert run_proof(short_request(origin, key_json, insecure=True)) == "tls_failed"
    assert recording.seen == [], "a request got through an unverified TLS connection"


@pytest.mark.usefixtures("fresh_clients")
@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_ssl_cert_file_or_dir_is_the_trust_of_the_python_side(
    variable: str,
    https_server: tuple[Recording, str],
    local_ca: LocalCa,
    key_json: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recording, origin = https_server
    monkeypatch.setenv(variable, str(local_ca.cert_file if variable == "SSL_CERT_FILE" else local_ca.cert_dir))
    # The handshake succeeds: the server answers discovery with 404, which the proof reports as such.
    assert run_proof(short_request(origin, key_json, insecure=False)) == "discovery_failed"
    assert recording.seen == [f"GET {DISCOVERY}"]


@pytest.mark.usefixtures("fresh_clients")
def test_an_https_token_endpoint_is_verified_even_behind_a_plain_http_issuer(
    http_server: tuple[Recording, str], https_server: tuple[Recording, str], key_json: str
) -> None:
    plain, issuer = http_server
    tls, token_origin = https_server
    plain.answers[DISCOVERY] = discovery_document(issuer, f"{token_origin}/oauth/v2/token")
    assert run_proof(short_request(issuer, key_json, insecure=True)) == "tls_failed"
    assert plain.seen == [f"GET {DISCOVERY}"]
    assert tls.seen == [], "the assertion went over an unverified TLS connection"


@pytest.mark.usefixtures("fresh_clients")
def test_the_recovery_client_verifies_an_https_issuer_even_with_insecure(
    https_server: tuple[Recording, str], key_json: str
) -> None:
    recording, origin = https_server
    clock = FakeTime()
    with pytest.raises(ZitadelApiError, match="OIDC discovery"):
        ZitadelApi.login(origin, key_json, insecure=True, sleep=clock.sleep, monotonic=clock.monotonic)
    assert recording.seen == []


@pytest.mark.usefixtures("fresh_clients")
def test_the_recovery_client_verifies_an_https_token_endpoint_behind_a_plain_http_issuer(
    http_server: tuple[Recording, str], https_server: tuple[Recording, str], key_json: str
) -> None:
    plain, issuer = http_server
    tls, token_origin = https_server
    plain.answers[DISCOVERY] = discovery_document(issuer, f"{token_origin}/oauth/v2/token")
    clock = FakeTime()
    with pytest.raises(ZitadelApiError):
        ZitadelApi.login(issuer, key_json, insecure=True, sleep=clock.sleep, monotonic=clock.monotonic)
    assert tls.seen == [], "the assertion went over an unverified TLS connection"


def test_no_client_of_the_package_turns_certificate_checks_off() -> None:
    # The client for plain http never serves an https URL (client_for picks by scheme); if one ever reached it,
    # its certificate would still be checked.
    for tls in (True, False):
        with verifier_http.build_client(tls=tls) as client:
            context = client._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True), tls


@pytest.mark.usefixtures("fresh_clients")
def test_the_recovery_client_fails_at_once_on_a_certificate_problem_naming_it(
    https_server: tuple[Recording, str], key_json: str
) -> None:
    # `recover` and `adopt-user`'s lookup log in through this client: a certificate ZITADEL's CA did not issue
    # will not verify 30 s later either.
    recording, origin = https_server
    clock = FakeTime()
    with pytest.raises(ZitadelApiError) as refused:
        ZitadelApi.login(origin, key_json, insecure=False, sleep=clock.sleep, monotonic=clock.monotonic)
    assert clock.sleeps == [], "a certificate problem was retried"
    message = str(refused.value)
    assert "OIDC discovery" in message
    assert "TLS certificate of 127.0.0.1" in message
    assert "SSL_CERT_FILE" in message, "the way out is named"
    assert recording.seen == []
