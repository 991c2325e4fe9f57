"""TLS as real ZITADEL serves it: https and gRPC over TLS, with a certificate from a private CA.

The stand-in generates a CA per run and serves https and gRPC over TLS with a certificate it issues (standin
``--tls-dir``). Every client trusts that CA through one setting, ``SSL_CERT_FILE``: the plugin's Go TLS stack, the
package's provider, the preflight and the verifier (httpx), the operations command. The stack config is a real
instance's: ``zitadel:insecure`` false (the provider's default). A certificate problem is a configuration error:
the preview fails at once, naming it, and nothing is created.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stacks import E2EStack, changed_lines, serving
from tests.e2e.test_management_faults import pipeline
from tools.pulumi_cli import EXIT_DRIFT, EXIT_FAILED, OPERATIONS_COMMAND, REPO
from tools.standin import StandIn, StandInError

#: A configuration error fails at once; retries of an outage would take the verification deadline (30 s) or more.
AT_ONCE_SECONDS = 25.0


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The CA of another stand-in: a CA that did not issue the certificate under test."""
    with serving(StandIn(tls=True), StandInError, "a second stand-in over TLS") as server:
        assert server.ca_path is not None
        copy = tmp_path_factory.mktemp("other-ca") / "ca.pem"
        copy.write_bytes(server.ca_path.read_bytes())
        yield copy


def accounts_of(standin: StandIn, prefix: str) -> list[dict[str, Any]]:
    return [{"name": "ci", "orgId": standin.default_org_id, "userName": f"{prefix}-ci"}]


def assert_nothing_created(stack: E2EStack, user_name: str) -> None:
    assert stack.user(user_name) is None, "a refused preview must create nothing"
    assert stack.cli.resources() == [] or all(r["type"].startswith("pulumi:") for r in stack.cli.resources())


def test_tls_up_drift_check_repair_and_destroy_over_https_with_a_private_ca(
    tls_standin: StandIn, tmp_path: Path
) -> None:
    standin = tls_standin
    assert standin.issuer.startswith("https://"), standin.issuer
    stack = E2EStack.create(tmp_path, "tls", standin, accounts_of(standin, "tls"))
    assert stack.cli.env()["SSL_CERT_FILE"] == str(standin.ca_path)
    up = stack.cli.up(label="up over TLS")
    assert "created" in up.output
    outputs = stack.cli.outputs()
    assert outputs["issuer"].startswith("https://")
    assert outputs["serviceAccounts"]["ci"]["verified"] is True

    stack.cli.drift_check(label="drift check over TLS")
    user = stack.user("tls-ci")
    assert user is not None
    standin.remove_org_member(standin.default_org_id, str(user["id"]))
    drifted = stack.cli.drift_check(label="drift check over TLS: membership removed", expect=(EXIT_DRIFT,))
    assert any("ci-org-member create" in line for line in changed_lines(drifted.output)), drifted.output[-3000:]
    stack.cli.up("--refresh", label="repair over TLS")
    stack.cli.drift_check(label="drift check over TLS after the repair")
    stack.cli.destroy(label="destroy over TLS")
    assert stack.user("tls-ci") is None


def test_tls_a_wrong_ca_fails_the_preview_at_once_naming_the_certificate_problem(
    tls_standin: StandIn, other_ca: Path, tmp_path: Path
) -> None:
    stack = E2EStack.create(tmp_path, "wrongca", tls_standin, accounts_of(tls_standin, "wrongca"))
    stack.cli.ca_file = other_ca
    started = time.monotonic()
    failed = stack.cli.preview(label="preview trusting another CA", expect=(EXIT_FAILED,))
    seconds = time.monotonic() - started
    assert "certificate" in failed.output, failed.output[-3000:]
    assert "SSL_CERT_FILE" in failed.output, failed.output[-3000:]
    assert "unable to get local issuer certificate" in failed.output or "self-signed" in failed.output, failed.output[
        -3000:
    ]
    assert seconds < AT_ONCE_SECONDS, f"a certificate problem took {seconds:.0f} s, as if it were an outage"
    assert_nothing_created(stack, "wrongca-ci")


def test_tls_a_hostname_mismatch_fails_the_preview_at_once(tmp_path: Path) -> None:
    # The certificate names 127.0.0.1 only (the test's own control client uses that); the stack says localhost.
    with serving(StandIn(tls=True, tls_names=("127.0.0.1",)), StandInError, "a stand-in named 127.0.0.1") as standin:
        stack = E2EStack.create(tmp_path, "mismatch", standin, accounts_of(standin, "mismatch"))
        stack.cli.write_config({"zitadel:domain": "localhost"})
        started = time.monotonic()
        failed = stack.cli.preview(label="preview of a certificate for another name", expect=(EXIT_FAILED,))
        seconds = time.monotonic() - started
        assert "mismatch" in failed.output.lower(), failed.output[-3000:]
        assert "localhost" in failed.output, failed.output[-3000:]
        assert "not valid for 'localhost'" in failed.output, failed.output[-3000:]
        assert seconds < AT_ONCE_SECONDS, f"a hostname mismatch took {seconds:.0f} s"
        assert_nothing_created(stack, "mismatch-ci")


def test_tls_plain_http_is_refused_unless_insecure_is_set(standin: StandIn, tmp_path: Path) -> None:
    assert standin.issuer.startswith("http://"), "this test needs a plain-http instance"
    stack = E2EStack.create(tmp_path, "plainhttp", standin, accounts_of(standin, "plainhttp"))
    stack.cli.write_config({"zitadel:insecure": "false"})
    started = time.monotonic()
    failed = stack.cli.preview(label="preview, https expected, http served", expect=(EXIT_FAILED,))
    assert time.monotonic() - started < AT_ONCE_SECONDS
    assert "zitadel:insecure" in failed.output, failed.output[-3000:]
    assert "plain http" in failed.output, failed.output[-3000:]
    assert_nothing_created(stack, "plainhttp-ci")
    stack.cli.write_config({"zitadel:insecure": "true"})
    stack.cli.preview(label="preview with zitadel:insecure true")


def test_tls_the_operations_command_verifies_checks_drift_and_recovers_over_https(
    tls_standin: StandIn, tmp_path: Path
) -> None:
    stack = E2EStack.create(tmp_path, "tlsops", tls_standin, accounts_of(tls_standin, "tlsops"))
    pipeline(stack, "up", label="zitadel-bootstrap run up over TLS")
    pipeline(stack, "drift-check", label="zitadel-bootstrap run drift-check over TLS")
    key = stack.cli.outputs(show_secrets=True)["machineKeys"]["ci"]
    env = {**stack.cli.env(), "PYTHONPATH": str(REPO)}
    argv = [str(OPERATIONS_COMMAND), "verify", "--issuer", tls_standin.issuer, "--key-file", "-"]
    argv += ["--org-id", tls_standin.default_org_id, "--json"]
    done = subprocess.run(argv, input=key, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verified"] is True
    recover = [str(OPERATIONS_COMMAND), "recover", "--stack", "tlsops", "--dry-run"]
    checked = subprocess.run(
        recover, cwd=stack.cli.project_dir, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_tls_the_verifier_without_the_ca_fails_at_once_naming_ssl_cert_file(tls_standin: StandIn) -> None:
    key = tls_standin.add_machine_key(tls_standin.default_org_id, tls_standin.admin_user_id)
    env = {name: value for name, value in os.environ.items() if name not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    argv = [str(OPERATIONS_COMMAND), "verify", "--issuer", tls_standin.issuer, "--key-file", "-"]
    started = time.monotonic()
    done = subprocess.run(argv, input=key, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "certificate" in done.stderr, done.stderr
    assert "SSL_CERT_FILE" in done.stderr, done.stderr
    assert time.monotonic() - started < AT_ONCE_SECONDS
    assert json.loads(key)["key"].splitlines()[3] not in done.stdout + done.stderr
