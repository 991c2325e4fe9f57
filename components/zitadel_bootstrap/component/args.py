"""The ServiceAccount component's inputs, as Pulumi reads them to infer the package schema.

Python programs write them in snake_case (``ServiceAccountArgs(user_name=..., org_id=...)``); the schema, and so
YAML and TypeScript programs, use camelCase (``userName``, ``orgId``). Every value may be a ``pulumi.Input``.

This module must not use ``from __future__ import annotations``: the schema analyzer reads the annotations as
objects.
"""

from collections.abc import Sequence
from typing import NotRequired, TypedDict

import pulumi


class ProjectRolesArgs(TypedDict):
    """Manager roles in one project (a project membership)."""

    project_id: pulumi.Input[str]
    """The project's numeric id."""
    roles: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Project manager roles, e.g. PROJECT_OWNER."""


class ProjectGrantRolesArgs(TypedDict):
    """Manager roles in one project grant (a project-grant membership)."""

    project_id: pulumi.Input[str]
    """The granted project's numeric id."""
    grant_id: pulumi.Input[str]
    """The project grant's numeric id."""
    roles: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Project-grant manager roles, e.g. PROJECT_GRANT_OWNER."""


class ServiceAccountArgs(TypedDict):
    """What a ServiceAccount is: a machine user in an organization, its JSON key, its grants, and its proof."""

    user_name: pulumi.Input[str]
    """The machine user's user name in ZITADEL (unique in its organization), e.g. ci-deployer."""
    org_id: pulumi.Input[str]
    """The numeric id of the organization that owns the user."""
    display_name: NotRequired[pulumi.Input[str]]
    """The user's display name (default: the user name)."""
    description: NotRequired[pulumi.Input[str]]
    """A description of the user."""
    access_token_type: NotRequired[pulumi.Input[str]]
    """BEARER (opaque tokens, the default) or JWT."""
    roles: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    """Org manager roles in the owning organization (default [ORG_OWNER]; [] with grants at another level)."""
    instance_roles: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    """Instance manager roles, e.g. IAM_OWNER_VIEWER."""
    project_roles: NotRequired[Sequence[ProjectRolesArgs]]
    """Project memberships: a project id and its roles each."""
    project_grant_roles: NotRequired[Sequence[ProjectGrantRolesArgs]]
    """Project-grant memberships: a project id, a grant id and their roles each."""
    audience: NotRequired[pulumi.Input[str]]
    """The project whose audience the verification's token asks for: 'zitadel' (the default) or a project id."""
    key_lifetime_days: NotRequired[pulumi.Input[int]]
    """Each key lives this many days from its creation (rotated rotateBeforeDays before it expires)."""
    key_expiration: NotRequired[pulumi.Input[str]]
    """A fixed expiry, RFC 3339 (e.g. 2027-06-30T00:00:00Z); not with keyLifetimeDays. Default: never expires."""
    rotate_before_days: NotRequired[pulumi.Input[int]]
    """Rotate the key this many days before it expires (default min(30, lifetime/3))."""
    key_generation: NotRequired[pulumi.Input[int]]
    """Raise it to rotate the key at the next update."""
    verify: NotRequired[pulumi.Input[bool]]
    """Prove the account with a real token exchange and API calls (default true)."""
    verify_deadline_seconds: NotRequired[pulumi.Input[float]]
    """How long the proof may wait out ZITADEL's lag, 5xx and 429 answers (default 60)."""
    verify_refresh_settle_seconds: NotRequired[pulumi.Input[float]]
    """How long a refresh waits out 'not found yet' before it reports drift (default 5)."""
    issuer: NotRequired[pulumi.Input[str]]
    """ZITADEL's issuer (origin), e.g. https://my-instance.zitadel.cloud. Default: from zitadel:domain/port/insecure."""
    insecure: NotRequired[pulumi.Input[bool]]
    """Allow a plain-http issuer (local instances only). Default: zitadel:insecure."""
