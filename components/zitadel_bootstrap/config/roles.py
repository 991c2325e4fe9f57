"""Which manager roles an account asks for at each level: ZITADEL's role catalogue and the role keys.

Covers ``roles`` (org), ``instanceRoles``, ``projectRoles`` and ``projectGrantRoles`` of a service account. The
results hold no org id, so they serve an org given by id and one the program declares alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from zitadel_bootstrap.verification.model import GrantLevel

from .errors import Problems
from .fields import as_id, show, unknown_keys

#: ZITADEL's manager roles per level (its defaults.yaml role mappings). A role is accepted only at its level.
INSTANCE_ROLES = frozenset(
    {
        "IAM_OWNER",
        "IAM_OWNER_VIEWER",
        "IAM_ORG_MANAGER",
        "IAM_USER_MANAGER",
        "IAM_ADMIN_IMPERSONATOR",
        "IAM_END_USER_IMPERSONATOR",
        "IAM_LOGIN_CLIENT",
    }
)
ORG_ROLES = frozenset(
    {
        "ORG_OWNER",
        "ORG_OWNER_VIEWER",
        "ORG_USER_MANAGER",
        "ORG_SETTINGS_MANAGER",
        "ORG_USER_PERMISSION_EDITOR",
        "ORG_PROJECT_PERMISSION_EDITOR",
        "ORG_PROJECT_CREATOR",
        "ORG_ADMIN_IMPERSONATOR",
        "ORG_END_USER_IMPERSONATOR",
    }
)
PROJECT_ROLES = frozenset(
    {"PROJECT_OWNER", "PROJECT_OWNER_VIEWER", "PROJECT_OWNER_GLOBAL", "PROJECT_OWNER_VIEWER_GLOBAL"}
)
PROJECT_GRANT_ROLES = frozenset({"PROJECT_GRANT_OWNER", "PROJECT_GRANT_OWNER_VIEWER"})

ROLES_BY_LEVEL: Mapping[GrantLevel, frozenset[str]] = {
    "instance": INSTANCE_ROLES,
    "org": ORG_ROLES,
    "project": PROJECT_ROLES,
    "project_grant": PROJECT_GRANT_ROLES,
}
#: The config key that holds roles of each level, used to tell the user where a misplaced role belongs.
ROLE_KEY_BY_LEVEL: Mapping[GrantLevel, str] = {
    "instance": "instanceRoles",
    "org": "roles",
    "project": "projectRoles[].roles",
    "project_grant": "projectGrantRoles[].roles",
}
#: The org-level roles of an account that does not name any.
DEFAULT_ORG_ROLES = ("ORG_OWNER",)

ProjectRoles = tuple[tuple[str, tuple[str, ...]], ...]
ProjectGrantRoles = tuple[tuple[str, str, tuple[str, ...]], ...]


def parse_roles(value: Any, key: str, level: GrantLevel, problems: Problems, *, allow_empty: bool) -> tuple[str, ...]:
    """Role names of one level, upper-cased; a role of another level is refused with the key it belongs to."""
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        problems.add(key, f"must be a list of role names, e.g. [{sorted(ROLES_BY_LEVEL[level])[0]}], got {show(value)}")
        return ()
    if not value and not allow_empty:
        problems.add(key, "must name at least one role")
        return ()
    roles: list[str] = []
    for role in value:
        role_name = role.strip().upper()
        if role_name in ROLES_BY_LEVEL[level]:
            if role_name in roles:
                problems.add(key, f"lists {role_name} twice")
            else:
                roles.append(role_name)
            continue
        other = next((lv for lv, known in ROLES_BY_LEVEL.items() if role_name in known), None)
        if other is not None:
            problems.add(
                key,
                f"{role_name} is a {other.replace('_', ' ')}-level role and cannot be granted at the "
                f"{level.replace('_', ' ')} level; move it to {ROLE_KEY_BY_LEVEL[other]}",
            )
        else:
            problems.add(
                key,
                f"unknown role {show(role)}; roles at the {level.replace('_', ' ')} level are "
                f"{', '.join(sorted(ROLES_BY_LEVEL[level]))}",
            )
    return tuple(roles)


def _entries(value: Any, key: str, level: Literal["project", "project_grant"], problems: Problems) -> list[Any]:
    """The entries of a projectRoles or projectGrantRoles list, with the unknown keys of each reported."""
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(key, f"must be a list of objects, got {show(value)}")
        return []
    allowed = {"projectId", "roles"} | ({"grantId"} if level == "project_grant" else set())
    entries: list[Any] = []
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        if not isinstance(item, dict):
            problems.add(item_key, f"must be an object with {', '.join(sorted(allowed))}, got {show(item)}")
            entries.append(None)
            continue
        unknown_keys(item, item_key, allowed, problems)
        entries.append(item)
    return entries


def parse_project_roles(value: Any, key: str, problems: Problems) -> ProjectRoles:
    """``projectRoles``: ``(project_id, roles)`` per entry."""
    parsed: list[tuple[str, tuple[str, ...]]] = []
    for index, item in enumerate(_entries(value, key, "project", problems)):
        if item is None:
            continue
        item_key = f"{key}[{index}]"
        project_id = as_id(item.get("projectId"), f"{item_key}.projectId", "project", problems)
        roles = parse_roles(item.get("roles"), f"{item_key}.roles", "project", problems, allow_empty=False)
        if project_id and roles:
            if any(project_id == known for known, _ in parsed):
                problems.add(f"{item_key}.projectId", f"names project {project_id} twice; merge its roles")
                continue
            parsed.append((project_id, roles))
    return tuple(parsed)


def parse_project_grant_roles(value: Any, key: str, problems: Problems) -> ProjectGrantRoles:
    """``projectGrantRoles``: ``(project_id, grant_id, roles)`` per entry."""
    parsed: list[tuple[str, str, tuple[str, ...]]] = []
    for index, item in enumerate(_entries(value, key, "project_grant", problems)):
        if item is None:
            continue
        item_key = f"{key}[{index}]"
        project_id = as_id(item.get("projectId"), f"{item_key}.projectId", "project", problems)
        grant_id = as_id(item.get("grantId"), f"{item_key}.grantId", "project grant", problems)
        roles = parse_roles(item.get("roles"), f"{item_key}.roles", "project_grant", problems, allow_empty=False)
        if project_id and grant_id and roles:
            if any(grant_id == known for _, known, _ in parsed):
                problems.add(f"{item_key}.grantId", f"names project grant {grant_id} twice; merge its roles")
                continue
            parsed.append((project_id, grant_id, roles))
    return tuple(parsed)
