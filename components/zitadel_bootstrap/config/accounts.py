"""Which service accounts the program declares: the ``zitadel-bootstrap:serviceAccounts`` list.

Per entry: its names, its organization (``orgId``, or ``org`` naming a declared organization), its token type and
audience, its roles (``roles``) and its key's lifecycle (``key_lifecycle``). Across entries: names, former names
and user names (per organization) are unique.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from zitadel_bootstrap import limits
from zitadel_bootstrap.verification.errors import InvalidInputError

from .errors import Problems
from .fields import ID, as_id, as_name, show, unknown_keys
from .key_lifecycle import KEY_LIFECYCLE_KEYS, parse_key_lifecycle
from .keys import project_key
from .model import ServiceAccountSettings
from .roles import DEFAULT_ORG_ROLES, parse_project_grant_roles, parse_project_roles, parse_roles

ACCOUNT_KEYS = frozenset(
    {
        "name",
        "formerNames",
        "org",
        "orgId",
        "userName",
        "displayName",
        "description",
        "accessTokenType",
        "roles",
        "instanceRoles",
        "projectRoles",
        "projectGrantRoles",
        "audience",
    }
    | KEY_LIFECYCLE_KEYS
)
ACCESS_TOKEN_TYPES = {
    "BEARER": "ACCESS_TOKEN_TYPE_BEARER",
    "JWT": "ACCESS_TOKEN_TYPE_JWT",
    "ACCESS_TOKEN_TYPE_BEARER": "ACCESS_TOKEN_TYPE_BEARER",
    "ACCESS_TOKEN_TYPE_JWT": "ACCESS_TOKEN_TYPE_JWT",
}
_ORGANIZATIONS_KEY = project_key("organizations")
#: Only the shape of an account's other grants is checked while its declared org has no id yet.
_UNRESOLVED_ORG_ID = "0"


def parse_accounts(
    value: Any, declared_orgs: frozenset[str] | None, now: datetime, problems: Problems
) -> tuple[ServiceAccountSettings, ...]:
    """``declared_orgs``: the logical names of ``organizations``; None when that list could not be read."""
    key = project_key("serviceAccounts")
    if value is None:
        problems.add(
            key,
            "is required: a list of service accounts, e.g. [{name: ci, orgId: '123...', userName: ci-bot}] "
            "(see the README's stack config reference)",
        )
        return ()
    if not isinstance(value, list) or not value:
        problems.add(key, f"must be a non-empty list of service accounts, got {show(value)}")
        return ()
    parsed: list[tuple[int, ServiceAccountSettings]] = []
    for index, entry in enumerate(value):
        account = parse_account(entry, f"{key}[{index}]", declared_orgs, now, problems)
        if account is not None:
            parsed.append((index, account))
    _check_unique(parsed, key, problems)
    return tuple(account for _, account in parsed)


def parse_account(
    entry: Any, key: str, declared_orgs: frozenset[str] | None, now: datetime, problems: Problems
) -> ServiceAccountSettings | None:
    if not isinstance(entry, dict):
        problems.add(key, f"must be an object with at least name, orgId (or org) and userName, got {show(entry)}")
        return None
    unknown_keys(entry, key, ACCOUNT_KEYS, problems)
    name = as_name(entry.get("name"), f"{key}.name", problems)
    org_id, org = _organization(entry, key, declared_orgs, problems)
    user_name = entry.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        problems.add(f"{key}.userName", "is required: the ZITADEL user name of the machine user, e.g. ci-deployer")
        user_name = ""
    elif len(user_name) > limits.USER_NAME_MAX_LENGTH or any(c.isspace() for c in user_name):
        problems.add(
            f"{key}.userName",
            f"must be 1-{limits.USER_NAME_MAX_LENGTH} characters without white space, got {show(user_name)}",
        )
    display_name = entry.get("displayName", user_name)
    if "displayName" in entry and (not isinstance(display_name, str) or not display_name.strip()):
        problems.add(f"{key}.displayName", f"must be a non-empty string, got {show(display_name)}")
        display_name = user_name
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        problems.add(f"{key}.description", f"must be a string, got {show(description)}")
        description = None
    token_type_raw = entry.get("accessTokenType", "BEARER")
    token_type = ACCESS_TOKEN_TYPES.get(token_type_raw.strip().upper() if isinstance(token_type_raw, str) else "")
    if token_type is None:
        problems.add(f"{key}.accessTokenType", f"must be BEARER or JWT, got {show(token_type_raw)}")
        token_type = ACCESS_TOKEN_TYPES["BEARER"]
    lifecycle = parse_key_lifecycle(entry, key, now, problems)
    account = ServiceAccountSettings(
        name=name,
        org_id=org_id,
        org=org,
        user_name=user_name,
        display_name=display_name,
        description=description,
        access_token_type=token_type,
        roles=parse_roles(
            entry.get("roles", list(DEFAULT_ORG_ROLES)), f"{key}.roles", "org", problems, allow_empty=True
        ),
        instance_roles=(
            ()
            if entry.get("instanceRoles") is None
            else parse_roles(entry["instanceRoles"], f"{key}.instanceRoles", "instance", problems, allow_empty=False)
        ),
        project_roles=parse_project_roles(entry.get("projectRoles"), f"{key}.projectRoles", problems),
        project_grant_roles=parse_project_grant_roles(
            entry.get("projectGrantRoles"), f"{key}.projectGrantRoles", problems
        ),
        audience=_audience(entry.get("audience", "zitadel"), f"{key}.audience", problems),
        key_lifetime_days=lifecycle.lifetime_days,
        key_expiration=lifecycle.expiration,
        rotate_before_days=lifecycle.rotate_before_days,
        key_generation=lifecycle.generation,
        former_names=_former_names(entry.get("formerNames"), f"{key}.formerNames", problems),
    )
    _check_grants(account, key, problems)
    return account


def _organization(
    entry: dict[str, Any], key: str, declared: frozenset[str] | None, problems: Problems
) -> tuple[str | None, str | None]:
    """(org_id, org): the numeric ``orgId`` or the logical name ``org``; exactly one is given."""
    org_raw, org_id_raw = entry.get("org"), entry.get("orgId")
    has_org, has_org_id = org_raw not in (None, ""), org_id_raw not in (None, "")
    if has_org and has_org_id:
        problems.add(f"{key}.org", "set either org or orgId, not both")
        return None, None
    if has_org_id:
        return as_id(org_id_raw, f"{key}.orgId", "organization", problems) or None, None
    if not has_org:
        problems.add(
            f"{key}.orgId",
            "is required: the numeric organization id (find it in the ZITADEL console), or set org to the name of "
            f"an entry of {_ORGANIZATIONS_KEY}",
        )
        return None, None
    if not isinstance(org_raw, str):
        problems.add(f"{key}.org", f"must be the name of an entry of {_ORGANIZATIONS_KEY}, got {show(org_raw)}")
        return None, None
    if declared is not None and org_raw not in declared:
        listed = f"declared: {', '.join(sorted(declared))}" if declared else "it declares none"
        problems.add(
            f"{key}.org",
            f"names no organization of {_ORGANIZATIONS_KEY} ({listed}), got {show(org_raw)}; declare it there, "
            "or use orgId for an existing organization",
        )
        return None, None
    return None, org_raw


def _audience(value: Any, key: str, problems: Problems) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**limits.ID_MAX_DIGITS:
        text = str(value)
    if text != "zitadel" and not ID.fullmatch(text):
        problems.add(
            key,
            f"must be 'zitadel' (the instance's own API project, the default) or a numeric project id, "
            f"got {show(value)}",
        )
        return "zitadel"
    return text


def _former_names(value: Any, key: str, problems: Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add(key, f"must be a list of earlier names of this account, e.g. [old-name], got {show(value)}")
        return ()
    names: list[str] = []
    for index, item in enumerate(value):
        name = as_name(item, f"{key}[{index}]", problems)
        if name in names:
            problems.add(f"{key}[{index}]", f"lists {name!r} twice")
        elif name:
            names.append(name)
    return tuple(names)


def _check_grants(account: ServiceAccountSettings, key: str, problems: Problems) -> None:
    """The account grants something, and the verifier accepts its grants (its refusal becomes a problem)."""
    if problems.under(key):
        return  # an account with problems may have lost roles to them; report those, not their effect
    try:
        grants = account.grants_for(account.org_id or _UNRESOLVED_ORG_ID)
    except InvalidInputError as error:
        problems.add(f"{key}.roles", f"cannot be verified: {error.message}")
        return
    if not grants:
        problems.add(
            f"{key}.roles",
            "grants nothing: an empty roles list needs instanceRoles, projectRoles or projectGrantRoles, "
            "or the service account cannot manage anything (omit roles for the default [ORG_OWNER])",
        )


def _check_unique(accounts: Sequence[tuple[int, ServiceAccountSettings]], key: str, problems: Problems) -> None:
    names = {account.name: index for index, account in reversed(accounts) if account.name}
    seen_names: dict[str, int] = {}
    seen_users: dict[tuple[str, str], int] = {}
    seen_former: dict[str, str] = {}
    for index, account in accounts:
        if account.name:
            if account.name in seen_names:
                problems.add(
                    f"{key}[{index}].name",
                    f"duplicates the name {account.name!r} of {key}[{seen_names[account.name]}]; names must be unique",
                )
            seen_names.setdefault(account.name, index)
        # An id is digits and a logical name starts with a letter, so the two never meet in one key.
        org = account.org_id or account.org
        if account.user_name and org:
            user = (org, account.user_name.lower())
            where = f"org {account.org_id}" if account.org_id else f"organization {account.org!r}"
            if user in seen_users:
                problems.add(
                    f"{key}[{index}].userName",
                    f"duplicates the userName {account.user_name!r} of {key}[{seen_users[user]}] in {where}; "
                    "ZITADEL user names are unique per organization",
                )
            seen_users.setdefault(user, index)
        if problems.under(f"{key}[{index}].formerNames"):
            continue  # its list lost entries to those problems, so positions would name the wrong entry
        for position, former in enumerate(account.former_names):
            former_key = f"{key}[{index}].formerNames[{position}]"
            if former in names:
                owner = "this account's own name" if names[former] == index else f"the name of {key}[{names[former]}]"
                problems.add(
                    former_key,
                    f"{former!r} is {owner}; list only names no account has any more (Pulumi would alias two "
                    "resources to one)",
                )
            elif former in seen_former:
                problems.add(
                    former_key,
                    f"duplicates the former name {former!r} of {seen_former[former]}; a former name belongs to one "
                    "account",
                )
            else:
                seen_former[former] = former_key
