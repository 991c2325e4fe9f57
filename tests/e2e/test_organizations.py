"""Organizations declared in the config, accounts in them by name, the creator's implicit ORG_OWNER left alone,
and the preflight that refuses a too-weak admin key at preview, naming user, org and role, creating nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stacks import E2EStack, changed_lines
from tools.pulumi_cli import EXIT_FAILED
from tools.standin import StandIn

ORG_TYPE = "zitadel:index/org:Org"


def org_named(standin: StandIn, name: str) -> dict[str, Any] | None:
    found = [org for org in standin.state()["orgs"] if org["name"] == name]
    return found[0] if found else None


@pytest.fixture(scope="module")
def deployed(standin: StandIn, tmp_path_factory: pytest.TempPathFactory) -> E2EStack:
    accounts: list[dict[str, Any]] = [
        {"name": "team-a-ci", "org": "team-a", "userName": "ci"},
        {"name": "team-b-ci", "org": "team-b", "userName": "ci", "roles": ["ORG_OWNER_VIEWER"]},
        {"name": "platform", "orgId": standin.default_org_id, "userName": "platform"},
    ]
    stack = E2EStack.create(tmp_path_factory.mktemp("orgs"), "orgs", standin, accounts)
    stack.cli.write_config(
        {"zitadel-bootstrap:organizations": [{"name": "team-a", "displayName": "Team A"}, {"name": "team-b"}]}
    )
    stack.cli.up(label="orgs: up from empty")
    return stack


def test_up_creates_the_organizations_and_the_accounts_in_them(deployed: E2EStack) -> None:
    standin = deployed.standin
    team_a, team_b = org_named(standin, "Team A"), org_named(standin, "team-b")
    assert team_a is not None
    assert team_b is not None
    outputs = deployed.cli.outputs()
    assert outputs["organizations"] == {"team-a": team_a["id"], "team-b": team_b["id"]}
    accounts = outputs["serviceAccounts"]
    assert accounts["team-a-ci"]["orgId"] == team_a["id"]
    assert accounts["team-b-ci"]["orgId"] == team_b["id"]
    assert all(account["verified"] is True for account in accounts.values())
    # The same userName in two orgs is two users.
    assert deployed.user("ci", team_a["id"]) is not None
    assert deployed.user("ci", team_b["id"]) is not None
    assert deployed.types_in_state().get(ORG_TYPE) == 2


def test_the_creators_implicit_org_owner_is_neither_drift_nor_fought(deployed: E2EStack) -> None:
    standin = deployed.standin
    team_a = org_named(standin, "Team A")
    assert team_a is not None
    admin = [m for m in standin.state()["memberships"] if m["userId"] == standin.admin_user_id]
    assert {"kind": "org", "targetId": team_a["id"], "roles": ["ORG_OWNER"]}.items() <= next(
        m for m in admin if m["targetId"] == team_a["id"]
    ).items(), "ZITADEL makes the creating admin ORG_OWNER of a new org"
    deployed.cli.drift_check(label="orgs: drift check with the creator's membership")
    output = deployed.cli.up(label="orgs: up again").output
    assert changed_lines(output) == [], output[-2000:]
    assert any(
        m["targetId"] == team_a["id"] for m in standin.state()["memberships"] if m["userId"] == standin.admin_user_id
    )


def weak_admin(standin: StandIn, directory: Path, roles: list[str]) -> Path:
    """A machine user of the default org with only ``roles`` there, and its key file."""
    org = standin.default_org_id
    user_id = standin.create_machine_user(org, f"weak-admin-{len(roles)}-{directory.name[-6:]}")
    if roles:
        standin.add_org_member(org, user_id, roles)
    path = directory / "weak-admin.json"
    path.write_text(standin.add_machine_key(org, user_id))
    return path


def test_preflight_refuses_a_too_weak_admin_key_at_preview_naming_user_org_and_role(
    standin: StandIn, tmp_path: Path
) -> None:
    key_file = weak_admin(standin, tmp_path, ["ORG_OWNER_VIEWER"])
    user_id = json.loads(key_file.read_text())["userId"]
    users_before = len(standin.state()["users"])
    stack = E2EStack.create(
        tmp_path / "project", "weak", standin, [{"name": "ci", "orgId": standin.default_org_id, "userName": "ci-weak"}]
    )
    stack.cli.write_config({"zitadel:jwtProfileFile": str(key_file)})
    for command in (stack.cli.preview, stack.cli.up):
        failed = command(label="preflight: too weak", expect=(EXIT_FAILED,))
        assert f"the provider's admin user {user_id}" in failed.output
        assert f"cannot manage the service accounts ci in org {standin.default_org_id}" in failed.output
        assert f"grant it ORG_OWNER in org {standin.default_org_id}" in failed.output
        assert "Traceback" not in failed.output
    assert stack.cli.resources() == []
    assert len(standin.state()["users"]) == users_before


def test_preflight_refuses_org_creation_without_an_instance_role_and_can_be_turned_off(
    standin: StandIn, tmp_path: Path
) -> None:
    key_file = weak_admin(standin, tmp_path, ["ORG_OWNER"])
    stack = E2EStack.create(
        tmp_path / "project", "noiam", standin, [{"name": "ci", "org": "new-team", "userName": "ci"}]
    )
    stack.cli.write_config(
        {"zitadel:jwtProfileFile": str(key_file), "zitadel-bootstrap:organizations": [{"name": "new-team"}]}
    )
    failed = stack.cli.preview(label="preflight: no org.create", expect=(EXIT_FAILED,))
    assert "cannot create the organizations new-team at the instance: it lacks org.create" in failed.output
    assert "grant it IAM_OWNER at the instance" in failed.output
    assert org_named(standin, "new-team") is None
    stack.cli.write_config({"zitadel-bootstrap:preflight": False})
    stack.cli.preview(label="preflight off: the preview plans")
