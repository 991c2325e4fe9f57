# mypy: disallow-untyped-decorators=False
# (pulumi.runtime.test is an untyped decorator)
"""The ServiceAccount component under Pulumi mocks: children, names, parents, org ids, grants, secrets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pulumi
import pytest
from zitadel_bootstrap.component.service_account import RESOURCE_TYPE, ServiceAccount, ServiceAccountArgs
from zitadel_bootstrap.config import ServiceAccountSettings, VerificationSettings

ORG = "259254409320316419"
KEY_JSON = json.dumps({"type": "serviceaccount", "keyId": "k1", "key": "not-a-real-key", "userId": "u1"})


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    resources: dict[str, pulumi.runtime.MockResourceArgs] = field(default_factory=dict)
    #: name -> (parent URN, dependency URNs) as the SDK sent them to the monitor.
    links: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    ignore_changes: dict[str, list[str]] = field(default_factory=dict)
    aliases: dict[str, list[Any]] = field(default_factory=dict)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources[args.name] = args
        state = dict(args.inputs)
        if args.typ == "zitadel:index/machineUser:MachineUser":
            state["preferredLoginName"] = f"{args.inputs['userName']}@acme.example"
            return "u1", state
        if args.typ == "zitadel:index/machineKey:MachineKey":
            state["keyDetails"] = KEY_JSON
            return "k1", state
        if args.typ == "pulumi-python:dynamic/rotation:KeyRotation":
            # The provider plans the schedule; under mocks, the fixed date stands in for it.
            expires = args.inputs.get("fixed_expiration") or "2027-04-01T12:00:00Z"
            state.update(expires_at=expires, days_left=30, due=False)
            return f"{args.name}-id", state
        if args.typ.startswith("pulumi-python:dynamic"):
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
            return "u1:k1", state
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture
def mocks() -> RecordingMocks:
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="zitadel-bootstrap", stack="unit", preview=False)
    monitor: Any = pulumi.runtime.settings.get_monitor()
    register = monitor.RegisterResource

    def recording_register(request: Any) -> Any:
        recorder.links[request.name] = (request.parent, list(request.dependencies))
        recorder.ignore_changes[request.name] = list(request.ignoreChanges)
        recorder.aliases[request.name] = list(request.aliases)
        return register(request)

    monitor.RegisterResource = recording_register
    return recorder


def settings(**changes: Any) -> ServiceAccountSettings:
    base = ServiceAccountSettings(
        name="ci",
        org_id=ORG,
        user_name="ci-bot",
        display_name="CI bot",
        description="deploys things",
        access_token_type="ACCESS_TOKEN_TYPE_BEARER",
        roles=("ORG_OWNER",),
        key_expiration="2027-01-01T00:00:00Z",
        rotate_before_days=30,
    )
    return replace(base, **changes)


def build(account: ServiceAccountSettings, org_id: pulumi.Input[str] = ORG, **verification: Any) -> ServiceAccount:
    return ServiceAccount(
        account.name,
        ServiceAccountArgs(
            account=account,
            org_id=org_id,
            issuer="https://acme.example",
            insecure=False,
            verification=VerificationSettings(**verification),
        ),
    )


def settled(sa: ServiceAccount) -> pulumi.Output[Any]:
    """Resolves once every child is registered: the verification waits for the key and all grants."""
    return pulumi.Output.all(sa.urn, sa.user_id, sa.key_id, sa.login_name, sa.verified, sa.verification)


def build_all(account: ServiceAccountSettings, **verification: Any) -> None:
    """Build under the test runtime and return once every registration RPC has finished."""

    @pulumi.runtime.test
    def program() -> None:
        build(account, **verification)

    program()


@pulumi.runtime.test
def test_declares_user_key_org_member_and_verification_named_from_the_component(mocks: RecordingMocks) -> Any:
    sa = build(settings())

    def check(_: Any) -> None:
        assert set(mocks.resources) == {
            "ci",
            "ci-user",
            "ci-key-rotation",
            "ci-key",
            "ci-org-member",
            "ci-verification",
        }
        assert mocks.resources["ci"].typ == RESOURCE_TYPE
        assert mocks.resources["ci-user"].typ == "zitadel:index/machineUser:MachineUser"
        assert mocks.resources["ci-key"].typ == "zitadel:index/machineKey:MachineKey"
        assert mocks.resources["ci-org-member"].typ == "zitadel:index/orgMember:OrgMember"
        assert mocks.resources["ci-verification"].typ.startswith("pulumi-python:dynamic/verification")
        assert mocks.resources["ci-key-rotation"].typ == "pulumi-python:dynamic/rotation:KeyRotation"

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_every_zitadel_child_carries_the_org_id_explicitly(mocks: RecordingMocks) -> Any:
    sa = build(settings())

    def check(_: Any) -> None:
        for name in ("ci-user", "ci-key", "ci-org-member"):
            assert mocks.resources[name].inputs["orgId"] == ORG, f"{name} has no explicit orgId"

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_user_key_and_member_inputs_follow_the_settings(mocks: RecordingMocks) -> Any:
    sa = build(settings(access_token_type="ACCESS_TOKEN_TYPE_JWT"))

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
def test_verification_gets_issuer_key_grants_and_deadlines(mocks: RecordingMocks) -> Any:
    sa = build(settings(audience="123456"), deadline_seconds=30.0, refresh_settle_seconds=2.0)

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

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_all_children_are_parented_to_the_component(mocks: RecordingMocks) -> Any:
    sa = build(settings())

    def check(urn: str) -> None:
        children = {name: link for name, link in mocks.links.items() if name != "ci"}
        assert len(children) == 5
        for name, (parent, _) in children.items():
            assert parent == urn, f"{name} is parented to {parent!r}, not the component"

    return pulumi.Output.all(sa.urn, sa.verified).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_verification_depends_on_the_key_and_every_grant(mocks: RecordingMocks) -> Any:
    sa = build(settings(instance_roles=("IAM_OWNER_VIEWER",)))

    def check(_: Any) -> None:
        _, deps = mocks.links["ci-verification"]
        dep_names = {urn.rsplit("::", 1)[1] for urn in deps}
        assert {"ci-key", "ci-org-member", "ci-instance-member"} <= dep_names, dep_names

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_four_manager_levels_yield_four_member_resources(mocks: RecordingMocks) -> Any:
    sa = build(
        settings(
            instance_roles=("IAM_OWNER_VIEWER",),
            project_roles=(("77", ("PROJECT_OWNER",)),),
            project_grant_roles=(("77", "88", ("PROJECT_GRANT_OWNER",)),),
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
    sa = build(settings())

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
    sa = build(settings())

    def check(summary: Any) -> None:
        assert summary["rolesFound"] == {"org": ["ORG_OWNER"]}
        assert summary["tokenType"] == "Bearer"
        assert "not-a-real-key" not in json.dumps(summary)

    return sa.verification.apply(check)


def test_disabled_verification_declares_no_verification_resource(mocks: RecordingMocks) -> None:
    build_all(settings(), enabled=False)
    assert set(mocks.resources) == {"ci", "ci-user", "ci-key-rotation", "ci-key", "ci-org-member"}


def test_no_org_member_when_only_instance_roles_are_granted(mocks: RecordingMocks) -> None:
    build_all(settings(roles=(), instance_roles=("IAM_OWNER",)))
    assert "ci-org-member" not in mocks.resources
    assert "ci-instance-member" in mocks.resources


@pulumi.runtime.test
def test_the_key_takes_its_expiry_from_its_rotation_schedule_and_nothing_is_pinned(mocks: RecordingMocks) -> Any:
    sa = build(settings(key_expiration=None, key_lifetime_days=90, rotate_before_days=30, key_generation=2))

    def check(_: Any) -> None:
        rotation = mocks.resources["ci-key-rotation"].inputs
        assert (rotation["lifetime_days"], rotation["rotate_before_days"], rotation["generation"]) == (90, 30, 2)
        assert rotation["account"] == "ci"
        # A new date from the schedule replaces the key: nothing may pin it.
        assert mocks.ignore_changes["ci-key"] == []
        assert mocks.resources["ci-key"].inputs["expirationDate"] == "2027-04-01T12:00:00Z"
        assert any(urn.endswith("::ci-key-rotation") for urn in mocks.links["ci-key"][1])

    return settled(sa).apply(check)


@pulumi.runtime.test
def test_the_key_summary_shows_expiry_days_left_and_rotation(mocks: RecordingMocks) -> Any:
    sa = build(settings())

    def check(key: Any) -> None:
        assert key == {
            "id": "k1",
            "expiresAt": "2027-01-01T00:00:00Z",
            "daysLeft": 30,
            "rotateAt": None,
            "rotationDue": False,
        }

    return sa.key.apply(check)


def test_former_names_become_aliases_of_the_component(mocks: RecordingMocks) -> None:
    build_all(settings(name="deployer", former_names=("ci", "builder")))
    aliases = mocks.aliases["deployer"]
    assert [alias.spec.name for alias in aliases] == ["ci", "builder"]


@pulumi.runtime.test
def test_an_org_declared_by_the_program_reaches_every_child_and_the_grants(mocks: RecordingMocks) -> Any:
    created_org = pulumi.Output.from_input("555000111")
    sa = build(settings(org_id=None, org="team-a"), org_id=created_org)

    def check(_: Any) -> None:
        for name in ("ci-user", "ci-key", "ci-org-member"):
            assert mocks.resources[name].inputs["orgId"] == "555000111", name
        proof = mocks.resources["ci-verification"].inputs
        assert proof["org_id"] == "555000111"
        assert proof["grants"] == [{"level": "org", "resource_id": "555000111", "roles": ["ORG_OWNER"]}]

    return settled(sa).apply(check)
