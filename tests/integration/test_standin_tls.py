"""The stand-in over TLS (``StandIn(tls=True)``): an https issuer with a certificate of a per-run test CA, which the
package's verifier trusts through SSL_CERT_FILE and refuses at once without it."""

from __future__ import annotations

import json
import os
import ssl
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from zitadel_bootstrap.verification import (
    Grant,
    RetryPolicy,
    VerificationError,
    VerificationRequest,
    parse_key_file,
    verify,
)
from zitadel_bootstrap.verification import http as verifier_http
from zitadel_bootstrap.verification.errors import KIND_TLS_FAILED

from tools.pulumi_cli import OPERATIONS_COMMAND
from tools.standin import StandIn

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tls_standin() -> Iterator[StandIn]:
    with StandIn(tls=True) as running:
        yield running


@pytest.fixture
def verifier_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, httpx.Client]]:
    """The verifier's per-process clients start afresh, so the https one reads SSL_CERT_FILE as the test sets it."""
    clients: dict[str, httpx.Client] = {}
    monkeypatch.setattr(verifier_http, "_clients", clients)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    yield clients
    for client in clients.values():
        client.close()


def org_owner_key(standin: StandIn, user_name: str) -> tuple[str, str]:
    """A new machine user with ORG_OWNER in the default org: (org id, key file text)."""
    org = standin.default_org_id
    user_id = standin.create_machine_user(org, user_name)
    standin.add_org_member(org, user_id, ["ORG_OWNER"])
    return org, standin.add_machine_key(org, user_id)


def tls_request(standin: StandIn, key_json: str, org_id: str | None, *, deadline: float = 20.0) -> VerificationRequest:
    grants = (Grant(level="org", resource_id=org_id, roles=("ORG_OWNER",)),) if org_id else ()
    return VerificationRequest(
        issuer=standin.issuer,
        key=parse_key_file(key_json),
        grants=grants,
        org_id=org_id,
        insecure=False,
        policy=RetryPolicy(deadline_seconds=deadline, settle_seconds=deadline, initial_backoff=0.1, max_backoff=0.5),
    )


def test_tls_issuer_is_https_and_only_the_ca_certificate_is_public(tls_standin: StandIn, standin: StandIn) -> None:
    assert tls_standin.issuer.startswith("https://127.0.0.1:")
    ca_path = tls_standin.ca_path
    assert ca_path is not None
    assert ca_path.parent.name == "tls"
    assert sorted(path.name for path in ca_path.parent.iterdir()) == ["ca-key.pem", "ca.pem"]
    assert stat.S_IMODE(ca_path.stat().st_mode) == 0o644
    assert stat.S_IMODE((ca_path.parent / "ca-key.pem").stat().st_mode) == 0o600
    pem = ca_path.read_text()
    assert pem.count("BEGIN CERTIFICATE") == 1
    assert "PRIVATE KEY" not in pem
    # The plain stand-in of the other tests has no CA.
    assert standin.ca_path is None
    assert standin.issuer.startswith("http://")


def test_tls_discovery_answers_the_https_issuer_to_a_client_trusting_the_ca(tls_standin: StandIn) -> None:
    assert tls_standin.ca_path is not None
    context = ssl.create_default_context(cafile=str(tls_standin.ca_path))
    with httpx.Client(verify=context, timeout=10.0) as client:
        discovery = client.get(tls_standin.issuer + "/.well-known/openid-configuration").json()
    assert discovery["issuer"] == tls_standin.issuer
    assert discovery["token_endpoint"] == tls_standin.issuer + "/oauth/v2/token"


def test_tls_control_api_of_the_driver_works_over_https(tls_standin: StandIn) -> None:
    org_id = tls_standin.create_org("TLS Team")
    user_id = tls_standin.create_machine_user(org_id, "tls-bot")
    tls_standin.add_org_member(org_id, user_id, ["ORG_OWNER"])
    state = tls_standin.state()
    assert state["issuer"] == tls_standin.issuer
    assert any(user["id"] == user_id for user in state["users"])


def test_tls_verifier_succeeds_when_ssl_cert_file_trusts_the_ca(
    tls_standin: StandIn, monkeypatch: pytest.MonkeyPatch, verifier_clients: dict[str, httpx.Client]
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_standin.ca_path))
    org_id, key_json = org_owner_key(tls_standin, "tls-verified")
    result = verify(tls_request(tls_standin, key_json, org_id))
    assert result.verified is True
    assert result.token_format == "opaque"
    assert "https" in verifier_clients


def test_tls_verifier_fails_at_once_naming_the_certificate_without_the_ca(
    tls_standin: StandIn, verifier_clients: dict[str, httpx.Client]
) -> None:
    org_id, key_json = org_owner_key(tls_standin, "tls-untrusted")
    started = time.monotonic()
    with pytest.raises(VerificationError) as caught:
        verify(tls_request(tls_standin, key_json, org_id, deadline=20.0))
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"took {elapsed:.1f} s: the TLS failure was retried"
    assert caught.value.kind == KIND_TLS_FAILED
    assert "TLS certificate" in str(caught.value)
    assert "SSL_CERT_FILE" in caught.value.hint


def test_tls_certificate_without_the_issuer_host_is_refused_by_the_verifier(
    monkeypatch: pytest.MonkeyPatch, verifier_clients: dict[str, httpx.Client]
) -> None:
    with StandIn(tls=True, tls_names=("zitadel.example.test",)) as named:
        monkeypatch.setenv("SSL_CERT_FILE", str(named.ca_path))
        started = time.monotonic()
        with pytest.raises(VerificationError) as caught:
            verify(tls_request(named, named.admin_key_json, None))
        assert time.monotonic() - started < 5
    assert caught.value.kind == KIND_TLS_FAILED
    assert "certificate" in str(caught.value)


def test_tls_restart_keeps_the_ca_so_a_client_that_loaded_it_keeps_verifying(
    monkeypatch: pytest.MonkeyPatch, verifier_clients: dict[str, httpx.Client]
) -> None:
    with StandIn(tls=True, state_file=Path("state.json")) as running:
        assert running.ca_path is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(running.ca_path))
        ca_before = running.ca_path.read_bytes()
        org_id, key_json = org_owner_key(running, "tls-restarted")
        assert verify(tls_request(running, key_json, org_id)).verified is True
        https_client = verifier_clients["https"]

        issuer = running.issuer
        running.restart()
        assert running.issuer == issuer
        assert running.ca_path.read_bytes() == ca_before
        # The same client (its SSL context loaded before the restart) trusts the new server certificate.
        assert verify(tls_request(running, key_json, org_id)).verified is True
        assert verifier_clients["https"] is https_client
        # The driver's control API reconnects over https too.
        assert running.create_org("After TLS Restart")


def test_tls_cli_verifies_with_ssl_cert_file_in_a_subprocess(tls_standin: StandIn) -> None:
    org_id, key_json = org_owner_key(tls_standin, "tls-cli")
    env = {**os.environ, "SSL_CERT_FILE": str(tls_standin.ca_path)}
    env.pop("SSL_CERT_DIR", None)
    done = subprocess.run(
        [str(OPERATIONS_COMMAND), "verify", "--issuer", tls_standin.issuer, "--key-file", "-",
         "--org-id", org_id, "--json"],
        cwd=REPO, input=key_json, capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verified"] is True
