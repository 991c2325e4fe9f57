"""`zitadel-bootstrap recover`: repair a stack after an interrupted or failed `pulumi up`, so the next one converges.

Steps: read the stack's config (stacks/Pulumi.<stack>.yaml, validated like the program does) and its checkpoint
(`pulumi stack export`); log in to ZITADEL with the provider's admin key; look up every configured account's
user by org and user name, its keys and the memberships its member resources declare; decide (plan.py); print
one line per object; then, unless ``--dry-run``: check the stack's lock (a lock left by a dead run on this
machine is removed; any other one only with ``--break-lock``), delete what cannot be adopted, adopt the rest
with one `pulumi import`, and clear the checkpoint's pending operations.

Exit status: 0 the stack is ready for `pulumi up`; 3 something is left for a person (the lines marked
``leave`` say what; nothing else was changed when a live lock stopped it); 1 an error; 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import yaml

from zitadel_bootstrap.config import Settings, SettingsError, load_settings_file
from zitadel_bootstrap.verification import VerificationError
from zitadel_bootstrap.verification.redaction import looks_like_key_material

from .model import (
    AccountTarget,
    MemberSpec,
    Observation,
    OrgTarget,
    PendingOperation,
    Plan,
    StackState,
    ZitadelKey,
    ZitadelMember,
    ZitadelUser,
)
from .plan import account_targets, decide, org_targets, resolve_org_ids
from .pulumi_ops import Project, Pulumi, PulumiCommandError
from .stackstate import LockHolder, StateFormatError, lock_holders, parse_export, stale
from .zitadel_api import ZitadelApi, ZitadelApiError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NEEDS_HUMAN = 3
DEFAULT_SETTLE_SECONDS = 5.0


class RecoveryError(Exception):
    """Stops the recovery with a message (and an exit status)."""

    def __init__(self, message: str, status: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.status = status


DESCRIPTION = (
    "Repair a zitadel-bootstrap stack after an interrupted or failed `pulumi up` (SIGINT, SIGKILL, a dead "
    "CI runner, a ZITADEL that lost an answer), so that the next `pulumi up --yes` converges. Users that an "
    "interrupted create left in ZITADEL are imported into the stack, and so are memberships of the stack's "
    "users; machine keys whose key file was never recorded are deleted; pending operations are cleared; "
    "a lock left by a dead run on this machine is removed. A user the stack did not provably create is never "
    "deleted. One line per object says what was found and done; no key or token material is printed."
)
EPILOG = (
    "Exit status: 0 ready for `pulumi up`; 3 something is left for a person (lines marked `leave`); "
    "1 error; 2 bad usage or config. Run it where you run `pulumi up`: same project directory, backend "
    "(PULUMI_BACKEND_URL or Pulumi.yaml) and secrets passphrase (PULUMI_CONFIG_PASSPHRASE[_FILE])."
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zitadel-bootstrap recover", description=DESCRIPTION, epilog=EPILOG)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, help="the stack to repair (its config: stacks/Pulumi.<stack>.yaml)")
    p.add_argument("--cwd", type=Path, default=Path.cwd(), help="the Pulumi project directory (default: here)")
    p.add_argument("--dry-run", action="store_true", help="only print what would be done; change nothing")
    p.add_argument(
        "--break-lock",
        action="store_true",
        help="remove the stack's lock even when it may belong to a run on another machine (say so only when no "
        "other run of this stack can be going on, e.g. its CI runner is known dead); a lock of a dead process on "
        "this machine is removed without it",
    )
    p.add_argument(
        "--adopt-unknown",
        action="store_true",
        help="also import users of a configured userName that this stack did not provably create (e.g. after the "
        "state was lost); their keys are kept",
    )
    p.add_argument(
        "--admin-key-file",
        type=Path,
        help="the ZITADEL admin key file to use instead of the provider's (zitadel:jwtProfileFile / "
        "zitadel:jwtProfileJson / zitadel:token of the stack)",
    )
    p.add_argument(
        "--settle-seconds",
        type=float,
        default=DEFAULT_SETTLE_SECONDS,
        help="how long to look again for objects of interrupted creates that ZITADEL does not show yet (its reads "
        f"trail its writes; default {DEFAULT_SETTLE_SECONDS:g})",
    )


# --- inputs ------------------------------------------------------------------------------------------------------


def admin_key_text(pulumi: Pulumi, stack_file: Path, override: Path | None) -> tuple[str, str]:
    """(key file text, where it came from): the provider's own credentials unless a file is given."""
    project_dir = pulumi.project.directory
    if override is not None:
        return _read_key(override, str(override), "--admin-key-file"), str(override)
    document = yaml.safe_load(stack_file.read_text()) or {}
    config = document.get("config") or {}
    if config.get("zitadel:jwtProfileJson") not in (None, ""):
        # A secret: the CLI decrypts it into this process's memory; it is never printed or written.
        return pulumi.secret_config("zitadel:jwtProfileJson"), "zitadel:jwtProfileJson"
    for key in ("zitadel:jwtProfileFile", "zitadel:token"):
        value = config.get(key)
        if isinstance(value, str) and value:
            path = Path(value) if Path(value).is_absolute() else project_dir / value
            return _read_key(path, f"{key} ({value})", key), key
    raise RecoveryError(f"{stack_file} gives the provider no credentials to use", EXIT_USAGE)


def _read_key(path: Path, label: str, setting: str) -> str:
    """The text of the key file at ``path``; ``label`` names it in an error (``setting``: the option or config key
    that gave the path, named instead when its value looks like a key pasted in place of a path)."""
    try:
        return path.read_text()
    except OSError as error:
        if looks_like_key_material(str(path)):
            way_out = "pass the path of the key file"
            if setting.startswith("zitadel:"):
                way_out = (
                    f"set {setting} to the path of the admin's key file, or give the key itself as a secret: "
                    f"`pulumi config rm {setting}`, then `pulumi config set --secret zitadel:jwtProfileJson < key.json`"
                )
            raise RecoveryError(
                f"the value of {setting} looks like key content, not a path: {way_out}", EXIT_USAGE
            ) from None
        raise RecoveryError(f"the admin key file {label} cannot be read: {error.strerror}", EXIT_USAGE) from None


def observe_orgs(api: ZitadelApi, orgs: Sequence[OrgTarget]) -> Observation:
    return Observation(orgs={org.display_name: api.orgs_named(org.display_name) for org in orgs})


def observe_accounts(
    api: ZitadelApi,
    base: Observation,
    accounts: Sequence[AccountTarget],
    strays: Sequence[tuple[MemberSpec, str, PendingOperation]],
) -> Observation:
    users: dict[tuple[str, str], tuple[ZitadelUser, ...]] = {}
    keys: dict[str, tuple[ZitadelKey, ...]] = {}
    members: dict[tuple[str, str], ZitadelMember] = {}
    for target in accounts:
        found = api.users_named(target.org_id, target.user_name)
        users[(target.org_id, target.user_name.lower())] = found
        for user in found:
            keys[user.id] = api.keys_of(target.org_id, user.id)
            for spec in target.members:
                member = api.member(spec, user.id)
                if member is not None:
                    members[(user.id, spec.resource_name)] = member
    for spec, user_id, _ in strays:
        member = api.member(spec, user_id)
        if member is not None:
            members[(user_id, spec.resource_name)] = member
    return Observation(users=users, keys=keys, members=members, orgs=base.orgs)


def build_plan(
    api: ZitadelApi,
    settings: Settings,
    state: StackState,
    *,
    adopt_unknown: bool,
    settle_seconds: float,
    echo: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> Plan:
    """Look, decide; look again while interrupted creates show nothing yet and the settle time lasts."""
    deadline = time.monotonic() + settle_seconds
    while True:
        orgs = org_targets(settings, state)
        seen = observe_orgs(api, orgs)
        accounts, strays = account_targets(settings, state, resolve_org_ids(settings, state, seen))
        seen = observe_accounts(api, seen, accounts, strays)
        plan = decide(state, orgs, accounts, strays, seen, adopt_unknown=adopt_unknown)
        if not plan.unresolved or time.monotonic() >= deadline:
            return plan
        names = ", ".join(op.resource.name for op in plan.unresolved)
        echo(f"...    nothing found yet for the interrupted create of {names}; looking again (ZITADEL's reads trail)")
        sleep(1.0)


# --- the stack lock ------------------------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether a process of that id runs here and could be a pulumi run (a zombie or another program is not).

    A lock names its runner by host name and pid: containers that share a host name but not a pid namespace would
    make a live run look dead here. Such runners must not share a stack without a CI concurrency group anyway.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    try:
        if (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
            return False
        return "pulumi" in (proc / "comm").read_text()
    except (OSError, IndexError):
        return True


def take_lock(pulumi: Pulumi, stack_urn: str | None, *, break_lock: bool, echo: Callable[[str], None]) -> None:
    """Make sure no lock stops the changes: probe with a no-op refresh; a stale lock (or any, with
    --break-lock) is removed with `pulumi cancel`."""
    for attempt in range(2):
        try:
            pulumi.refresh_stack_resource(stack_urn, clear_pending_creates=False)
        except PulumiCommandError as error:
            holders = lock_holders(error.output)
            if holders is None or attempt == 1:
                raise
            this_host = socket.gethostname()
            alive = {h.pid: pid_alive(h.pid) for h in holders if h.host == this_host and h.pid > 0}
            dead = all(stale(h, this_host=this_host, alive=alive) for h in holders)
            for holder in holders:
                echo(f"lock   stack lock of {holder.describe()}: {_lock_verdict(holder, dead, break_lock, alive)}")
            if not (dead or break_lock):
                raise RecoveryError(
                    "the stack is locked by a run that may still be going on; nothing was changed. Wait for it, or, "
                    "if it is dead (e.g. its CI runner was killed), run again with --break-lock",
                    EXIT_NEEDS_HUMAN,
                ) from None
            pulumi.cancel()
        else:
            return


def _lock_verdict(holder: LockHolder, dead: bool, break_lock: bool, alive: dict[int, bool]) -> str:
    if dead:
        return "its process is gone: break"
    if break_lock:
        return "broken on request (--break-lock)"
    if holder.pid in alive:
        return "its process still runs: kept"
    return "it may belong to a run elsewhere: kept"


# --- applying ------------------------------------------------------------------------------------------------------


def apply(
    plan: Plan,
    api: ZitadelApi,
    pulumi: Pulumi,
    state: StackState,
    *,
    break_lock: bool,
    echo: Callable[[str], None],
) -> None:
    take_lock(pulumi, state.stack_urn, break_lock=break_lock, echo=echo)
    order = {"member": 0, "key": 1, "user": 2}
    for deletion in sorted(plan.deletions, key=lambda d: order[d.what]):
        if deletion.what == "key":
            api.remove_key(deletion.org_id, deletion.user_id, deletion.key_id)
        elif deletion.what == "member" and deletion.member is not None:
            api.remove_member(deletion.member, deletion.user_id)
        else:
            api.remove_user(deletion.org_id, deletion.user_id)
    if plan.deletions:
        echo(f"done   deleted {len(plan.deletions)} object(s) in ZITADEL")
    if plan.adoptions:
        pulumi.import_resources(plan.adoptions)
        echo(f"done   imported {len(plan.adoptions)} object(s) into stack {state.stack} (`pulumi import`)")
    if state.pending:
        pulumi.refresh_stack_resource(state.stack_urn, clear_pending_creates=True)
        echo(f"done   cleared {len(state.pending)} pending operation(s) (`pulumi refresh --clear-pending-creates`)")


def run(args: argparse.Namespace, out: TextIO) -> int:
    def echo(line: str) -> None:
        print(line, file=out, flush=True)

    project = Project.load(args.cwd.resolve())
    stack_file = project.stack_file(args.stack)
    if not stack_file.is_file():
        raise RecoveryError(
            f"{stack_file} does not exist: is {args.stack!r} a stack of {project.directory}?", EXIT_USAGE
        )
    try:
        settings = load_settings_file(stack_file)
    except SettingsError as error:
        raise RecoveryError(f"the stack config is invalid:\n{error}", EXIT_USAGE) from None
    pulumi = Pulumi(project, args.stack)
    state = parse_export(pulumi.export(), stack=args.stack, project=project.name)
    key_text, key_source = admin_key_text(pulumi, stack_file, args.admin_key_file)
    api = ZitadelApi.login(settings.issuer, key_text, insecure=settings.provider.insecure)
    del key_text
    try:
        echo(
            f"recovery of stack {args.stack} ({project.name}) at {settings.issuer}, as admin user {api.admin_user_id} "
            f"(key {api.admin_key_id}, from {key_source})"
        )
        pending = ", ".join(f"{op.kind} {op.resource.name}" for op in state.pending) or "none"
        echo(f"state  {len(state.resources)} resources; pending operations: {pending}")
        plan = build_plan(
            api, settings, state, adopt_unknown=args.adopt_unknown, settle_seconds=args.settle_seconds, echo=echo
        )
        for action in plan.actions:
            echo(f"{action.verb:<6} {action.line}")
        if not plan.actions:
            echo("ok     nothing of the configured accounts exists in ZITADEL yet, and nothing is pending")
        if args.dry_run:
            echo("dry run: nothing was changed (a lock on the stack is checked only when changes are made)")
        else:
            apply(plan, api, pulumi, state, break_lock=args.break_lock, echo=echo)
    finally:
        api.close()
    if any(action.needs_human for action in plan.actions):
        echo("left   some objects need a decision (lines marked `leave`); `pulumi up` may fail until then")
        return EXIT_NEEDS_HUMAN
    echo(f"next   pulumi up --yes --stack {args.stack}" + ("" if not args.dry_run else "  (after a real run)"))
    return EXIT_OK


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    return execute(parser().parse_args(argv), out, err)


def execute(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        return run(args, out)
    except RecoveryError as error:
        print(f"error: {error}", file=err)
        return error.status
    except (ValueError, StateFormatError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    except (PulumiCommandError, ZitadelApiError, VerificationError) as error:
        print(f"error: {error}", file=err)
        return EXIT_ERROR
