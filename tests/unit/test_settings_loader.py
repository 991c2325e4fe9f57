"""Where settings come from: the engine's config in a run, a stack file for tools; both validate the same way."""

from __future__ import annotations

import contextvars
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from zitadel_bootstrap.config import SettingsError, load_settings, load_settings_file

from .test_settings import NOW, ORG

CONFIG: dict[str, Any] = {
    "zitadel:domain": "acme.zitadel.cloud",
    "zitadel:jwtProfileFile": "admin.json",
    "zitadel-bootstrap:preflight": "false",
    "zitadel-bootstrap:organizations": json.dumps([{"name": "acme", "displayName": "ACME"}]),
    "zitadel-bootstrap:serviceAccounts": json.dumps(
        [
            {"name": "ci", "orgId": ORG, "userName": "ci-bot", "keyLifetimeDays": 90},
            {"name": "cd", "org": "acme", "userName": "cd-bot", "formerNames": ["deployer"]},
        ]
    ),
    "zitadel-bootstrap:verification": json.dumps({"refreshSettleSeconds": 0}),
}


def in_engine_config(config: dict[str, Any], secret_keys: list[str] | None = None) -> Any:
    """load_settings() with the engine's config set to ``config``, in a context of its own (nothing leaks)."""

    def run() -> Any:
        pulumi.runtime.set_all_config(config, secret_keys or [])
        return load_settings(now=NOW)

    return contextvars.copy_context().run(run)


def test_load_settings_reads_every_program_key_from_the_engine() -> None:
    settings = in_engine_config(CONFIG)
    assert settings.preflight is False
    assert [org.display_name for org in settings.organizations] == ["ACME"]
    ci, cd = settings.service_accounts
    assert (ci.key_lifetime_days, ci.rotate_before_days) == (90, 30)
    assert (cd.org, cd.org_id, cd.former_names) == ("acme", None, ("deployer",))
    assert settings.verification.refresh_settle_seconds == 0.0


def test_load_settings_fails_the_run_with_every_problem_and_no_traceback() -> None:
    config = {**CONFIG, "zitadel-bootstrap:organizations": "not json", "zitadel:port": "0"}
    with pytest.raises(pulumi.RunError) as caught:
        in_engine_config(config)
    message = str(caught.value)
    assert "zitadel-bootstrap:organizations: must be a list" in message
    assert "zitadel:port: must be between 1 and 65535" in message
    assert "nothing was created" in message


def test_a_plaintext_jwt_profile_json_is_refused() -> None:
    config = {**CONFIG, "zitadel:jwtProfileJson": "{}"}
    config.pop("zitadel:jwtProfileFile")
    with pytest.raises(pulumi.RunError, match="zitadel:jwtProfileJson: is stored in plaintext") as refused:
        in_engine_config(config)
    # The way out: take the plaintext value out of the stack file, then set it again as a secret.
    assert "pulumi config rm zitadel:jwtProfileJson" in str(refused.value)
    assert "pulumi config set --secret zitadel:jwtProfileJson < key.json" in str(refused.value)
    assert in_engine_config(config, secret_keys=["zitadel:jwtProfileJson"]).provider.jwt_profile_file is None


def test_load_settings_file_reads_a_stack_file_like_the_engine(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.unit.yaml"
    config = {
        key: json.loads(value) if key.endswith(("Accounts", "organizations", "verification")) else value
        for key, value in CONFIG.items()
    }
    stack.write_text(yaml.safe_dump({"config": config}))
    settings = load_settings_file(stack, now=NOW)
    assert settings == in_engine_config(CONFIG)


def test_a_stack_file_that_is_not_yaml_is_a_settings_error(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.bad.yaml"
    stack.write_text("config: [unclosed\n")
    with pytest.raises(SettingsError, match="is not valid YAML"):
        load_settings_file(stack, now=NOW)


def test_a_misspelled_program_key_fails_naming_it_with_the_key_it_resembles() -> None:
    # Before, `zitadel-bootstrap:verfication` passed with the defaults in its place (rc 0 at preview and up).
    config = {**CONFIG, "zitadel-bootstrap:verfication": json.dumps({"deadlineSeconds": 5})}
    with pytest.raises(pulumi.RunError) as refused:
        in_engine_config(config)
    assert "zitadel-bootstrap:verfication: is not a key" in str(refused.value)
    assert "did you mean zitadel-bootstrap:verification?" in str(refused.value)


def test_a_misspelled_accounts_key_is_named_as_written_not_only_as_missing() -> None:
    config = {key: value for key, value in CONFIG.items() if key != "zitadel-bootstrap:serviceAccounts"}
    config["zitadel-bootstrap:serviceAcounts"] = CONFIG["zitadel-bootstrap:serviceAccounts"]
    with pytest.raises(pulumi.RunError) as refused:
        in_engine_config(config)
    assert "zitadel-bootstrap:serviceAcounts: is not a key" in str(refused.value)
    assert "did you mean zitadel-bootstrap:serviceAccounts?" in str(refused.value)


def test_a_misspelled_provider_key_fails_too_and_other_namespaces_are_left_alone() -> None:
    config = {**CONFIG, "zitadel:jwtProfilFile": "admin.json", "aws:region": "eu-west-1", "pulumi:tags": "{}"}
    with pytest.raises(pulumi.RunError) as refused:
        in_engine_config(config)
    message = str(refused.value)
    assert "zitadel:jwtProfilFile: is not a key" in message
    assert "did you mean zitadel:jwtProfileFile?" in message
    assert "aws:region" not in message
    assert "pulumi:tags" not in message
