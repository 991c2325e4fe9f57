"""Pulumi state in an S3-compatible, distributed object store: SeaweedFS (master, volume server, filer and S3
gateway on loopback, tools/seaweedfs.py; built from its Go module by tools/build-seaweedfs.sh on first use).

The whole program under the plain CLI with the real plugin against the stand-in, its state in a bucket: the
lifecycle with a drift found (exit 7) and repaired, secrets encrypted in the checkpoint object as stored, the
backend's lock refusing a second runner on the same stack while the first one runs, and the lock of a killed
runner blocking the stack until `pulumi cancel`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.leaks import TokenShapes, find_leaks
from tests.e2e.stacks import (
    ALL_CLIS,
    MACHINE_KEY,
    MACHINE_USER,
    ORG_MEMBER,
    PASSPHRASE,
    SECRET_SIG,
    VERIFICATION_TYPE,
    E2EStack,
    changed_lines,
)
from tools.pulumi_cli import (
    EXIT_DRIFT,
    EXIT_FAILED,
    PROJECT_NAME,
    CommandRun,
    PulumiCli,
    make_project_copy,
    pulumi_binary,
)
from tools.seaweedfs import SeaweedFS
from tools.standin import StandIn

#: Pulumi's ciphertext marker: what a secret value's SECRET_SIG key holds in state.
SECRET_MARKER = "1b47061264138c4ac30d75fd1eb44270"
#: The stable part of the diy backend's refusal (pkg/backend/diy/lock.go); the lock's URL, user, host and pid follow.
LOCKED = (
    "the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the "
    "lock file with `pulumi cancel`."
)
USERS_ME = "/auth/v1/users/me"
DEPLOYED_TYPES = {MACHINE_USER: 1, MACHINE_KEY: 1, ORG_MEMBER: 1, VERIFICATION_TYPE: 1}


@dataclass
class S3Stack:
    """An e2e stack whose backend is a bucket (under an optional prefix) of the module's SeaweedFS."""

    stack: E2EStack
    store: SeaweedFS
    bucket: str
    prefix: str = ""

    @property
    def cli(self) -> PulumiCli:
        return self.stack.cli

    def key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    @property
    def checkpoint_key(self) -> str:
        return self.key(f".pulumi/stacks/{PROJECT_NAME}/{self.cli.stack}.json")

    def stored_checkpoint(self) -> dict[str, Any]:
        """The stack's latest deployment, read back with a plain S3 GET (secrets as stored)."""
        latest = json.loads(self.store.get_object(self.bucket, self.checkpoint_key))["checkpoint"].get("latest")
        return latest or {}

    def resources(self, type_: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.stored_checkpoint().get("resources") or [] if type_ in (None, r["type"])]

    def types(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for resource in self.resources():
            if resource["type"] in DEPLOYED_TYPES:
                counts[resource["type"]] = counts.get(resource["type"], 0) + 1
        return counts

    def lock_keys(self) -> list[str]:
        return self.store.list_keys(self.bucket, self.key(".pulumi/locks/"))

    def second_runner(self, directory: Path) -> PulumiCli:
        """Another project copy on the same stack and backend (as a second pipeline checks it out)."""
        copy = make_project_copy(directory)
        (copy / "stacks" / self.cli.stack_file.name).write_text(self.cli.stack_file.read_text())
        cli = PulumiCli(copy, self.cli.stack, PASSPHRASE, self.cli.backend_url, dict(self.cli.extra_env))
        ALL_CLIS.append(cli)
        return cli


def s3_stack(
    tmp_path: Path, name: str, standin: StandIn, store: SeaweedFS, bucket: str, *, prefix: str = ""
) -> S3Stack:
    store.create_bucket(bucket)
    accounts = [{"name": name, "orgId": standin.default_org_id, "userName": name}]
    stack = E2EStack.create(
        tmp_path / "project",
        name,
        standin,
        accounts,
        backend_url=store.backend_url(bucket, prefix),
        extra_env=store.env,
    )
    return S3Stack(stack, store, bucket, prefix)


def process_tree(root: int) -> list[int]:
    """``root`` and every process descended from it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        parent = int(text.rsplit(")", 1)[1].split()[1])  # "pid (comm) state ppid ..."
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree: list[int] = []
    todo = [root]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def kill_process_tree(root: int) -> None:
    """SIGKILL ``root`` and its descendants, as when a CI runner dies: Pulumi starts its language host and plugins
    in process groups of their own, so they are found by parentage (stopped first, so none starts another)."""
    stopped = process_tree(root)
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    for pid in {*stopped, *process_tree(root)}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def proof_in_flight(standin: StandIn) -> bool:
    """The delayed users/me request has arrived (its fault is used up): the proof is waiting on it."""
    return not [f for f in standin.state()["faults"] if f["pathPrefix"] == USERS_ME and f["count"] != 0]


def user_id(s3: S3Stack, name: str) -> str:
    user = s3.stack.user(name)
    assert user is not None, f"no user {name} in the stand-in"
    return str(user["id"])


def test_lifecycle_with_state_in_seaweedfs_up_drift_repair_destroy(
    standin: StandIn, seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    # Under a prefix, as the README's pipeline example (s3://bucket/zitadel?endpoint=...).
    s3 = s3_stack(tmp_path, "s3-lifecycle", standin, seaweedfs, "zb-lifecycle", prefix="zitadel")
    cli = s3.cli
    cli.up(label="up (s3)")
    assert s3.types() == DEPLOYED_TYPES
    assert cli.outputs()["serviceAccounts"]["s3-lifecycle"]["verified"] is True
    assert list((cli.project_dir / ".pulumi-state").iterdir()) == [], "state went to the local file backend"
    assert all(key.startswith("zitadel/.pulumi/") for key in seaweedfs.list_keys("zb-lifecycle"))
    cli.drift_check(label="drift check (s3): none")

    org, uid = standin.default_org_id, user_id(s3, "s3-lifecycle")
    standin.remove_org_member(org, uid)
    drifted = cli.drift_check(label="drift check (s3): membership removed", expect=(EXIT_DRIFT,)).output
    changes = changed_lines(drifted)
    assert any(line.startswith("+") and "s3-lifecycle-org-member create" in line for line in changes), drifted

    cli.up("--refresh", label="up --refresh (s3): repair")
    assert s3.stack.memberships(uid) == {("org", org): ["ORG_OWNER"]}
    cli.drift_check(label="drift check (s3): repaired")

    cli.destroy(label="destroy (s3)")
    assert s3.stack.user("s3-lifecycle") is None
    assert s3.resources() == []
    assert s3.lock_keys() == []


def test_the_stored_checkpoint_keeps_secrets_encrypted(standin: StandIn, seaweedfs: SeaweedFS, tmp_path: Path) -> None:
    s3 = s3_stack(tmp_path, "s3-secrets", standin, seaweedfs, "zb-secrets")
    s3.cli.up(label="up (s3)")
    raw = seaweedfs.get_object(s3.bucket, s3.checkpoint_key).decode()
    assert "PRIVATE KEY" not in raw
    resources = json.loads(raw)["checkpoint"]["latest"]["resources"]

    def assert_encrypted(value: Any, where: str) -> None:
        assert isinstance(value, dict), f"{where} is plaintext in the stored checkpoint"
        assert set(value) == {SECRET_SIG, "ciphertext"}, f"{where} is not an encrypted secret: keys {sorted(value)}"
        assert value[SECRET_SIG] == SECRET_MARKER, where
        assert isinstance(value["ciphertext"], str), where
        assert len(value["ciphertext"]) > 16, where

    (key,) = [r for r in resources if r["type"] == MACHINE_KEY]
    assert_encrypted(key["outputs"]["keyDetails"], "MachineKey keyDetails")
    (proof,) = [r for r in resources if r["type"] == VERIFICATION_TYPE]
    for section in ("inputs", "outputs"):
        assert_encrypted(proof[section]["key_json"], f"verification {section}.key_json")
    (root,) = [r for r in resources if r["type"] == "pulumi:pulumi:Stack"]
    assert_encrypted(root["outputs"]["machineKeys"], "the machineKeys stack output")

    # `pulumi stack export` reads the same deployment back through the backend.
    exported = json.loads(s3.cli.run("stack", "export", label="stack export").output)
    assert [r["urn"] for r in exported["deployment"]["resources"]] == [r["urn"] for r in resources]

    # No key material or token anywhere in the bucket: checkpoint, backups, history.
    key_jsons = list(s3.cli.outputs(show_secrets=True)["machineKeys"].values())
    stored = {k: seaweedfs.get_object(s3.bucket, k).decode(errors="replace") for k in seaweedfs.list_keys(s3.bucket)}
    assert s3.checkpoint_key in stored
    shapes = TokenShapes.learn(standin.issuer, key_jsons[-1])
    assert find_leaks({"self-test": key_jsons[-1]}, key_jsons, shapes), "the leak scanner cannot see a key file"
    assert find_leaks(stored, key_jsons, shapes) == []


def test_a_second_runner_is_refused_by_the_lock_while_the_first_updates(
    standin: StandIn, seaweedfs: SeaweedFS, tmp_path: Path, clean_faults: StandIn
) -> None:
    s3 = s3_stack(tmp_path, "s3-shared", standin, seaweedfs, "zb-shared")
    second = s3.second_runner(tmp_path / "second-checkout")
    # The first runner's proof waits 8 s at /auth/v1/users/me: its update holds the lock meanwhile.
    standin.inject_fault(USERS_ME, status=0, delay_ms=8000, count=1)
    argv = [pulumi_binary(), "up", "--yes", "--color", "never", "--stack", s3.cli.stack]
    log_path = tmp_path / "first-runner.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        first = subprocess.Popen(argv, cwd=s3.cli.project_dir, env=s3.cli.env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        # `pulumi up` on a diy backend writes its lock object first, before its preview.
        deadline = time.monotonic() + 120
        while not s3.lock_keys():
            assert first.poll() is None, f"the first `pulumi up` ended before it locked:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, "the first `pulumi up` did not lock the stack within 120 s"
            time.sleep(0.1)  # the next look at the bucket's lock folder
        (lock_key,) = s3.lock_keys()

        refused = second.up(label="up (s3): second runner", expect=(EXIT_FAILED,))
        assert first.poll() is None, "the first runner had already finished: the runs did not overlap"
        assert LOCKED in refused.output, refused.output
        assert f"s3://{s3.bucket}/{lock_key}" in refused.output, refused.output

        first.wait(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    output = log_path.read_text()
    seconds = time.monotonic() - started
    s3.cli.runs.append(CommandRun("up (s3): first runner", tuple(argv[1:]), first.returncode, seconds, output))
    assert first.returncode == 0, output
    assert seconds >= 8, "the first runner's proof was not delayed"
    assert s3.lock_keys() == []

    # The first runner's state is whole: both checkouts see it, converged.
    assert s3.types() == DEPLOYED_TYPES
    assert s3.cli.outputs()["serviceAccounts"]["s3-shared"]["verified"] is True
    s3.cli.drift_check(label="drift check (s3): after the first runner")
    second.drift_check(label="drift check (s3): second checkout")
    second.up(label="up (s3): second runner again, no changes")
    assert s3.types() == DEPLOYED_TYPES


def test_a_killed_runners_lock_blocks_the_stack_until_pulumi_cancel(
    standin: StandIn, seaweedfs: SeaweedFS, tmp_path: Path, clean_faults: StandIn
) -> None:
    s3 = s3_stack(tmp_path, "s3-killed", standin, seaweedfs, "zb-killed")
    standin.inject_fault(USERS_ME, status=0, delay_ms=8000, count=1)
    argv = [pulumi_binary(), "up", "--yes", "--color", "never", "--stack", s3.cli.stack]
    log_path = tmp_path / "killed-runner.log"
    with log_path.open("w") as log:
        runner = subprocess.Popen(argv, cwd=s3.cli.project_dir, env=s3.cli.env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        # Killed while the proof waits at users/me: user, key and membership are in the stored checkpoint by then.
        deadline = time.monotonic() + 120
        while not proof_in_flight(standin):
            assert runner.poll() is None, f"`pulumi up` ended before it was killed:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, "`pulumi up` did not reach the proof within 120 s"
            time.sleep(0.1)  # the next look at the stand-in's faults
        assert set(s3.types()) == {MACHINE_USER, MACHINE_KEY, ORG_MEMBER}
        assert len(s3.lock_keys()) == 1
    finally:
        if runner.poll() is None:
            kill_process_tree(runner.pid)
        runner.wait(timeout=30)
    assert runner.returncode == -signal.SIGKILL, log_path.read_text()
    (stale,) = s3.lock_keys()

    refused = s3.cli.up(label="up (s3): after a killed runner", expect=(EXIT_FAILED,))
    assert LOCKED in refused.output, refused.output
    assert f"s3://{s3.bucket}/{stale}" in refused.output, refused.output

    s3.cli.run("cancel", "--yes", label="cancel (s3): remove the stale lock")
    assert s3.lock_keys() == []
    s3.cli.up("--refresh", label="up --refresh (s3): after cancel")
    assert s3.types() == DEPLOYED_TYPES
    assert s3.cli.outputs()["serviceAccounts"]["s3-killed"]["verified"] is True
    s3.cli.drift_check(label="drift check (s3): after the killed runner")
