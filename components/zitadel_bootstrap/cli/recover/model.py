"""What the recovery reasons about: the stack's state, what ZITADEL holds, and the actions it decides on.

Plain frozen dataclasses, no I/O: the planner (plan.py) is a pure function of these, so every decision is
unit-tested from a state export and ZITADEL listings alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MACHINE_USER = "zitadel:index/machineUser:MachineUser"
MACHINE_KEY = "zitadel:index/machineKey:MachineKey"
ORG = "zitadel:index/org:Org"
ORG_MEMBER = "zitadel:index/orgMember:OrgMember"
INSTANCE_MEMBER = "zitadel:index/instanceMember:InstanceMember"
PROJECT_MEMBER = "zitadel:index/projectMember:ProjectMember"
PROJECT_GRANT_MEMBER = "zitadel:index/projectGrantMember:ProjectGrantMember"
SERVICE_ACCOUNT = "zitadel-bootstrap:index:ServiceAccount"
STACK = "pulumi:pulumi:Stack"

MemberKind = Literal["org", "instance", "project", "project_grant"]
MEMBER_TYPES: Mapping[MemberKind, str] = {
    "org": ORG_MEMBER,
    "instance": INSTANCE_MEMBER,
    "project": PROJECT_MEMBER,
    "project_grant": PROJECT_GRANT_MEMBER,
}
#: Pending operations whose object may exist outside Pulumi: an interrupted create (or import).
CREATE_KINDS = frozenset({"creating", "importing"})


# --- the stack's state -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateResource:
    """A resource of the checkpoint (``pulumi stack export``); secret values stay encrypted and are not read."""

    urn: str
    type: str
    id: str
    parent: str
    provider: str
    """The provider's URN, without the ``::<id>`` of the reference."""
    inputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass(frozen=True)
class PendingOperation:
    """An operation the checkpoint records as begun and never finished (the CLI died during it)."""

    kind: str
    """``creating``, ``updating``, ``deleting``, ``reading``, ``importing``."""
    resource: StateResource

    @property
    def is_create(self) -> bool:
        return self.kind in CREATE_KINDS


@dataclass(frozen=True)
class StackState:
    stack: str
    project: str
    resources: tuple[StateResource, ...] = ()
    pending: tuple[PendingOperation, ...] = ()

    def ids(self, type_: str) -> frozenset[str]:
        return frozenset(r.id for r in self.resources if r.type == type_ and r.id)

    def at(self, urn: str) -> StateResource | None:
        return next((r for r in self.resources if r.urn == urn), None)

    def pending_create(self, urn: str) -> PendingOperation | None:
        return next((op for op in self.pending if op.is_create and op.resource.urn == urn), None)

    @property
    def stack_urn(self) -> str | None:
        return next((r.urn for r in self.resources if r.type == STACK), None)

    def urn(self, type_: str, name: str, parent_type: str | None = None) -> str:
        """The URN of a resource of this stack: ``parent_type`` for children of a component."""
        qualified = f"{parent_type}${type_}" if parent_type else type_
        return f"urn:pulumi:{self.stack}::{self.project}::{qualified}::{name}"


# --- what is looked for, and what ZITADEL holds -------------------------------------------------------------------


@dataclass(frozen=True)
class MemberSpec:
    """One membership an account's member resource declares (or a pending create of one declared)."""

    kind: MemberKind
    resource_name: str
    org_id: str
    """The org context of the calls (x-zitadel-orgid): the account's org, as the provider sets it."""
    project_id: str = ""
    grant_id: str = ""

    @property
    def type_token(self) -> str:
        return MEMBER_TYPES[self.kind]

    def import_id(self, user_id: str) -> str:
        """The import id of terraform-provider-zitadel v1.2.0 for this member resource."""
        if self.kind == "org":
            return f"{user_id}:{self.org_id}"
        if self.kind == "instance":
            return user_id
        if self.kind == "project":
            return f"{self.project_id}:{user_id}:{self.org_id}"
        return f"{self.project_id}:{self.grant_id}:{user_id}:{self.org_id}"

    def describe(self) -> str:
        if self.kind == "org":
            return f"org membership in org {self.org_id}"
        if self.kind == "instance":
            return "instance membership"
        if self.kind == "project":
            return f"project membership in project {self.project_id}"
        return f"project grant membership in grant {self.grant_id} of project {self.project_id}"


@dataclass(frozen=True)
class AccountTarget:
    """Where one account's objects are looked for in ZITADEL, and where they belong in the stack."""

    name: str
    org_id: str
    user_name: str
    members: tuple[MemberSpec, ...] = ()
    configured: bool = True
    """False: known only from a pending create (the account is no longer in the config)."""


@dataclass(frozen=True)
class OrgTarget:
    """An organization the program declares, with a pending create: looked for by its name."""

    name: str
    display_name: str


@dataclass(frozen=True)
class ZitadelUser:
    id: str
    org_id: str
    user_name: str
    state: str = ""


@dataclass(frozen=True)
class ZitadelKey:
    id: str
    user_id: str
    expiration: str = ""


@dataclass(frozen=True)
class ZitadelMember:
    user_id: str
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ZitadelOrg:
    id: str
    name: str


@dataclass(frozen=True)
class Observation:
    """What ZITADEL answered for the targets."""

    users: Mapping[tuple[str, str], tuple[ZitadelUser, ...]] = field(default_factory=dict)
    """(org id, user name in lower case) -> users of that name in that org."""
    keys: Mapping[str, tuple[ZitadelKey, ...]] = field(default_factory=dict)
    """user id -> its machine keys (ids only, never key material)."""
    members: Mapping[tuple[str, str], ZitadelMember] = field(default_factory=dict)
    """(user id, member resource name) -> the membership, when ZITADEL has it."""
    orgs: Mapping[str, tuple[ZitadelOrg, ...]] = field(default_factory=dict)
    """org display name -> orgs of that exact name."""

    def users_named(self, org_id: str, user_name: str) -> tuple[ZitadelUser, ...]:
        return self.users.get((org_id, user_name.lower()), ())


# --- decisions ---------------------------------------------------------------------------------------------------

Verb = Literal["ok", "adopt", "delete", "clear", "keep", "leave"]


@dataclass(frozen=True)
class Adoption:
    """A ``pulumi import`` of an object into the stack, at the URN the program declares it."""

    type_token: str
    name: str
    import_id: str
    parent: str
    provider: str


@dataclass(frozen=True)
class Deletion:
    """A removal over ZITADEL's management API."""

    what: Literal["key", "user", "member"]
    org_id: str
    user_id: str
    key_id: str = ""
    member: MemberSpec | None = None


@dataclass(frozen=True)
class Action:
    """One object and what the recovery does with it; ``line`` is what it prints (never key material)."""

    verb: Verb
    line: str
    adoption: Adoption | None = None
    deletion: Deletion | None = None
    pending: PendingOperation | None = None

    @property
    def needs_human(self) -> bool:
        """Left for a person: the next ``pulumi up`` is not expected to converge while it stays."""
        return self.verb == "leave"


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    unresolved: tuple[PendingOperation, ...] = ()
    """Pending creates of ZITADEL objects (users, keys, memberships, orgs) of which nothing was found: either
    the interrupted call never reached ZITADEL, or ZITADEL's reads do not show the object yet."""

    def of(self, verb: Verb) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.verb == verb)

    @property
    def adoptions(self) -> tuple[Adoption, ...]:
        return tuple(a.adoption for a in self.actions if a.adoption is not None)

    @property
    def deletions(self) -> tuple[Deletion, ...]:
        return tuple(a.deletion for a in self.actions if a.deletion is not None)

    @property
    def pending_to_clear(self) -> tuple[PendingOperation, ...]:
        return tuple(a.pending for a in self.actions if a.verb == "clear" and a.pending is not None)

    @property
    def changes_anything(self) -> bool:
        return any(a.verb in ("adopt", "delete", "clear") for a in self.actions)
