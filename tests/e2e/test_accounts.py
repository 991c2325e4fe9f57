"""Accounts come and go with the config: a new entry creates only its own resources, a removed entry's user,
key and grants are deleted from ZITADEL, `verification.enabled: false` declares accounts without proving them,
and `destroy` leaves nothing behind in ZITADEL."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.stacks import MACHINE_USER, VERIFICATION_TYPE, E2EStack, changed_lines
from tools.standin import StandIn


def account(standin: StandIn, name: str) -> dict[str, str]:
    return {"name": name, "orgId": standin.default_org_id, "userName": name}


def test_adding_and_removing_accounts_touches_only_those_accounts(standin: StandIn, tmp_path: Path) -> None:
    stack = E2EStack.create(tmp_path, "accounts", standin, [account(standin, "first")])
    stack.cli.up(label="up: one account")
    first = stack.user("first")
    assert first is not None

    stack.configure_accounts([account(standin, "first"), account(standin, "second")])
    added = stack.cli.up(label="up: second account added").output
    changes = changed_lines(added)
    assert changes, added[-2000:]
    assert all(" second" in line for line in changes), changes
    assert stack.user("first") == first
    assert stack.user("second") is not None

    stack.configure_accounts([account(standin, "second")])
    removed = stack.cli.up(label="up: first account removed").output
    assert all(" first" in line and line.startswith("-") for line in changed_lines(removed)), removed[-2000:]
    assert stack.user("first") is None
    assert [m for m in standin.state()["memberships"] if m["userId"] == first["id"]] == []
    assert sorted(stack.cli.outputs()["serviceAccounts"]) == ["second"]
    stack.cli.drift_check(label="drift check after removal")


def test_destroy_removes_users_keys_and_grants_from_zitadel(standin: StandIn, tmp_path: Path) -> None:
    stack = E2EStack.create(tmp_path, "destroy", standin, [account(standin, "short-lived")])
    stack.cli.up(label="up before destroy")
    user = stack.user("short-lived")
    assert user is not None
    stack.cli.destroy()
    assert stack.user("short-lived") is None
    assert [m for m in standin.state()["memberships"] if m["userId"] == user["id"]] == []
    assert stack.cli.resources() == []


def test_verification_disabled_declares_accounts_without_proving_them(standin: StandIn, tmp_path: Path) -> None:
    stack = E2EStack.create(
        tmp_path, "unverified", standin, [account(standin, "unproven")], verification={"enabled": False}
    )
    stack.cli.up(label="up without verification")
    in_state = stack.types_in_state()
    assert in_state.get(MACHINE_USER) == 1
    assert VERIFICATION_TYPE not in in_state
    outputs = stack.cli.outputs()["serviceAccounts"]["unproven"]
    assert outputs["verified"] is None
    assert outputs["userId"] == stack.user("unproven")["id"]  # type: ignore[index]
    stack.cli.drift_check(label="drift check without verification")
