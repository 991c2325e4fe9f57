"""The ServiceAccount's inputs checked once known, with the stack config's rules and words.

``check_inputs`` turns the component's plain input values (snake_case keys, as Python programs and the package's
provider hand them over) into the validated ``ServiceAccountSettings`` the children are declared from. It reuses
the stack-config validator, so a role, a date or an id is refused with the same message whichever way it came, and
names the input (``userName``, with its Python name where that differs). Every problem is reported at once, before
any child resource is registered: a bad role never leaves a half-created user.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pulumi

from zitadel_bootstrap.config.accounts import parse_account
from zitadel_bootstrap.config.errors import Problems
from zitadel_bootstrap.config.fields import as_bool, show
from zitadel_bootstrap.config.model import ServiceAccountSettings, VerificationSettings
from zitadel_bootstrap.config.provider import derive_issuer
from zitadel_bootstrap.config.verification import parse_verification
from zitadel_bootstrap.verification.errors import InvalidInputError
from zitadel_bootstrap.verification.model import validate_issuer

#: Python input name -> schema (camelCase) name, in the order of ServiceAccountArgs.
INPUT_NAMES: Mapping[str, str] = {
    "user_name": "userName",
    "org_id": "orgId",
    "display_name": "displayName",
    "description": "description",
    "access_token_type": "accessTokenType",
    "roles": "roles",
    "instance_roles": "instanceRoles",
    "project_roles": "projectRoles",
    "project_grant_roles": "projectGrantRoles",
    "audience": "audience",
    "key_lifetime_days": "keyLifetimeDays",
    "key_expiration": "keyExpiration",
    "rotate_before_days": "rotateBeforeDays",
    "key_generation": "keyGeneration",
    "verify": "verify",
    "verify_deadline_seconds": "verifyDeadlineSeconds",
    "verify_refresh_settle_seconds": "verifyRefreshSettleSeconds",
    "issuer": "issuer",
    "insecure": "insecure",
}
_NESTED_NAMES = {"project_id": "projectId", "grant_id": "grantId", "roles": "roles"}
_WHOLE_NUMBERS = ("key_lifetime_days", "rotate_before_days", "key_generation")
#: Where the stack-config validator puts each verification setting, and the input that holds it here.
_VERIFICATION_KEYS = {
    "verification.enabled": "verify",
    "verification.deadlineSeconds": "verifyDeadlineSeconds",
    "verification.refreshSettleSeconds": "verifyRefreshSettleSeconds",
}
#: The validator names the entry it checks; the component has no such name, so problems start with this marker.
_HERE = "@"
#: Stands in for an org id that is still unknown (computed by another resource): the other inputs are checked now.
PENDING_ORG_ID = "0"
_PYTHON_NAMES = {camel: snake for snake, camel in (*INPUT_NAMES.items(), *_NESTED_NAMES.items()) if camel != snake}


class ServiceAccountInputError(pulumi.RunError, ValueError):
    """A ServiceAccount's inputs are invalid; ``problems`` holds one line per input.

    A ``RunError``: the engine prints the message alone, without a Python traceback that would bury it.
    """

    def __init__(self, name: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"ServiceAccount {name!r} has invalid inputs; nothing was created:\n{lines}")


@dataclass(frozen=True)
class ProviderDefaults:
    """The consumer's own ``zitadel:`` config, which gives the issuer and insecure their defaults."""

    domain: str | None = None
    port: int | None = None
    insecure: bool = False


@dataclass(frozen=True)
class ServiceAccountSpec:
    """A ServiceAccount's inputs, validated: what the component declares."""

    account: ServiceAccountSettings
    verification: VerificationSettings
    issuer: str
    insecure: bool


def check_inputs(
    name: str, values: Mapping[str, Any], *, provider: ProviderDefaults, now: datetime
) -> ServiceAccountSpec:
    """Validate the component's input values; ServiceAccountInputError lists every problem, each naming its input.

    ``values`` use the Python names; ``org_id`` may be ``PENDING_ORG_ID`` while the org is still being created.
    """
    problems = Problems()
    unknown = [_unknown_input(key) for key in sorted(set(values) - set(INPUT_NAMES), key=str)]
    if isinstance(values.get("org_id"), float):
        # A number this large has lost digits before it got here; the id it names may exist, and not be ours.
        problems.add(
            f"{_HERE}.orgId",
            f"arrived as the number {values['org_id']!r}, which cannot hold a ZITADEL id exactly: give it as a "
            'string of digits, e.g. orgId: "259254409320316419" (Pulumi YAML reads an unquoted id, and a config '
            "value of digits, as a number)",
        )
        values = {**values, "org_id": PENDING_ORG_ID}
    entry = _config_entry(values)
    parsed = parse_account(entry, _HERE, None, now, problems)
    verification = parse_verification(
        {
            config: values[snake]
            for config, snake in (
                ("enabled", "verify"),
                ("deadlineSeconds", "verify_deadline_seconds"),
                ("refreshSettleSeconds", "verify_refresh_settle_seconds"),
            )
            if values.get(snake) is not None
        },
        problems,
        key=f"{_HERE}.verification",
    )
    insecure = as_bool(values.get("insecure"), f"{_HERE}.insecure", problems, default=provider.insecure)
    issuer = _issuer(values.get("issuer"), provider, insecure, problems)
    if unknown or problems.items or parsed is None:
        raise ServiceAccountInputError(name, [*unknown, *(_named(item) for item in problems.items)])
    account = dataclasses.replace(parsed, name=name)
    return ServiceAccountSpec(account=account, verification=verification, issuer=issuer, insecure=insecure)


def _config_entry(values: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs as a ``serviceAccounts`` entry of the stack config (camelCase, whole numbers as ints)."""
    entry: dict[str, Any] = {"name": "account"}
    for snake, camel in INPUT_NAMES.items():
        value = values.get(snake)
        if value is None or snake in ("verify", "verify_deadline_seconds", "verify_refresh_settle_seconds"):
            continue
        if snake in ("issuer", "insecure"):
            continue
        if snake in _WHOLE_NUMBERS and isinstance(value, float) and value.is_integer():
            value = int(value)  # the engine hands numbers over as floats
        if snake in ("project_roles", "project_grant_roles") and isinstance(value, list):
            value = [
                {_NESTED_NAMES.get(k, k): v for k, v in item.items()} if isinstance(item, Mapping) else item
                for item in value
            ]
        entry[camel] = list(value) if isinstance(value, tuple) else value
    return entry


def _issuer(value: Any, provider: ProviderDefaults, insecure: bool, problems: Problems) -> str:
    key = f"{_HERE}.issuer"
    if value in (None, ""):
        if not provider.domain:
            problems.add(
                key,
                "is required when the program's zitadel:domain is not set: ZITADEL's origin, e.g. "
                "https://my-instance.zitadel.cloud",
            )
            return ""
        port = provider.port or (80 if provider.insecure else 443)
        value = derive_issuer(provider.domain, port, provider.insecure)
    if not isinstance(value, str):
        problems.add(
            key, f"must be an absolute http(s) URL such as https://my-instance.zitadel.cloud, got {show(value)}"
        )
        return ""
    try:
        return validate_issuer(value, insecure=insecure)
    except InvalidInputError as error:
        problems.add(key, f"{error.message} (set insecure: true only for a local plain-http instance)")
        return ""


def _unknown_input(key: Any) -> str:
    # Named as given: a camelCase name from the schema is the likely slip of a Python program.
    python = _PYTHON_NAMES.get(key) if key in INPUT_NAMES.values() else None
    hint = f"in Python it is {python}" if python else f"inputs are {', '.join(INPUT_NAMES)}"
    return f"{key}: is not an input of ServiceAccount; {hint}"


def input_label(python_name: str) -> str:
    """How a message names an input: ``userName (Python: user_name)``, or just ``roles`` where both agree."""
    camel = INPUT_NAMES.get(python_name, python_name)
    return f"{camel} (Python: {python_name})" if camel != python_name else camel


def _python_path(path: str) -> str:
    """``projectRoles[0].projectId`` -> ``project_roles[0].project_id``: each name of a path in Python's words."""
    return re.sub(r"[A-Za-z]+", lambda name: _PYTHON_NAMES.get(name.group(0), name.group(0)), path)


def _named(problem: str) -> str:
    """``@.userName: ...`` -> ``userName (Python: user_name): ...``."""
    path, _, message = problem.partition(": ")
    path = path.removeprefix(f"{_HERE}.").removeprefix(_HERE)
    path = _VERIFICATION_KEYS.get(path, path)
    python = _python_path(path)
    label = f"{path} (Python: {python})" if python != path else path
    return f"{label}: {message}"
