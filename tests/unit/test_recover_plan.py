"""The recovery's decisions (zitadel_bootstrap.cli.recover.plan), from a state export and ZITADEL listings alone:
what it adopts, deletes, clears and leaves. Pure: no engine, no network."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from zitadel_bootstrap.cli.recover.model import (
    INSTANCE_MEMBER,
    MACHINE_KEY,
    MACHINE_USER,
    ORG,
    ORG_MEMBER,
    PROJECT_GRANT_MEMBER,
    PROJECT_MEMBER,
    SERVICE_ACCOUNT,
    Observation,
    Plan,
    StackState,
    ZitadelKey,
    ZitadelMember,
    ZitadelOrg,
    ZitadelUser,
)
from zitadel_bootstrap.cli.recover.plan import account_targets, decide, org_targets, resolve_org_ids
from zitadel_bootstrap.cli.recover.stackstate import parse_export
from zitadel_bootstrap.config import Settings, parse_settings

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
STACK = "prod"
PROJECT = "zitadel-bootstrap"
ORG_ID = "300000000000000001"
USER_ID = "300000000000000101"
OTHER_USER_ID = "300000000000000102"
KEY_ID = "300000000000000201"
ORPHAN_KEY_ID = "300000000000000202"
PROJECT_ID = "300000000000000301"
GRANT_ID = "300000000000000401"
PROVIDER_URN = (
    f"urn:pulumi:{STACK}::{PROJECT}::pulumi:providers:zitadel::default_0_2_0_github_/api.github.com/pulumiverse"
)
PROVIDER_REF = f"{PROVIDER_URN}::5a7d1f4c-0000-4000-8000-000000000000"
STACK_URN = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"
SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:abc"}


def urn(type_: str, name: str, *, child: bool = True) -> str:
    qualified = f"{SERVICE_ACCOUNT}${type_}" if child else type_
    return f"urn:pulumi:{STACK}::{PROJECT}::{qualified}::{name}"


def component(name: str) -> dict[str, Any]:
    return {"urn": urn(SERVICE_ACCOUNT, name, child=False), "type": SERVICE_ACCOUNT, "parent": STACK_URN}


def child(type_: str, name: str, id_: str = "", /, **inputs: Any) -> dict[str, Any]:
    """A resource of an account's component, as `pulumi stack export` prints it."""
    resource: dict[str, Any] = {
        "urn": urn(type_, name),
        "custom": True,
        "type": type_,
        "inputs": inputs,
        "parent": urn(SERVICE_ACCOUNT, name.split("-", 1)[0], child=False),  # account names here are one word
        "provider": PROVIDER_REF,
    }
    if id_:
        resource["id"] = id_
    return resource


def base_resources(*accounts: str) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = [
        {"urn": STACK_URN, "type": "pulumi:pulumi:Stack"},
        {"urn": PROVIDER_URN, "type": "pulumi:providers:zitadel", "id": PROVIDER_REF.rsplit("::", 1)[-1]},
    ]
    resources += [component(name) for name in accounts]
    return resources


def export(resources: list[dict[str, Any]], pending: Sequence[tuple[str, dict[str, Any]]] = ()) -> StackState:
    document = {
        "version": 3,
        "deployment": {
            "manifest": {"version": "v3.274.1"},
            "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:x"}},
            "resources": resources,
            "pending_operations": [{"resource": r, "type": kind} for kind, r in pending],
        },
    }
    return parse_export(document, stack=STACK, project=PROJECT)


def settings(*accounts: dict[str, Any], organizations: list[dict[str, Any]] | None = None) -> Settings:
    project: dict[str, Any] = {"serviceAccounts": list(accounts)}
    if organizations:
        project["organizations"] = organizations
    return parse_settings(project, {"domain": "acme.zitadel.cloud", "jwtProfileFile": "admin.json"}, now=NOW)


def account(name: str = "ci", **more: Any) -> dict[str, Any]:
    return {"name": name, "orgId": ORG_ID, "userName": f"{name}-bot", **more}


def user_inputs(name: str = "ci") -> dict[str, Any]:
    return {"orgId": ORG_ID, "userName": f"{name}-bot", "name": f"{name}-bot", "withSecret": False}


def seen(
    users: dict[tuple[str, str], tuple[ZitadelUser, ...]] | None = None,
    keys: dict[str, tuple[ZitadelKey, ...]] | None = None,
    members: dict[tuple[str, str], ZitadelMember] | None = None,
    orgs: dict[str, tuple[ZitadelOrg, ...]] | None = None,
) -> Observation:
    return Observation(users=users or {}, keys=keys or {}, members=members or {}, orgs=orgs or {})


def ci_user(user_id: str = USER_ID) -> dict[tuple[str, str], tuple[ZitadelUser, ...]]:
    return {(ORG_ID, "ci-bot"): (ZitadelUser(user_id, ORG_ID, "ci-bot", "USER_STATE_ACTIVE"),)}


def plan_for(config: Settings, state: StackState, observation: Observation, *, adopt_unknown: bool = False) -> Plan:
    orgs = org_targets(config, state)
    accounts, strays = account_targets(config, state, resolve_org_ids(config, state, observation))
    return decide(state, orgs, accounts, strays, observation, adopt_unknown=adopt_unknown)


def verbs(plan: Plan) -> list[str]:
    return [action.verb for action in plan.actions]


# --- users ---------------------------------------------------------------------------------------------------------


def test_a_user_an_interrupted_create_left_is_adopted_at_the_declared_urn() -> None:
    state = export(base_resources("ci"), [("creating", child(MACHINE_USER, "ci-user", **user_inputs()))])
    plan = plan_for(settings(account()), state, seen(users=ci_user(), keys={USER_ID: ()}))
    assert verbs(plan) == ["adopt", "clear"]
    (adoption,) = plan.adoptions
    assert adoption.type_token == MACHINE_USER
    assert adoption.name == "ci-user"
    assert adoption.import_id == f"{USER_ID}:false:{ORG_ID}"
    assert adoption.parent == urn(SERVICE_ACCOUNT, "ci", child=False)
    assert adoption.provider == PROVIDER_URN, "a provider reference's ::<id> is not part of the URN"
    assert plan.deletions == ()
    assert plan.unresolved == ()
    assert "created by the interrupted run" in plan.actions[0].line
    assert "its user 300000000000000101 is adopted" in plan.actions[1].line


def test_adopted_user_orphan_key_is_deleted_and_its_membership_adopted() -> None:
    state = export(
        base_resources("ci"),
        [
            ("creating", child(MACHINE_USER, "ci-user", **user_inputs())),
        ],
    )
    observation = seen(
        users=ci_user(),
        keys={USER_ID: (ZitadelKey(ORPHAN_KEY_ID, USER_ID),)},
        members={(USER_ID, "ci-org-member"): ZitadelMember(USER_ID, ("ORG_OWNER",))},
    )
    plan = plan_for(settings(account()), state, observation)
    assert verbs(plan) == ["adopt", "delete", "adopt", "clear"]
    (deletion,) = plan.deletions
    assert (deletion.what, deletion.user_id, deletion.key_id, deletion.org_id) == (
        "key",
        USER_ID,
        ORPHAN_KEY_ID,
        ORG_ID,
    )
    member = plan.adoptions[1]
    assert (member.type_token, member.name, member.import_id) == (ORG_MEMBER, "ci-org-member", f"{USER_ID}:{ORG_ID}")
    assert "its key file was never recorded" in plan.actions[1].line


def test_keys_and_members_of_a_user_in_the_state_after_a_killed_key_and_member_create() -> None:
    """The SIGKILL while keys and members are created: the user is in the state, the key and the membership exist
    in ZITADEL with pending creates in the checkpoint."""
    resources = [*base_resources("ci"), child(MACHINE_USER, "ci-user", USER_ID, **user_inputs())]
    key_op = child(MACHINE_KEY, "ci-key", orgId=ORG_ID, userId=USER_ID, keyType="KEY_TYPE_JSON")
    member_op = child(ORG_MEMBER, "ci-org-member", orgId=ORG_ID, userId=USER_ID, roles=["ORG_OWNER"])
    state = export(resources, [("creating", key_op), ("creating", member_op)])
    observation = seen(
        users=ci_user(),
        keys={USER_ID: (ZitadelKey(ORPHAN_KEY_ID, USER_ID),)},
        members={(USER_ID, "ci-org-member"): ZitadelMember(USER_ID, ("ORG_OWNER",))},
    )
    plan = plan_for(settings(account()), state, observation)
    assert verbs(plan) == ["ok", "delete", "adopt", "clear", "clear"]
    assert [d.key_id for d in plan.deletions] == [ORPHAN_KEY_ID]
    assert [a.name for a in plan.adoptions] == ["ci-org-member"]
    assert plan.unresolved == ()
    assert "the key it made is deleted" in plan.actions[3].line


def test_a_user_in_the_state_keeps_its_recorded_key_and_loses_only_unrecorded_ones() -> None:
    resources = [
        *base_resources("ci"),
        child(MACHINE_USER, "ci-user", USER_ID, **user_inputs()),
        child(MACHINE_KEY, "ci-key", KEY_ID, orgId=ORG_ID, userId=USER_ID, keyDetails=SECRET),
        child(ORG_MEMBER, "ci-org-member", f"{ORG_ID}_{USER_ID}", orgId=ORG_ID, userId=USER_ID, roles=["ORG_OWNER"]),
    ]
    observation = seen(
        users=ci_user(),
        keys={USER_ID: (ZitadelKey(KEY_ID, USER_ID), ZitadelKey(ORPHAN_KEY_ID, USER_ID))},
        members={(USER_ID, "ci-org-member"): ZitadelMember(USER_ID, ("ORG_OWNER",))},
    )
    plan = plan_for(settings(account()), export(resources), observation)
    assert verbs(plan) == ["ok", "ok", "delete", "ok"]
    assert [d.key_id for d in plan.deletions] == [ORPHAN_KEY_ID]
    assert plan.adoptions == ()
    assert not plan.pending_to_clear


def test_a_user_the_stack_did_not_create_is_left_never_deleted() -> None:
    plan = plan_for(
        settings(account()),
        export(base_resources("ci")),
        seen(users=ci_user(), keys={USER_ID: (ZitadelKey(ORPHAN_KEY_ID, USER_ID),)}),
    )
    assert verbs(plan) == ["leave"]
    assert plan.deletions == ()
    assert plan.adoptions == ()
    assert plan.actions[0].needs_human
    assert "AlreadyExists" in plan.actions[0].line
    assert "--adopt-unknown" in plan.actions[0].line


def test_adopt_unknown_imports_the_user_and_keeps_its_keys() -> None:
    observation = seen(
        users=ci_user(),
        keys={USER_ID: (ZitadelKey(ORPHAN_KEY_ID, USER_ID),)},
        members={(USER_ID, "ci-org-member"): ZitadelMember(USER_ID, ("ORG_OWNER",))},
    )
    plan = plan_for(settings(account()), export(base_resources("ci")), observation, adopt_unknown=True)
    assert verbs(plan) == ["adopt", "keep", "adopt"]
    assert plan.deletions == ()
    assert "--adopt-unknown" in plan.actions[0].line
    assert not any(a.needs_human for a in plan.actions)


def test_a_user_cannot_be_adopted_without_its_component_in_the_state() -> None:
    state = export([{"urn": STACK_URN, "type": "pulumi:pulumi:Stack"}])
    plan = plan_for(settings(account()), state, seen(users=ci_user()), adopt_unknown=True)
    assert verbs(plan) == ["leave"]
    assert "run `pulumi up` once" in plan.actions[0].line


def test_the_state_holding_another_user_at_the_urn_is_left_to_a_person() -> None:
    resources = [*base_resources("ci"), child(MACHINE_USER, "ci-user", OTHER_USER_ID, **user_inputs())]
    state = export(resources, [("creating", child(MACHINE_USER, "ci-user", **user_inputs()))])
    plan = plan_for(settings(account()), state, seen(users=ci_user()))
    assert verbs(plan) == ["leave", "clear"]
    assert OTHER_USER_ID in plan.actions[0].line
    assert plan.adoptions == ()
    assert plan.deletions == ()


def test_a_user_created_for_an_account_no_longer_configured_is_deleted() -> None:
    """Provably this stack's (a pending create of its user resource), and the config no longer wants it."""
    state = export(base_resources("ci", "old"), [("creating", child(MACHINE_USER, "old-user", **user_inputs("old")))])
    observation = seen(users={(ORG_ID, "old-bot"): (ZitadelUser(OTHER_USER_ID, ORG_ID, "old-bot"),)})
    plan = plan_for(settings(account()), state, observation)
    assert verbs(plan) == ["delete", "clear"]
    (deletion,) = plan.deletions
    assert (deletion.what, deletion.user_id, deletion.org_id) == ("user", OTHER_USER_ID, ORG_ID)
    assert "no longer in the config" in plan.actions[0].line


def test_user_names_match_ignoring_case() -> None:
    state = export(base_resources("ci"), [("creating", child(MACHINE_USER, "ci-user", **user_inputs()))])
    config = settings(account(userName="CI-Bot"))
    plan = plan_for(config, state, seen(users={(ORG_ID, "ci-bot"): (ZitadelUser(USER_ID, ORG_ID, "CI-Bot"),)}))
    assert verbs(plan) == ["adopt", "clear"]


# --- pending operations --------------------------------------------------------------------------------------------


def test_a_create_that_never_reached_zitadel_is_only_cleared_and_reported_unresolved() -> None:
    state = export(base_resources("ci"), [("creating", child(MACHINE_USER, "ci-user", **user_inputs()))])
    plan = plan_for(settings(account()), state, seen())
    assert verbs(plan) == ["clear"]
    assert "nothing of it was found in ZITADEL" in plan.actions[0].line
    assert [op.resource.name for op in plan.unresolved] == ["ci-user"]


def test_dynamic_resources_and_other_operations_are_cleared_without_looking() -> None:
    resources = [
        *base_resources("ci"),
        child(MACHINE_USER, "ci-user", USER_ID, **user_inputs()),
        child(MACHINE_KEY, "ci-key", KEY_ID, orgId=ORG_ID, userId=USER_ID),
    ]
    verification = child("zitadel-bootstrap:index:JwtBearerVerification", "ci-verification")
    rotation = child("zitadel-bootstrap:index:KeyRotation", "ci-key-rotation")
    deleting = child(MACHINE_KEY, "ci-key", KEY_ID, orgId=ORG_ID, userId=USER_ID)
    state = export(resources, [("creating", verification), ("updating", rotation), ("deleting", deleting)])
    plan = plan_for(settings(account()), state, seen(users=ci_user(), keys={USER_ID: (ZitadelKey(KEY_ID, USER_ID),)}))
    assert verbs(plan) == ["ok", "ok", "clear", "clear", "clear"]
    assert "no object outside the stack" in plan.actions[2].line
    assert "stays in the state" in plan.actions[3].line
    assert plan.unresolved == ()
    assert plan.deletions == ()


def test_a_pending_member_create_the_config_no_longer_declares_is_deleted() -> None:
    resources = [*base_resources("ci"), child(MACHINE_USER, "ci-user", USER_ID, **user_inputs())]
    stray = child(PROJECT_MEMBER, f"ci-project-member-{PROJECT_ID}", orgId=ORG_ID, projectId=PROJECT_ID, userId=USER_ID)
    state = export(resources, [("creating", stray)])
    observation = seen(
        users=ci_user(),
        members={(USER_ID, f"ci-project-member-{PROJECT_ID}"): ZitadelMember(USER_ID, ("PROJECT_OWNER",))},
    )
    plan = plan_for(settings(account()), state, observation)
    assert verbs(plan) == ["ok", "delete", "clear"]
    (deletion,) = plan.deletions
    assert deletion.what == "member"
    assert deletion.member is not None
    assert (deletion.member.kind, deletion.member.project_id, deletion.user_id) == ("project", PROJECT_ID, USER_ID)
    assert "no longer declares" in plan.actions[1].line


def test_a_membership_held_under_a_former_name_is_not_adopted_again() -> None:
    """A renamed account (formerNames): the state holds its resources under the old names."""
    old_parent = urn(SERVICE_ACCOUNT, "ci", child=False)
    member = child(
        ORG_MEMBER, "ci-org-member", f"{ORG_ID}_{USER_ID}", orgId=ORG_ID, userId=USER_ID, roles=["ORG_OWNER"]
    )
    member["parent"] = old_parent
    resources = [*base_resources("ci", "deployer"), child(MACHINE_USER, "ci-user", USER_ID, **user_inputs()), member]
    config = settings(account("deployer", userName="ci-bot", formerNames=["ci"]))
    observation = seen(
        users=ci_user(), members={(USER_ID, "deployer-org-member"): ZitadelMember(USER_ID, ("ORG_OWNER",))}
    )
    plan = plan_for(config, export(resources), observation)
    assert verbs(plan) == ["ok", "ok"]


@pytest.mark.parametrize(
    ("config", "resource", "type_", "import_id"),
    [
        ({"instanceRoles": ["IAM_OWNER_VIEWER"], "roles": []}, "ci-instance-member", INSTANCE_MEMBER, USER_ID),
        (
            {"projectRoles": [{"projectId": PROJECT_ID, "roles": ["PROJECT_OWNER"]}], "roles": []},
            f"ci-project-member-{PROJECT_ID}",
            PROJECT_MEMBER,
            f"{PROJECT_ID}:{USER_ID}:{ORG_ID}",
        ),
        (
            {
                "projectGrantRoles": [{"projectId": PROJECT_ID, "grantId": GRANT_ID, "roles": ["PROJECT_GRANT_OWNER"]}],
                "roles": [],
            },
            f"ci-project-grant-member-{GRANT_ID}",
            PROJECT_GRANT_MEMBER,
            f"{PROJECT_ID}:{GRANT_ID}:{USER_ID}:{ORG_ID}",
        ),
    ],
    ids=["instance", "project", "project-grant"],
)
def test_every_member_kind_is_adopted_with_the_provider_s_import_id(
    config: dict[str, Any], resource: str, type_: str, import_id: str
) -> None:
    resources = [*base_resources("ci"), child(MACHINE_USER, "ci-user", USER_ID, **user_inputs())]
    observation = seen(users=ci_user(), members={(USER_ID, resource): ZitadelMember(USER_ID, ("X",))})
    plan = plan_for(settings(account(**config)), export(resources), observation)
    assert verbs(plan) == ["ok", "adopt"]
    (adoption,) = plan.adoptions
    assert (adoption.type_token, adoption.name, adoption.import_id) == (type_, resource, import_id)


# --- organizations -------------------------------------------------------------------------------------------------


def org_config() -> Settings:
    return settings(
        {"name": "ci", "org": "platform", "userName": "ci-bot"},
        organizations=[{"name": "platform", "displayName": "Platform Team"}],
    )


def pending_org_create() -> dict[str, Any]:
    """The Org resource "platform" as a create the CLI began and never finished."""
    return {
        "urn": urn(ORG, "platform", child=False),
        "type": ORG,
        "inputs": {"name": "Platform Team"},
        "parent": STACK_URN,
        "provider": PROVIDER_REF,
    }


def test_an_org_an_interrupted_create_left_is_adopted_and_its_accounts_looked_up_in_it() -> None:
    state = export(base_resources("ci"), [("creating", pending_org_create())])
    config = org_config()
    assert [t.display_name for t in org_targets(config, state)] == ["Platform Team"]
    observation = seen(orgs={"Platform Team": (ZitadelOrg(ORG_ID, "Platform Team"),)})
    assert resolve_org_ids(config, state, observation) == {"platform": ORG_ID}
    plan = plan_for(config, state, observation)
    assert verbs(plan) == ["adopt", "clear"]
    (adoption,) = plan.adoptions
    assert (adoption.type_token, adoption.name, adoption.import_id, adoption.parent) == (
        ORG,
        "platform",
        ORG_ID,
        STACK_URN,
    )


def test_two_orgs_of_the_declared_name_are_left_to_a_person() -> None:
    state = export(base_resources("ci"), [("creating", pending_org_create())])
    twins = (ZitadelOrg(ORG_ID, "Platform Team"), ZitadelOrg("300000000000000009", "Platform Team"))
    plan = plan_for(org_config(), state, seen(orgs={"Platform Team": twins}))
    assert verbs(plan) == ["leave", "clear"]
    assert plan.adoptions == ()


def test_accounts_of_an_org_that_does_not_exist_are_not_looked_up() -> None:
    accounts, strays = account_targets(org_config(), export(base_resources("ci")), {})
    assert (accounts, strays) == ([], [])
