# mypy: disallow-untyped-decorators=False
# (pulumi.runtime.test is an untyped decorator)
"""The ServiceAccount component under Pulumi mocks: children, names, parents, org ids, grants, secrets, and the
package's own custom resources (the verification and the key schedule) as the engine receives them."""

from __future__ import annotations

import json
import runpy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pulumi
import pytest
from zitadel_bootstrap import ServiceAccount, ServiceAccountArgs, clock
from zitadel_bootstrap.component import RESOURCE_TYPE
from zitadel_bootstrap.key_schedule import resource as key_schedule
from zitadel_bootstrap.provider import verification

ORG = "259254409320316419"
#: The id the mocks give an organization the program declares.
DECLARED_ORG = "259254409320316420"
KEY_JSON = json.dumps({"type": "serviceaccount", "keyId": "k1", "key": "not-a-real-key", "userId": "u1"})
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]
CHILDREN = {"ci-user", "ci-key-rotation", "ci-key", "ci-org-member", "ci-verification"}


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    resources: dict[str, pulumi.runtime.MockResourceArgs] = field(default_factory=dict)
    #: name -> the RegisterResource request as the SDK sent it to the monitor (parent, dependencies, aliases...).
    requests: dict[str, Any] = field(default_factory=dict)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources[args.name] = args
        state = dict(args.inputs)
        if args.typ == "zitadel:index/machineUser:MachineUser":
            state["preferredLoginName"] = f"{args.inputs['userName']}@acme.example"
            return "u1", state
        if args.typ == "zitadel:index/machineKey:MachineKey":
            state["keyDetails"] = KEY_JSON
            return "k1", state
        if args.typ == "zitadel:index/org:Org":
            return DECLARED_ORG, state
        if args.typ == key_schedule.RESOURCE_TYPE:
            # The package's provider plans the schedule; under mocks, the fixed date stands in for it.
            expires = args.inputs.get("fixed_expiration") or "2027-04-01T12:00:00Z"
            state.update(expires_at=expires, days_left=30, due=False)
            state["summary"] = {"expiresAt": expires, "rotationDue": False}
            return f"{args.name}-id", state
        if args.typ == verification.RESOURCE_TYPE:
            state.update(
                verified=True,
                roles_found={"org": ["ORG_OWNER"]},
                token_type="Bearer",
                token_format="opaque",
                expires_in=43199,
                attempts=1,
                elapsed_seconds=0.1,
                failure_kind=None,
                failure=None,
                checked_at="2026-11-28T12:00:00Z",
            )
            state["summary"] = verification.summary(state)
            return "u1:k1", state
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    def parent(self, name: str) -> str:
        return str(self.requests[name].parent)

    def dependencies(self, name: str) -> set[str]:
        """The names of the resources ``name`` depends on."""
        return {urn.rsplit("::", 1)[1] for urn in self.requests[name].dependencies}


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    """The component dates keys and checks keyExpiration against the program's clock: frozen here."""
    frozen = clock.Clock(now=NOW.timestamp, monotonic=lambda: 0.0, sleep=lambda _seconds: None)
    with clock.use(frozen):
        yield


@pytest.fixture
def mocks() -> RecordingMocks:
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="zitadel-bootstrap", stack="unit", preview=False)
    monitor: Any = pulumi.runtime.settings.get_monitor()
    register = monitor.RegisterResource

    def recording_register(request: Any) -> Any:
        recorder.requests[request.name] = request
        return register(request)

    monitor.RegisterResource = recording_register
    return recorder


def args(**changes: Any) -> ServiceAccountArgs:
    """A valid account's inputs; a change to None leaves that input out."""
    values: dict[str, Any] = {
        "user_name": "ci-bot",
        "org_id": ORG,
        "display_name": "CI bot",
        "description": "deploys things",
        "access_token_type": "ACCESS_TOKEN_TYPE_BEARER",
        "roles": ["ORG_OWNER"],
        "key_expiration": "2027-01-01T00:00:00Z",
        "rotate_before_days": 30,
        "issuer": "https://acme.example",
        "insecure": False,
    }
    values.update(changes)
    return cast(ServiceAccountArgs, {key: value for key, value in values.items() if value is not None})


def build(inputs: ServiceAccountArgs | None = None, name: str = "ci", **opts: Any) -> ServiceAccount:
    return ServiceAccount(name, inputs if inputs is not None else args(), pulumi.ResourceOptions(**opts))


def settled(sa: ServiceAccount) -> pulumi.Output[Any]:
    """Resolves once every child is registered: the verification waits for the key and all grants."""
    return pulumi.Output.all(sa.urn, sa.user_id, sa.key_id, sa.login_name, sa.verified, sa.verification)


def build_all(inputs: ServiceAccountArgs, name: str = "ci", **opts: Any) -> None:
    """Build under the test runtime and return once every registration RPC has finished."""

    @pulumi.runtime.test
    def program() -> None:
        build(inputs, name, **opts)

    program()


@pulumi.runtime.test
def test_declares_user_key_org_member_and_verification_named_from_the_component(mocks: RecordingMocks) -> Any:
    sa = build()

    def check(_: Any) -> None:
        assert set(mocks.resources) == {"ci", *CHILDREN}
        assert mocks.resources["ci"].typ == RESOURCE_TYPE == "zitadel-bootstrap:index:ServiceAccount"
        assert mocks.resources["ci-user"].typ == "zitadel:index/machineUser:MachineUser"
        assert mocks.resources["ci-key"].typ == "zitadel:index/machineKey:MachineKey"
        assert mocks.resources["ci-org-member"].typ == "zitadel:index/orgMember:OrgMember"
        assert mocks.resources["ci-verification"].typ == "zitadel-bootstrap:index:JwtBearerVerification"
        assert mocks.resources["ci-key-rotation"].typ == "zitadel-bootstrap:index:KeyRotation"

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_the_verification_and_the_key_schedule_are_custom_resources_of_the_package_not_dynamic_ones(
    mocks: RecordingMocks,
) -> Any:
    sa = build()

    def check(_: Any) -> None:
        for name in ("ci-verification", "ci-key-rotation"):
            assert mocks.resources[name].custom is True, name
            assert "__provider" not in mocks.resources[name].inputs, f"{name} carries no pickled provider"
            assert not mocks.resources[name].typ.startswith("pulumi-python:dynamic"), name
        assert mocks.resources["ci"].custom is False

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_stacks_made_by_0_2_keep_their_verification_and_key_schedule_through_type_aliases(
    mocks: RecordingMocks,
) -> Any:
    sa = build()

    def check(_: Any) -> None:
        expected = {
            "ci-verification": "pulumi-python:dynamic/verification:JwtBearerVerification",
            "ci-key-rotation": "pulumi-python:dynamic/rotation:KeyRotation",
        }
        for name, former in expected.items():
            assert [alias.spec.type for alias in mocks.requests[name].aliases] == [former], name

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_every_zitadel_child_carries_the_org_id_explicitly(mocks: RecordingMocks) -> Any:
    sa = build()

    def check(_: Any) -> None:
        for name in ("ci-user", "ci-key", "ci-org-member"):
            assert mocks.resources[name].inputs["orgId"] == ORG, f"{name} has no explicit orgId"

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_user_key_and_member_inputs_follow_the_args(mocks: RecordingMocks) -> Any:
    sa = build(args(access_token_type="JWT"))

    def check(_: Any) -> None:
        user = mocks.resources["ci-user"].inputs
        assert user["userName"] == "ci-bot"
        assert user["name"] == "CI bot"
        assert user["description"] == "deploys things"
        assert user["accessTokenType"] == "ACCESS_TOKEN_TYPE_JWT"
        key = mocks.resources["ci-key"].inputs
        assert key["keyType"] == "KEY_TYPE_JSON"
        assert key["userId"] == "u1"
        assert key["expirationDate"] == "2027-01-01T00:00:00Z"
        member = mocks.resources["ci-org-member"].inputs
        assert member["userId"] == "u1"
        assert member["roles"] == ["ORG_OWNER"]

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_the_defaults_are_org_owner_a_bearer_token_and_the_user_name_as_display_name(mocks: RecordingMocks) -> Any:
    sa = build(ServiceAccountArgs(user_name="ci-bot", org_id=ORG, issuer="https://acme.example"))

    def check(_: Any) -> None:
        user = mocks.resources["ci-user"].inputs
        assert (user["name"], user["accessTokenType"]) == ("ci-bot", "ACCESS_TOKEN_TYPE_BEARER")
        assert mocks.resources["ci-org-member"].inputs["roles"] == ["ORG_OWNER"]
        assert mocks.resources["ci-verification"].inputs["audience"] == "zitadel"

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_verification_gets_issuer_key_grants_and_deadlines(mocks: RecordingMocks) -> Any:
    sa = build(args(audience="123456", verify_deadline_seconds=30.0, verify_refresh_settle_seconds=2.0))

    def check(_: Any) -> None:
        proof = mocks.resources["ci-verification"].inputs
        assert proof["issuer"] == "https://acme.example"
        # The key reaches the verification as a secret, never as plain text.
        assert pulumi.runtime.rpc.is_rpc_secret(proof["key_json"])
        assert pulumi.runtime.rpc.unwrap_rpc_secret(proof["key_json"]) == KEY_JSON
        assert proof["org_id"] == ORG
        assert proof["audience"] == "123456"
        assert proof["deadline_seconds"] == 30.0
        assert proof["refresh_settle_seconds"] == 2.0
        assert proof["grants"] == [{"level": "org", "resource_id": ORG, "roles": ["ORG_OWNER"]}]
        # The engine stores the repeated key output encrypted only when it is listed (or its input was secret).
        assert "key_json" in mocks.requests["ci-verification"].additionalSecretOutputs

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_all_children_are_parented_to_the_component(mocks: RecordingMocks) -> Any:
    sa = build()

    def check(urn: str) -> None:
        children = set(mocks.requests) - {"ci"}
        assert children == CHILDREN
        for name in children:
            assert mocks.parent(name) == urn, f"{name} is parented to {mocks.parent(name)!r}, not the component"

    return pulumi.Output.all(sa.urn, sa.verified).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_verification_depends_on_the_key_and_every_grant(mocks: RecordingMocks) -> Any:
    sa = build(args(instance_roles=["IAM_OWNER_VIEWER"]))

    def check(_: Any) -> None:
        dependencies = mocks.dependencies("ci-verification")
        assert {"ci-key", "ci-org-member", "ci-instance-member"} <= dependencies, dependencies

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_four_manager_levels_yield_four_member_resources(mocks: RecordingMocks) -> Any:
    sa = build(
        args(
            instance_roles=["IAM_OWNER_VIEWER"],
            project_roles=[{"project_id": "77", "roles": ["PROJECT_OWNER"]}],
            project_grant_roles=[{"project_id": "77", "grant_id": "88", "roles": ["PROJECT_GRANT_OWNER"]}],
        )
    )

    def check(_: Any) -> None:
        assert mocks.resources["ci-instance-member"].typ == "zitadel:index/instanceMember:InstanceMember"
        assert mocks.resources["ci-instance-member"].inputs["roles"] == ["IAM_OWNER_VIEWER"]
        project = mocks.resources["ci-project-member-77"]
        assert project.typ == "zitadel:index/projectMember:ProjectMember"
        assert project.inputs["projectId"] == "77"
        assert project.inputs["orgId"] == ORG
        grant = mocks.resources["ci-project-grant-member-88"]
        assert grant.typ == "zitadel:index/projectGrantMember:ProjectGrantMember"
        assert (grant.inputs["projectId"], grant.inputs["grantId"]) == ("77", "88")
        levels = [g["level"] for g in mocks.resources["ci-verification"].inputs["grants"]]
        assert levels == ["org", "instance", "project", "project_grant"]

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_key_json_output_is_a_secret_and_ids_are_not(mocks: RecordingMocks) -> Any:
    sa = build()

    def check(args: list[Any]) -> None:
        key_is_secret, user_is_secret, key_json = args
        assert key_is_secret is True
        assert user_is_secret is False
        assert key_json == KEY_JSON

    return pulumi.Output.all(
        pulumi.Output.from_input(sa.key_json).is_secret(), sa.user_id.is_secret(), sa.key_json
    ).apply(check)


@pulumi.runtime.test
def test_verification_summary_exposes_no_key_material(mocks: RecordingMocks) -> Any:
    sa = build()

    def check(summary: Any) -> None:
        assert summary["rolesFound"] == {"org": ["ORG_OWNER"]}
        assert summary["tokenType"] == "Bearer"
        assert "not-a-real-key" not in json.dumps(summary)

    return sa.verification.apply(check)


@pulumi.runtime.test
def test_verification_summary_holds_nothing_that_moves_on_every_refresh(mocks: RecordingMocks) -> Any:
    # A clean drift check showed `~ serviceAccounts` because checkedAt and the request count moved in the outputs.
    sa = build()

    def check(summary: Any) -> None:
        assert set(summary) <= {"expiresIn", "failure", "failureKind", "rolesFound", "tokenFormat", "tokenType"}
        assert None not in summary.values(), "a null in an output shows as `~` in every preview"

    return sa.verification.apply(check)


def test_disabled_verification_declares_no_verification_resource(mocks: RecordingMocks) -> None:
    build_all(args(verify=False))
    assert set(mocks.resources) == {"ci", *CHILDREN} - {"ci-verification"}


def test_no_org_member_when_only_instance_roles_are_granted(mocks: RecordingMocks) -> None:
    build_all(args(roles=[], instance_roles=["IAM_OWNER"]))
    assert "ci-org-member" not in mocks.resources
    assert "ci-instance-member" in mocks.resources


@pulumi.runtime.test
def test_the_key_takes_its_expiry_from_its_rotation_schedule_and_nothing_is_pinned(mocks: RecordingMocks) -> Any:
    sa = build(args(key_expiration=None, key_lifetime_days=90, rotate_before_days=30, key_generation=2))

    def check(_: Any) -> None:
        rotation = mocks.resources["ci-key-rotation"].inputs
        assert (rotation["lifetime_days"], rotation["rotate_before_days"], rotation["generation"]) == (90, 30, 2)
        assert rotation["account"] == "ci"
        # A new date from the schedule replaces the key: nothing may pin it.
        assert list(mocks.requests["ci-key"].ignoreChanges) == []
        assert mocks.resources["ci-key"].inputs["expirationDate"] == "2027-04-01T12:00:00Z"
        assert "ci-key-rotation" in mocks.dependencies("ci-key")

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_the_key_summary_shows_expiry_and_rotation_but_not_the_days_left_that_move_daily(mocks: RecordingMocks) -> Any:
    sa = build()

    def check(key: Any) -> None:
        assert key == {
            "id": "k1",
            "expiresAt": "2027-01-01T00:00:00Z",
            "rotationDue": False,
        }

    return sa.key.apply(check)


def test_the_components_options_reach_its_registration(mocks: RecordingMocks) -> None:
    build_all(args(), "deployer", aliases=[pulumi.Alias(name="ci"), pulumi.Alias(name="builder")], protect=True)
    request = mocks.requests["deployer"]
    assert [alias.spec.name for alias in request.aliases] == ["ci", "builder"]
    assert request.protect is True


@pulumi.runtime.test
def test_an_org_declared_by_the_program_reaches_every_child_and_the_grants(mocks: RecordingMocks) -> Any:
    created_org = pulumi.Output.from_input("555000111")
    sa = build(args(org_id=created_org))

    def check(_: Any) -> None:
        for name in ("ci-user", "ci-key", "ci-org-member"):
            assert mocks.resources[name].inputs["orgId"] == "555000111", name
        proof = mocks.resources["ci-verification"].inputs
        assert proof["org_id"] == "555000111"
        assert proof["grants"] == [{"level": "org", "resource_id": "555000111", "roles": ["ORG_OWNER"]}]

    return settled(sa).apply(check)


# --- the stack-config program, the package's first consumer --------------------------------------------------------


@pytest.fixture
def stack_config() -> Iterator[dict[str, str]]:
    config = {
        "zitadel:domain": "acme.zitadel.cloud",
        "zitadel:jwtProfileFile": "admin.json",
        "zitadel-bootstrap:preflight": "false",
        "zitadel-bootstrap:serviceAccounts": json.dumps(
            [
                {"name": "deployer", "orgId": ORG, "userName": "deployer", "formerNames": ["ci", "builder"]},
                {"name": "auditor", "org": "team-a", "userName": "auditor", "roles": ["ORG_OWNER_VIEWER"]},
            ]
        ),
        "zitadel-bootstrap:organizations": json.dumps([{"name": "team-a"}]),
    }
    pulumi.runtime.set_all_config(config)
    yield config
    pulumi.runtime.set_all_config({})


def test_the_program_turns_former_names_into_aliases_and_declares_each_account_in_its_org(
    mocks: RecordingMocks, stack_config: dict[str, str]
) -> None:
    @pulumi.runtime.test
    def program() -> None:
        runpy.run_path(str(REPO_ROOT / "__main__.py"), run_name="__main__")

    program()
    assert [alias.spec.name for alias in mocks.requests["deployer"].aliases] == ["ci", "builder"]
    assert list(mocks.requests["auditor"].aliases) == []
    assert mocks.resources["deployer-user"].inputs["orgId"] == ORG
    assert mocks.resources["auditor-user"].inputs["orgId"] == DECLARED_ORG
    assert mocks.resources["auditor-org-member"].inputs["roles"] == ["ORG_OWNER_VIEWER"]
    # The issuer comes from zitadel:domain when the config names none.
    assert mocks.resources["deployer-verification"].inputs["issuer"] == "https://acme.zitadel.cloud"
