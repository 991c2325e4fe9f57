"""The guardrails' decisions, as pure functions over plain data (no Pulumi, no pulumi-policy).

``policy.pack`` turns what the policy SDK hands a policy into the plain values used here: property values with
``UNKNOWN`` where the engine does not know them yet (a preview), the set of property paths that the engine sent
as secrets, and URNs. Every function returns the violations it finds as messages that name the service account
(the name of the ``zitadel-bootstrap:index:ServiceAccount`` the resource belongs to) and the rule. Messages never
contain property values other than dates, role names and account names: a policy sees secrets in plaintext.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from zitadel_bootstrap.limits import NO_EXPIRATION

# --- names --------------------------------------------------------------------------------------------------------

KEY_EXPIRY: Final = "machine-key-expiry"
NO_INSTANCE_OWNER: Final = "no-instance-iam-owner"
KEY_MATERIAL_SECRET: Final = "key-material-secret"  # noqa: S105 (a rule name)
ACCOUNT_VERIFIED: Final = "service-account-verified"

SERVICE_ACCOUNT_TYPE: Final = "zitadel-bootstrap:index:ServiceAccount"
VERIFICATION_TYPE: Final = "zitadel-bootstrap:index:JwtBearerVerification"
MACHINE_KEY_TYPE: Final = "zitadel:index/machineKey:MachineKey"
INSTANCE_MEMBER_TYPE: Final = "zitadel:index/instanceMember:InstanceMember"
STACK_TYPE: Final = "pulumi:pulumi:Stack"

IAM_OWNER: Final = "IAM_OWNER"
#: The MachineKey output with the key file, and the verification's copy of it (kept for refresh).
KEY_DETAILS: Final = "keyDetails"
VERIFICATION_KEY_JSON: Final = "key_json"
#: The stack output with every account's key file (``__main__.py``).
MACHINE_KEYS_OUTPUT: Final = "machineKeys"

DEFAULT_MAX_KEY_DAYS: Final = 365
MAX_KEY_DAYS_LIMIT: Final = 36500

# Pulumi's wire form of a secret (sdk/go/common/resource/properties.go): {SIG_KEY: SECRET_SIG, "value": ...}.
SIG_KEY: Final = "4dabf18193072939515e22adb298388d"
SECRET_SIG: Final = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (a type marker)

#: A PEM private key, as ZITADEL's key file holds it ("-----BEGIN RSA PRIVATE KEY-----").
PRIVATE_KEY_PEM: Final = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")

Path = tuple[str, ...]


class _Unknown:
    """A value the engine does not know yet (during a preview)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


@dataclass(frozen=True)
class Violation:
    """One finding: the message, and the URN it is about (None: the stack as a whole)."""

    message: str
    urn: str | None = None


@dataclass(frozen=True)
class Resource:
    """One resource of the stack as a stack policy sees it, in plain values."""

    urn: str
    type: str
    name: str
    parent: str | None
    """The parent's URN."""
    props: Mapping[str, Any]
    """Outputs (stack policies) or inputs (resource policies); ``UNKNOWN`` where not known yet."""
    secret_paths: frozenset[Path] | None
    """The property paths the engine sent as secrets; None when the pack could not see them."""
    additional_secret_outputs: tuple[str, ...] = ()


# --- URNs and accounts --------------------------------------------------------------------------------------------


def urn_type_and_name(urn: str | None) -> tuple[str, str] | None:
    """``urn:pulumi:<stack>::<project>::<parent types$>type::<name>`` -> (type, name); None if not a URN."""
    if not urn or not urn.startswith("urn:pulumi:"):
        return None
    parts = urn.split("::", 3)
    if len(parts) != 4:
        return None
    return parts[2].rsplit("$", 1)[-1], parts[3]


def account_of(parent_urn: str | None) -> str | None:
    """The service account a resource belongs to: the name of its parent ServiceAccount component, else None.

    The parent is what the program declares (``parent=self`` in the component), so this holds for every child
    whatever its name, also after a rename with ``formerNames`` (aliases keep the children, the parent is the
    new name). A name suffix (``<account>-instance-member``) would be a convention only: a resource outside
    any ServiceAccount could be named like one and borrow an allow-listed account's name.
    """
    parsed = urn_type_and_name(parent_urn)
    if parsed is None or parsed[0] != SERVICE_ACCOUNT_TYPE:
        return None
    return parsed[1]


def subject(account: str | None, kind: str, name: str) -> str:
    """How a message starts: the account first, then the resource."""
    if account is None:
        return f"{kind} {name} (not part of a zitadel-bootstrap ServiceAccount)"
    return f'service account "{account}": {kind} {name}'


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in sorted(set(names)))


# --- rule options -------------------------------------------------------------------------------------------------


def max_key_days(config: Mapping[str, Any]) -> int:
    """``maxDays`` of machine-key-expiry (the CLI checks the schema; this guards the pack's own default)."""
    value = config.get("maxDays", DEFAULT_MAX_KEY_DAYS)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{KEY_EXPIRY}.maxDays must be a whole number of days, got {value!r}")
    days = int(value)
    if not 1 <= days <= MAX_KEY_DAYS_LIMIT:
        raise ValueError(f"{KEY_EXPIRY}.maxDays must be 1-{MAX_KEY_DAYS_LIMIT}, got {days}")
    return days


def allowed_accounts(config: Mapping[str, Any], rule: str) -> frozenset[str]:
    """``allowedAccounts``: service account names (the ``name`` of a ``serviceAccounts`` entry)."""
    value = config.get("allowedAccounts", [])
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{rule}.allowedAccounts must be a list of account names, got {value!r}")
    return frozenset(value)


# --- rule 1: machine-key-expiry -----------------------------------------------------------------------------------


def parse_rfc3339(value: str) -> datetime | None:
    """A date-time with a zone (``2027-01-01T00:00:00Z``), or None."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", value):
        return None
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def key_expiry_violation(
    *, account: str | None, resource: str, expiration: object, now: datetime, max_days: int
) -> str | None:
    """Rule 1: the MachineKey's ``expirationDate`` input is at most ``max_days`` from ``now``.

    No date, or ZITADEL's ``9999-12-31T23:59:59Z``, is a key that never expires. An unknown date (a preview
    that cannot know it) fails too: the rule must hold before anything is created, and this program always
    knows the date at preview (its KeyRotation plans it in ``check``), so an unknown one comes from a change
    the policy cannot vouch for. An expired date is not this rule's business (the key rotation reports it).
    """
    who = subject(account, "machine key", resource)
    limit = f"{KEY_EXPIRY} allows at most {max_days} days"
    fix = f"set keyLifetimeDays or keyExpiration within {max_days} days, or raise maxDays of {KEY_EXPIRY}"
    if expiration is UNKNOWN:
        return (
            f"{who} has an expirationDate that is not known during this preview, so {KEY_EXPIRY} cannot "
            f"check that it is at most {max_days} days away; make the date known at preview (this program "
            f"plans it in its KeyRotation resource)"
        )
    if expiration is None or expiration == "":
        return f"{who} has no expirationDate: ZITADEL gives it {NO_EXPIRATION}, so it never expires; {limit}: {fix}"
    if not isinstance(expiration, str):
        return f"{who} has an expirationDate that is not a string; {limit}"
    parsed = parse_rfc3339(expiration)
    if parsed is None:
        return f"{who} has expirationDate {expiration!r}, not an RFC 3339 date-time with a zone; {limit}"
    if expiration == NO_EXPIRATION or parsed.year == 9999:
        return f"{who} never expires (expirationDate {expiration}, ZITADEL's 'no expiration'); {limit}: {fix}"
    left = parsed - now
    if left <= timedelta(days=max_days):
        return None
    days = math.ceil(left / timedelta(days=1))
    return f"{who} expires {expiration}, in {days} days; {limit}: {fix}"


# --- rule 2: no-instance-iam-owner --------------------------------------------------------------------------------


def instance_owner_violation(
    *, account: str | None, resource: str, roles: object, allowed: frozenset[str]
) -> str | None:
    """Rule 2: an InstanceMember grants IAM_OWNER only to an allow-listed account.

    A member outside any ServiceAccount cannot be allow-listed (it has no account name to match). Roles not
    known during a preview fail: they come from the stack config here, so they are always known.
    """
    who = subject(account, "instance member", resource)
    if roles is UNKNOWN:
        return (
            f"{who} has roles that are not known during this preview, so {NO_INSTANCE_OWNER} cannot check "
            f"them for {IAM_OWNER}"
        )
    granted = [role for role in roles if isinstance(role, str)] if isinstance(roles, Sequence) else []
    if IAM_OWNER not in granted:
        return None
    if account is not None and account in allowed:
        return None
    listed = _quoted(allowed) or "none"
    remedy = (
        f'add "{account}" to allowedAccounts of {NO_INSTANCE_OWNER} (now: {listed})'
        if account is not None
        else "declare it through a service account in the stack config"
    )
    return (
        f"{who} grants {IAM_OWNER} on the whole instance; {NO_INSTANCE_OWNER} allows that only for "
        f"allow-listed accounts: grant a narrower role (IAM_OWNER_VIEWER, or ORG_OWNER at the org level), "
        f"or {remedy}"
    )


# --- rule 3: key-material-secret ----------------------------------------------------------------------------------


def secret_paths(wire: Mapping[str, Any]) -> frozenset[Path]:
    """The paths of every value that the engine sent as a secret, in properties of Pulumi's JSON wire form."""
    found: set[Path] = set()

    def walk(value: Any, path: Path) -> None:
        if isinstance(value, Mapping):
            if value.get(SIG_KEY) == SECRET_SIG:
                found.add(path)
                walk(value.get("value"), path)
                return
            for key, item in value.items():
                walk(item, (*path, str(key)))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*path, str(index)))

    for key, item in wire.items():
        walk(item, (str(key),))
    return frozenset(found)


def is_covered(path: Path, secrets: frozenset[Path]) -> bool:
    """Whether the value at ``path`` is inside a secret (the path itself or one of its prefixes)."""
    return any(path[:length] in secrets for length in range(1, len(path) + 1))


def plaintext_private_keys(props: Mapping[str, Any], secrets: frozenset[Path]) -> Iterator[Path]:
    """Paths of known string values holding a PEM private key outside every secret."""

    def walk(value: Any, path: Path) -> Iterator[Path]:
        if is_covered(path, secrets):
            return
        if isinstance(value, str):
            if PRIVATE_KEY_PEM.search(value):
                yield path
        elif isinstance(value, Mapping):
            for key, item in value.items():
                yield from walk(item, (*path, str(key)))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                yield from walk(item, (*path, str(index)))

    for key, item in props.items():
        yield from walk(item, (str(key),))


def _dotted(path: Path) -> str:
    return ".".join(path)


def _account_from_output(path: Path) -> str | None:
    """``machineKeys.<name>`` and ``serviceAccounts.<name>...`` name the account."""
    if len(path) >= 2 and path[0] in (MACHINE_KEYS_OUTPUT, "serviceAccounts"):
        return path[1]
    return None


def key_material_violations(resources: Sequence[Resource]) -> list[Violation]:
    """Rule 3: key material is stored and leaves the stack only as a secret.

    (a) every MachineKey lists ``keyDetails`` in additionalSecretOutputs (the engine then stores the key file
    encrypted; the generated zitadel SDK sets it); (b) every verification lists ``key_json`` there (its copy of the
    key file, kept for refresh); (c) the stack output ``machineKeys`` is a secret, as a whole or entry by entry;
    (d) no resource output and no stack output holds a PEM private key outside a secret. (c) and (d) need the
    secret paths (``Resource.secret_paths``); values unknown during a preview cannot hold plaintext keys yet.
    """
    found: list[Violation] = []
    key_accounts: dict[str, str | None] = {}
    for resource in resources:
        account = account_of(resource.parent)
        if resource.type == MACHINE_KEY_TYPE:
            key_accounts[resource.urn] = account
            if KEY_DETAILS not in resource.additional_secret_outputs:
                found.append(
                    Violation(
                        f"{subject(account, 'machine key', resource.name)} does not list {KEY_DETAILS} in "
                        f"additionalSecretOutputs: its key file must always be stored as a secret "
                        f"({KEY_MATERIAL_SECRET})",
                        resource.urn,
                    )
                )
        elif resource.type == VERIFICATION_TYPE and VERIFICATION_KEY_JSON not in resource.additional_secret_outputs:
            found.append(
                Violation(
                    f"{subject(account, 'verification', resource.name)} does not list {VERIFICATION_KEY_JSON} in "
                    f"additionalSecretOutputs: the key file it keeps for refresh must always be stored as a secret "
                    f"({KEY_MATERIAL_SECRET})",
                    resource.urn,
                )
            )

    blind = [resource for resource in resources if resource.secret_paths is None]
    if blind:
        found.append(
            Violation(
                f"{KEY_MATERIAL_SECRET} cannot tell secrets from plaintext in this run (the policy SDK hid them), "
                f"so it cannot check that machineKeys and every key file are secrets; use pulumi-policy 1.21.0 "
                f"as requirements-dev.txt pins it"
            )
        )
    for resource in resources:
        if resource.secret_paths is None:
            continue
        if resource.type == STACK_TYPE and resource.parent is None:
            found.extend(_machine_keys_output(resource, resource.secret_paths, key_accounts.values()))
        for path in plaintext_private_keys(resource.props, resource.secret_paths):
            if resource.type == STACK_TYPE and resource.parent is None:
                account = _account_from_output(path)
                where = f"stack output {_dotted(path)}"
                who = f'service account "{account}": {where}' if account else where
            else:
                who = f"{subject(account_of(resource.parent), resource.type, resource.name)}: output {_dotted(path)}"
            found.append(
                Violation(
                    f"{who} holds a private key in plaintext, not as a secret ({KEY_MATERIAL_SECRET})", resource.urn
                )
            )
    return found


def _machine_keys_output(
    stack: Resource, secrets: frozenset[Path], key_accounts: Iterable[str | None]
) -> list[Violation]:
    if MACHINE_KEYS_OUTPUT not in stack.props or (MACHINE_KEYS_OUTPUT,) in secrets:
        return []
    value = stack.props[MACHINE_KEYS_OUTPUT]
    if isinstance(value, Mapping):
        exposed = [str(name) for name in value if not is_covered((MACHINE_KEYS_OUTPUT, str(name)), secrets)]
        if not exposed:
            return []
    else:
        # Not known yet (a preview) or not a map: the key file of every account with a key is exposed.
        exposed = [account for account in key_accounts if account is not None]
    plural = "s" if len(set(exposed)) > 1 else ""
    accounts = f"service account{plural} {_quoted(exposed)}" if exposed else "the stack's machine keys"
    return [
        Violation(
            f"stack output {MACHINE_KEYS_OUTPUT} is not a secret: the key files of {accounts} would be shown by "
            f"`pulumi stack output` and stored in plaintext; export it with pulumi.Output.secret "
            f"({KEY_MATERIAL_SECRET})",
            stack.urn,
        )
    ]


# --- rule 4: service-account-verified ------------------------------------------------------------------------------


def unverified_violations(resources: Sequence[Resource], allowed: frozenset[str]) -> list[Violation]:
    """Rule 4: every ServiceAccount has a JwtBearerVerification child, unless its name is allow-listed."""
    verified = {resource.parent for resource in resources if resource.type == VERIFICATION_TYPE}
    found: list[Violation] = []
    for resource in resources:
        if resource.type != SERVICE_ACCOUNT_TYPE or resource.urn in verified or resource.name in allowed:
            continue
        found.append(
            Violation(
                f'service account "{resource.name}" is not verified: it has no {VERIFICATION_TYPE} child, so '
                f"nothing proves that its key logs in and its grants work ({ACCOUNT_VERIFIED}); enable "
                f'zitadel-bootstrap:verification.enabled, or add "{resource.name}" to allowedAccounts of '
                f"{ACCOUNT_VERIFIED}",
                resource.urn,
            )
        )
    return found
