"""A bad stack config fails `pulumi preview` and `pulumi up` of the real program, naming the key, and nothing is
created: no resource in state, no user in ZITADEL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stacks import E2EStack
from tools.pulumi_cli import EXIT_FAILED
from tools.standin import StandIn


def users_of(standin: StandIn) -> list[str]:
    return sorted(user["userName"] for user in standin.state()["users"])


@pytest.mark.parametrize(
    ("case", "account", "key", "words"),
    [
        ("role at the wrong level", {"roles": ["IAM_OWNER"]}, "[0].roles", "move it to instanceRoles"),
        (
            "expiration in the past",
            {"keyExpiration": "2020-01-01T00:00:00Z"},
            "[0].keyExpiration",
            "past",
        ),
        ("non-numeric org id", {"orgId": "acme"}, "[0].orgId", "numeric"),
        ("misspelt key", {"role": ["ORG_OWNER"]}, "[0].role", "is not a known key"),
    ],
    ids=lambda value: value if isinstance(value, str) and " " in value else None,
)
def test_bad_account_config_fails_preview_and_up_naming_the_key_and_creates_nothing(
    standin: StandIn, tmp_path: Path, case: str, account: dict[str, Any], key: str, words: str
) -> None:
    before = users_of(standin)
    entry = {"name": "ci", "orgId": standin.default_org_id, "userName": "ci-bot", **account}
    stack = E2EStack.create(tmp_path, "badconfig", standin, [entry])
    for command in (stack.cli.preview, stack.cli.up):
        failed = command(label=f"bad config: {case}", expect=(EXIT_FAILED,))
        assert f"zitadel-bootstrap:serviceAccounts{key}" in failed.output, failed.output[-2000:]
        assert words in failed.output
        assert "nothing was created" in failed.output
        assert "Traceback" not in failed.output, "a config mistake is reported without a Python traceback"
    assert stack.cli.resources() == []
    assert users_of(standin) == before


def test_plaintext_provider_key_in_the_stack_config_is_refused(standin: StandIn, tmp_path: Path) -> None:
    accounts = [{"name": "ci", "orgId": standin.default_org_id, "userName": "ci-bot"}]
    stack = E2EStack.create(tmp_path, "plainkey", standin, accounts)
    stack.cli.remove_config("zitadel:jwtProfileFile")
    stack.cli.write_config({"zitadel:jwtProfileJson": json.dumps({"type": "serviceaccount"})})
    failed = stack.cli.preview(label="plaintext jwtProfileJson", expect=(EXIT_FAILED,))
    assert "zitadel:jwtProfileJson: is stored in plaintext" in failed.output
    assert "--secret" in failed.output
    assert stack.cli.resources() == []


def test_the_admin_key_as_a_secret_config_value_works(standin: StandIn, tmp_path: Path) -> None:
    """`pulumi config set --secret zitadel:jwtProfileJson < admin-key.json`, as the README says for real instances."""
    accounts = [{"name": "ci", "orgId": standin.default_org_id, "userName": "ci-secret-key"}]
    stack = E2EStack.create(tmp_path, "secretkey", standin, accounts)
    stack.cli.remove_config("zitadel:jwtProfileFile")
    stack.cli.config_set("zitadel:jwtProfileJson", standin.admin_key_json, secret=True)
    assert standin.admin_key_json not in stack.cli.stack_file.read_text()
    stack.cli.up(label="up with jwtProfileJson")
    assert stack.cli.outputs()["serviceAccounts"]["ci"]["verified"] is True
    stack.cli.destroy()
    assert stack.user("ci-secret-key") is None
