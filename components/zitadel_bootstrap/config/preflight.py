"""Preflight: before anything is planned, prove that the provider's own credentials can do what the plan needs.

Which role is enough is otherwise found out by trial and error, halfway through an apply. So the program logs in
with the provider's admin key (``zitadel:jwtProfileFile`` or the secret ``zitadel:jwtProfileJson``), with the
same JWT-bearer library the verification uses, asks ZITADEL which permissions that user holds in each org the
plan touches, and fails the run, naming the admin user, the org and the missing role, before any resource is
declared: `pulumi preview` fails and nothing is created. ``zitadel-bootstrap:preflight: false`` turns it off.

What the plan needs (ZITADEL's permission names, as its API checks them):
- organizations declared in the config: ``org.create`` at the instance (IAM_OWNER or IAM_ORG_MANAGER); ZITADEL
  then makes the creator ORG_OWNER of each new org, which covers everything inside it;
- an existing org (``orgId``) that gets accounts: users, keys and the member kinds its accounts use (ORG_OWNER);
- instance roles: ``iam.member.write`` at the instance (IAM_OWNER).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zitadel_bootstrap import clock
from zitadel_bootstrap.verification import (
    KeyFileError,
    MachineKey,
    RetryPolicy,
    VerificationError,
    VerificationRequest,
    held_permissions,
    parse_key_file,
    user_ids_named,
)
from zitadel_bootstrap.verification.redaction import looks_like_key_material

from .model import ServiceAccountSettings, Settings

USER_PERMISSIONS = frozenset({"user.read", "user.write", "user.delete"})
ORG_MEMBER_PERMISSIONS = frozenset({"org.member.read", "org.member.write", "org.member.delete"})
PROJECT_MEMBER_PERMISSIONS = frozenset({"project.member.read", "project.member.write", "project.member.delete"})
PROJECT_GRANT_MEMBER_PERMISSIONS = frozenset({"project.grant.member.read", "project.grant.member.write"})
INSTANCE_MEMBER_PERMISSIONS = frozenset({"iam.member.read", "iam.member.write", "iam.member.delete"})
ORG_CREATE_PERMISSIONS = frozenset({"org.create"})

PREFLIGHT_DEADLINE_SECONDS = 30.0
SKIP_HINT = "or set zitadel-bootstrap:preflight to false to skip this check"
#: Accounts (comma-separated) whose user `zitadel-bootstrap adopt-user` is about to import: not claimed as new.
ADOPTING_VARIABLE = "ZITADEL_BOOTSTRAP_ADOPTING"


class PreflightError(Exception):
    """The provider's credentials cannot do what the plan needs; the message names user, org and role."""


@dataclass(frozen=True)
class Need:
    """Permissions the admin must hold in one org context (None: the instance) and why."""

    org_id: str | None
    permissions: frozenset[str]
    purpose: str
    role: str
    """The role that grants them, for the message."""


def needs(settings: Settings) -> list[Need]:
    """What the plan needs, per org context, from the validated settings."""
    result: list[Need] = []
    if settings.organizations:
        names = ", ".join(org.name for org in settings.organizations)
        result.append(Need(None, ORG_CREATE_PERMISSIONS, f"create the organizations {names}", "IAM_OWNER"))
    if any(account.instance_roles for account in settings.service_accounts):
        result.append(Need(None, INSTANCE_MEMBER_PERMISSIONS, "grant instance roles", "IAM_OWNER"))
    by_org: dict[str, list[ServiceAccountSettings]] = {}
    for account in settings.service_accounts:
        if account.org_id is not None:  # an org the program creates makes the admin its ORG_OWNER
            by_org.setdefault(account.org_id, []).append(account)
    for org_id, accounts in by_org.items():
        permissions = set(USER_PERMISSIONS)
        if any(account.roles for account in accounts):
            permissions |= ORG_MEMBER_PERMISSIONS
        if any(account.project_roles for account in accounts):
            permissions |= PROJECT_MEMBER_PERMISSIONS
        if any(account.project_grant_roles for account in accounts):
            permissions |= PROJECT_GRANT_MEMBER_PERMISSIONS
        names = ", ".join(account.name for account in accounts)
        result.append(Need(org_id, frozenset(permissions), f"manage the service accounts {names}", "ORG_OWNER"))
    return result


def problems(needs_: list[Need], held: Mapping[str | None, frozenset[str]], admin: str) -> list[str]:
    """One line per context where the admin lacks permissions the plan needs."""
    lines = []
    for need in needs_:
        missing = sorted(need.permissions - held.get(need.org_id, frozenset()))
        if missing:
            where = f"in org {need.org_id}" if need.org_id else "at the instance"
            lines.append(
                f"the provider's admin {admin} cannot {need.purpose} {where}: it lacks {', '.join(missing)}; "
                f"grant it {need.role} {where}"
            )
    return lines


def admin_key_text(files: Mapping[str, str | None], jwt_profile_json: str | None, project_dir: Path) -> tuple[str, str]:
    """(key file text, where it came from) of the provider's credentials; ``files`` maps the config keys that
    name a key file (``jwtProfileFile``, ``token``) to their values."""
    if jwt_profile_json:
        return jwt_profile_json, "zitadel:jwtProfileJson"
    for name, value in files.items():
        if not value:
            continue
        path = Path(value)
        path = path if path.is_absolute() else project_dir / path
        try:
            return path.read_text(), f"zitadel:{name} ({value})"
        except OSError as error:
            if looks_like_key_material(value):  # a key pasted where its path belongs: never quote it
                raise PreflightError(
                    f"preflight: the value of zitadel:{name} looks like key content, not a path: set it to the path "
                    f"of the admin's key file, or give the key itself as a secret: `pulumi config rm zitadel:{name}`, "
                    "then `pulumi config set --secret zitadel:jwtProfileJson < key.json`"
                ) from None
            raise PreflightError(
                f"preflight: zitadel:{name} names {value}, which cannot be read ({error.strerror}); "
                f"point it at the admin's key file, {SKIP_HINT}"
            ) from None
    raise PreflightError(
        f"preflight: the provider has no credentials: set zitadel:jwtProfileFile (or zitadel:token) or, as a secret, "
        f"zitadel:jwtProfileJson, {SKIP_HINT}"
    )


#: How ZITADEL refuses a key that was deleted, has expired or whose user is gone or inactive.
DEAD_KEY_KINDS = frozenset({"key_rejected", "key_expired", "user_not_found", "user_inactive"})


def dead_key_fix(source: str) -> str:
    """The way out when the provider's own key is dead: which setting holds it, and how to replace it."""
    if source == "zitadel:jwtProfileJson":
        how = "`pulumi config set --secret zitadel:jwtProfileJson < new-admin-key.json`"
    else:
        how = "write the new key file there (0600), or point zitadel:jwtProfileFile at it"
    return (
        f" The admin key in {source} is no longer valid in ZITADEL (deleted, expired, or its user removed or "
        f"deactivated): add a new key to that admin user, then {how}. Drift checks and repairs refresh with the "
        f"program's credentials only with --run-program (docs/operations.md, replacing the provider's admin key)."
    )


def check(settings: Settings, key_text: str, source: str) -> None:
    """Raise PreflightError listing everything the admin key cannot do; return when it can do all of it."""
    required = needs(settings)
    if not required:
        return
    try:
        key = parse_key_file(key_text)
    except KeyFileError as error:
        raise PreflightError(f"preflight: the key in {source} is not usable: {error}") from None
    admin = f"user {key.user_id} (key {key.key_id}, from {source})"
    request = _admin_request(settings, key)
    time = clock.current()
    contexts = list(dict.fromkeys(need.org_id for need in required))
    try:
        held = held_permissions(request, contexts, monotonic=time.monotonic, sleep=time.sleep)
    except VerificationError as error:
        raise PreflightError(
            f"preflight: the provider's admin {admin} cannot log in or look up its permissions: {error}"
            + (dead_key_fix(source) if error.kind in DEAD_KEY_KINDS else "")
        ) from None
    lines = problems(required, held, admin)
    if lines:
        raise PreflightError(
            "preflight failed, nothing was planned:\n" + "\n".join(f"  - {line}" for line in lines) + f"\n({SKIP_HINT})"
        )


def _admin_request(settings: Settings, key: MachineKey) -> VerificationRequest:
    """The provider's admin, logging in with ``key`` to the instance, retried within the preflight's deadline."""
    return VerificationRequest(
        issuer=settings.issuer,
        key=key,
        insecure=settings.provider.insecure,
        policy=RetryPolicy(deadline_seconds=PREFLIGHT_DEADLINE_SECONDS),
    )


def taken_names(settings: Settings, key_text: str, source: str, wanted: Sequence[ServiceAccountSettings]) -> list[str]:
    """For each account whose user the plan creates: a line when ZITADEL holds a user by its name already."""
    if not wanted:
        return []
    key = parse_key_file(key_text)
    request = _admin_request(settings, key)
    time = clock.current()
    try:
        found = user_ids_named(
            request, [(str(a.org_id), a.user_name) for a in wanted], monotonic=time.monotonic, sleep=time.sleep
        )
    except VerificationError as error:
        raise PreflightError(f"preflight: the provider's admin (from {source}) cannot search users: {error}") from None
    lines = []
    for account in wanted:
        ids = found.get((str(account.org_id), account.user_name), ())
        if ids:
            lines.append(
                f"{account.name}: ZITADEL holds a user named {account.user_name!r} in org {account.org_id} already "
                f"(id {', '.join(ids)}), and this stack would create one: the update would fail with AlreadyExists. "
                f"If it is this account's user (made by hand, or by a run whose answer was lost), adopt it: "
                f"`zitadel-bootstrap adopt-user --stack {{stack}} {account.name} {ids[0]}`; "
                f"else choose another userName"
            )
    return lines


def claim_user_names(settings: Settings, user_ids: Mapping[str, Any], project_dir: Path | None = None) -> None:
    """At preview: fail, naming the adopt command, when ZITADEL holds a user by the name of an account whose user the
    plan creates (its id is unknown in the preview). A plain `pulumi up` then stops at its preview instead of at
    ZITADEL's AlreadyExists halfway through the update."""
    import pulumi  # noqa: PLC0415

    if not settings.preflight or not pulumi.runtime.is_dry_run():
        return
    # `zitadel-bootstrap adopt-user` in a stack without the account first creates the bare component this way.
    adopting = set(filter(None, os.environ.get(ADOPTING_VARIABLE, "").split(",")))

    async def claim() -> bool:
        wanted = [
            account
            for account in settings.service_accounts
            if account.org_id
            and account.name in user_ids
            and account.name not in adopting
            and not await user_ids[account.name].is_known()
        ]
        if not wanted:
            return True
        config = pulumi.Config("zitadel")
        secret_json = pulumi.runtime.get_config("zitadel:jwtProfileJson")
        files = {name: config.get(name) for name in ("jwtProfileFile", "token")}
        try:
            key_text, source = admin_key_text(files, secret_json, project_dir or Path.cwd())
            lines = await asyncio.to_thread(taken_names, settings, key_text, source, wanted)
        except PreflightError as error:
            raise pulumi.RunError(str(error)) from None
        if lines:
            stack = pulumi.get_stack()
            listed = "\n".join(f"  - {line.replace('{stack}', stack)}" for line in lines)
            raise pulumi.RunError(f"preflight failed, nothing was planned:\n{listed}\n({SKIP_HINT})")
        return True

    # An output the runtime awaits before the program ends: its error fails the preview.
    claimed: pulumi.Output[bool] = pulumi.Output.from_input(claim())
    del claimed  # tracked by the runtime, which awaits it


def run_preflight(settings: Settings, project_dir: Path | None = None) -> None:
    """The program's preflight: read the provider's credentials from the stack config and check them."""
    import pulumi  # noqa: PLC0415 - the pure parts above are testable without the Pulumi runtime

    if not settings.preflight:
        return
    config = pulumi.Config("zitadel")
    # The JSON form is a secret: read it as the engine decrypted it, keep it in memory, never print it.
    secret_json = pulumi.runtime.get_config("zitadel:jwtProfileJson")
    try:
        files = {name: config.get(name) for name in ("jwtProfileFile", "token")}
        key_text, source = admin_key_text(files, secret_json, project_dir or Path.cwd())
        check(settings, key_text, source)
    except PreflightError as error:
        raise pulumi.RunError(str(error)) from None
