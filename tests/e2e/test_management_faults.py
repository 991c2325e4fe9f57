"""Faults of ZITADEL's management and admin gRPC APIs while the plugin creates, refreshes and destroys accounts.

What the plugin (terraform-provider-zitadel v1.2.0 on zitadel-go v2.1.8, grpc-go v1.61.0) does, as these tests
show it against the stand-in's fault control:

- It never retries: no retry interceptor, no gRPC service config, and the provider code calls each method once.
  Unavailable, ResourceExhausted (its RetryInfo detail is not read) and DeadlineExceeded fail the resource at
  once: `pulumi up` exits 1 naming the resource and ZITADEL's gRPC error, and the state keeps what was done.
- It sets no deadline of its own on a call: the only one is terraform-plugin-sdk's 20-minute default timeout per
  create/read/update/delete (the resources declare no Timeouts, and the program sets no customTimeouts), so a
  slow answer is waited for. A deadline that runs out shows as `code = DeadlineExceeded`, as a proxy's 504 does.
- On refresh it drops ZITADEL's error: a failed read says only "failed to get user" (or "... list org members",
  "... get machine key", "... list instance members"), with the resource's URN.

Every failure here leaves ZITADEL and the state in step (nothing orphaned or lost), and a rerun converges with one
user per user name and no extra key or membership. `zitadel-bootstrap run` reruns transient failures itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from zitadel_bootstrap.cli.diagnosis import resource_errors

from tests.e2e.reliability import scenario
from tests.e2e.stacks import INSTANCE_MEMBER, MACHINE_KEY, MACHINE_USER, ORG_MEMBER, E2EStack
from tools.pulumi_cli import EXIT_FAILED, OPERATIONS_COMMAND, REPO, CommandRun, PulumiCliError
from tools.standin import StandIn

MGMT = "/zitadel.management.v1.ManagementService/"
ADMIN = "/zitadel.admin.v1.AdminService/"
UNAVAILABLE = "code = Unavailable desc = fault injected by stand-in: Service Unavailable"
EXHAUSTED = "code = ResourceExhausted desc = fault injected by stand-in: Too Many Requests"
GATEWAY_TIMEOUT = "code = DeadlineExceeded desc = fault injected by stand-in: Gateway Timeout"


def account(standin: StandIn, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "orgId": standin.default_org_id, "userName": name, **extra}


def pipeline(stack: E2EStack, *args: str, expect: tuple[int, ...] = (0,), label: str = "") -> CommandRun:
    """`zitadel-bootstrap run <args> --stack <stack>` in the stack's project directory, as a pipeline runs it."""
    words = list(args) if args[0] == "adopt-user" else ["run", *args]
    argv = [str(OPERATIONS_COMMAND), *words, "--stack", stack.cli.stack]
    env = {**stack.cli.env(), "PYTHONPATH": str(REPO)}
    start = time.monotonic()
    done = subprocess.run(
        argv,
        cwd=stack.cli.project_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    run = CommandRun(
        label or f"pipeline {args[0]}",
        ("zitadel-bootstrap", *words),
        done.returncode,
        time.monotonic() - start,
        done.stdout,
    )
    stack.cli.runs.append(run)
    if run.returncode not in expect:
        raise PulumiCliError(run, expect)
    return run


def failed_resources(run: CommandRun) -> dict[str, str]:
    """resource (``type (name)``) -> its error text, from the run's diagnostics."""
    return {error.resource: error.message for error in resource_errors(run.output)}


def pipeline_lines(run: CommandRun) -> list[str]:
    """The first line of each of the wrapper's own messages."""
    return [line for line in run.output.splitlines() if line.startswith("pipeline: ")]


def last_message(run: CommandRun) -> str:
    """The wrapper's last message, whole (its error lines and way out follow its first line)."""
    return run.output[run.output.rindex("pipeline: ") :]


def planned(output: str) -> list[str]:
    """The resources a preview plans to change, as ``<step> <name>``."""
    steps = "create|update|replace|delete"
    return [
        f"{m['step']} {m['name']}"
        for m in re.finditer(rf"^\s*[-+~]+\s+\S+:\S+\s+(?P<name>\S+)\s+(?P<step>{steps})\b", output, re.M)
    ]


def holdings(stack: E2EStack, *, complete: bool = True) -> str:
    """Check that ZITADEL (the stand-in) holds exactly what the stack's state holds for each configured account:
    at most one user per user name, the state's user, keys and memberships and no others. ``complete``: every
    account has its user, one key and its memberships. Returns a summary for the reliability report."""
    zitadel = stack.standin.state()
    users_in_state = {r["outputs"]["userName"]: r["id"] for r in stack.cli.resources(MACHINE_USER)}
    keys_in_state = [r for r in stack.cli.resources(MACHINE_KEY)]
    members_in_state = [("org", r) for r in stack.cli.resources(ORG_MEMBER)]
    members_in_state += [("iam", r) for r in stack.cli.resources(INSTANCE_MEMBER)]
    users = keys = members = 0
    for entry in stack.accounts:
        name = entry["userName"]
        found = [u for u in zitadel["users"] if u["userName"] == name and u["orgId"] == entry["orgId"]]
        assert len(found) <= 1, f"{len(found)} users named {name} in ZITADEL"
        if not found:
            assert name not in users_in_state, f"the state holds user {name}, which ZITADEL does not"
            assert not complete, f"ZITADEL holds no user {name}"
            continue
        user = found[0]
        assert users_in_state.get(name) == user["id"], f"ZITADEL's user {name} ({user['id']}) is not the state's"
        held_keys = {key["id"] for key in user["keys"]}
        state_keys = {r["id"] for r in keys_in_state if r["outputs"]["userId"] == user["id"]}
        assert held_keys == state_keys, f"{name}: keys in ZITADEL {held_keys}, in the state {state_keys}"
        held_members = {(m["kind"], m["targetId"]) for m in zitadel["memberships"] if m["userId"] == user["id"]}
        state_members = {
            (kind, r["outputs"]["orgId"] if kind == "org" else zitadel["instanceId"])
            for kind, r in members_in_state
            if r["outputs"]["userId"] == user["id"]
        }
        assert held_members == state_members, (
            f"{name}: memberships in ZITADEL {held_members}, in the state {state_members}"
        )
        if complete:
            expected = 1 + ("instanceRoles" in entry)
            assert (len(held_keys), len(held_members)) == (1, expected), f"{name}: not complete in ZITADEL"
        users, keys, members = users + 1, keys + len(held_keys), members + len(held_members)
    return f"{users} user(s), {keys} key(s), {members} membership(s), as in the state"


def assert_used_once(standin: StandIn) -> None:
    """The fault (count 1) was used up by one call: the plugin did not call again, or the call would have passed."""
    assert standin.state()["faults"] == [], "the fault was not used"


# -- create -----------------------------------------------------------------------------------------------------
CREATE_FAULTS = [
    pytest.param(
        MGMT + "AddMachineUser",
        {"status": 503},
        "zitadel:index:MachineUser ({}-user)",
        f"failed to create machine user: rpc error: {UNAVAILABLE}",
        id="unavailable",
    ),
    pytest.param(
        MGMT + "AddMachineKey",
        {"status": 429, "retry_after": 3},
        "zitadel:index:MachineKey ({}-key)",
        f"rpc error: {EXHAUSTED}",
        id="resource-exhausted-with-retry-info",
    ),
    pytest.param(
        ADMIN + "AddIAMMember",
        {"status": 503},
        "zitadel:index:InstanceMember ({}-instance-member)",
        f"failed to create instance member: rpc error: {UNAVAILABLE}",
        id="admin-unavailable",
    ),
    pytest.param(
        MGMT + "AddOrgMember",
        {"status": 504, "delay_ms": 1500},
        "zitadel:index:OrgMember ({}-org-member)",
        f"failed to create orgmember: rpc error: {GATEWAY_TIMEOUT}",
        id="deadline-exceeded",
    ),
]


@pytest.mark.parametrize(("method", "fault", "resource", "error"), CREATE_FAULTS)
def test_a_fault_while_creating_an_account_fails_up_by_resource_and_the_rerun_converges(
    clean_faults: StandIn, tmp_path: Path, method: str, fault: dict[str, Any], resource: str, error: str
) -> None:
    standin = clean_faults
    name = "create-" + method.rsplit("/", 1)[-1].lower()
    stack = E2EStack.create(tmp_path, name, standin, [account(standin, name, instanceRoles=["IAM_OWNER_VIEWER"])])
    with scenario(f"create: {fault.get('status')} on {method.removeprefix('/zitadel.')}") as record:
        standin.inject_fault(method, count=1, **fault)
        failed = stack.cli.up(label="up: fault while creating", expect=(EXIT_FAILED,))
        errors = failed_resources(failed)
        assert resource.format(name) in errors, failed.output[-3000:]
        assert error in errors[resource.format(name)]
        assert_used_once(standin)  # one call, no retry (a retry would have passed): RetryInfo is not honoured
        holdings(stack, complete=False)  # what was created is in the state, nothing else

        stack.cli.up(label="up: rerun after the fault")
        assert stack.cli.outputs()["serviceAccounts"][name]["verified"] is True
        record.outcome = f"failed at once ({resource.format(name)}: ...{error[-60:]}); rerun converged"
        record.found = holdings(stack)
    stack.cli.drift_check(label="drift check after the rerun")


def test_a_slow_answer_is_waited_for(clean_faults: StandIn, tmp_path: Path) -> None:
    standin = clean_faults
    stack = E2EStack.create(tmp_path, "slow-create", standin, [account(standin, "slow-create")])
    with scenario("create: AddMachineUser answers after 6 s") as record:
        standin.inject_fault(MGMT + "AddMachineUser", status=0, delay_ms=6000)
        done = stack.cli.up(label="up: slow AddMachineUser")
        assert done.seconds >= 6
        assert re.search(r"MachineUser slow-create-user created \(([6-9]|\d\d)s\)", done.output), done.output[-3000:]
        record.outcome = f"waited (no client deadline short of the SDK's 20 min); up took {done.seconds:.1f} s"
        record.found = holdings(stack)


# -- refresh (the drift check) ----------------------------------------------------------------------------------
REFRESH_FAULTS: list[tuple[str, dict[str, Any], str, str]] = [
    (MGMT + "GetUserByID", {"status": 503}, "zitadel:index:MachineUser ({}-user)", "failed to get user"),
    (
        MGMT + "ListOrgMembers",
        {"status": 429, "retry_after": 3},
        "zitadel:index:OrgMember ({}-org-member)",
        "failed to list org members",
    ),
    (
        ADMIN + "ListIAMMembers",
        {"status": 503},
        "zitadel:index:InstanceMember ({}-instance-member)",
        "failed to list instance members",
    ),
    (
        MGMT + "GetMachineKeyByIDs",
        {"status": 504, "delay_ms": 1500},
        "zitadel:index:MachineKey ({}-key)",
        "failed to get machine key",
    ),
]


def test_faults_during_the_drift_check_fail_it_by_resource_change_nothing_and_are_retried_by_the_pipeline(
    clean_faults: StandIn, tmp_path: Path
) -> None:
    standin = clean_faults
    name = "refreshed"
    stack = E2EStack.create(tmp_path, name, standin, [account(standin, name, instanceRoles=["IAM_OWNER_VIEWER"])])
    stack.cli.up(label="up before the refresh faults")
    deployed = stack.cli.checkpoint()["resources"]

    for method, fault, resource, error in REFRESH_FAULTS:
        with scenario(f"refresh: {fault['status']} on {method.removeprefix('/zitadel.')}") as record:
            standin.inject_fault(method, count=1, **fault)
            failed = stack.cli.drift_check(label="drift check: fault on a read", expect=(EXIT_FAILED,))
            errors = failed_resources(failed)
            assert resource.format(name) in errors, failed.output[-3000:]
            message = errors[resource.format(name)]
            assert f"refreshing urn:pulumi:{name}::" in message
            assert error in message
            assert "rpc error" not in message, "the plugin now reports ZITADEL's error on reads: update the docs"
            assert_used_once(standin)
            assert stack.cli.checkpoint()["resources"] == deployed, "a failed drift check changed the state"
            record.outcome = f"exit 1: {resource.format(name)}: {error} (ZITADEL's error not shown by the plugin)"
            record.found = holdings(stack)

    with scenario("refresh: GetMachineKeyByIDs answers after 5 s") as record:
        standin.inject_fault(MGMT + "GetMachineKeyByIDs", status=0, delay_ms=5000)
        slow = stack.cli.drift_check(label="drift check: slow read")
        assert slow.seconds >= 5
        record.outcome = f"waited; exit 0 after {slow.seconds:.1f} s"
        record.found = holdings(stack)

    with scenario("refresh: `up --refresh` meets Unavailable on GetUserByID") as record:
        standin.inject_fault(MGMT + "GetUserByID", status=503, count=1)
        failed = stack.cli.up("--refresh", label="up --refresh: fault on a read", expect=(EXIT_FAILED,))
        assert "failed to get user" in failed_resources(failed)[f"zitadel:index:MachineUser ({name}-user)"]
        assert "Updating (" not in failed.output, "the update started although its refresh failed"
        assert stack.cli.checkpoint()["resources"] == deployed
        record.outcome = "exit 1 in the refresh, before any change"
        record.found = holdings(stack)

    with scenario("refresh: the pipeline's drift check meets Unavailable, then ResourceExhausted") as record:
        standin.inject_fault(MGMT + "GetUserByID", status=503, count=1)
        standin.inject_fault(MGMT + "ListOrgMembers", status=429, count=1, retry_after=1)
        checked = pipeline(stack, "drift-check", "--retry-wait", "1", label="pipeline drift-check through faults")
        said = "\n".join(pipeline_lines(checked))
        assert "the drift check failed on attempt 1 of 3" in said, checked.output[-3000:]
        assert said.endswith("pipeline: no drift"), said
        record.outcome = f"retried by the pipeline; exit 0 ({said.count('failed on attempt')} failed check(s) first)"
        record.found = holdings(stack)


# -- destroy ----------------------------------------------------------------------------------------------------
def test_faults_during_destroy_fail_it_by_resource_and_the_rerun_finishes(
    clean_faults: StandIn, tmp_path: Path
) -> None:
    standin = clean_faults
    name = "destroyed"
    stack = E2EStack.create(tmp_path, name, standin, [account(standin, name, instanceRoles=["IAM_OWNER_VIEWER"])])
    stack.cli.up(label="up before the destroy faults")
    user_id = stack.cli.outputs()["serviceAccounts"][name]["userId"]

    with scenario("destroy: the admin API Unavailable (RemoveIAMMember)") as record:
        standin.inject_fault(ADMIN, status=503, count=-1)
        failed = stack.cli.destroy(label="destroy: admin API down", expect=(EXIT_FAILED,))
        standin.clear_faults()
        errors = failed_resources(failed)
        resource = f"zitadel:index:InstanceMember ({name}-instance-member)"
        assert f"failed to delete instance member: rpc error: {UNAVAILABLE}" in errors[resource], failed.output[-3000:]
        # The key and the org membership went (from ZITADEL and the state); the user waits for its last grant.
        assert {r["type"] for r in stack.cli.resources()} >= {MACHINE_USER, INSTANCE_MEMBER}
        assert MACHINE_KEY not in {r["type"] for r in stack.cli.resources()}
        record.outcome = f"exit 1: {resource}: failed to delete instance member: rpc error: {UNAVAILABLE}"
        record.found = holdings(stack, complete=False)

    with scenario("destroy: ResourceExhausted with RetryInfo on RemoveUser") as record:
        standin.inject_fault(MGMT + "RemoveUser", status=429, count=1, retry_after=3)
        failed = stack.cli.destroy(label="destroy: RemoveUser throttled", expect=(EXIT_FAILED,))
        resource = f"zitadel:index:MachineUser ({name}-user)"
        assert f"failed to delete user: rpc error: {EXHAUSTED}" in failed_resources(failed)[resource]
        assert_used_once(standin)
        assert [r["type"] for r in stack.cli.resources() if r["type"].startswith("zitadel:index")] == [MACHINE_USER]
        record.outcome = f"exit 1: {resource}: failed to delete user: rpc error: {EXHAUSTED}"
        record.found = holdings(stack, complete=False)

    with scenario("destroy: Unavailable once on RemoveUser (pipeline destroy)") as record:
        standin.inject_fault(MGMT + "RemoveUser", status=503, count=1)
        done = pipeline(stack, "destroy", "--retry-wait", "1", label="pipeline destroy through a fault")
        assert f"failed to delete user: rpc error: {UNAVAILABLE}" in done.output
        assert pipeline_lines(done)[-1] == "pipeline: `pulumi destroy` succeeded on attempt 2", done.output[-3000:]
        assert stack.cli.resources() == []
        assert stack.user(name) is None
        assert [m for m in standin.state()["memberships"] if m["userId"] == user_id] == []
        record.outcome = "attempt 1 failed on the user; the pipeline's second run finished the destroy"
        record.found = "ZITADEL holds no user, key or membership of the account; the state is empty"


def test_a_slow_remove_is_waited_for(clean_faults: StandIn, tmp_path: Path) -> None:
    standin = clean_faults
    stack = E2EStack.create(tmp_path, "slow-destroy", standin, [account(standin, "slow-destroy")])
    stack.cli.up(label="up before a slow destroy")
    with scenario("destroy: RemoveUser answers after 5 s") as record:
        standin.inject_fault(MGMT + "RemoveUser", status=0, delay_ms=5000)
        done = stack.cli.destroy(label="destroy: slow RemoveUser")
        assert done.seconds >= 5
        assert stack.user("slow-destroy") is None
        record.outcome = f"waited; destroy took {done.seconds:.1f} s"
        record.found = "ZITADEL holds nothing of the account; the state is empty"


# -- the pipeline wrapper ---------------------------------------------------------------------------------------
def test_the_pipeline_runs_up_again_through_transient_faults(clean_faults: StandIn, tmp_path: Path) -> None:
    standin = clean_faults
    name = "retried"
    stack = E2EStack.create(tmp_path, name, standin, [account(standin, name)])
    with scenario("pipeline up: Unavailable on AddMachineUser, then ResourceExhausted on AddMachineKey") as record:
        standin.inject_fault(MGMT + "AddMachineUser", status=503, count=1)
        standin.inject_fault(MGMT + "AddMachineKey", status=429, count=1, retry_after=1)
        done = pipeline(stack, "up", "--retry-wait", "1", label="pipeline up through faults")
        said = pipeline_lines(done)
        assert "failed on attempt 1 of 3" in said[0]
        assert "code = Unavailable" in done.output
        assert any("failed on attempt 2 of 3" in line for line in said)
        assert "pipeline: `pulumi up` succeeded on attempt 3" in said, said
        assert "ok     retried: key" in done.output, "the recovery step did not run after the reruns"
        record.outcome = "two failed runs, retried by the pipeline; converged on the third"
        record.found = holdings(stack)
    stack.cli.drift_check(label="drift check after the pipeline's retries")


def test_the_pipeline_gives_up_clearly_when_zitadel_stays_unavailable(clean_faults: StandIn, tmp_path: Path) -> None:
    standin = clean_faults
    name = "given-up"
    stack = E2EStack.create(tmp_path, name, standin, [account(standin, name)])
    with scenario("pipeline up: the management API Unavailable throughout") as record:
        standin.inject_fault(MGMT, status=503, count=-1)
        failed = pipeline(stack, "up", "--attempts", "2", "--retry-wait", "1", expect=(EXIT_FAILED,))
        standin.clear_faults()
        last = pipeline_lines(failed)[-1]
        assert "`pulumi up` still failed after 2 attempt(s) with transient ZITADEL errors; giving up" in last
        assert (
            f"zitadel:index:MachineUser ({name}-user): failed to create machine user: rpc error: {UNAVAILABLE}"
            in failed.output
        )
        holdings(stack, complete=False)
        assert stack.user(name) is None

        pipeline(stack, "up", label="pipeline up after ZITADEL recovered")
        record.outcome = "exit 1 after 2 runs, naming the user and Unavailable; the next pipeline run converged"
        record.found = holdings(stack)


def test_a_lost_answer_to_add_machine_user_is_stopped_with_the_way_out_and_adopted(
    clean_faults: StandIn, tmp_path: Path
) -> None:
    standin = clean_faults
    name = "lost-answer"
    stack = E2EStack.create(tmp_path, name, standin, [account(standin, name)])
    with scenario("pipeline up: AddMachineUser's answer lost (Unavailable after the create)") as record:
        standin.inject_fault(MGMT + "AddMachineUser", status=503, count=1, after=True)
        failed = pipeline(stack, "up", "--retry-wait", "1", expect=(EXIT_FAILED,))
        assert "code = Unavailable" in failed.output  # attempt 1: looks transient
        user = stack.user(name)
        assert user is not None
        # Attempt 2: the preflight finds the user ZITADEL made and stops at the preview, naming the way out.
        assert "AlreadyExists desc" not in failed.output, "attempt 2 must stop at its preview"
        last = last_message(failed)
        assert "not retried" in last, last
        assert f"ZITADEL holds a user named {name!r} in org {standin.default_org_id} already" in last, last
        assert f"zitadel-bootstrap adopt-user --stack {name} {name} {user['id']}" in last, last
        assert MACHINE_USER not in stack.types_in_state()  # orphaned until adopted

        # The way out, here with the id given (from the console; without it adopt-user searches ZITADEL).
        pipeline(stack, "adopt-user", name, user["id"], label="pipeline adopt-user")
        pipeline(stack, "up", label="pipeline up after adopting")
        assert stack.cli.outputs()["serviceAccounts"][name]["userId"] == user["id"]
        record.outcome = "attempt 2 stopped at its preview naming adopt-user; adopt-user + up converged"
        record.found = holdings(stack)
    stack.cli.drift_check(label="drift check after adopting")


def test_a_lost_answer_to_add_machine_key_is_rerun_and_the_undelivered_key_removed(
    clean_faults: StandIn, tmp_path: Path
) -> None:
    standin = clean_faults
    name = "lost-key"
    stack = E2EStack.create(tmp_path, name, standin, [account(standin, name)])
    with scenario("pipeline up: AddMachineKey's answer lost (Unavailable after the create)") as record:
        standin.inject_fault(MGMT + "AddMachineKey", status=503, count=1, after=True)
        done = pipeline(stack, "up", "--retry-wait", "1", label="pipeline up: lost key answer")
        assert f"zitadel:index:MachineKey ({name}-key): rpc error: {UNAVAILABLE}" in done.output
        assert "pipeline: `pulumi up` succeeded on attempt 2" in pipeline_lines(done)
        # The first key's file was in the lost answer: the recovery step removes that key from ZITADEL.
        assert re.search(rf"delete +{name}: key \d+ of user \d+: not in the state", done.output), done.output[-3000:]
        record.outcome = "attempt 2 converged with a second key; the recovery step deleted the undelivered first key"
        record.found = holdings(stack)
    stack.cli.drift_check(label="drift check after the lost key answer")


def test_pipeline_refuses_bad_usage(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(OPERATIONS_COMMAND), "run", "up", "--attempts", "0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "--attempts must be at least 1" in done.stderr
