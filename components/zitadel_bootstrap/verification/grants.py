"""Which required grants the memberships ZITADEL lists (``/auth/v1/memberships/me/_search``) satisfy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .model import Grant

# The membership kind is a oneof in ZITADEL's API: exactly one of these fields is set.
_MEMBERSHIP_FIELD = {"org": "orgId", "project": "projectId", "project_grant": "projectGrantId"}


@dataclass(frozen=True)
class GrantMatch:
    roles_found: dict[str, tuple[str, ...]]
    """Roles held per required grant that has a membership (by ``Grant.key``)."""
    missing: tuple[Grant, ...]
    """Required grants without any membership."""
    lacking_roles: dict[str, tuple[str, ...]]
    """Required roles a membership does not have (by ``Grant.key``)."""


def match_grants(grants: Sequence[Grant], memberships: Sequence[Mapping[str, Any]]) -> GrantMatch:
    """Which required grants are held, with which roles, and what is missing."""
    roles_found: dict[str, tuple[str, ...]] = {}
    missing: list[Grant] = []
    lacking: dict[str, tuple[str, ...]] = {}
    for grant in grants:
        matching = [membership for membership in memberships if _matches(grant, membership)]
        if not matching:
            missing.append(grant)
            continue
        held = {
            role
            for membership in matching
            if isinstance(membership.get("roles"), list)
            for role in membership["roles"]
            if isinstance(role, str)
        }
        roles_found[grant.key] = tuple(sorted(held))
        absent = tuple(role for role in grant.roles if role not in held)
        if absent:
            lacking[grant.key] = absent
    return GrantMatch(roles_found=roles_found, missing=tuple(missing), lacking_roles=lacking)


def _matches(grant: Grant, membership: Mapping[str, Any]) -> bool:
    if grant.level == "instance":
        return membership.get("iam") is True
    return membership.get(_MEMBERSHIP_FIELD[grant.level]) == grant.resource_id
