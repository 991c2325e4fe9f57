"""`zitadel-bootstrap run` and `adopt-user`: the pipeline's pulumi commands, riding out what ZITADEL does under load.

The pulumi-zitadel plugin (terraform-provider-zitadel v1.2.0 on zitadel-go v2.1.8) retries nothing: a gRPC
Unavailable, ResourceExhausted (its RetryInfo is not read) or DeadlineExceeded fails the resource at once; and it
reads from ZITADEL's read model, which trails the writes. This wrapper runs the same `pulumi` commands in the
project directory, with the caller's environment, and adds what a pipeline needs on top:

    zitadel-bootstrap run up [--stack S] [--refresh]     # instead of `pulumi up --yes [--refresh --run-program]`
    zitadel-bootstrap run drift-check [--stack S]        # `pulumi preview --refresh --run-program --expect-no-changes`
    zitadel-bootstrap run destroy [--stack S]            # instead of `pulumi destroy --yes`
    zitadel-bootstrap adopt-user ACCOUNT [USER_ID]       # import the account's machine user that ZITADEL holds

- ``up`` and ``destroy`` rerun the command (at most ``--attempts`` runs, ``--retry-wait`` seconds apart, growing)
  when every error of the run is a transient one (``diagnosis``). A rerun continues from the state the failed run
  saved. Anything else stops at once with the errors by resource and the way out.
- ``up --refresh`` never refreshes what the read model does not show yet: a refresh of a user, key or membership
  that ZITADEL created a moment ago finds it NotFound and drops it from the state, and the update then meets
  AlreadyExists. So it first checks with `pulumi refresh --preview-only --expect-no-changes` (saves nothing); it
  refreshes only when a second check ``--settle`` seconds later still finds differences, and reruns never refresh.
- ``drift-check`` reports drift (7) only when a second check ``--settle`` seconds after the first still finds it:
  the plugin's refresh takes "not there yet" for "deleted". Failed checks are run again like ``up``.
- A machine user that this run created and the plugin lost (its read-back right after the create met the lag) is
  looked up in ZITADEL by org and user name with the provider's admin key (``recover``'s REST client), imported at
  its URN, and ``up`` runs again (``--no-adopt``: stop with the way out instead). An AlreadyExists without that
  proof is not adopted: the message points to `zitadel-bootstrap recover` and `adopt-user`.
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
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zitadel_bootstrap.cli.diagnosis import (
    MACHINE_USER_TYPE,
    SERVICE_ACCOUNT_TYPE,
    Diagnosis,
    diagnose,
)
from zitadel_bootstrap.cli.engine import EXIT_DRIFT, EXIT_FAILED
from zitadel_bootstrap.cli.explain import explain
from zitadel_bootstrap.cli.lookup import find_user_by_name
from zitadel_bootstrap.cli.runs import Run, Runner, recovery_runner, stream_runner

EXIT_USAGE = 2


#: Every refresh reads with the provider configuration of the program, not the one stored in the state: after the
#: provider's admin key is replaced and the old one deleted, the stored one is dead, and a refresh with it fails
#: every read ("failed to get user"). Pulumi >= 3.270 (--run-program on preview, up and refresh).
REFRESH_WITH_PROGRAM = ("--run-program",)


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
    """``up``: after an update that needed more than one run, run the recovery step (`zitadel-bootstrap recover`)."""
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
            checked = self.settled_check(
                ("refresh", *REFRESH_WITH_PROGRAM, "--preview-only", "--expect-no-changes"), "the refresh check"
            )
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
            lambda attempt: (
                "up",
                "--yes",
                *(("--refresh", *REFRESH_WITH_PROGRAM) if refresh and attempt == 1 else ()),
            ),
            adopt=self.adopt,
        )
        if done != 0 or self.runs == 1 or not self.recover:
            return done
        return self.after_retries()

    def after_retries(self) -> int:
        """An update that needed more than one run may have left what a lost answer made: a key whose answer never
        arrived is in ZITADEL and, after the rerun made another, held by no resource. The recovery step
        (`zitadel-bootstrap recover`) deletes such keys of the stack's own users and changes nothing else on a
        healthy stack."""
        stack = self.stack_name()
        if stack is None:
            self.say("no stack selected: run `zitadel-bootstrap recover --stack <STACK>` to check for leftovers")
            return EXIT_FAILED
        self.say("the update needed more than one run: the recovery step checks for what a lost answer left")
        recovered = self.run_recovery(stack)
        if recovered.returncode == 0:
            return 0
        self.say(
            f"`pulumi up` converged, but the recovery step exited {recovered.returncode}"
            + (" (lines marked `leave` need a person)" if recovered.returncode == 3 else "")
            + f": see its output above; rerun `zitadel-bootstrap recover --stack {stack}` when it is dealt with"
        )
        return EXIT_FAILED

    def destroy(self) -> int:
        return self.retried("`pulumi destroy`", lambda _attempt: ("destroy", "--yes"), forget_gone=True)

    def drift_check(self) -> int:
        checked = self.settled_check(
            ("preview", "--refresh", *REFRESH_WITH_PROGRAM, "--expect-no-changes"), "the drift check"
        )
        if checked == 0:
            self.say("no drift")
        elif checked == EXIT_DRIFT:
            self.say(f"drift found, and still there {self.settle:g} s later: see the plan above (exit 7)")
        return checked

    # -- the policy -----------------------------------------------------------------------------------------------
    def retried(
        self,
        what: str,
        argv: Callable[[int], Sequence[str]],
        accept: Sequence[int] = (0,),
        *,
        adopt: bool = False,
        forget_gone: bool = False,
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
            elif diagnosis.kind == "gone" and forget_gone and attempt < self.attempts and self.forget(diagnosis):
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
            self.say(explain(what, diagnosis, self.stack, attempts=attempt))
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

    def forget(self, diagnosis: Diagnosis) -> bool:
        """A destroy whose deletes ZITADEL answered NotFound: those objects are gone already (deleted outside the
        stack); drop them from the state (`pulumi state delete`) so that the next run destroys the rest."""
        names = ", ".join(urn.rsplit("::", 1)[-1] for urn in diagnosis.lost_urns)
        self.say(f"ZITADEL no longer holds {names} (deleted outside the stack): removing it from the state")
        for urn in diagnosis.lost_urns:
            done = self.pulumi("state", "delete", urn, "--yes")
            if done.returncode != 0:
                self.say(f"`pulumi state delete {urn}` failed: see the output above")
                return False
        return True

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
            # A new stack: the account's component alone first (a targeted `up` creates nothing in ZITADEL), so
            # that the user can be imported under it. The preflight lets the account's taken user name pass.
            parent = self.create_bare_component(account)
            if parent is None:
                return EXIT_FAILED
            parents = [parent]
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

    def create_bare_component(self, account: str) -> str | None:
        """`pulumi up --target <the account's component>`: its URN once created, else None (and why)."""
        stack = self.stack_name()
        project = self.project_name()
        if stack is None or project is None:
            self.say("no stack or project to adopt into: pass --stack and run in the project directory")
            return None
        urn = f"urn:pulumi:{stack}::{project}::{SERVICE_ACCOUNT_TYPE}::{account}"
        from zitadel_bootstrap.config.preflight import ADOPTING_VARIABLE  # noqa: PLC0415 - adopt-user only

        previous = os.environ.get(ADOPTING_VARIABLE)
        os.environ[ADOPTING_VARIABLE] = account
        try:
            done = self.pulumi("up", "--yes", "--target", urn)
        finally:
            if previous is None:
                os.environ.pop(ADOPTING_VARIABLE, None)
            else:
                os.environ[ADOPTING_VARIABLE] = previous
        if done.returncode != 0:
            self.say(f"could not create the component of {account!r} to adopt its user into: see the output above")
            return None
        return urn

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

    def project_name(self) -> str | None:
        """The name in the Pulumi.yaml of the directory pulumi runs in."""
        from zitadel_bootstrap.cli.recover.pulumi_ops import Project  # noqa: PLC0415 - adopt-user only

        try:
            return Project.load(Path.cwd()).name
        except (OSError, ValueError) as error:
            self.say(f"cannot read the project's Pulumi.yaml: {error}")
            return None

    def stack_name(self) -> str | None:
        if self.stack:
            return self.stack
        shown = self.pulumi("stack", "--show-name", echo=False)
        return shown.output.strip() if shown.returncode == 0 and shown.output.strip() else None


def execute(args: argparse.Namespace) -> int:
    """Run a parsed ``run up|drift-check|destroy`` or ``adopt-user`` (``main.build_parser`` defines the flags)."""
    # An interrupt must reach this process even when it was started with SIGINT ignored (a background job of a
    # shell, a CI step's wrapper): it then waits for pulumi to end its update cleanly and exits 130.
    signal.signal(signal.SIGINT, signal.default_int_handler)
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
        if args.command == "adopt-user":
            return pipeline.adopt_user(args.account, args.user_id, args.org_id)
        if args.action == "up":
            return pipeline.up(refresh=args.refresh)
        if args.action == "drift-check":
            return pipeline.drift_check()
        return pipeline.destroy()
    except RuntimeError as error:  # no pulumi CLI: engine.ENGINE_HINT says how to get one
        print(f"pipeline: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(
            "pipeline: interrupted; pulumi ended its run cleanly (the state keeps what was done): rerun",
            file=sys.stderr,
        )
        return 130
