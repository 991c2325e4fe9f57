"""`python -m zitadel_bootstrap.cli.run`: the pipeline's pulumi commands, made to ride out what ZITADEL does under load.

The pulumi-zitadel plugin (terraform-provider-zitadel v1.2.0 on zitadel-go v2.1.8) retries nothing: a gRPC
Unavailable, ResourceExhausted (its RetryInfo is not read) or DeadlineExceeded fails the resource at once; and it
reads from ZITADEL's read model, which trails the writes. This wrapper runs the same `pulumi` commands in the
project directory, with the caller's environment, and adds what a pipeline needs on top:

    python -m zitadel_bootstrap.cli.run up [--stack S] [--refresh]     # instead of `pulumi up --yes [--refresh]`
    python -m zitadel_bootstrap.cli.run drift-check [--stack S]        # instead of `pulumi preview --refresh --expect-no-changes`
    python -m zitadel_bootstrap.cli.run destroy [--stack S]            # instead of `pulumi destroy --yes`
    python -m zitadel_bootstrap.cli.run adopt-user ACCOUNT [USER_ID]   # import the account's machine user that ZITADEL holds

- ``up`` and ``destroy`` rerun the command (at most ``--attempts`` runs, ``--retry-wait`` seconds apart, growing)
  when every error of the run is a transient one (Unavailable, ResourceExhausted, DeadlineExceeded, a refused or
  dropped connection, a failed refresh read, a proof that ran out of time on 5xx/429). A rerun continues from the
  state the failed run saved. Anything else stops at once with the errors by resource and the way out.
- ``up --refresh`` never refreshes what the read model does not show yet: a refresh of a user, key or membership
  that ZITADEL created a moment ago finds it NotFound and drops it from the state, and the update then meets
  AlreadyExists (the three are then in ZITADEL and no longer in the stack). So it first checks with
  `pulumi refresh --preview-only --expect-no-changes` (saves nothing); it refreshes only when a second check
  ``--settle`` seconds later still finds differences, and reruns never refresh.
- ``drift-check`` reports drift (7) only when a second check ``--settle`` seconds after the first still finds it:
  the plugin's refresh takes "not there yet" for "deleted". Failed checks are run again like ``up``.
- A machine user that this run created and the plugin lost (its read-back right after the create met the lag:
  "expected non-nil error with nil state during Create of <urn>"; a plain rerun can only meet AlreadyExists) is
  looked up in ZITADEL by org and user name with the provider's admin key (zitadel_bootstrap.cli.recover's REST client), imported
  at its URN, and ``up`` runs again (``--no-adopt``: stop with the way out instead). An AlreadyExists without
  that proof (an answer lost in an earlier run, or a user made by hand) is not adopted: the message points to the
  recovery step (zitadel_bootstrap.cli.recover) and ``adopt-user``.
- After an ``up`` that needed more than one run, the recovery step runs (``--no-recover``: not): a key whose
  answer was lost is in ZITADEL, held by no resource, its key file never delivered; the step deletes it.
- A run refused by another run's lock waits up to ``--lock-wait`` seconds for it (default 0: it fails at once,
  naming the lock and `pulumi cancel`).

Exit codes: 0 done (no drift); 7 drift found (``drift-check``); 1 failed (the reason is the last ``pipeline:`` line
on stderr); 2 bad usage. Pulumi's own output streams to stdout unchanged.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from zitadel_bootstrap.cli.engine import EXIT_DRIFT, EXIT_FAILED, pulumi_binary

EXIT_USAGE = 2
SERVICE_ACCOUNT_TYPE = "zitadel-bootstrap:index:ServiceAccount"
MACHINE_USER_TYPE = "zitadel:index/machineUser:MachineUser"
#: The part of the diy backend's refusal that names the situation (pkg/backend/diy/lock.go).
LOCKED_MARKER = "the stack is currently locked by"
#: What the bridge says when the provider's create returned no state and no error: terraform-provider-zitadel's
#: create reads the object back and, on NotFound from a lagging read model, clears the id.
LOST_CREATE = re.compile(r"expected non-nil error with nil state during Create of (urn:pulumi:\S+)")
ALREADY_EXISTS = re.compile(r"code = AlreadyExists")
#: ZITADEL (or a proxy, or the network) failing for now: worth the same command again a little later.
TRANSIENT = re.compile(
    r"code = (Unavailable|ResourceExhausted|DeadlineExceeded|Aborted)\b"
    r"|context deadline exceeded"
    r"|connection refused|connection reset by peer|error reading from server|transport is closing"
    r"|Verification of .{0,400}? did not finish"
)
#: A refresh read that failed: the plugin drops ZITADEL's error here ("failed to get user"), so the cause is unknown.
#: Reads change nothing; the command is retried like a transient failure.
FAILED_READ = re.compile(r"refreshing urn:pulumi:\S+: .*?failed to (get|list) ", re.DOTALL)
#: Lines of the stack's own diagnostics that only say that something else failed.
FOLLOW_UPS = re.compile(
    r"^error: (update failed|preview failed|refresh failed|destroy failed|import failed"
    r"|Resource monitor has terminated, shutting down)$"
)
DIAGNOSTIC_HEADER = re.compile(r"^  (?P<type>[^\s()]+) \((?P<name>[^)]+)\):\s*$")

Kind = Literal["ok", "transient", "lost_create", "already_exists", "locked", "failed"]


@dataclass(frozen=True)
class ResourceError:
    """One resource's error diagnostics, as `pulumi` printed them under "Diagnostics:"."""

    resource: str
    """``<type> (<name>)``, e.g. ``zitadel:index:MachineUser (ci-user)``."""
    message: str

    @property
    def name(self) -> str:
        return self.resource.rsplit(" (", 1)[-1].rstrip(")")

    def one_line(self) -> str:
        lines = [line.strip().lstrip("*").strip() for line in self.message.splitlines()]
        useful = [line.removeprefix("error: ") for line in lines if line and line != "error: 1 error occurred:"]
        return f"{self.resource}: {' '.join(useful)}"


@dataclass(frozen=True)
class Diagnosis:
    """What a pulumi run's output says about why it failed, and whether running it again can help."""

    kind: Kind
    errors: tuple[ResourceError, ...] = ()
    lost_urns: tuple[str, ...] = ()
    """With ``lost_create``: the URNs of the objects ZITADEL created and the stack does not hold."""

    def lost_accounts(self) -> tuple[str, ...] | None:
        """The accounts whose machine user was lost, or None when something else was lost too."""
        accounts = []
        for urn in self.lost_urns:
            name = urn.rsplit("::", 1)[-1]
            if f"${MACHINE_USER_TYPE}::" not in urn or not name.endswith("-user"):
                return None
            accounts.append(name.removesuffix("-user"))
        return tuple(accounts)

    @property
    def retryable(self) -> bool:
        return self.kind == "transient"

    def error_lines(self) -> str:
        return "\n".join(f"  {error.one_line()}" for error in self.errors) or "  (no resource errors printed)"


def resource_errors(output: str) -> list[ResourceError]:
    """The error diagnostics of each resource (follow-up lines of the stack itself left out)."""
    lines = output.splitlines()
    found: list[ResourceError] = []
    in_diagnostics = False
    current: tuple[str, list[str]] | None = None

    def close() -> None:
        if current is None:
            return
        kept = [line for line in current[1] if not FOLLOW_UPS.match(line.strip())]
        if any(line.strip().startswith("error:") for line in kept):
            found.append(ResourceError(current[0], "\n".join(line.strip() for line in kept if line.strip())))

    for line in lines:
        if line.startswith("Diagnostics:"):
            close()
            current, in_diagnostics = None, True
            continue
        if not in_diagnostics:
            continue
        header = DIAGNOSTIC_HEADER.match(line)
        if header:
            close()
            current = (f"{header['type']} ({header['name']})", [])
        elif line.strip() and not line.startswith((" ", "\t")):
            close()  # the next section ("Outputs:", "Resources:", ...)
            current, in_diagnostics = None, False
        elif current is not None:
            current[1].append(line)
    close()
    return found


def diagnose(returncode: int, output: str) -> Diagnosis:
    """Classify a finished pulumi command: retry it, stop with a way out, or stop."""
    if returncode == 0:
        return Diagnosis("ok")
    errors = tuple(resource_errors(output))
    lost = tuple(dict.fromkeys(LOST_CREATE.findall(output)))
    if lost:
        return Diagnosis("lost_create", errors, lost_urns=lost)
    if any(ALREADY_EXISTS.search(error.message) for error in errors):
        return Diagnosis("already_exists", errors)
    if LOCKED_MARKER in output:
        return Diagnosis("locked", errors)
    if errors and all(TRANSIENT.search(e.message) or FAILED_READ.search(e.message) for e in errors):
        return Diagnosis("transient", errors)
    return Diagnosis("failed", errors)


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str


#: Runs ``pulumi <args>``; ``echo``: copy its output to the pipeline's log as it comes (else only keep it).
Runner = Callable[[Sequence[str], bool], Run]


def stream_runner(out: TextIO) -> Runner:
    """Run ``pulumi <args>`` in the working directory, copying its output to ``out`` as it comes, and keep it."""

    def run(args: Sequence[str], echo: bool) -> Run:
        process = subprocess.Popen(
            [pulumi_binary(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        if process.stdout is None:
            raise RuntimeError("pulumi was started without an output pipe")
        kept: list[str] = []
        for line in process.stdout:
            if echo:
                out.write(line)
                out.flush()
            kept.append(line)
        return Run(process.wait(), "".join(kept))

    return run


def recovery_runner(out: TextIO) -> Callable[[str], Run]:
    """Run the recovery step (``python -m zitadel_bootstrap.cli.recover --stack <stack>``) here, its output copied to ``out``."""

    def run(stack: str) -> Run:
        done = subprocess.run(
            [sys.executable, "-m", "zitadel_bootstrap.cli.recover", "--stack", stack],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            check=False,
        )
        out.write(done.stdout)
        out.flush()
        return Run(done.returncode, done.stdout)

    return run


def _say(text: str) -> None:
    print(f"pipeline: {text}", file=sys.stderr, flush=True)


@dataclass
class Pipeline:
    """The commands, with the policy: attempts, waits, and where pulumi runs."""

    stack: str | None = None
    attempts: int = 3
    retry_wait: float = 10.0
    settle: float = 10.0
    lock_wait: float = 0.0
    adopt: bool = True
    """``up``: adopt machine users the run created and lost to read lag (looked up in ZITADEL), then run again."""
    run_pulumi: Runner = field(default_factory=lambda: stream_runner(sys.stdout))
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    say: Callable[[str], None] = _say
    recover: bool = True
    """``up``: after an update that needed more than one run, run the recovery step (zitadel_bootstrap.cli.recover)."""
    run_recovery: Callable[[str], Run] = field(default_factory=lambda: recovery_runner(sys.stdout))
    runs: int = 0
    """How many runs the last retried command took."""
    find_user: Callable[[Pipeline, str], str | None] | None = None
    """Looks up an account's user id in ZITADEL; default: by org and user name over ZITADEL's REST API."""

    def pulumi(self, *args: str, echo: bool = True) -> Run:
        stack = ("--stack", self.stack) if self.stack else ()
        return self.run_pulumi([*args, *stack], echo)

    # -- the commands ---------------------------------------------------------------------------------------------
    def up(self, *, refresh: bool = False) -> int:
        if refresh:
            checked = self.settled_check(("refresh", "--preview-only", "--expect-no-changes"), "the refresh check")
            if checked == 0:
                self.say("ZITADEL matches the state: updating without a refresh")
                refresh = False
            elif checked != EXIT_DRIFT:
                return checked
            else:
                self.say("the refresh check found differences twice: updating with --refresh")
        # Only the first run refreshes: a rerun would read what the failed run created a moment ago.
        done = self.retried(
            "`pulumi up`",
            lambda attempt: ("up", "--yes", *(("--refresh",) if refresh and attempt == 1 else ())),
            adopt=self.adopt,
        )
        if done != 0 or self.runs == 1 or not self.recover:
            return done
        return self.after_retries()

    def after_retries(self) -> int:
        """An update that needed more than one run may have left what a lost answer made: a key whose answer never
        arrived is in ZITADEL and, after the rerun made another, held by no resource. The recovery step
        (zitadel_bootstrap.cli.recover) deletes such keys of the stack's own users and changes nothing else on a healthy stack."""
        stack = self.stack_name()
        if stack is None:
            self.say(
                "no stack selected: run `python -m zitadel_bootstrap.cli.recover --stack <STACK>` to check for leftovers"
            )
            return EXIT_FAILED
        self.say("the update needed more than one run: the recovery step checks for what a lost answer left")
        recovered = self.run_recovery(stack)
        if recovered.returncode == 0:
            return 0
        self.say(
            f"`pulumi up` converged, but the recovery step exited {recovered.returncode}"
            + (" (lines marked `leave` need a person)" if recovered.returncode == 3 else "")
            + f": see its output above; rerun `python -m zitadel_bootstrap.cli.recover --stack {stack}` when it is dealt with"
        )
        return EXIT_FAILED

    def destroy(self) -> int:
        return self.retried("`pulumi destroy`", lambda _attempt: ("destroy", "--yes"))

    def drift_check(self) -> int:
        checked = self.settled_check(("preview", "--refresh", "--expect-no-changes"), "the drift check")
        if checked == 0:
            self.say("no drift")
        elif checked == EXIT_DRIFT:
            self.say(f"drift found, and still there {self.settle:g} s later: see the plan above (exit 7)")
        return checked

    # -- the policy -----------------------------------------------------------------------------------------------
    def retried(
        self, what: str, argv: Callable[[int], Sequence[str]], accept: Sequence[int] = (0,), *, adopt: bool = False
    ) -> int:
        """Run the command until it exits with one of ``accept``: transient failures are run again (at most
        ``attempts`` runs), another run's lock is waited for (at most ``lock_wait`` s); with ``adopt``, machine
        users the run created and lost to read lag are adopted before the next run; anything else stops."""
        attempt = 1
        locked_since: float | None = None
        while True:
            done = self.pulumi(*argv(attempt))
            self.runs = attempt
            if done.returncode in accept:
                if attempt > 1:
                    self.say(f"{what} succeeded on attempt {attempt}")
                return done.returncode
            diagnosis = diagnose(done.returncode, done.output)
            if diagnosis.kind == "locked":
                locked_since = self.clock() if locked_since is None else locked_since
                waited = self.clock() - locked_since
                if waited < self.lock_wait:
                    self.say(f"the stack is locked by another run: waiting ({waited:.0f} of {self.lock_wait:g} s)")
                    self.sleep(min(2.0, self.lock_wait - waited))
                    continue
            elif diagnosis.kind == "lost_create" and adopt and attempt < self.attempts and self.adopt_lost(diagnosis):
                self.say(
                    f"{what} failed on attempt {attempt} of {self.attempts}: adopted what it lost; running it again"
                )
                attempt += 1
                continue
            elif diagnosis.retryable and attempt < self.attempts:
                wait = self.retry_wait * attempt
                self.say(
                    f"{what} failed on attempt {attempt} of {self.attempts} with transient ZITADEL errors:\n"
                    f"{diagnosis.error_lines()}\nrunning it again in {wait:g} s (the state keeps what was done)"
                )
                self.sleep(wait)
                attempt += 1
                continue
            self.say(self.explain(what, diagnosis, attempts=attempt))
            return done.returncode or EXIT_FAILED

    def settled_check(self, argv: Sequence[str], what: str) -> int:
        """0 or 7 from a check that saves nothing; a 7 counts only if a second check after ``settle`` agrees."""
        accept = (0, EXIT_DRIFT)
        first = self.retried(what, lambda _attempt: argv, accept)
        if first != EXIT_DRIFT:
            return first
        self.say(
            f"{what} found differences; ZITADEL's read model may not show recent changes yet: "
            f"checking again in {self.settle:g} s"
        )
        self.sleep(self.settle)
        second = self.retried(what, lambda _attempt: argv, accept)
        if second == 0:
            self.say(f"{what} found nothing the second time: the first answer was read-model lag, not drift")
        return second

    def explain(self, what: str, diagnosis: Diagnosis, *, attempts: int = 1) -> str:
        stack = f" --stack {self.stack}" if self.stack else ""
        if diagnosis.kind == "locked":
            return (
                f"{what} was refused: another run holds the stack's lock (printed above). Wait for it to end and "
                f"rerun (or pass --lock-wait SECONDS); if no run is active (a runner was killed), remove the lock "
                f"with `pulumi cancel{stack} --yes`, then rerun"
            )
        if diagnosis.kind == "lost_create":
            accounts = diagnosis.lost_accounts()
            urns = ", ".join(diagnosis.lost_urns)
            if accounts:
                names = ", ".join(repr(a) for a in accounts)
                return (
                    f"{what} failed: ZITADEL created the machine user of account(s) {names}, but did not show it yet "
                    f"when the plugin read it back (its read model lags), so it is in ZITADEL and not in the stack "
                    f"({urns}). A plain rerun can only meet AlreadyExists. Way out: adopt it, then run "
                    f"`python -m zitadel_bootstrap.cli.run up` again: `python -m zitadel_bootstrap.cli.run adopt-user{stack} <ACCOUNT>` "
                    f"looks its id up in ZITADEL (give the id as a second argument where ZITADEL's user search is "
                    f"not allowed), or `python -m zitadel_bootstrap.cli.recover{stack or ' --stack <STACK>'} --adopt-unknown`"
                )
            return (
                f"{what} failed: ZITADEL created {urns} but did not show it yet when the plugin read it back (its "
                f"read model lags); it is in ZITADEL and not in the stack. Not retried. Way out: `pulumi import` "
                f"it by its id (see the type's import id in the plugin's docs) or remove it in ZITADEL, then rerun"
            )
        if diagnosis.kind == "already_exists":
            return (
                f"{what} failed: ZITADEL already holds an object the stack does not (an answer lost in an "
                f"earlier run, a create whose read-back met read-model lag, or one made by hand):\n"
                f"{diagnosis.error_lines()}\nNot retried. Way out: see what ZITADEL holds with "
                f"`python -m zitadel_bootstrap.cli.recover{stack or ' --stack <STACK>'} --dry-run`; if it is the stack's own, adopt "
                f"it (`python -m zitadel_bootstrap.cli.run adopt-user{stack} <ACCOUNT>`, or zitadel_bootstrap.cli.recover with "
                f"--adopt-unknown), else remove it in ZITADEL or rename the account's userName; then rerun"
            )
        if diagnosis.kind == "transient":
            return (
                f"{what} still failed after {attempts} attempt(s) with transient ZITADEL errors; giving up:\n"
                f"{diagnosis.error_lines()}\nZITADEL is unavailable, rate limiting or slow: rerun the job later "
                f"(the state keeps what was done; a rerun continues from there)"
            )
        return f"{what} failed (not a transient ZITADEL error, not retried):\n{diagnosis.error_lines()}"

    # -- adopting a machine user -----------------------------------------------------------------------------------
    def adopt_lost(self, diagnosis: Diagnosis) -> bool:
        """Adopt each machine user a run created and lost (the bridge's message for its URN proves that this run
        created it); False when something else was lost or a user could not be adopted."""
        accounts = diagnosis.lost_accounts()
        if not accounts:
            return False
        self.say(
            "ZITADEL created the machine user of "
            + ", ".join(repr(a) for a in accounts)
            + " but its read model did not show it to the plugin yet: adopting it"
        )
        return all(self.adopt_user(account) == 0 for account in accounts)

    def adopt_user(self, account: str, user_id: str | None = None, org_id: str | None = None) -> int:
        """Import the machine user ``user_id`` (default: the account's user, looked up in ZITADEL by org and user
        name) as ``<account>-user``, under the account's component."""
        if user_id is not None and not re.fullmatch(r"[0-9]{1,32}", user_id):
            self.say(f"{user_id!r} is not a ZITADEL user id (digits only)")
            return EXIT_USAGE
        exported = self.pulumi("stack", "export", echo=False)
        if exported.returncode != 0:
            self.say(f"`pulumi stack export` failed:\n{exported.output.strip()}")
            return EXIT_FAILED
        resources = json.loads(exported.output).get("deployment", {}).get("resources") or []
        parents = [
            r["urn"] for r in resources if r.get("type") == SERVICE_ACCOUNT_TYPE and r["urn"].endswith(f"::{account}")
        ]
        if not parents:
            self.say(
                f"the stack holds no service account {account!r}: run `python -m zitadel_bootstrap.cli.run up` first"
            )
            return EXIT_FAILED
        user_urn_tail = f"${MACHINE_USER_TYPE}::{account}-user"
        if any(r.get("urn", "").endswith(user_urn_tail) for r in resources):
            self.say(f"the stack already holds the machine user of {account!r}: nothing to adopt")
            return EXIT_FAILED
        org = org_id or self.account_org(account)
        if org is None:
            return EXIT_FAILED
        if user_id is None:
            user_id = (self.find_user or find_user_by_name)(self, account)
            if user_id is None:
                return EXIT_FAILED
        argv = (
            "import",
            MACHINE_USER_TYPE,
            f"{account}-user",
            f"{user_id}:false:{org}",
            *("--parent", f"parent={parents[0]}", "--protect=false", "--generate-code=false", "--yes"),
        )
        for attempt in range(1, self.attempts + 1):
            done = self.pulumi(*argv)
            if done.returncode == 0:
                self.say(f"adopted user {user_id} as {account}-user")
                return 0
            if attempt < self.attempts:
                # A user created a moment ago can still be unknown to ZITADEL's read model (the import reads it).
                self.say(f"importing user {user_id} failed (attempt {attempt}); trying again in {self.settle:g} s")
                self.sleep(self.settle)
        self.say(f"could not import user {user_id} of org {org} as {account}-user: see the output above")
        return EXIT_FAILED

    def account_entry(self, account: str) -> dict[str, Any] | None:
        got = self.pulumi("config", "get", "zitadel-bootstrap:serviceAccounts", "--json", echo=False)
        entries = json.loads(got.output).get("objectValue") if got.returncode == 0 else None
        entry = next((e for e in entries or [] if isinstance(e, dict) and e.get("name") == account), None)
        if entry is None:
            self.say(f"no service account {account!r} in the stack config")
        return entry

    def account_org(self, account: str) -> str | None:
        """The org id of ``account`` from the stack config (``orgId``, or the declared org's id in the outputs)."""
        entry = self.account_entry(account)
        if entry is None:
            return None
        if entry.get("orgId"):
            return str(entry["orgId"])
        outputs = self.pulumi("stack", "output", "organizations", "--json", echo=False)
        orgs = json.loads(outputs.output) if outputs.returncode == 0 else {}
        if isinstance(orgs, dict) and orgs.get(entry.get("org")):
            return str(orgs[entry["org"]])
        self.say(f"the org of {account!r} is not known yet: pass --org-id")
        return None

    def stack_name(self) -> str | None:
        if self.stack:
            return self.stack
        shown = self.pulumi("stack", "--show-name", echo=False)
        return shown.output.strip() if shown.returncode == 0 and shown.output.strip() else None


def find_user_by_name(pipeline: Pipeline, account: str) -> str | None:
    """The id of ``account``'s machine user in ZITADEL: searched by org and user name (management ListUsers over
    the REST gateway) with the provider's own admin key, through zitadel_bootstrap.cli.recover's client. Searched again for up to
    ``settle`` seconds while ZITADEL's read model does not show it; None (and why) when it cannot be found."""
    try:
        from zitadel_bootstrap.cli.recover.cli import admin_key_text  # noqa: PLC0415
        from zitadel_bootstrap.cli.recover.pulumi_ops import Project, Pulumi  # noqa: PLC0415
        from zitadel_bootstrap.cli.recover.zitadel_api import ZitadelApi  # noqa: PLC0415
        from zitadel_bootstrap.config import load_settings_file  # noqa: PLC0415 - only this command needs them
    except ImportError as error:
        pipeline.say(f"cannot look the user up in ZITADEL ({error}): give its id to adopt-user")
        return None
    stack = pipeline.stack_name()
    if stack is None:
        pipeline.say("no stack selected: pass --stack")
        return None
    try:
        project = Project.load(Path.cwd())
        settings = load_settings_file(project.stack_file(stack))
        entry = next(a for a in settings.service_accounts if a.name == account)
        org_id = entry.org_id or pipeline.account_org(account)
        if not org_id:
            return None
        key_text, _ = admin_key_text(Pulumi(project, stack), project.stack_file(stack), None)
        api = ZitadelApi.login(settings.issuer, key_text, insecure=settings.provider.insecure)
        del key_text
        try:
            deadline = pipeline.clock() + pipeline.settle
            while True:
                found = api.users_named(str(org_id), entry.user_name)
                if len(found) == 1:
                    pipeline.say(f"found user {found[0].id} ({entry.user_name}) in org {org_id}")
                    return found[0].id
                if len(found) > 1 or pipeline.clock() >= deadline:
                    pipeline.say(f"{len(found)} users named {entry.user_name!r} in org {org_id}: give the id")
                    return None
                pipeline.sleep(1.0)
        finally:
            api.close()
    except Exception as error:  # any failure leaves the manual way out, and says why
        pipeline.say(f"looking up the user of {account!r} in ZITADEL failed: {error}")
        return None


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", help="the stack (default: the selected one)")
    common.add_argument("--attempts", type=int, default=3, help="runs of a command that fails transiently (3)")
    common.add_argument("--retry-wait", type=float, default=10.0, help="seconds before the 2nd run, grows (10)")
    common.add_argument("--settle", type=float, default=10.0, help="seconds before a check is repeated (10)")
    common.add_argument("--lock-wait", type=float, default=0.0, help="seconds to wait for another run's lock (0)")
    top = argparse.ArgumentParser(prog="python -m zitadel_bootstrap.cli.run", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", parents=[common], help="pulumi up --yes, retried on transient ZITADEL errors")
    up.add_argument("--refresh", action="store_true", help="refresh first, what a settled check finds changed")
    commands.add_parser("drift-check", parents=[common], help="0 no drift, 7 drift (seen twice), 1 error")
    commands.add_parser("destroy", parents=[common], help="pulumi destroy --yes, retried on transient errors")
    up.add_argument("--no-adopt", action="store_true", help="stop at users lost to read lag instead of adopting them")
    up.add_argument("--no-recover", action="store_true", help="no recovery step after an update that needed reruns")
    adopt = commands.add_parser("adopt-user", parents=[common], help="import a machine user ZITADEL holds")
    adopt.add_argument("account", help="the service account's name in the stack config")
    adopt.add_argument("user_id", nargs="?", help="the user's id in ZITADEL (default: looked up by user name)")
    adopt.add_argument("--org-id", help="the user's org (default: the account's, from the stack config)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.attempts < 1 or min(args.retry_wait, args.settle, args.lock_wait) < 0:
        print("pipeline: --attempts must be at least 1 and the waits not negative", file=sys.stderr)
        return EXIT_USAGE
    pipeline = Pipeline(
        stack=args.stack,
        attempts=args.attempts,
        retry_wait=args.retry_wait,
        settle=args.settle,
        lock_wait=args.lock_wait,
        adopt=not getattr(args, "no_adopt", False),
        recover=not getattr(args, "no_recover", False),
    )
    try:
        if args.command == "up":
            return pipeline.up(refresh=args.refresh)
        if args.command == "drift-check":
            return pipeline.drift_check()
        if args.command == "destroy":
            return pipeline.destroy()
        return pipeline.adopt_user(args.account, args.user_id, args.org_id)
    except RuntimeError as error:  # no pulumi CLI: tools.pulumi_cli says how to get one
        print(f"pipeline: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
