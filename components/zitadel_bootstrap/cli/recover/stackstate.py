"""Read what Pulumi knows: the checkpoint as `pulumi stack export` prints it, and the lock a dead run left.

Pure: JSON and CLI output in, model objects out. Secret values in the export stay encrypted; only the plain
inputs that locate objects (``orgId``, ``userName``, ``userId``, ``projectId``, ``grantId``, ``name``) are read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .model import PendingOperation, StackState, StateResource


class StateFormatError(ValueError):
    """The export is not a Pulumi deployment this tool can read."""


def provider_urn(reference: str) -> str:
    """The URN of a provider reference ``<urn>::<id>`` (a URN itself has no ``::`` after its name)."""
    if not reference:
        return ""
    head, sep, _ = reference.rpartition("::")
    # A reference's last part is the provider's id; a bare URN ends in its name, which the type precedes.
    return head if sep and head.count("::") >= 3 else reference


def _resource(raw: Mapping[str, Any]) -> StateResource:
    urn = raw.get("urn")
    type_ = raw.get("type")
    if not isinstance(urn, str) or not isinstance(type_, str):
        raise StateFormatError("a resource of the export has no urn or type")
    inputs = raw.get("inputs")
    return StateResource(
        urn=urn,
        type=type_,
        id=str(raw.get("id") or ""),
        parent=str(raw.get("parent") or ""),
        provider=provider_urn(str(raw.get("provider") or "")),
        inputs=inputs if isinstance(inputs, dict) else {},
    )


def parse_export(document: Any, *, stack: str, project: str) -> StackState:
    """The state of `pulumi stack export` (version 3); an empty deployment for a stack never updated."""
    if not isinstance(document, dict):
        raise StateFormatError("`pulumi stack export` did not print a JSON object")
    deployment = document.get("deployment")
    deployment = {} if deployment is None else deployment
    if not isinstance(deployment, dict):
        raise StateFormatError("the export's deployment is not an object")
    resources = tuple(_resource(r) for r in deployment.get("resources") or [] if isinstance(r, dict))
    pending = []
    for op in deployment.get("pending_operations") or []:
        if not isinstance(op, dict) or not isinstance(op.get("resource"), dict):
            raise StateFormatError("a pending operation of the export has no resource")
        pending.append(PendingOperation(kind=str(op.get("type") or ""), resource=_resource(op["resource"])))
    return StackState(stack=stack, project=project, resources=resources, pending=tuple(pending))


# --- the stack lock ----------------------------------------------------------------------------------------------

_LOCKED = "the stack is currently locked"
_CLOUD_BUSY = "another update is currently in progress"
_HOLDER = re.compile(r"created by (?P<user>[^@\s]*)@(?P<host>\S+) \(pid (?P<pid>\d+)\) at (?P<at>\S+)")


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock of a self-managed (diy) backend, as `pulumi` reports it; pid 0 when unknown."""

    user: str
    host: str
    pid: int
    at: str

    def describe(self) -> str:
        if not self.host:
            return "an update in progress on the backend (its runner is not named)"
        return f"{self.user}@{self.host} (pid {self.pid}) since {self.at}"


def lock_holders(output: str) -> list[LockHolder] | None:
    """The holders named in a command's output when it failed on the stack's lock, else None."""
    lowered = output.lower()
    if _LOCKED not in lowered and _CLOUD_BUSY not in lowered:
        return None
    holders = [LockHolder(m["user"], m["host"], int(m["pid"]), m["at"].rstrip(".")) for m in _HOLDER.finditer(output)]
    return holders or [LockHolder("", "", 0, "")]


def stale(holder: LockHolder, *, this_host: str, alive: Mapping[int, bool]) -> bool:
    """A lock is provably stale only when it was taken on this machine by a process that is gone."""
    return bool(holder.host) and holder.host == this_host and holder.pid > 0 and not alive.get(holder.pid, True)
