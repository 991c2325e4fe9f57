"""What a `pulumi` run's output says: which resources failed and why, and whether running it again can help.

Pure: text in, a ``Diagnosis`` out. ``zitadel-bootstrap run`` reruns what this calls transient, adopts what it calls
a lost create, and stops with the way out on everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SERVICE_ACCOUNT_TYPE = "zitadel-bootstrap:index:ServiceAccount"
MACHINE_USER_TYPE = "zitadel:index/machineUser:MachineUser"
#: The part of the diy backend's refusal that names the situation (pkg/backend/diy/lock.go).
LOCKED_MARKER = "the stack is currently locked by"
#: What the bridge says when the provider's create returned no state and no error: terraform-provider-zitadel's
#: create reads the object back and, on NotFound from a lagging read model, clears the id.
LOST_CREATE = re.compile(r"expected non-nil error with nil state during Create of (urn:pulumi:\S+)")
ALREADY_EXISTS = re.compile(r"code = AlreadyExists")
#: A delete that ZITADEL answered NotFound: the object is gone already (deleted outside the stack, e.g. a key removed
#: in the console); the plugin fails the delete instead of taking it as done.
GONE_ON_DELETE = re.compile(r"deleting (urn:pulumi:\S+): .*?code = NotFound", re.DOTALL)
#: ZITADEL (or a proxy, or the network) failing for now: worth the same command again a little later.
TRANSIENT = re.compile(
    r"code = (Unavailable|ResourceExhausted|DeadlineExceeded|Aborted)\b"
    r"|context deadline exceeded"
    r"|connection refused|connection reset by peer|error reading from server|transport is closing"
    r"|Verification of .{0,400}? did not finish"
)
#: A refresh read that failed: the plugin drops ZITADEL's error here ("failed to get user"), so the cause is unknown.
#: Reads change nothing; the command is retried like a transient failure.
FAILED_READ = re.compile(r"refreshing urn:pulumi:\S+: .*?failed to (get|list) ", re.DOTALL)
#: Lines of the stack's own diagnostics that only say that something else failed.
FOLLOW_UPS = re.compile(
    r"^error: (update failed|preview failed|refresh failed|destroy failed|import failed"
    r"|Resource monitor has terminated, shutting down)$"
)
DIAGNOSTIC_HEADER = re.compile(r"^  (?P<type>[^\s()]+) \((?P<name>[^)]+)\):\s*$")

Kind = Literal["ok", "transient", "lost_create", "already_exists", "locked", "gone", "failed"]


@dataclass(frozen=True)
class ResourceError:
    """One resource's error diagnostics, as `pulumi` printed them under "Diagnostics:"."""

    resource: str
    """``<type> (<name>)``, e.g. ``zitadel:index:MachineUser (ci-user)``."""
    message: str

    @property
    def name(self) -> str:
        return self.resource.rsplit(" (", 1)[-1].rstrip(")")

    def one_line(self) -> str:
        lines = [line.strip().lstrip("*").strip() for line in self.message.splitlines()]
        useful = [line.removeprefix("error: ") for line in lines if line and line != "error: 1 error occurred:"]
        return f"{self.resource}: {' '.join(useful)}"


@dataclass(frozen=True)
class Diagnosis:
    """What a pulumi run's output says about why it failed, and whether running it again can help."""

    kind: Kind
    errors: tuple[ResourceError, ...] = ()
    lost_urns: tuple[str, ...] = ()
    """With ``lost_create``: the URNs of the objects ZITADEL created and the stack does not hold; with ``gone``: the
    URNs of the objects a delete found gone from ZITADEL already."""

    def lost_accounts(self) -> tuple[str, ...] | None:
        """The accounts whose machine user was lost, or None when something else was lost too."""
        accounts = []
        for urn in self.lost_urns:
            name = urn.rsplit("::", 1)[-1]
            if f"${MACHINE_USER_TYPE}::" not in urn or not name.endswith("-user"):
                return None
            accounts.append(name.removesuffix("-user"))
        return tuple(accounts)

    @property
    def retryable(self) -> bool:
        return self.kind == "transient"

    def error_lines(self) -> str:
        return "\n".join(f"  {error.one_line()}" for error in self.errors) or "  (no resource errors printed)"


def resource_errors(output: str) -> list[ResourceError]:
    """The error diagnostics of each resource (follow-up lines of the stack itself left out)."""
    lines = output.splitlines()
    found: list[ResourceError] = []
    in_diagnostics = False
    current: tuple[str, list[str]] | None = None

    def close() -> None:
        if current is None:
            return
        kept = [line for line in current[1] if not FOLLOW_UPS.match(line.strip())]
        if any(line.strip().startswith("error:") for line in kept):
            found.append(ResourceError(current[0], "\n".join(line.strip() for line in kept if line.strip())))

    for line in lines:
        if line.startswith("Diagnostics:"):
            close()
            current, in_diagnostics = None, True
            continue
        if not in_diagnostics:
            continue
        header = DIAGNOSTIC_HEADER.match(line)
        if header:
            close()
            current = (f"{header['type']} ({header['name']})", [])
        elif line.strip() and not line.startswith((" ", "\t")):
            close()  # the next section ("Outputs:", "Resources:", ...)
            current, in_diagnostics = None, False
        elif current is not None:
            current[1].append(line)
    close()
    return found


def diagnose(returncode: int, output: str) -> Diagnosis:
    """Classify a finished pulumi command: retry it, stop with a way out, or stop."""
    if returncode == 0:
        return Diagnosis("ok")
    errors = tuple(resource_errors(output))
    lost = tuple(dict.fromkeys(LOST_CREATE.findall(output)))
    if lost:
        return Diagnosis("lost_create", errors, lost_urns=lost)
    if any(ALREADY_EXISTS.search(error.message) for error in errors):
        return Diagnosis("already_exists", errors)
    if LOCKED_MARKER in output:
        return Diagnosis("locked", errors)
    gone = [GONE_ON_DELETE.search(error.message) for error in errors]
    if errors and all(gone):
        return Diagnosis("gone", errors, lost_urns=tuple(dict.fromkeys(m[1] for m in gone if m)))
    if errors and all(TRANSIENT.search(e.message) or FAILED_READ.search(e.message) for e in errors):
        return Diagnosis("transient", errors)
    return Diagnosis("failed", errors)
