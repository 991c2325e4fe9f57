"""Running the fleet: one Pulumi stack per org, at most ``parallel`` at a time, one result per org.

Each org runs as its own ``zitadel-bootstrap run <action> --stack <fleet>-<org>``, a child process with its own
`pulumi`, in the project directory, its output in a log file of its own: everything that command does for one
stack (retries, the settled drift check, adopting lost users, the recovery step) it does for each org, and a failed
org stops nothing else. The backend locks each stack as usual, so two runners never update one org at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zitadel_bootstrap.cli.engine import EXIT_DRIFT, pulumi_binary
from zitadel_bootstrap.cli.recover.pulumi_ops import Project
from zitadel_bootstrap.verification.redaction import redact

from .spec import Fleet, FleetOrg, Shard, dropped

#: Results of one org; ``ok``, ``drift`` and ``failed`` come from its command, the rest from the fleet's stacks.
OK, DRIFT, FAILED, DROPPED, DESTROYED, ABSENT = "ok", "drift", "failed", "dropped", "destroyed", "absent"
GENERATED = (
    "# Written by `zitadel-bootstrap fleet` from {fleet} (org {org}): edit the fleet file, not this file;\n"
    "# every fleet command writes it again. Keys other than config (encryptionsalt) are kept.\n"
)


@dataclass
class OrgResult:
    org: str
    stack: str
    result: str
    exit_code: int = 0
    seconds: float = 0.0
    reason: str = ""
    log: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "stack": self.stack,
            "result": self.result,
            "exitCode": self.exit_code,
            "seconds": round(self.seconds, 1),
            "reason": self.reason,
            "log": self.log,
        }


def reason_from_log(text: str, limit: int = 800) -> str:
    """The last ``pipeline:`` message of a ``zitadel-bootstrap run`` log (it says why it ended), else the last
    non-empty lines; redacted, at most ``limit`` characters."""
    lines = text.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("pipeline: ")]
    if starts:
        block = [lines[starts[-1]].removeprefix("pipeline: "), *lines[starts[-1] + 1 :]]
    else:
        block = [line for line in lines if line.strip()][-3:]
    joined = " ".join(line.strip() for line in block if line.strip())
    return redact(joined, limit)


@dataclass
class FleetRun:
    """One fleet command on the orgs of one shard."""

    fleet: Fleet
    project: Project
    action: str  # up | drift-check | destroy
    orgs: Sequence[FleetOrg]
    shard: Shard | None = None
    parallel: int = 2
    log_dir: Path = Path(".zitadel-bootstrap/fleet-logs")
    run_options: Sequence[str] = ()
    """Passed on to each ``zitadel-bootstrap run`` (--attempts, --retry-wait, --settle, --lock-wait, --refresh)."""
    destroy_dropped: bool = False
    org_timeout: float = 3600.0
    say: Callable[[str], None] = field(default=lambda text: print(f"fleet: {text}", file=sys.stderr, flush=True))
    _children: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: int = 0

    # -- the stacks of the backend -------------------------------------------------------------------------------
    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [pulumi_binary(), *args, "--non-interactive", "--color", "never"],
            cwd=self.project.directory,
            env=dict(os.environ, PULUMI_SKIP_UPDATE_CHECK="true"),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=600,
        )

    def existing_stacks(self) -> set[str]:
        listed = self.pulumi("stack", "ls", "--json")
        if listed.returncode != 0:
            raise RuntimeError(f"`pulumi stack ls` failed, so the fleet's stacks are unknown:\n{redact(listed.stderr)}")
        return {str(entry["name"]).rsplit("/", 1)[-1] for entry in json.loads(listed.stdout or "[]")}

    def belongs_to_fleet(self, stack: str) -> bool:
        """A stack named like one of the fleet's whose ``fleet`` output names this fleet (so an unrelated stack that
        happens to share the prefix is never reported, let alone destroyed)."""
        shown = self.pulumi("stack", "output", "fleet", "--json", "--stack", stack)
        return shown.returncode == 0 and json.loads(shown.stdout or "null") == self.fleet.name

    def write_stack_config(self, org: FleetOrg) -> Path:
        """The org's stack config file, written whole from the fleet file; other keys (encryptionsalt) are kept."""
        path = self.project.stack_file(self.fleet.stack_name(org.name))
        kept: dict[str, Any] = {}
        if path.exists():
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            kept = {key: value for key, value in loaded.items() if key != "config"} if isinstance(loaded, dict) else {}
        document = {**kept, "config": org.stack_config(self.fleet)}
        path.parent.mkdir(parents=True, exist_ok=True)
        text = GENERATED.format(fleet=self.fleet.path, org=org.name)
        path.write_text(text + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    # -- one org ---------------------------------------------------------------------------------------------------
    def child(self, argv: Sequence[str], log: Path) -> int:
        """Run ``argv`` in the project directory, its output appended to ``log``; killed after ``org_timeout``."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                argv,
                cwd=self.project.directory,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: a timeout or an interrupt reaches its pulumi too
            )
            with self._lock:
                self._children[process.pid] = process
            try:
                return process.wait(timeout=self.org_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                out.write(
                    f"\npipeline: the org's command was stopped after --org-timeout {self.org_timeout:g} s; "
                    f"its stack may be locked: `pulumi cancel --stack <stack> --yes`, then rerun\n".encode()
                )
                return 124
            finally:
                with self._lock:
                    self._children.pop(process.pid, None)

    def interrupt(self) -> None:
        """Pass an interrupt on to every running org (pulumi then ends its update cleanly and unlocks)."""
        with self._lock:
            for pid in list(self._children):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGINT)

    def operations(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "zitadel_bootstrap.cli.main", *args]

    def run_org(self, org: str, stack: str, action: str, number: int, total: int, *, exists: bool) -> OrgResult:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{stack}.log"
        log.write_bytes(b"")
        self.say(f"[{number}/{total}] {org}: {action} started (stack {stack})")
        start = time.monotonic()
        result = self._run_org(org, stack, action, log, exists=exists)
        result.seconds = time.monotonic() - start
        result.log = str(log)
        with self._lock:
            self._done += 1
            done = self._done
        tail = f": {result.reason[:200]}" if result.result in (FAILED, DRIFT) else ""
        self.say(f"[{done}/{total} done] {org}: {result.result} in {result.seconds:.1f} s{tail}")
        return result

    def _run_org(self, org: str, stack: str, action: str, log: Path, *, exists: bool) -> OrgResult:
        if action == "up" and not exists:
            code = self.child([pulumi_binary(), "stack", "init", stack, "--no-select", "--non-interactive"], log)
            if code != 0:
                reason = reason_from_log(log.read_text(errors="replace"))
                return OrgResult(org, stack, FAILED, code, reason=f"`pulumi stack init {stack}` failed: {reason}")
        if action == "drift-check" and not exists:
            return OrgResult(
                org,
                stack,
                FAILED,
                1,
                reason=f"no stack {stack}: the org was never deployed; run `zitadel-bootstrap fleet up`",
            )
        if action in ("destroy", "destroy-dropped") and not exists:
            return OrgResult(org, stack, ABSENT, 0, reason="no stack: nothing to destroy")
        run_action = "destroy" if action == "destroy-dropped" else action
        options = [o for o in self.run_options if run_action == "up" or o != "--refresh"]
        code = self.child(self.operations("run", run_action, "--stack", stack, *options), log)
        if code == 0 and run_action == "destroy":
            code = self.child([pulumi_binary(), "stack", "rm", stack, "--yes", "--non-interactive"], log)
            if code == 0:
                return OrgResult(org, stack, DESTROYED, 0, reason="destroyed; its stack removed")
        if code == 0:
            return OrgResult(org, stack, OK, 0)
        reason = reason_from_log(log.read_text(errors="replace"))
        if code == EXIT_DRIFT and action == "drift-check":
            return OrgResult(org, stack, DRIFT, code, reason=reason)
        return OrgResult(org, stack, FAILED, code, reason=reason)

    # -- the fleet -------------------------------------------------------------------------------------------------
    def run(self) -> list[OrgResult]:
        existing = self.existing_stacks()
        jobs: list[tuple[str, str, str]] = []
        for org in self.orgs:
            if self.action != "destroy" or self.fleet.stack_name(org.name) in existing:
                self.write_stack_config(org)
            jobs.append((org.name, self.fleet.stack_name(org.name), self.action))
        candidates = dropped(self.fleet, sorted(existing), self.shard)
        gone = [stack for stack in candidates if self.belongs_to_fleet(stack)]
        results: list[OrgResult] = []
        for stack in gone:
            name = self.fleet.org_of_stack(stack) or stack
            if self.destroy_dropped:
                jobs.append((name, stack, "destroy-dropped"))
            else:
                results.append(
                    OrgResult(
                        name,
                        stack,
                        DROPPED,
                        0,
                        reason=f"no longer in the fleet file; its stack {stack} still holds its accounts: "
                        f"`zitadel-bootstrap fleet up --destroy-dropped` destroys them",
                    )
                )
                self.say(f"{name}: dropped from the fleet file; its stack {stack} is kept (--destroy-dropped)")
        total = len(jobs)
        with ThreadPoolExecutor(max_workers=max(1, self.parallel)) as pool:
            futures = [
                pool.submit(self.run_org, org, stack, action, number, total, exists=stack in existing)
                for number, (org, stack, action) in enumerate(jobs, start=1)
            ]
            try:
                results.extend(future.result() for future in futures)
            except KeyboardInterrupt:
                self.say("interrupted: passing it on to the running orgs, then stopping")
                for future in futures:
                    future.cancel()
                self.interrupt()
                raise
        order = {org.name: index for index, org in enumerate(self.fleet.orgs)}
        return sorted(results, key=lambda r: (order.get(r.org, len(order)), r.org))
