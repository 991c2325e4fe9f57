"""An interrupted `pulumi up` of the real program: SIGINT (Ctrl-C) and SIGKILL (a CI runner's death) at three points,
each followed by what the README says to do, ending converged.

The points, made to last by the stand-in so that the signal lands there:
- users: after ZITADEL created the users, while the provider reads them back (GetUserByID delayed);
- keys and members: after ZITADEL created the keys and org memberships, before their answers reached the provider
  (answers held back by the stand-in, standin/internal/standin/answer_holds.go);
- verification: while the proofs wait for `/auth/v1/users/me` (delayed).

The signal goes to the `pulumi` process alone. Pulumi runs its language host and plugins in process groups of their
own, so after SIGKILL the test kills every process of that run too (found by a marker in their environment), as a
dead runner's cgroup would go. SIGINT: Pulumi finishes the operations in flight and stops; the next `pulumi up --yes`
converges on its own. SIGKILL: the checkpoint keeps pending creates and the stack's lock; the next `up` is refused;
`zitadel-bootstrap recover --stack <name>` (the README's one recovery step) adopts, deletes and clears, and then
`pulumi up --yes` converges. Converged means: exactly one user per configured userName, every key and membership of
those users held by a resource in the state, no pending operation, no lock, every account verified, and the drift
check `pulumi preview --refresh --expect-no-changes` exits 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.reliability import scenario
from tests.e2e.stacks import (
    MACHINE_KEY,
    MACHINE_USER,
    ORG_MEMBER,
    VERIFICATION_TYPE,
    E2EStack,
)
from tools.pulumi_cli import EXIT_FAILED, OPERATIONS_COMMAND, REPO, CommandRun, pulumi_binary
from tools.standin import StandIn

MARKER_ENV = "ZB_INTERRUPTED_RUN"
#: How long the stand-in holds the step the signal is meant for (SIGINT waits for it to end).
HOLD_MS = 6000
ADD_USER = "/zitadel.management.v1.ManagementService/AddMachineUser"
GET_USER = "/zitadel.management.v1.ManagementService/GetUserByID"
ADD_KEY = "/zitadel.management.v1.ManagementService/AddMachineKey"
ADD_ORG_MEMBER = "/zitadel.management.v1.ManagementService/AddOrgMember"
USERS_ME = "/auth/v1/users/me"


@pytest.fixture
def quiet(clean_faults: StandIn) -> Iterator[StandIn]:
    """No fault, lag or answer hold outlives the test."""
    yield clean_faults
    clean_faults.clear_answer_holds()


# --- one interrupted run -----------------------------------------------------------------------------------------


def marked_processes(marker: str) -> list[int]:
    """Processes of one run: every process that inherited its marker (the CLI, language host, plugins, program)."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue  # gone, or not ours
    return found


@dataclass
class InterruptedRun:
    stack: E2EStack
    process: subprocess.Popen[bytes]
    marker: str
    log: Path
    started: float

    @classmethod
    def start(cls, stack: E2EStack, directory: Path) -> InterruptedRun:
        marker = uuid.uuid4().hex
        env = {**stack.cli.env(), MARKER_ENV: marker}
        log = directory / f"up-{marker[:8]}.log"
        argv = [pulumi_binary(), "up", "--yes", "--color", "never", "--stack", stack.cli.stack]
        with log.open("wb") as out:
            process = subprocess.Popen(argv, cwd=stack.cli.project_dir, env=env, stdout=out, stderr=subprocess.STDOUT)
        return cls(stack, process, marker, log, time.monotonic())

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(
                    f"`pulumi up` ended (exit {self.process.returncode}) before {what}:\n{self.output()[-3000:]}"
                )
            if time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"not {what} within {timeout:.0f} s:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def interrupt(self, sig: signal.Signals) -> tuple[int, list[int]]:
        """Send ``sig`` to the CLI alone; return its exit status and the run's processes killed afterwards."""
        os.kill(self.process.pid, sig)
        returncode = self.process.wait(timeout=120)
        leftovers = marked_processes(self.marker)
        if sig == signal.SIGINT:  # a graceful stop ends its children itself; give them a moment
            deadline = time.monotonic() + 10
            while leftovers and time.monotonic() < deadline:
                time.sleep(0.1)
                leftovers = marked_processes(self.marker)
        for pid in leftovers:  # what a dead runner's cgroup would take along
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while marked_processes(self.marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not marked_processes(self.marker), "processes of the killed run survived SIGKILL"
        self.stack.cli.runs.append(
            CommandRun(
                f"up ({sig.name})",
                ("up", "--yes", "--stack", self.stack.cli.stack),
                returncode,
                time.monotonic() - self.started,
                self.output(),
            )
        )
        return returncode, leftovers


# --- the interruption points -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    name: str
    label: str
    arm: Callable[[StandIn], None]
    reached: Callable[[E2EStack], bool]


def users_exist(stack: E2EStack) -> bool:
    return all(stack.user(a["userName"]) is not None for a in stack.accounts)


def keys_and_members_exist(stack: E2EStack) -> bool:
    users = [stack.user(a["userName"]) for a in stack.accounts]
    return all(u is not None and u["keys"] and stack.memberships(u["id"]) for u in users)


def proofs_in_flight(stack: E2EStack) -> bool:
    faults = stack.standin.state()["faults"]
    return keys_and_members_exist(stack) and not any(f["pathPrefix"] == USERS_ME for f in faults)


def hold_keys_and_members(standin: StandIn) -> None:
    standin.hold_answers(ADD_KEY, HOLD_MS, 2)
    standin.hold_answers(ADD_ORG_MEMBER, HOLD_MS, 2)


POINTS = {
    "users": Point(
        "users",
        "while users are created",
        lambda s: s.inject_fault(GET_USER, status=0, delay_ms=HOLD_MS, count=-1),
        users_exist,
    ),
    "keys": Point(
        "keys",
        "while keys and members are created",
        hold_keys_and_members,
        keys_and_members_exist,
    ),
    "verification": Point(
        "verification",
        "during the verification",
        lambda s: s.inject_fault(USERS_ME, status=0, delay_ms=HOLD_MS, count=2),
        proofs_in_flight,
    ),
}


# --- recovery and convergence ------------------------------------------------------------------------------------


def recover(stack: E2EStack, *flags: str) -> subprocess.CompletedProcess[str]:
    """The README's recovery step, as an operator runs it: the project's command on the project directory."""
    return subprocess.run(
        [
            str(OPERATIONS_COMMAND),
            "recover",
            "--stack",
            stack.cli.stack,
            "--cwd",
            str(stack.cli.project_dir),
            *flags,
        ],
        cwd=REPO,
        env=stack.cli.env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def verbs(output: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in output.splitlines():
        verb = line.split(" ", 1)[0]
        if verb in ("ok", "adopt", "delete", "clear", "keep", "leave", "lock"):
            counts[verb] = counts.get(verb, 0) + 1
    return counts


def lock_files(stack: E2EStack) -> list[Path]:
    return [p for p in stack.cli.state_files() if "/locks/" in str(p) and p.suffix == ".json"]


def pending_operations(stack: E2EStack) -> list[dict[str, Any]]:
    return list(stack.cli.checkpoint().get("pending_operations") or [])


def assert_converged(stack: E2EStack) -> str:
    """The invariants of a converged stack, checked against the stand-in's state; a summary of what it holds."""
    standin_state = stack.standin.state()
    org = stack.standin.default_org_id
    state_keys = {r["id"] for r in stack.cli.resources(MACHINE_KEY)}
    state_members = {(r["inputs"]["userId"], r["inputs"]["orgId"]) for r in stack.cli.resources(ORG_MEMBER)}
    state_users = {r["id"] for r in stack.cli.resources(MACHINE_USER)}
    keys = members = 0
    for account in stack.accounts:
        named = [u for u in standin_state["users"] if u["orgId"] == org and u["userName"] == account["userName"]]
        assert len(named) == 1, f"{len(named)} users named {account['userName']}: {named}"
        user = named[0]
        assert user["id"] in state_users, f"user {user['id']} is not in the state"
        orphans = [k["id"] for k in user["keys"] if k["id"] not in state_keys]
        assert not orphans, f"keys of {account['userName']} that no resource holds: {orphans}"
        assert len(user["keys"]) == 1, user["keys"]
        held = [m for m in standin_state["memberships"] if m["userId"] == user["id"]]
        stray = [m for m in held if m["kind"] != "org" or (m["userId"], m["targetId"]) not in state_members]
        assert not stray, f"memberships of {account['userName']} that no resource holds: {stray}"
        assert [m["roles"] for m in held] == [["ORG_OWNER"]], held
        keys += len(user["keys"])
        members += len(held)
    assert pending_operations(stack) == [], pending_operations(stack)
    assert lock_files(stack) == [], lock_files(stack)
    outputs = stack.cli.outputs()["serviceAccounts"]
    assert all(outputs[a["name"]]["verified"] is True for a in stack.accounts), outputs
    assert len(stack.cli.resources(VERIFICATION_TYPE)) == len(stack.accounts)
    stack.cli.drift_check(label="drift check after the interruption")
    n = len(stack.accounts)
    return f"{n} users, {keys} keys, {members} memberships, none orphaned; no pending operation, no lock; drift check 0"


def two_accounts(standin: StandIn, tag: str) -> list[dict[str, str]]:
    return [{"name": f"{tag}-{i}", "orgId": standin.default_org_id, "userName": f"{tag}-{i}"} for i in (1, 2)]


# --- the six cases -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("point", list(POINTS), ids=list(POINTS))
def test_interrupted_up_converges(quiet: StandIn, tmp_path: Path, point: str, sig: signal.Signals) -> None:
    standin = quiet
    where = POINTS[point]
    tag = f"{point[:4]}-{'int' if sig == signal.SIGINT else 'kill'}"
    with scenario(f"{sig.name} {where.label}") as record:
        stack = E2EStack.create(tmp_path, tag, standin, two_accounts(standin, tag))
        where.arm(standin)
        run = InterruptedRun.start(stack, tmp_path)
        run.wait_for(lambda: where.reached(stack), f"the run reached the point {where.label}")
        returncode, leftovers = run.interrupt(sig)
        standin.clear_faults()
        standin.clear_answer_holds()
        assert returncode != 0, run.output()[-2000:]

        if sig == signal.SIGINT:
            # Pulumi cancels gracefully: what was in flight finished and is recorded; nothing is pending or locked.
            assert "canceled" in run.output(), run.output()[-2000:]
            assert pending_operations(stack) == [], pending_operations(stack)
            assert lock_files(stack) == []
            stack.cli.up(label="up after SIGINT")
            record.outcome = (
                f"exit {returncode}, in-flight creates finished, 0 pending, no lock"
                f"{f', {len(leftovers)} stray processes killed' if leftovers else ''}; "
                "the next `pulumi up --yes` converged on its own"
            )
        else:
            pending = [op["resource"]["urn"].rsplit("::", 1)[-1] for op in pending_operations(stack)]
            assert pending, "SIGKILL during an operation leaves it pending in the checkpoint"
            assert lock_files(stack), "SIGKILL leaves the stack's lock behind"
            refused = stack.cli.up(label="up after SIGKILL (refused: locked)", expect=(EXIT_FAILED,))
            assert "currently locked" in refused.output, refused.output[-2000:]
            if point == "users":
                # Without the lock the next up still fails: provider v1.2.0 cannot adopt the user it created.
                stack.cli.run("cancel", "--yes", label="cancel")
                # The preflight finds the user names ZITADEL holds and stops the preview, naming adopt-user (before,
                # the update met AlreadyExists halfway).
                failed = stack.cli.up(label="up after cancel (user names taken)", expect=(EXIT_FAILED,))
                assert "ZITADEL holds a user named" in failed.output, failed.output[-2000:]
                assert f"zitadel-bootstrap adopt-user --stack {stack.cli.stack}" in failed.output
            started = time.monotonic()
            recovery = recover(stack)
            seconds = time.monotonic() - started
            assert recovery.returncode == 0, recovery.stdout + recovery.stderr
            done = verbs(recovery.stdout)
            expected = {
                "users": {"adopt": 2},
                "keys": {"delete": 2, "adopt": 2},
                "verification": {},
            }[point]
            for verb, count in expected.items():
                assert done.get(verb) == count, f"{verb}: {done}\n{recovery.stdout}"
            assert done.get("clear") == len(pending), recovery.stdout
            assert "PRIVATE KEY" not in recovery.stdout + recovery.stderr
            stack.cli.up(label="up after recover")
            record.outcome = (
                f"{len(leftovers)} processes of the run killed after the CLI; pending: {', '.join(pending)}; "
                f"locked; `up` refused; recover ({seconds:.1f} s: "
                + ", ".join(f"{verb} {n}" for verb, n in sorted(done.items()) if verb != "ok")
                + ") + `pulumi up --yes` converged"
            )
        record.found = assert_converged(stack)


def test_sigkill_before_zitadel_made_the_users_leaves_only_pending_creates(quiet: StandIn, tmp_path: Path) -> None:
    """The kill lands while the create calls wait in front of ZITADEL: the plugins die with the run, the calls are
    never served, and nothing exists in ZITADEL; the recovery looks again for the settle time, then clears."""
    standin = quiet
    with scenario("SIGKILL before ZITADEL created the users") as record:
        stack = E2EStack.create(tmp_path, "unserved", standin, two_accounts(standin, "unserved"))
        standin.inject_fault(ADD_USER, status=0, delay_ms=HOLD_MS, count=2)
        run = InterruptedRun.start(stack, tmp_path)
        run.wait_for(
            lambda: not any(f["pathPrefix"] == ADD_USER for f in standin.state()["faults"]),
            "both user creates were waiting in front of ZITADEL",
        )
        run.interrupt(signal.SIGKILL)
        time.sleep(HOLD_MS / 1000 + 0.5)  # past the delay: a call still alive would have been served by now
        assert all(stack.user(a["userName"]) is None for a in stack.accounts), "a killed call must not be served"
        assert len(pending_operations(stack)) == 2
        started = time.monotonic()
        recovery = recover(stack)
        seconds = time.monotonic() - started
        assert recovery.returncode == 0, recovery.stdout + recovery.stderr
        assert verbs(recovery.stdout) == {"clear": 2, "lock": 1}, recovery.stdout
        assert "looking again" in recovery.stdout
        assert recovery.stdout.count("nothing of it was found in ZITADEL") == 2
        stack.cli.up(label="up after recover")
        record.outcome = (
            f"nothing in ZITADEL, 2 pending creates, locked; recover ({seconds:.1f} s, 5 s of it looking again: "
            "clear 2, lock 1) + `pulumi up --yes` converged"
        )
        record.found = assert_converged(stack)


# --- what recovery never does ------------------------------------------------------------------------------------


def test_recover_leaves_a_user_it_did_not_create_and_adopts_it_only_on_request(quiet: StandIn, tmp_path: Path) -> None:
    standin = quiet
    with scenario("a configured userName taken by a user this stack did not create") as record:
        accounts = [{"name": "foreign", "orgId": standin.default_org_id, "userName": "foreign"}]
        stack = E2EStack.create(tmp_path, "foreign", standin, accounts)
        user_id = standin.create_machine_user(standin.default_org_id, "foreign")
        standin.add_machine_key(standin.default_org_id, user_id)
        # What recover meets when the update went ahead: with the preflight on, the preview stops it first
        # (tests/e2e/test_user_name_taken.py).
        stack.cli.write_config({"zitadel-bootstrap:preflight": False})
        failed = stack.cli.up(label="up onto a taken userName", expect=(EXIT_FAILED,))
        assert "Errors.User.AlreadyExisting (COMMAND-k2sIe)" in failed.output, failed.output[-2000:]
        stack.cli.write_config({"zitadel-bootstrap:preflight": True})

        dry = recover(stack, "--dry-run")
        refused = recover(stack)
        assert (dry.returncode, refused.returncode) == (3, 3), refused.stdout + refused.stderr
        assert verbs(refused.stdout) == {"leave": 1}, refused.stdout
        assert "AlreadyExists" in refused.stdout
        assert "--adopt-unknown" in refused.stdout
        kept = stack.user("foreign")
        assert kept is not None
        assert (kept["id"], len(kept["keys"])) == (user_id, 1), "recover must not touch it"

        adopted = recover(stack, "--adopt-unknown")
        assert adopted.returncode == 0, adopted.stdout + adopted.stderr
        assert verbs(adopted.stdout) == {"adopt": 1, "keep": 1}, adopted.stdout
        stack.cli.up(label="up after adopting a foreign user")
        user = stack.user("foreign")
        assert user is not None
        assert user["id"] == user_id
        assert len(user["keys"]) == 2, "its own key is kept, the stack's key is added"
        assert stack.cli.outputs()["serviceAccounts"]["foreign"]["verified"] is True
        stack.cli.drift_check(label="drift check after adopting a foreign user")
        record.outcome = (
            "`up` failed on AlreadyExists; recover left the user (exit 3, nothing changed); with --adopt-unknown "
            "it was imported and `up` converged"
        )
        record.found = "the same user id, its own key kept next to the stack's; drift check 0"
