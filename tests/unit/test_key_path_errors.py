"""A key given where the path of a key file belongs is not echoed back: `verify --key-file`, `recover
--admin-key-file`, the stack's `zitadel:jwtProfileFile` (read by `recover` and by the program's preflight). The
error says the value looks like key content and asks for the path, without quoting the value."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from zitadel_bootstrap.cli.main import main
from zitadel_bootstrap.cli.recover.cli import RecoveryError, admin_key_text
from zitadel_bootstrap.cli.recover.pulumi_ops import Project, Pulumi
from zitadel_bootstrap.config.preflight import PreflightError
from zitadel_bootstrap.config.preflight import admin_key_text as preflight_key_text
from zitadel_bootstrap.verification.redaction import looks_like_key_material

from tests.unit.verification.helpers import key_file_text


@pytest.fixture(scope="module")
def key_json() -> str:
    return key_file_text(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def assert_no_key_text(text: str, key_json: str, given: str = "") -> None:
    """No line of the key's PEM body, no PEM header, no field of the key file, no slice of the value given."""
    if given:
        assert given[len(given) // 2 : len(given) // 2 + 24] not in text
    body = [line for line in json.loads(key_json)["key"].splitlines() if not line.startswith("-----")]
    for piece in (body[1], body[len(body) // 2], body[-1]):
        assert piece not in text
        assert piece.replace("/", "\\/") not in text
    assert "PRIVATE KEY" not in text
    assert '"keyId"' not in text


def pasted(key_json: str, how: str) -> str:
    """What a user may have put where a path belongs."""
    if how == "json":
        return key_json
    if how == "pem":
        return str(json.loads(key_json)["key"])
    if how == "base64":  # the REST gateway's form of key_details, which the parser accepts too
        return base64.b64encode(key_json.encode()).decode()
    return json.dumps(json.loads(key_json), indent=2)  # "pretty", over many lines


@pytest.mark.parametrize("how", ["json", "pem", "pretty", "base64"])
def test_verify_does_not_echo_a_key_given_as_key_file(
    key_json: str, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify", "--issuer", "https://acme.zitadel.cloud", "--key-file", pasted(key_json, how)])
    assert code != 0
    printed = capsys.readouterr()
    assert "the value of --key-file looks like key content, not a path: pass the path of the key file" in printed.err
    assert_no_key_text(printed.out + printed.err, key_json, pasted(key_json, how))


def test_verify_still_names_a_missing_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "admin-key.json"
    assert main(["verify", "--issuer", "https://acme.zitadel.cloud", "--key-file", str(missing)]) != 0
    printed = capsys.readouterr()
    assert str(missing) in printed.err
    assert "No such file" in printed.err


@pytest.fixture
def stack(tmp_path: Path) -> tuple[Pulumi, Path]:
    project = Project(tmp_path, "zitadel-bootstrap", tmp_path)
    return Pulumi(project, "dev"), project.stack_file("dev")


@pytest.mark.parametrize("how", ["json", "pem", "pretty", "base64"])
def test_recover_does_not_echo_a_key_given_as_admin_key_file(
    key_json: str, how: str, stack: tuple[Pulumi, Path]
) -> None:
    pulumi, stack_file = stack
    with pytest.raises(RecoveryError) as refused:
        admin_key_text(pulumi, stack_file, Path(pasted(key_json, how)))
    message = str(refused.value)
    assert "--admin-key-file looks like key content, not a path: pass the path of the key file" in message
    assert_no_key_text(message, key_json, pasted(key_json, how))


@pytest.mark.parametrize("how", ["json", "pem", "pretty", "base64"])
def test_recover_does_not_echo_a_key_pasted_into_jwt_profile_file(
    key_json: str, how: str, stack: tuple[Pulumi, Path]
) -> None:
    pulumi, stack_file = stack
    stack_file.write_text(yaml.safe_dump({"config": {"zitadel:jwtProfileFile": pasted(key_json, how)}}))
    with pytest.raises(RecoveryError) as refused:
        admin_key_text(pulumi, stack_file, None)
    message = str(refused.value)
    assert "zitadel:jwtProfileFile looks like key content, not a path" in message
    assert "pulumi config set --secret zitadel:jwtProfileJson" in message, "the way to give a key by value"
    assert_no_key_text(message, key_json, pasted(key_json, how))


@pytest.mark.parametrize("how", ["json", "pem", "pretty", "base64"])
def test_the_preflight_does_not_echo_a_key_pasted_into_jwt_profile_file(
    key_json: str, how: str, tmp_path: Path
) -> None:
    with pytest.raises(PreflightError) as refused:
        preflight_key_text({"jwtProfileFile": pasted(key_json, how), "token": None}, None, tmp_path)
    message = str(refused.value)
    assert "zitadel:jwtProfileFile looks like key content, not a path" in message
    assert_no_key_text(message, key_json, pasted(key_json, how))


def test_a_path_that_cannot_be_read_is_still_named(tmp_path: Path, stack: tuple[Pulumi, Path]) -> None:
    missing = tmp_path / "keys" / "admin.json"
    with pytest.raises(PreflightError, match=f"names {missing}, which cannot be read"):
        preflight_key_text({"jwtProfileFile": str(missing)}, None, tmp_path)
    with pytest.raises(RecoveryError, match=f"{missing} cannot be read"):
        admin_key_text(stack[0], stack[1], missing)


def test_what_looks_like_key_material() -> None:
    for value in ('{"type": "serviceaccount"', "-----BEGIN PRIVATE KEY-----", "a\nb", "k" * 4097, "eyJ0" * 60):
        assert looks_like_key_material(value), value
    for value in (
        "admin-key.json",
        "/etc/zitadel/admin key.json",
        "C:\\keys\\admin.json",
        "/srv/" + "d/" * 2040 + "k.json",
        "",
    ):
        assert not looks_like_key_material(value), value


def test_verify_reads_a_key_file_from_a_path_as_before(
    key_json: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An expired key stops before any request: the file was read from its path.
    path = tmp_path / "key.json"
    path.write_text(json.dumps({**json.loads(key_json), "expirationDate": "2001-01-01T00:00:00Z"}))
    assert main(["verify", "--issuer", "https://acme.zitadel.cloud", "--key-file", str(path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["failure_kind"] == "key_expired"
