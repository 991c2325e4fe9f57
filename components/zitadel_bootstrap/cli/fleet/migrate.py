"""`zitadel-bootstrap fleet migrate --from STACK`: a one-stack bootstrap moves into the fleet, re-creating nothing.

For each org of the fleet file, the ServiceAccount components of its accounts (with every resource under them:
user, key, memberships, proof, key schedule) and, for an org the stack created, its ``Org`` resource move from the
one stack into the org's stack with `pulumi state move`, which keeps each resource's id and outputs and carries the
secrets over to the other stack's secrets provider. The fleet's stacks declare the same resources under the same
names, so the next `zitadel-bootstrap fleet up` changes nothing in ZITADEL (it fills in the stack outputs).

Nothing moves when the fleet file and the stack disagree: an account of the stack that no org lists, or an account
whose org the stack declared under another name. A run stopped halfway is run again: what has moved is no longer in
the one stack, and the rest moves.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from zitadel_bootstrap.cli.diagnosis import SERVICE_ACCOUNT_TYPE
from zitadel_bootstrap.cli.engine import EXIT_FAILED, pulumi_binary
from zitadel_bootstrap.cli.recover.pulumi_ops import Project, Pulumi, PulumiCommandError

from .runner import FleetRun
from .spec import Fleet, FleetOrg

ORG_TYPE = "zitadel:index/org:Org"
EXIT_USAGE = 2


def _say(text: str) -> None:
    print(f"fleet migrate: {text}", file=sys.stderr, flush=True)


def name_of(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def plan_moves(fleet: Fleet, orgs: Sequence[FleetOrg], resources: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """Org name -> the URNs to move into its stack; ValueError naming every disagreement (nothing moves then)."""
    components = {name_of(r["urn"]): r["urn"] for r in resources if r.get("type") == SERVICE_ACCOUNT_TYPE}
    declared_orgs = {name_of(r["urn"]): r["urn"] for r in resources if r.get("type") == ORG_TYPE}
    children: dict[str, list[str]] = {}
    for resource in resources:
        if resource.get("parent"):
            children.setdefault(resource["parent"], []).append(resource["urn"])

    def subtree(urn: str) -> list[str]:
        found = [urn]
        for child in children.get(urn, []):
            found += subtree(child)
        return found

    def org_used_by(component: str) -> set[str]:
        """The declared orgs (by name) that the component's resources depend on."""
        used = set()
        by_urn = {r["urn"]: r for r in resources}
        for urn in subtree(component):
            for dependency in by_urn[urn].get("dependencies") or []:
                if dependency in declared_orgs.values():
                    used.add(name_of(dependency))
        return used

    fleet_accounts = {str(a.get("name")): org for org in fleet.orgs for a in org.accounts}
    problems = [
        f"account {name!r} of the stack is in no org of the fleet file {fleet.path}: add it under its org, or "
        f"remove it from the stack first"
        for name in sorted(set(components) - set(fleet_accounts))
    ]
    moves: dict[str, list[str]] = {}
    for org in orgs:
        urns: list[str] = []
        for account in org.accounts:
            component = components.get(str(account.get("name")))
            if component is None:
                continue  # not in the stack (moved already, or new): the org's stack creates it
            used = org_used_by(component)
            wanted = set() if org.org_id else {org.name}
            if used != wanted:
                where = f"the org {', '.join(sorted(used))} that the stack declares" if used else "an org by its id"
                problems.append(
                    f"account {account.get('name')!r} is in {where}, but the fleet file lists it under org "
                    f"{org.name!r}"
                    + (f" (orgId {org.org_id})" if org.org_id else " (an org its stack creates)")
                    + ": name the fleet's org as the stack's org is named, with or without orgId as in the stack"
                )
            urns += subtree(component)
        if org.org_id is None and org.name in declared_orgs:
            urns.append(declared_orgs[org.name])
        if urns:
            moves[org.name] = urns
    if problems:
        raise ValueError("nothing was moved:\n" + "\n".join(f"  - {p}" for p in problems))
    return moves


def migrate(fleet: Fleet, project: Project, orgs: Sequence[FleetOrg], source: str) -> int:
    try:
        resources = Pulumi(project, source).export().get("deployment", {}).get("resources") or []
        moves = plan_moves(fleet, orgs, resources)
    except (PulumiCommandError, ValueError) as error:
        _say(str(error))
        return EXIT_USAGE if isinstance(error, ValueError) else EXIT_FAILED
    if not moves:
        _say(f"stack {source} holds nothing of the orgs selected: nothing to move")
        return 0
    runner = FleetRun(fleet, project, "up", orgs)
    existing = runner.existing_stacks()
    for org in orgs:
        urns = moves.get(org.name)
        if not urns:
            continue
        stack = fleet.stack_name(org.name)
        try:
            if stack not in existing:
                Pulumi(project, stack).run("stack", "init", stack, "--no-select", with_stack=False)
            runner.write_stack_config(org)
            Pulumi(project, stack).run(
                "state", "move", "--source", source, "--dest", stack, "--yes", *urns, with_stack=False
            )
        except PulumiCommandError as error:
            _say(f"moving org {org.name} into {stack} failed; run the command again to move the rest:\n{error}")
            return EXIT_FAILED
        _say(f"org {org.name}: moved {len(urns)} resources from {source} into {stack}")
    _say(
        f"done. Next: `zitadel-bootstrap fleet up` (each org's stack shows its resources unchanged and fills in its "
        f"outputs). Then take the moved accounts out of stack {source}'s config, or remove that stack "
        f"(`{pulumi_binary().rsplit('/', 1)[-1]} stack rm {source} --force --yes` once it holds no accounts): a "
        f"`pulumi up` on it would create them again"
    )
    return 0
