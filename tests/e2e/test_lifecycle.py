"""The whole program's life under the plain `pulumi` CLI, against a fresh stand-in: up from empty (with its
preview), the no-change check, every kind of drift detected (exit 7) and repaired by `up --refresh`, the key
from the stack output working with the verification CLI, and nothing secret in state or output.

One stack for the module (each command costs seconds). Every test leaves the stack converged; if a test fails
half-way, the ``converged`` fixture repairs the stack before the next one, so no test depends on another's end.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.leaks import assert_no_leaks
from tests.e2e.stacks import (
    INSTANCE_MEMBER,
    KEY_ROTATION_TYPE,
    MACHINE_KEY,
    MACHINE_USER,
    ORG_MEMBER,
    PROJECT_GRANT_MEMBER,
    PROJECT_MEMBER,
    SECRET_SIG,
    VERIFICATION_TYPE,
    E2EStack,
    changed_lines,
)
from tools.pulumi_cli import EXIT_DRIFT, EXIT_FAILED, OPERATIONS_COMMAND, REPO
from tools.standin import StandIn


@dataclass
class Deployed:
    stack: E2EStack
    project_id: str
    grant_id: str
    first_up: str

    @property
    def standin(self) -> StandIn:
        return self.stack.standin

    def user_id(self, user_name: str) -> str:
        user = self.stack.user(user_name)
        assert user is not None, f"no user {user_name} in the stand-in"
        return str(user["id"])


def accounts(org_id: str, project_id: str, grant_id: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "deployer",
            "orgId": org_id,
            "userName": "deployer",
            "description": "Deploys applications from CI",
            "keyLifetimeDays": 90,
        },
        {
            "name": "auditor",
            "orgId": org_id,
            "userName": "auditor",
            "accessTokenType": "JWT",
            "roles": ["ORG_OWNER_VIEWER"],
            "instanceRoles": ["IAM_OWNER_VIEWER"],
            "projectRoles": [{"projectId": project_id, "roles": ["PROJECT_OWNER"]}],
            "projectGrantRoles": [{"projectId": project_id, "grantId": grant_id, "roles": ["PROJECT_GRANT_OWNER"]}],
            "keyExpiration": "2030-01-01T00:00:00Z",
        },
    ]


@pytest.fixture(scope="module")
def deployed(standin: StandIn, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    org_id = standin.default_org_id
    project_id = standin.create_project(org_id, "billing-api")
    partner = standin.create_org("partner")
    grant_id = standin.create_project_grant(project_id, partner)
    stack = E2EStack.create(
        tmp_path_factory.mktemp("lifecycle"), "lifecycle", standin, accounts(org_id, project_id, grant_id)
    )
    first_up = stack.cli.up(label="up from empty").output
    return Deployed(stack, project_id, grant_id, first_up)


@pytest.fixture
def converged(deployed: Deployed, request: pytest.FixtureRequest) -> Iterator[Deployed]:
    """The deployed stack; repaired after a test that failed, so the next test starts converged."""
    yield deployed
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        deployed.standin.reset()
        for user_id in (u["id"] for u in deployed.standin.state()["users"] if u["state"] != "USER_STATE_ACTIVE"):
            deployed.standin.reactivate_user(user_id)
        deployed.stack.cli.up("--refresh", label="repair after a failed test")


# --- up from empty -------------------------------------------------------------------------------------------


def test_up_previews_then_creates_every_resource_through_the_plugin(deployed: Deployed) -> None:
    output = deployed.first_up
    assert "Previewing update (lifecycle)" in output, "pulumi up must run its preview first"
    assert "Updating (lifecycle)" in output
    expected = {
        MACHINE_USER: 2,
        MACHINE_KEY: 2,
        ORG_MEMBER: 2,
        INSTANCE_MEMBER: 1,
        PROJECT_MEMBER: 1,
        PROJECT_GRANT_MEMBER: 1,
        VERIFICATION_TYPE: 2,
        KEY_ROTATION_TYPE: 2,
    }
    in_state = deployed.stack.types_in_state()
    assert {type_: in_state.get(type_) for type_ in expected} == expected
    assert re.search(r"^\s+\+ 16 created$", output, re.MULTILINE), output[-800:]


def test_up_creates_the_users_keys_and_grants_in_zitadel(deployed: Deployed) -> None:
    org = deployed.standin.default_org_id
    deployer, auditor = deployed.stack.user("deployer"), deployed.stack.user("auditor")
    assert deployer is not None
    assert auditor is not None
    assert len(deployer["keys"]) == 1
    assert len(auditor["keys"]) == 1
    assert auditor["keys"][0]["expirationDate"] == "2030-01-01T00:00:00Z"
    assert auditor["accessTokenType"] == "ACCESS_TOKEN_TYPE_JWT"
    assert deployed.stack.memberships(deployer["id"]) == {("org", org): ["ORG_OWNER"]}
    assert deployed.stack.memberships(auditor["id"]) == {
        ("org", org): ["ORG_OWNER_VIEWER"],
        ("iam", deployed.standin.instance_id): ["IAM_OWNER_VIEWER"],
        ("project", deployed.project_id): ["PROJECT_OWNER"],
        ("projectGrant", deployed.grant_id): ["PROJECT_GRANT_OWNER"],
    }


def test_outputs_show_each_account_verified_with_every_grant_and_keep_keys_secret(deployed: Deployed) -> None:
    outputs = deployed.stack.cli.outputs()
    org = deployed.standin.default_org_id
    accounts_out = outputs["serviceAccounts"]
    assert {name: account["verified"] for name, account in accounts_out.items()} == {
        "deployer": True,
        "auditor": True,
    }
    assert accounts_out["deployer"]["userId"] == deployed.user_id("deployer")
    assert accounts_out["auditor"]["verification"]["rolesFound"] == {
        f"org:{org}": ["ORG_OWNER_VIEWER"],
        "instance": ["IAM_OWNER_VIEWER"],
        f"project:{deployed.project_id}": ["PROJECT_OWNER"],
        f"project_grant:{deployed.grant_id}": ["PROJECT_GRANT_OWNER"],
    }
    assert accounts_out["auditor"]["verification"]["tokenFormat"] == "jwt"
    assert outputs["machineKeys"] == "[secret]"


def test_state_keeps_the_key_only_encrypted(deployed: Deployed) -> None:
    (proof, *_) = deployed.stack.cli.resources(VERIFICATION_TYPE)
    for section in ("inputs", "outputs"):
        stored = proof[section]["key_json"]
        assert isinstance(stored, dict), f"{section}.key_json is plaintext in the state file"
        assert set(stored) == {SECRET_SIG, "ciphertext"}, f"{section}.key_json is not encrypted"
    for key in deployed.stack.cli.resources(MACHINE_KEY):
        assert set(key["outputs"]["keyDetails"]) == {SECRET_SIG, "ciphertext"}


# --- no changes ----------------------------------------------------------------------------------------------


def test_a_second_preview_and_the_drift_checks_find_no_changes(converged: Deployed) -> None:
    cli = converged.stack.cli
    assert changed_lines(cli.preview(label="second preview").output) == []
    check = cli.drift_check(label="no drift")
    # A report that shows a change where there is none teaches people to ignore it: not even an output may move.
    # Pulumi marks every refresh step with its `~ ... refresh(ing)` row, change or not; those rows are not changes.
    # With --run-program, a row that is still refreshing also shows how the program's raw inputs differ from the
    # checked inputs in state (`refreshing [diff: -withSecret]`, defaults a provider's check adds); the step itself
    # ends as a plain `refresh` and the plan is unchanged.
    refresh_row = re.compile(r"\s(refresh|refreshing)(\s+\[diff: [^]]*\])?\s*$")
    marked = [
        line for line in check.output.splitlines() if re.match(r"^\s*[-+~]", line) and not refresh_row.search(line)
    ]
    assert marked == [], check.output[-3000:]
    cli.run("refresh", "--preview-only", "--expect-no-changes", label="refresh preview, no drift")


def test_the_key_from_the_stack_output_works_with_the_verification_cli(converged: Deployed) -> None:
    keys = converged.stack.cli.outputs(show_secrets=True)["machineKeys"]
    done = subprocess.run(
        [
            str(OPERATIONS_COMMAND),
            "verify",
            "--issuer",
            converged.standin.issuer,
            "--insecure",
            "--key-file",
            "-",
            "--org-id",
            converged.standin.default_org_id,
            "--role",
            "ORG_OWNER",
            "--json",
        ],
        cwd=REPO,
        input=keys["deployer"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["verified"] is True
    assert result["user_id"] == converged.user_id("deployer")


# --- drift: detected (7), repaired by up --refresh, converged (0) ---------------------------------------------


@dataclass(frozen=True)
class Drift:
    account: str
    breaks: Callable[[Deployed, str], None]
    """Changes ZITADEL behind Pulumi's back, given the account's user id."""
    restored: Callable[[Deployed, str], bool]
    """True once ZITADEL holds what the config declares again, given the account's (new) user id."""


def _org(d: Deployed) -> str:
    return d.standin.default_org_id


DRIFTS = {
    "org membership removed": Drift(
        "deployer",
        lambda d, uid: d.standin.remove_org_member(_org(d), uid),
        lambda d, uid: d.stack.memberships(uid) == {("org", _org(d)): ["ORG_OWNER"]},
    ),
    "org roles reduced": Drift(
        "deployer",
        lambda d, uid: d.standin.set_org_member_roles(_org(d), uid, ["ORG_OWNER_VIEWER"]),
        lambda d, uid: d.stack.memberships(uid) == {("org", _org(d)): ["ORG_OWNER"]},
    ),
    "instance membership removed": Drift(
        "auditor",
        lambda d, uid: d.standin.remove_instance_member(uid),
        lambda d, uid: d.stack.memberships(uid).get(("iam", d.standin.instance_id)) == ["IAM_OWNER_VIEWER"],
    ),
    "project membership removed": Drift(
        "auditor",
        lambda d, uid: d.standin.remove_project_member(d.project_id, uid),
        lambda d, uid: d.stack.memberships(uid).get(("project", d.project_id)) == ["PROJECT_OWNER"],
    ),
    "project grant membership removed": Drift(
        "auditor",
        lambda d, uid: d.standin.remove_project_grant_member(d.grant_id, uid),
        lambda d, uid: d.stack.memberships(uid).get(("projectGrant", d.grant_id)) == ["PROJECT_GRANT_OWNER"],
    ),
    "key deleted": Drift(
        "deployer",
        lambda d, uid: d.standin.remove_key(uid, str(d.stack.user("deployer")["keys"][0]["id"])),  # type: ignore[index]
        lambda d, uid: len(d.stack.user("deployer")["keys"]) == 1,  # type: ignore[index]
    ),
    "user deleted": Drift(
        "deployer",
        lambda d, uid: d.standin.delete_user(uid),
        lambda d, uid: d.stack.memberships(uid) == {("org", _org(d)): ["ORG_OWNER"]},
    ),
}


@pytest.mark.parametrize("drift", DRIFTS.values(), ids=DRIFTS.keys())
def test_drift_is_detected_and_repaired_by_up_refresh(converged: Deployed, drift: Drift) -> None:
    cli = converged.stack.cli
    drift.breaks(converged, converged.user_id(drift.account))

    check = cli.drift_check(label="drift check: drifted", expect=(EXIT_DRIFT,))
    changes = changed_lines(check.output)
    assert any(f" {drift.account}-" in f" {line}" for line in changes), check.output[-3000:]

    cli.up("--refresh", label="repair: up --refresh")
    assert drift.restored(converged, converged.user_id(drift.account))
    outputs = cli.outputs()["serviceAccounts"]
    assert outputs[drift.account]["verified"] is True
    assert outputs[drift.account]["userId"] == converged.user_id(drift.account)
    cli.drift_check(label="drift check: repaired")


def test_a_deactivated_user_is_drift_that_up_refuses_by_name_until_it_is_reactivated(converged: Deployed) -> None:
    cli = converged.stack.cli
    user_id = converged.user_id("deployer")
    converged.standin.deactivate_user(user_id)

    check = cli.drift_check(label="drift check: user deactivated", expect=(EXIT_DRIFT,))
    assert any("deployer-verification" in line for line in changed_lines(check.output)), check.output[-3000:]

    failed = cli.up("--refresh", label="up with the user deactivated", expect=(EXIT_FAILED,))
    assert f"user {user_id}" in failed.output
    assert "not active" in failed.output
    assert "deployer-verification" in failed.output

    converged.standin.reactivate_user(user_id)
    cli.up("--refresh", label="up after reactivation")
    assert converged.user_id("deployer") == user_id, "reactivation keeps the user"
    cli.drift_check(label="drift check: reactivated")


# --- change the config --------------------------------------------------------------------------------------


def test_changed_roles_are_updated_in_place_and_verified_again(converged: Deployed) -> None:
    stack, cli = converged.stack, converged.stack.cli
    original = [dict(account) for account in stack.accounts]
    user_id = converged.user_id("deployer")
    stack.configure_accounts([{**original[0], "roles": ["ORG_OWNER", "ORG_USER_MANAGER"]}, original[1]])
    try:
        output = cli.up(label="up: roles changed").output
        assert "~  zitadel:index:OrgMember deployer-org-member update [diff: ~roles]" in output
        assert "deployer-user" not in " ".join(changed_lines(output)), "the user must stay"
        assert stack.memberships(user_id) == {("org", _org(converged)): ["ORG_OWNER", "ORG_USER_MANAGER"]}
        roles_found = cli.outputs()["serviceAccounts"]["deployer"]["verification"]["rolesFound"]
        assert roles_found == {f"org:{_org(converged)}": ["ORG_OWNER", "ORG_USER_MANAGER"]}
    finally:
        stack.configure_accounts(original)
        cli.up(label="up: roles back")
    assert stack.memberships(user_id) == {("org", _org(converged)): ["ORG_OWNER"]}
    cli.drift_check(label="drift check: roles back")


# --- secrets -------------------------------------------------------------------------------------------------


def test_no_key_or_token_in_state_stack_files_or_any_command_output(converged: Deployed) -> None:
    cli = converged.stack.cli
    # A key replaced by the plugin passes through state, plan and outputs: make one here, then scan everything.
    deployer = converged.stack.user("deployer")
    assert deployer is not None
    converged.standin.remove_key(deployer["id"], deployer["keys"][0]["id"])
    cli.drift_check(label="drift check before the scan", expect=(EXIT_DRIFT,))
    cli.up("--refresh", label="a new key before the scan")
    keys = cli.outputs(show_secrets=True)["machineKeys"]
    # `stack output --show-secrets` is the one place keys must appear; scan every other command's output.
    outputs = [run.output for run in cli.runs if "--show-secrets" not in run.args]
    assert "deployer-key created" in "\n".join(outputs)
    assert_no_leaks([*cli.state_files(), cli.stack_file], outputs, list(keys.values()), converged.standin.issuer)
