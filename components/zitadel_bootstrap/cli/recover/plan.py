"""The recovery's decisions, as pure functions of the config, the state and what ZITADEL holds.

Rules (the README's "When a run is interrupted" section states them for operators):

- A user found by org and user name that the state holds (by id): in order. Its machine keys that no
  MachineKey resource holds are deleted: their key files were never recorded, so nobody can use them. Its
  memberships that a declared member resource does not hold yet are adopted at that resource.
- A user the state does not hold, with a pending create of the account's user resource in the checkpoint (the
  interrupted run created it): adopted with ``pulumi import`` at the URN the program declares; its keys and
  memberships as above. If the account is no longer in the config, the user is deleted instead (the stack made
  it and no longer wants it). Without such proof a user is never deleted: it is left and reported, because
  ``pulumi up`` will fail on it with AlreadyExists; ``--adopt-unknown`` adopts it (its keys are then kept).
- A pending create of a member resource the config no longer declares: its membership is deleted.
- An organization the program declares, with a pending create, found by its exact name: adopted.
- Every pending operation is cleared from the checkpoint once the objects behind it are adopted or deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from zitadel_bootstrap.config import ServiceAccountSettings, Settings

from .model import (
    MACHINE_KEY,
    MACHINE_USER,
    MEMBER_TYPES,
    ORG,
    SERVICE_ACCOUNT,
    AccountTarget,
    Action,
    Adoption,
    Deletion,
    MemberKind,
    MemberSpec,
    Observation,
    OrgTarget,
    PendingOperation,
    Plan,
    StackState,
    StateResource,
    ZitadelUser,
)

_KIND_OF_TYPE: Mapping[str, MemberKind] = {type_: kind for kind, type_ in MEMBER_TYPES.items()}
ZITADEL_PROVIDER_TYPE = "pulumi:providers:zitadel"
#: Types whose objects live in ZITADEL: an interrupted create of one may have left it there.
ZITADEL_OBJECT_TYPES = frozenset({MACHINE_USER, MACHINE_KEY, ORG, *MEMBER_TYPES.values()})


def short_type(type_token: str) -> str:
    return type_token.rsplit(":", 1)[-1]


# --- what to look for ------------------------------------------------------------------------------------------


def org_targets(settings: Settings, state: StackState) -> list[OrgTarget]:
    """Declared organizations with an interrupted create: ZITADEL is searched for them by name."""
    return [
        OrgTarget(org.name, org.display_name)
        for org in settings.organizations
        if state.pending_create(state.urn(ORG, org.name)) is not None and state.at(state.urn(ORG, org.name)) is None
    ]


def resolve_org_ids(settings: Settings, state: StackState, seen: Observation) -> dict[str, str]:
    """Ids of the declared organizations: from the state, or the one org of that name an interrupted create
    made (adopted by the plan)."""
    ids: dict[str, str] = {}
    for org in settings.organizations:
        resource = state.at(state.urn(ORG, org.name))
        found = seen.orgs.get(org.display_name, ())
        if resource is not None and resource.id:
            ids[org.name] = resource.id
        elif state.pending_create(state.urn(ORG, org.name)) is not None and len(found) == 1:
            ids[org.name] = found[0].id
    return ids


def member_specs(account: ServiceAccountSettings, org_id: str) -> tuple[MemberSpec, ...]:
    """The member resources a ServiceAccount declares (components/service_account.py names them so)."""
    specs: list[MemberSpec] = []
    if account.roles:
        specs.append(MemberSpec("org", f"{account.name}-org-member", org_id))
    if account.instance_roles:
        specs.append(MemberSpec("instance", f"{account.name}-instance-member", org_id))
    specs += [
        MemberSpec("project", f"{account.name}-project-member-{project}", org_id, project_id=project)
        for project, _ in account.project_roles
    ]
    specs += [
        MemberSpec("project_grant", f"{account.name}-project-grant-member-{grant}", org_id, project, grant)
        for project, grant, _ in account.project_grant_roles
    ]
    return tuple(specs)


def _text(inputs: Mapping[str, object], name: str) -> str:
    value = inputs.get(name)
    return value if isinstance(value, str) else ""


def _account_of(resource: StateResource) -> str:
    """The account (component) name of a child resource."""
    return resource.parent.rsplit("::", 1)[-1] if resource.parent else ""


def account_targets(
    settings: Settings, state: StackState, org_ids: Mapping[str, str]
) -> tuple[list[AccountTarget], list[tuple[MemberSpec, str, PendingOperation]]]:
    """The accounts to look for (configured ones whose org is known, and accounts known only from a pending
    create of their user), and the pending member creates the config no longer declares, with their user id."""
    targets: list[AccountTarget] = []
    for account in settings.service_accounts:
        org_id = account.org_id or org_ids.get(account.org or "")
        if org_id:
            targets.append(AccountTarget(account.name, org_id, account.user_name, member_specs(account, org_id)))
    declared_users = {state.urn(MACHINE_USER, f"{t.name}-user", SERVICE_ACCOUNT) for t in targets}
    declared_members = {
        state.urn(spec.type_token, spec.resource_name, SERVICE_ACCOUNT) for t in targets for spec in t.members
    }
    strays: list[tuple[MemberSpec, str, PendingOperation]] = []
    for op in state.pending:
        resource = op.resource
        if not op.is_create:
            continue
        if resource.type == MACHINE_USER and resource.urn not in declared_users:
            org_id, user_name = _text(resource.inputs, "orgId"), _text(resource.inputs, "userName")
            if org_id and user_name:
                targets.append(AccountTarget(_account_of(resource), org_id, user_name, configured=False))
        elif resource.type in _KIND_OF_TYPE and resource.urn not in declared_members:
            user_id = _text(resource.inputs, "userId")
            if user_id:
                spec = MemberSpec(
                    _KIND_OF_TYPE[resource.type],
                    resource.name,
                    _text(resource.inputs, "orgId"),
                    _text(resource.inputs, "projectId"),
                    _text(resource.inputs, "grantId"),
                )
                strays.append((spec, user_id, op))
    return targets, strays


# --- what to do ------------------------------------------------------------------------------------------------


def _zitadel_provider(state: StackState, *candidates: StateResource | None) -> str:
    for resource in candidates:
        if resource is not None and resource.provider:
            return resource.provider
    return next((r.urn for r in state.resources if r.type == ZITADEL_PROVIDER_TYPE), "")


class _Planner:
    def __init__(self, state: StackState, seen: Observation, adopt_unknown: bool) -> None:
        self.state = state
        self.seen = seen
        self.adopt_unknown = adopt_unknown
        self.actions: list[Action] = []
        self.explained: dict[str, str] = {}
        """pending create URN -> what happened to its object."""

    def add(self, action: Action) -> None:
        self.actions.append(action)

    def orgs(self, targets: Sequence[OrgTarget]) -> None:
        in_state = self.state.ids(ORG)
        for org in targets:
            urn = self.state.urn(ORG, org.name)
            op = self.state.pending_create(urn)
            found = self.seen.orgs.get(org.display_name, ())
            if op is None:
                continue
            if len(found) > 1:
                ids = ", ".join(o.id for o in found)
                self.add(
                    Action(
                        "leave",
                        f"org {org.display_name!r}: {len(found)} orgs of that name ({ids}); "
                        "which one the interrupted run created is unknown: import it by hand",
                    )
                )
            elif found and found[0].id in in_state:
                self.add(Action("ok", f"org {org.display_name!r} ({found[0].id}): in the state"))
            elif found:
                self.explained[urn] = f"its org {found[0].id} is adopted"
                self.add(
                    Action(
                        "adopt",
                        f"org {org.display_name!r} ({found[0].id}): created by the interrupted run, not in the state: "
                        f"adopt as {org.name}",
                        adoption=Adoption(ORG, org.name, found[0].id, op.resource.parent, op.resource.provider),
                    )
                )

    def account(self, target: AccountTarget) -> None:
        state = self.state
        user_urn = state.urn(MACHINE_USER, f"{target.name}-user", SERVICE_ACCOUNT)
        in_state = state.at(user_urn)
        op = state.pending_create(user_urn)
        component = state.at(state.urn(SERVICE_ACCOUNT, target.name))
        for user in self.seen.users_named(target.org_id, target.user_name):
            where = f"{target.name}: user {target.user_name!r} ({user.id}) in org {target.org_id}"
            if user.id in state.ids(MACHINE_USER):
                self.add(Action("ok", f"{where}: in the state"))
                self.explained.setdefault(user_urn, f"its user {user.id} is in the state")
                holder = next(r for r in state.resources if r.type == MACHINE_USER and r.id == user.id)
                self.owned(target, user, holder.provider, holder.parent, own_keys=True)
            elif op is not None and not target.configured:
                self.explained[user_urn] = f"its user {user.id} is deleted"
                self.add(
                    Action(
                        "delete",
                        f"{where}: created by the interrupted run for an account no longer in the config: delete",
                        deletion=Deletion("user", target.org_id, user.id),
                    )
                )
            elif in_state is not None:
                self.add(
                    Action(
                        "leave",
                        f"{where}: not in the state, which holds user {in_state.id} as {in_state.name}: "
                        "`pulumi up --refresh` decides; resolve it by hand if that fails",
                    )
                )
            elif component is None:
                self.add(
                    Action(
                        "leave",
                        f"{where}: not in the state, nor is its component {target.name}, to adopt it under: run "
                        "`pulumi up` once (it records the component, then fails on the user), then recover again",
                    )
                )
            elif op is not None or (self.adopt_unknown and target.configured):
                why = "created by the interrupted run" if op is not None else "adopted on request (--adopt-unknown)"
                provider = _zitadel_provider(state, op.resource if op else None)
                with_secret = "true" if op is not None and op.resource.inputs.get("withSecret") is True else "false"
                self.explained[user_urn] = f"its user {user.id} is adopted"
                self.add(
                    Action(
                        "adopt",
                        f"{where}: {why}, not in the state: adopt as {target.name}-user",
                        adoption=Adoption(
                            MACHINE_USER,
                            f"{target.name}-user",
                            f"{user.id}:{with_secret}:{target.org_id}",
                            component.urn,
                            provider,
                        ),
                    )
                )
                self.owned(target, user, provider, component.urn, own_keys=op is not None)
            else:
                self.add(
                    Action(
                        "leave",
                        f"{where}: exists in ZITADEL but not in the state, and no interrupted create of this stack "
                        "made it: `pulumi up` fails on it with AlreadyExists. If it is this account's user, run "
                        "again with --adopt-unknown; otherwise delete it in ZITADEL or change the userName",
                    )
                )

    def _member_in_state(self, spec: MemberSpec, user_id: str) -> StateResource | None:
        """The member resource that holds this membership, under whatever name (a renamed account's too)."""
        for resource in self.state.resources:
            inputs = resource.inputs
            if resource.type != spec.type_token or inputs.get("userId") != user_id:
                continue
            if spec.kind == "org" and inputs.get("orgId") not in (spec.org_id, None):
                continue
            if spec.kind in ("project", "project_grant") and inputs.get("projectId") != spec.project_id:
                continue
            if spec.kind == "project_grant" and inputs.get("grantId") != spec.grant_id:
                continue
            return resource
        return None

    def owned(self, target: AccountTarget, user: ZitadelUser, provider: str, component: str, *, own_keys: bool) -> None:
        """Keys and memberships of a user the stack holds or adopts."""
        state = self.state
        keys_in_state = state.ids(MACHINE_KEY)
        key_urn = state.urn(MACHINE_KEY, f"{target.name}-key", SERVICE_ACCOUNT)
        for key in self.seen.keys.get(user.id, ()):
            where = f"{target.name}: key {key.id} of user {user.id}"
            if key.id in keys_in_state:
                self.add(Action("ok", f"{where}: in the state"))
            elif own_keys:
                self.explained.setdefault(key_urn, "the key it made is deleted")
                self.add(
                    Action(
                        "delete",
                        f"{where}: not in the state; its key file was never recorded, so it is unusable: delete",
                        deletion=Deletion("key", target.org_id, user.id, key_id=key.id),
                    )
                )
            else:
                self.add(
                    Action(
                        "keep",
                        f"{where}: not made by this stack (its user was adopted on request): kept; delete it in "
                        "ZITADEL if nothing uses it",
                    )
                )
        for spec in target.members:
            member = self.seen.members.get((user.id, spec.resource_name))
            if member is None:
                continue
            urn = state.urn(spec.type_token, spec.resource_name, SERVICE_ACCOUNT)
            where = f"{target.name}: {spec.describe()} of user {user.id} ({', '.join(member.roles) or 'no roles'})"
            if self._member_in_state(spec, user.id) is not None:
                self.add(Action("ok", f"{where}: in the state"))
                self.explained.setdefault(urn, "its membership is in the state")
            elif state.at(urn) is not None:
                self.add(Action("leave", f"{where}: not in the state, whose {spec.resource_name} is another user's"))
            else:
                op = state.pending_create(urn)
                self.explained[urn] = "its membership is adopted"
                self.add(
                    Action(
                        "adopt",
                        f"{where}: not in the state: adopt as {spec.resource_name}",
                        adoption=Adoption(
                            spec.type_token,
                            spec.resource_name,
                            spec.import_id(user.id),
                            component,
                            op.resource.provider if op and op.resource.provider else provider,
                        ),
                    )
                )

    def strays(self, strays: Iterable[tuple[MemberSpec, str, PendingOperation]]) -> None:
        for spec, user_id, op in strays:
            member = self.seen.members.get((user_id, spec.resource_name))
            if member is None:
                continue
            self.explained[op.resource.urn] = "its membership is deleted"
            self.add(
                Action(
                    "delete",
                    f"{_account_of(op.resource)}: {spec.describe()} of user {user_id}: created by the interrupted run "
                    f"for {spec.resource_name}, which the config no longer declares: delete",
                    deletion=Deletion("member", spec.org_id, user_id, member=spec),
                )
            )

    def pending(self) -> None:
        for op in self.state.pending:
            resource = op.resource
            if resource.urn in self.explained:
                outcome = self.explained[resource.urn]
            elif not op.is_create:
                outcome = "the resource stays in the state as it was; `pulumi up --refresh` reads it back"
            elif resource.type == MACHINE_KEY:
                outcome = "no key of it is left in ZITADEL"
            elif resource.type in (MACHINE_USER, ORG, *MEMBER_TYPES.values()):
                outcome = "nothing of it was found in ZITADEL"
            else:
                outcome = "it has no object outside the stack"
            self.add(
                Action(
                    "clear",
                    f"pending {op.kind} of {resource.name} ({short_type(resource.type)}): {outcome}: clear",
                    pending=op,
                )
            )


def decide(
    state: StackState,
    orgs: Sequence[OrgTarget],
    accounts: Sequence[AccountTarget],
    strays: Sequence[tuple[MemberSpec, str, PendingOperation]],
    seen: Observation,
    *,
    adopt_unknown: bool = False,
) -> Plan:
    """Everything the recovery does, one action per object, in the order it prints them."""
    planner = _Planner(state, seen, adopt_unknown)
    planner.orgs(orgs)
    for target in accounts:
        planner.account(target)
    planner.strays(strays)
    planner.pending()
    unresolved = tuple(
        op
        for op in state.pending
        if op.is_create and op.resource.type in ZITADEL_OBJECT_TYPES and op.resource.urn not in planner.explained
    )
    return Plan(tuple(planner.actions), unresolved)
