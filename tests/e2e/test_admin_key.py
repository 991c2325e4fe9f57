"""Replacing the provider's admin key (docs/operations.md, "Replacing the provider's admin key").

The provider's configuration, admin key included, is stored in the state, and a plain refresh reads with that
stored copy: once the old key is deleted in ZITADEL, `pulumi preview --refresh` fails every read ("failed to get
user") until a `pulumi up` stores the new configuration. The documented drift job and repair pass `--run-program`,
so they read with the stack config of today. Each test has a stand-in of its own: it deletes that instance's admin
key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stacks import E2EStack, serving
from tests.e2e.test_management_faults import pipeline
from tools.pulumi_cli import EXIT_DRIFT, EXIT_FAILED
from tools.standin import StandIn, StandInError


@pytest.fixture
def own_standin() -> Iterator[StandIn]:
    with serving(StandIn(), StandInError, "the ZITADEL stand-in") as server:
        yield server


def deployed(standin: StandIn, directory: Path, name: str) -> E2EStack:
    accounts: list[dict[str, Any]] = [{"name": "ci", "orgId": standin.default_org_id, "userName": f"{name}-ci"}]
    stack = E2EStack.create(directory, name, standin, accounts)
    stack.cli.up(label="up from empty")
    return stack


def test_admin_key_replaced_in_config_keeps_the_drift_check_and_the_repair_working(
    own_standin: StandIn, tmp_path: Path
) -> None:
    standin = own_standin
    stack = deployed(standin, tmp_path, "adminkey")
    cli = stack.cli
    old_key_id = json.loads(standin.admin_key_path.read_text())["keyId"]

    # 1-3 of the procedure: a new key of the same admin user, into the config as a secret, the old key deleted.
    new_key = standin.add_machine_key(standin.default_org_id, standin.admin_user_id)
    cli.run("config", "rm", "zitadel:jwtProfileFile", label="config rm jwtProfileFile")
    cli.config_set("zitadel:jwtProfileJson", new_key, secret=True)
    standin.remove_key(standin.admin_user_id, old_key_id)

    # Why the procedure needs --run-program: a plain refresh reads with the dead key stored in the state.
    plain = cli.preview("--refresh", "--expect-no-changes", label="plain refresh, stored key", expect=(EXIT_FAILED,))
    assert "failed to get user" in plain.output, plain.output[-3000:]

    cli.drift_check(label="drift check with the new admin key")
    user = stack.user("adminkey-ci")
    assert user is not None
    standin.remove_org_member(standin.default_org_id, str(user["id"]))
    drifted = cli.drift_check(label="drift check: membership removed", expect=(EXIT_DRIFT,))
    assert "ci-org-member create" in drifted.output, drifted.output[-3000:]
    cli.up("--refresh", label="repair with the new admin key")
    assert stack.memberships(str(user["id"]))[("org", standin.default_org_id)] == ["ORG_OWNER"]
    cli.drift_check(label="drift check after the repair")
    pipeline(stack, "drift-check", label="zitadel-bootstrap run drift-check with the new admin key")

    secret = json.loads(new_key)["key"].splitlines()[3]
    assert all(secret not in run.output for run in cli.runs), "the new admin key leaked into a command's output"
    assert secret not in cli.stack_file.read_text(), "the new admin key is in the stack file in plaintext"


def test_admin_key_that_is_dead_in_the_config_fails_the_drift_check_at_once_naming_the_setting_and_the_fix(
    own_standin: StandIn, tmp_path: Path
) -> None:
    standin = own_standin
    stack = deployed(standin, tmp_path, "deadkey")
    standin.remove_key(standin.admin_user_id, json.loads(standin.admin_key_path.read_text())["keyId"])

    started = time.monotonic()
    done = pipeline(stack, "drift-check", label="run drift-check, admin key deleted", expect=(EXIT_FAILED,))
    seconds = time.monotonic() - started
    assert "zitadel:jwtProfileFile" in done.output, done.output[-3000:]
    assert "is no longer valid in ZITADEL" in done.output
    assert "add a new key to that admin user" in done.output
    assert "rerun the job later" not in done.output, "a dead key is not an outage"
    assert len([line for line in done.output.splitlines() if line.startswith("Previewing update")]) == 1, (
        "a configuration error is not run again"
    )
    assert seconds < 60, f"took {seconds:.0f} s"
