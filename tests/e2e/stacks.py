"""Stacks of the e2e layer: the project's real program, the plain `pulumi` CLI, a fresh stand-in.

Each stack lives in a project directory of its own (tools/pulumi_cli.make_project_copy: Pulumi.yaml as committed,
this checkout's program and .venv linked), on the project's default local file backend inside that directory,
with its stack config written into stacks/Pulumi.<stack>.yaml as a user writes it. The provider logs in with the
stand-in's instance admin key (``zitadel:jwtProfileFile``), as stacks/Pulumi.local.yaml does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tools.pulumi_cli import PulumiCli, make_project_copy
from tools.server_process import ServerProcess
from tools.standin import StandIn

ServerT = TypeVar("ServerT", bound=ServerProcess)


@contextmanager
def serving(server: ServerT, start_error: type[Exception], what: str) -> Iterator[ServerT]:
    """``server`` running for a fixture's lifetime; one that cannot start fails the test, saying why."""
    try:
        server.start()
    except start_error as error:
        pytest.fail(f"{what} is not available: {error}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


PASSPHRASE = "zitadel-bootstrap-e2e"  # a throwaway passphrase of a throwaway backend
VERIFICATION_TYPE = "zitadel-bootstrap:index:JwtBearerVerification"
KEY_ROTATION_TYPE = "zitadel-bootstrap:index:KeyRotation"
MACHINE_USER = "zitadel:index/machineUser:MachineUser"
MACHINE_KEY = "zitadel:index/machineKey:MachineKey"
ORG_MEMBER = "zitadel:index/orgMember:OrgMember"
INSTANCE_MEMBER = "zitadel:index/instanceMember:InstanceMember"
PROJECT_MEMBER = "zitadel:index/projectMember:ProjectMember"
PROJECT_GRANT_MEMBER = "zitadel:index/projectGrantMember:ProjectGrantMember"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value in state
#: The step names a preview prints after a resource with a change.
PLAN_STEPS = "create|update|replace|delete|create-replacement|delete-replaced|replace-replaced"
#: Every stack's CLI of the layer, for the timing report at the end.
ALL_CLIS: list[PulumiCli] = []


def tls_ca(standin: StandIn) -> Path | None:
    """The stand-in's per-run CA when it serves https, else None."""
    return standin.ca_path


def standin_config(
    standin: StandIn, accounts: list[dict[str, Any]], *, verification: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The stack config of a stack on ``standin``, in the form of stacks/Pulumi.local.yaml."""
    return {
        "zitadel:domain": "127.0.0.1",
        # Over TLS (a stand-in with its per-run CA) the provider's default, https; else plain http, for a local one.
        "zitadel:insecure": "false" if tls_ca(standin) else "true",
        "zitadel:port": str(standin.port),
        "zitadel:jwtProfileFile": str(standin.admin_key_path),
        # Refresh reports a lost proof after 1 s: no lag is configured while drift is checked.
        "zitadel-bootstrap:verification": {"deadlineSeconds": 30, "refreshSettleSeconds": 1, **(verification or {})},
        "zitadel-bootstrap:serviceAccounts": accounts,
    }


@dataclass
class E2EStack:
    """One stack of the real program against one stand-in."""

    cli: PulumiCli
    standin: StandIn
    accounts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        directory: Path,
        name: str,
        standin: StandIn,
        accounts: list[dict[str, Any]],
        *,
        backend_url: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        **config: Any,
    ) -> E2EStack:
        """``backend_url`` (and ``extra_env``, e.g. its credentials): another backend than the local file one."""
        cli = PulumiCli(make_project_copy(directory), name, PASSPHRASE, backend_url, dict(extra_env or {}))
        cli.ca_file = tls_ca(standin)
        ALL_CLIS.append(cli)
        cli.init()
        stack = cls(cli, standin, accounts)
        cli.write_config(standin_config(standin, accounts, **config))
        return stack

    def configure_accounts(self, accounts: list[dict[str, Any]]) -> None:
        self.accounts = accounts
        self.cli.write_config({"zitadel-bootstrap:serviceAccounts": accounts})

    # -- what ZITADEL (the stand-in) holds ---------------------------------------------------------------------
    def user(self, user_name: str, org_id: str | None = None) -> dict[str, Any] | None:
        """The stand-in's user of that name (in ``org_id``, default the default org), or None."""
        org = org_id or self.standin.default_org_id
        found = [u for u in self.standin.state()["users"] if u["orgId"] == org and u["userName"] == user_name]
        assert len(found) <= 1, f"{len(found)} users named {user_name} in org {org}"
        return found[0] if found else None

    def memberships(self, user_id: str) -> dict[tuple[str, str], list[str]]:
        """(kind, target id) -> roles of every membership the user holds in the stand-in."""
        return {
            (m["kind"], m["targetId"]): sorted(m["roles"])
            for m in self.standin.state()["memberships"]
            if m["userId"] == user_id
        }

    # -- what Pulumi holds --------------------------------------------------------------------------------------
    def types_in_state(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for resource in self.cli.resources():
            counts[resource["type"]] = counts.get(resource["type"], 0) + 1
        return counts

    def resource_outputs(self, type_: str, name: str) -> dict[str, Any]:
        """The outputs in state of the one resource of that type and name (e.g. ``<account>-verification``)."""
        found = [r for r in self.cli.resources(type_) if r["urn"].endswith(f"::{name}")]
        assert len(found) == 1, f"{len(found)} resources {type_} named {name} in state"
        outputs: dict[str, Any] = found[0].get("outputs") or {}
        return outputs

    def output_text(self) -> str:
        return "\n".join(run.output for run in self.cli.runs)


def changed_lines(output: str) -> list[str]:
    """The plan lines of resources with a change (create, update, replace, delete) in a preview's output."""
    return [
        line.strip()
        for line in output.splitlines()
        if re.match(rf"^\s*[-+~]+\s+\S+:\S+\s+\S+\s+({PLAN_STEPS})(\s+\[diff: [^]]*\])?\s*$", line)
    ]
