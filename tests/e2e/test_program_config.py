"""The project's own program under the real engine: a bad stack config fails the preview, naming the key.

The settings are validated before any resource is declared, so this runs the real ``__main__.py`` with the real
engine even without the zitadel plugin: if validation let a bad value through, the program would go on to
declare zitadel resources and the failure would be about the missing plugin instead of the key.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.e2e.harness import REPO_ROOT, EngineStack

ORG = "259254409320316419"


def project_program() -> None:
    runpy.run_path(str(REPO_ROOT / "__main__.py"), run_name="__pulumi_main__")


def stack_with(tmp_path: Path, name: str, accounts: object, **zitadel: str) -> EngineStack:
    engine = EngineStack.create(tmp_path, name, project_program)
    values: dict[str, object] = {
        "zitadel:domain": "127.0.0.1",
        "zitadel:insecure": "true",
        "zitadel:port": "8080",
        "zitadel:jwtProfileFile": "admin.json",
        "zitadel-bootstrap:serviceAccounts": accounts,
    }
    values.update(zitadel)
    engine.configure(values)
    return engine


@pytest.mark.parametrize(
    ("case", "account", "key", "words"),
    [
        ("role at the wrong level", {"roles": ["IAM_OWNER"]}, "serviceAccounts[0].roles", "move it to instanceRoles"),
        (
            "expiration in the past",
            {"keyExpiration": "2020-01-01T00:00:00Z"},
            "serviceAccounts[0].keyExpiration",
            "past",
        ),
        ("non-numeric org id", {"orgId": "acme"}, "serviceAccounts[0].orgId", "numeric"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_stack_config_fails_preview_naming_the_key_and_creates_nothing(
    engine_root: str, tmp_path: Path, case: str, account: dict[str, object], key: str, words: str
) -> None:
    entry = {"name": "ci", "orgId": ORG, "userName": "ci-bot", **account}
    engine = stack_with(tmp_path, "badconfig", [entry])
    with pytest.raises(auto.CommandError) as caught:
        engine.preview(f"bad config: {case}")
    message = str(caught.value)
    assert f"zitadel-bootstrap:{key}" in message, message[-2000:]
    assert words in message
    assert "nothing was created" in message
    # Nothing reached the engine: no zitadel resource and no plugin lookup.
    assert "pulumi-resource-zitadel" not in message
    assert not [r for r in engine.deployment().get("resources") or [] if r.get("type", "").startswith("zitadel:")]


def test_plaintext_provider_key_in_the_stack_config_is_refused(engine_root: str, tmp_path: Path) -> None:
    accounts = [{"name": "ci", "orgId": ORG, "userName": "ci-bot"}]
    engine = stack_with(tmp_path, "plainkey", accounts)
    engine.stack.remove_config("zitadel:jwtProfileFile")
    engine.stack.set_config("zitadel:jwtProfileJson", auto.ConfigValue(value=json.dumps({"type": "serviceaccount"})))
    with pytest.raises(auto.CommandError) as caught:
        engine.preview("plaintext jwtProfileJson")
    assert "zitadel:jwtProfileJson: is stored in plaintext" in str(caught.value)
    assert "--secret" in str(caught.value)
