"""The preflight's plan arithmetic: which permissions a config needs where, and the message when they are missing."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from zitadel_bootstrap.config import Settings, parse_settings
from zitadel_bootstrap.config.preflight import (
    DEAD_KEY_KINDS,
    ORG_CREATE_PERMISSIONS,
    PreflightError,
    admin_key_text,
    dead_key_fix,
    needs,
    problems,
)

ORG = "259254409320316419"
OTHER_ORG = "259254409320316420"
PROVIDER = {"domain": "acme.zitadel.cloud", "jwtProfileFile": "admin.json"}


def settings(project: Mapping[str, Any]) -> Settings:
    return parse_settings(project, PROVIDER)


def test_accounts_in_an_existing_org_need_user_and_member_permissions_there() -> None:
    (need,) = needs(settings({"serviceAccounts": [{"name": "ci", "orgId": ORG, "userName": "ci"}]}))
    assert need.org_id == ORG
    assert {"user.write", "org.member.write"} <= need.permissions
    assert "project.member.write" not in need.permissions
    assert need.role == "ORG_OWNER"


def test_declared_organizations_need_org_create_at_the_instance_and_nothing_inside_them() -> None:
    config = {
        "organizations": [{"name": "team-a"}],
        "serviceAccounts": [{"name": "ci", "org": "team-a", "userName": "ci"}],
    }
    (need,) = needs(settings(config))
    assert (need.org_id, need.permissions, need.role) == (None, ORG_CREATE_PERMISSIONS, "IAM_OWNER")


def test_each_org_and_each_level_is_a_need_of_its_own() -> None:
    config = {
        "serviceAccounts": [
            {
                "name": "a",
                "orgId": ORG,
                "userName": "a",
                "projectRoles": [{"projectId": "77", "roles": ["PROJECT_OWNER"]}],
            },
            {"name": "b", "orgId": OTHER_ORG, "userName": "b", "roles": [], "instanceRoles": ["IAM_OWNER_VIEWER"]},
        ]
    }
    found = {need.org_id: need for need in needs(settings(config))}
    assert set(found) == {None, ORG, OTHER_ORG}
    assert "project.member.write" in found[ORG].permissions
    assert "org.member.write" not in found[OTHER_ORG].permissions  # b has no org roles
    assert "iam.member.write" in found[None].permissions


def test_the_message_names_the_admin_the_org_the_missing_permissions_and_the_role() -> None:
    required = needs(settings({"serviceAccounts": [{"name": "ci", "orgId": ORG, "userName": "ci"}]}))
    held: dict[str | None, frozenset[str]] = {ORG: frozenset({"org.read", "user.read"})}
    (line,) = problems(required, held, "user 42 (key 7, from zitadel:jwtProfileFile (admin.json))")
    assert line.startswith("the provider's admin user 42 (key 7, from zitadel:jwtProfileFile (admin.json)) ")
    assert f"cannot manage the service accounts ci in org {ORG}" in line
    assert "it lacks org.member.delete, org.member.read, org.member.write, user.delete, user.write" in line
    assert line.endswith(f"grant it ORG_OWNER in org {ORG}")


def test_enough_permissions_make_no_problem() -> None:
    required = needs(settings({"serviceAccounts": [{"name": "ci", "orgId": ORG, "userName": "ci"}]}))
    assert problems(required, {ORG: frozenset().union(*(need.permissions for need in required))}, "x") == []


def test_the_admin_key_comes_from_the_secret_json_first_then_the_file(tmp_path: Path) -> None:
    (tmp_path / "admin.json").write_text("{from file}")
    assert admin_key_text({"jwtProfileFile": "admin.json"}, '{"secret": 1}', tmp_path)[1] == "zitadel:jwtProfileJson"
    assert admin_key_text({"jwtProfileFile": "admin.json"}, None, tmp_path) == (
        "{from file}",
        "zitadel:jwtProfileFile (admin.json)",
    )


def test_an_unreadable_key_file_is_named_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(
        PreflightError, match=r"zitadel:jwtProfileFile names missing\.json, which cannot be read"
    ) as caught:
        admin_key_text({"jwtProfileFile": "missing.json"}, None, tmp_path)
    assert "preflight to false" in str(caught.value)


def test_a_dead_admin_key_is_named_by_its_setting_with_how_to_replace_it() -> None:
    secret = dead_key_fix("zitadel:jwtProfileJson")
    assert "The admin key in zitadel:jwtProfileJson is no longer valid in ZITADEL" in secret
    assert "pulumi config set --secret zitadel:jwtProfileJson < new-admin-key.json" in secret
    assert "--run-program" in secret
    from_file = dead_key_fix("zitadel:jwtProfileFile (keys/admin.json)")
    assert "The admin key in zitadel:jwtProfileFile (keys/admin.json)" in from_file
    assert "point zitadel:jwtProfileFile at it" in from_file
    assert {"key_rejected", "key_expired", "user_not_found", "user_inactive"} == DEAD_KEY_KINDS
