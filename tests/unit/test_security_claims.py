"""Claims of docs/security.md that no other test holds.

- No subcommand takes a key or a token by value, so none reaches `ps` or shell history: the two options about keys
  name files, and `verify --key-file -` reads the key from stdin.
- The package reads no secret from the environment.
- Errors, their printed chains and reprs carry no key or token; a failed `pulumi` command's output is shown without
  any line of a PEM block.
- `zitadel-bootstrap key-file` creates its file 0600 whatever the umask, and never writes through a symbolic link;
  the recovery's import file holds ids and URNs only, in a private folder removed after the import.

The claims about the network are in test_security_claims_network.py.
"""

from __future__ import annotations

import argparse
import ast
import base64
import io
import json
import os
import re
import secrets
import stat
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from zitadel_bootstrap.cli.main import build_parser, main
from zitadel_bootstrap.cli.recover.model import Adoption
from zitadel_bootstrap.cli.recover.pulumi_ops import Project, Pulumi, PulumiCommandError
from zitadel_bootstrap.cli.recover.zitadel_api import ZitadelApi, ZitadelApiError
from zitadel_bootstrap.verification import KeyFileError, parse_key_file
from zitadel_bootstrap.verification.exchange import TokenGrant

from tests.unit.verification.helpers import FakeTime, key_file_text

PACKAGE = Path(__file__).resolve().parents[2] / "components" / "zitadel_bootstrap"
ISSUER = "https://acme.zitadel.cloud"
#: As long and random as the opaque tokens ZITADEL issues.
TOKEN = secrets.token_urlsafe(64)
DISCOVERY = "/.well-known/openid-configuration"
SECRET_WORDS = re.compile(r"key|token|secret|pass|assertion|jwt|private|credential", re.IGNORECASE)


@pytest.fixture(scope="module")
def key_json() -> str:
    return key_file_text(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def pem_slices(key_json: str) -> list[str]:
    """Three base64 lines of the key's PEM body: none may appear anywhere but in the key file."""
    lines = [line for line in json.loads(key_json)["key"].splitlines() if not line.startswith("-----")]
    return [lines[1], lines[len(lines) // 2], lines[-2]]


def assert_no_key_text(text: str, key_json: str) -> None:
    for piece in pem_slices(key_json):
        assert piece not in text, f"key text {piece[:12]}... in the output"
        assert piece.replace("/", "\\/") not in text, f"JSON-escaped key text {piece[:12]}... in the output"
    assert "PRIVATE KEY" not in text


# --- process arguments ----------------------------------------------------------------------------------------------


def walk(parser: argparse.ArgumentParser, path: str = "zitadel-bootstrap") -> Iterator[tuple[str, argparse.Action]]:
    """Every argument of every subcommand, with the command line that reaches it."""
    for action in parser._actions:  # argparse offers no public walk of its actions
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, f"{path} {name}")
        else:
            yield path, action


def test_no_command_takes_a_key_or_token_by_value_on_its_command_line() -> None:
    found = list(walk(build_parser()))
    commands = {path.removeprefix("zitadel-bootstrap").strip() for path, _ in found}
    # The walk must reach every subcommand, or an empty result below proves nothing.
    assert {"verify", "run up", "run drift-check", "run destroy", "adopt-user", "recover", "key-file"} <= commands
    about_secrets = {
        (path, action.dest)
        for path, action in found
        if SECRET_WORDS.search(action.dest) or any(SECRET_WORDS.search(option) for option in action.option_strings)
    }
    # The only arguments about key material name a file: the value on the command line is a path, never a key.
    assert about_secrets == {
        ("zitadel-bootstrap verify", "key_file"),
        ("zitadel-bootstrap recover", "admin_key_file"),
    }
    for path, action in found:
        if (path, action.dest) in about_secrets:
            assert action.option_strings, f"{path} {action.dest}: a positional argument"
            assert all(option.endswith("-file") for option in action.option_strings), (path, action.option_strings)
            assert "file" in (action.help or ""), (path, action.help)


def test_verify_reads_the_key_from_stdin_with_a_dash(
    key_json: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An expired key stops the proof before any request: the answer shows the key was read from stdin alone.
    expired = json.dumps({**json.loads(key_json), "expirationDate": "2001-01-01T00:00:00Z", "keyId": "4242"})
    monkeypatch.setattr(sys, "stdin", io.StringIO(expired))
    assert main(["verify", "--issuer", ISSUER, "--key-file", "-", "--json"]) == 1
    printed = capsys.readouterr()
    result = json.loads(printed.out)
    assert (result["failure_kind"], result["key_id"], result["attempts"]) == ("key_expired", "4242", 0)
    assert_no_key_text(printed.out + printed.err, key_json)


# --- environment ----------------------------------------------------------------------------------------------------


def environment_reads(tree: ast.Module) -> Iterator[ast.expr]:
    """The names given to os.environ.get / os.environ[...] (read) / os.getenv in one module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            target = node.func
            if (target.attr == "get" and ast.unparse(target.value) in ("os.environ", "environ")) or (
                target.attr == "getenv" and ast.unparse(target.value) == "os"
            ):
                yield node.args[0]
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and ast.unparse(node.value) in ("os.environ", "environ")
        ):
            yield node.slice


def module_constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def test_the_package_reads_no_secret_from_the_environment() -> None:
    trees = {module: ast.parse(module.read_text(), str(module)) for module in sorted(PACKAGE.rglob("*.py"))}
    # Names of variables may be constants of another module (imported): resolve them across the package.
    constants = {name: value for tree in trees.values() for name, value in module_constants(tree).items()}
    names: dict[str, str] = {}
    for module, tree in trees.items():
        for argument in environment_reads(tree):
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                names[argument.value] = module.name
            elif isinstance(argument, ast.Name) and argument.id in constants:
                names[constants[argument.id]] = module.name
            else:
                pytest.fail(f"{module}: reads an environment variable named at run time ({ast.unparse(argument)})")
    assert "ZB_PULUMI" in names, f"the scan is blind: it found only {sorted(names)}"
    assert [name for name in names if SECRET_WORDS.search(name)] == [], names


# --- errors and reprs -------------------------------------------------------------------------------------------------


def discovery_document(issuer: str) -> dict[str, Any]:
    return {"issuer": issuer, "token_endpoint": f"{issuer}/oauth/v2/token"}


def test_the_access_token_is_kept_out_of_the_token_grant_repr() -> None:
    grant = TokenGrant(access_token=TOKEN, token_type="Bearer", token_format="opaque", expires_in=43199)
    assert TOKEN not in repr(grant)
    assert TOKEN[-24:] not in repr(grant)


def test_recovery_errors_carry_no_token_even_when_zitadel_quotes_it(key_json: str) -> None:
    quoted = f"token {TOKEN} lacks permissions (AUTH-5mWD2); header Authorization: Bearer {TOKEN}"

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == DISCOVERY:
            return httpx.Response(200, json=discovery_document(ISSUER))
        if request.url.path == "/oauth/v2/token":
            return httpx.Response(200, json={"access_token": TOKEN, "token_type": "Bearer"})
        if request.method == "DELETE":
            return httpx.Response(503, json={"code": 14, "message": quoted})
        return httpx.Response(403, json={"code": 7, "message": quoted})

    clock = FakeTime()
    api = ZitadelApi.login(
        ISSUER,
        key_json,
        insecure=False,
        transport=httpx.MockTransport(handle),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    messages = []
    try:
        for call in (lambda: api.users_named("300000000000000001", "ci"), lambda: api.remove_user("1", "2")):
            with pytest.raises(ZitadelApiError) as refused:
                call()
            messages.append("".join(traceback.format_exception(refused.value)))
    finally:
        api.close()
    assert "AUTH-5mWD2" in messages[0], "the refusal itself is still named"
    assert "still after" in messages[1]
    for message in messages:
        assert TOKEN not in message
        assert TOKEN[:24] not in message
        assert TOKEN[-24:] not in message


def test_a_failed_pulumi_command_shows_its_output_redacted(key_json: str) -> None:
    claims = base64.urlsafe_b64encode(b'{"sub":"259254409320316419","exp":1999999999}').decode().rstrip("=")
    jwt_like = f"eyJhbGciOiJSUzI1NiJ9.{claims}.{secrets.token_urlsafe(32)}"
    output = f"error: the provider said {json.loads(key_json)['key']}\nand {jwt_like} and {TOKEN}\n"
    shown = str(PulumiCommandError(["refresh", "--yes"], 255, output))
    assert "exited 255" in shown
    assert "BEGIN RSA PRIVATE KEY" not in shown
    for secret in (*pem_slices(key_json), TOKEN, jwt_like, claims):
        assert secret not in shown


def test_a_failed_pulumi_command_shows_no_line_of_a_pem_block_however_short() -> None:
    # A P-256 key in SEC1 form is 121 bytes: its PEM body ends in a line of 36 characters, too short for the
    # pattern of opaque strings. Line by line, that line and the END line were shown.
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    lines = pem.decode().splitlines()
    assert len(lines[-2]) < 40, "the test needs a short last line"
    output = "Updating (dev):\nerror: the provider said\n" + "\n".join(lines) + "\nhalting\n"
    shown = str(PulumiCommandError(["up", "--yes"], 255, output))
    assert "exited 255" in shown
    assert "halting" in shown, "the lines around the block are still shown"
    for line in lines:
        assert line not in shown
    assert "PRIVATE KEY" not in shown
    # Cut into the tail of 25 lines in the middle of a block, its BEGIN line lies before the cut.
    cut = "error: the provider said\n" + "\n".join([*lines[:1], *["x"] * 30, *lines[1:]]) + "\n"
    tail = str(PulumiCommandError(["up"], 1, cut))
    for line in lines:
        assert line not in tail


def broken_key_file(key_json: str, how: str) -> str:
    document = json.loads(key_json)
    body = pem_slices(key_json)[1]
    if how == "cut short":  # json's error object holds the whole document
        return key_json[:-3]
    if how == "damaged PEM":
        return key_json.replace(body, body[::-1])
    if how == "base64 cut short":
        return base64.b64encode(key_json.encode()).decode()[:-5]
    return json.dumps({**document, how: document["key"]})  # the key pasted into another field


@pytest.mark.parametrize(
    "how",
    [
        "cut short",
        "damaged PEM",
        "base64 cut short",
        "type",
        "keyId",
        "expirationDate",
    ],
)
def test_a_key_file_error_and_its_printed_chain_hold_no_key_text(key_json: str, how: str) -> None:
    with pytest.raises(KeyFileError) as refused:
        parse_key_file(broken_key_file(key_json, how))
    # What a traceback would print: the error and every exception chained to it.
    printed = "".join(traceback.format_exception(refused.value))
    assert_no_key_text(f"{printed}\n{refused.value!r}\n{refused.value.hint}", key_json)


# --- files the CLI writes ---------------------------------------------------------------------------------------------


@pytest.fixture
def stack_with_a_key(tmp_path: Path, key_json: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `pulumi` (ZB_PULUMI) that answers `stack output machineKeys` with one account's key; the output folder."""
    (tmp_path / "keys.json").write_text(json.dumps({"ci": key_json}))
    script = tmp_path / "pulumi"
    script.write_text(f"#!/bin/sh\ncat {tmp_path / 'keys.json'}\n")
    script.chmod(0o755)
    monkeypatch.setenv("ZB_PULUMI", str(script))
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_key_file_creates_the_file_0600_before_any_key_text_is_written(
    stack_with_a_key: Path, key_json: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = stack_with_a_key
    target = folder / "ci.json"
    opened: list[tuple[int, int]] = []
    real_fdopen: Callable[..., Any] = os.fdopen

    def watching(descriptor: int, *args: Any, **kwargs: Any) -> Any:
        if Path(os.readlink(f"/proc/self/fd/{descriptor}")).parent == folder:
            info = os.fstat(descriptor)
            opened.append((stat.S_IMODE(info.st_mode), info.st_size))
        return real_fdopen(descriptor, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", watching)
    previous = os.umask(0)  # a naive open() would now create the file 0666
    try:
        assert main(["key-file", "ci", "--output", str(target)]) == 0
        assert main(["key-file", "ci", "--output", str(target), "--force"]) == 0
    finally:
        os.umask(previous)
    # Both the new file (O_EXCL) and the replacement (a file beside it, renamed over it) were 0600 and empty when
    # the key text went in: there was no moment another user could open them. If the way of writing changed, the
    # new way must keep that; then adapt this check.
    assert opened == [(0o600, 0), (0o600, 0)]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == key_json
    assert sorted(path.name for path in folder.iterdir()) == ["ci.json"]


def test_key_file_never_writes_through_a_symbolic_link(
    stack_with_a_key: Path, key_json: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = stack_with_a_key
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file")
    link = folder / "ci.json"
    link.symlink_to(victim)
    dangling = folder / "new.json"
    dangling.symlink_to(tmp_path / "made-through-the-link")

    assert main(["key-file", "ci", "--output", str(link)]) == 2
    assert main(["key-file", "ci", "--output", str(dangling)]) == 2
    assert victim.read_text() == "someone else's file"
    assert not (tmp_path / "made-through-the-link").exists()

    assert main(["key-file", "ci", "--output", str(link), "--force"]) == 0
    assert victim.read_text() == "someone else's file", "--force replaces the link, not the file it points at"
    assert not link.is_symlink()
    assert link.read_text() == key_json
    assert stat.S_IMODE(link.stat().st_mode) == 0o600
    printed = capsys.readouterr()
    assert_no_key_text(printed.out + printed.err, key_json)


def test_the_recovery_s_import_file_holds_ids_and_urns_only_in_a_private_folder_removed_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = tmp_path / "capture"
    capture.mkdir()
    script = tmp_path / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        'while [ $# -gt 0 ]; do if [ "$1" = --file ]; then\n'
        f'  cp "$2" {capture}/import.json; dirname "$2" > {capture}/folder\n'
        f'  stat -c %a "$(dirname "$2")" > {capture}/mode\n'
        "fi; shift; done\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("ZB_PULUMI", str(script))
    stack = "urn:pulumi:prod::zitadel-bootstrap::pulumi:pulumi:Stack::zitadel-bootstrap-prod"
    provider = "urn:pulumi:prod::zitadel-bootstrap::pulumi:providers:zitadel::default_0_2_0::3f1e"
    adoption = Adoption("zitadel:index/machineUser:MachineUser", "ci-user", "300000000000000001:42", stack, provider)
    Pulumi(Project(tmp_path, "zitadel-bootstrap", tmp_path), "prod").import_resources([adoption])
    document = json.loads((capture / "import.json").read_text())
    assert document == {
        "nameTable": {"r0": stack, "r1": provider},
        "resources": [
            {
                "type": adoption.type_token,
                "name": "ci-user",
                "id": "300000000000000001:42",
                "parent": "r0",
                "provider": "r1",
                "protect": False,
            }
        ],
    }
    assert (capture / "mode").read_text().strip() == "700"
    assert not Path((capture / "folder").read_text().strip()).exists(), "the folder is removed after the import"
