"""A fleet project of the e2e layer: a fleet file, the real `zitadel-bootstrap fleet` command, the plain CLI.

The project directory is a copy like a fresh checkout's (tools/pulumi_cli.make_project_copy); the fleet file is
written to stacks/fleet.yaml as a user writes it, its shared config that of tests/e2e/stacks.standin_config (over
TLS when the stand-in serves it, trusted through SSL_CERT_FILE). Each command's report (--report) is read back.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.stacks import ALL_CLIS, PASSPHRASE, standin_config, tls_ca
from tools.pulumi_cli import OPERATIONS_COMMAND, PulumiCli, make_project_copy
from tools.standin import StandIn


@dataclass(frozen=True)
class FleetRun:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    report: dict[str, Any]

    @property
    def output(self) -> str:
        return f"$ zitadel-bootstrap {' '.join(self.args)} -> {self.returncode}\n{self.stdout}\n{self.stderr}"

    def results(self) -> dict[str, str]:
        """org -> its result (ok, drift, failed, dropped, destroyed, absent)."""
        return {org["org"]: org["result"] for org in self.report.get("orgs", [])}

    def org(self, name: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = [org for org in self.report.get("orgs", []) if org["org"] == name]
        assert len(found) == 1, self.output
        return found[0]


def org_entry(name: str, accounts: Sequence[str], org_id: str | None = None) -> dict[str, Any]:
    """An org of the fleet file; its accounts' user names are ``<org>-<account>`` (unique in the stand-in)."""
    entry: dict[str, Any] = {"name": name}
    if org_id:
        entry["orgId"] = org_id
    entry["serviceAccounts"] = [{"name": account, "userName": f"{name}-{account}"} for account in accounts]
    return entry


@dataclass
class FleetProject:
    directory: Path
    standin: StandIn
    name: str
    orgs: list[dict[str, Any]]
    backend_url: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    runs: list[FleetRun] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        directory: Path,
        standin: StandIn,
        name: str,
        orgs: list[dict[str, Any]],
        *,
        backend_url: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> FleetProject:
        project = cls(make_project_copy(directory), standin, name, orgs, backend_url, dict(extra_env or {}))
        project.write()
        return project

    @property
    def fleet_file(self) -> Path:
        return self.directory / "stacks" / "fleet.yaml"

    def write(self, orgs: list[dict[str, Any]] | None = None) -> None:
        if orgs is not None:
            self.orgs = orgs
        shared = standin_config(self.standin, [])
        shared.pop("zitadel-bootstrap:serviceAccounts")
        self.fleet_file.write_text(yaml.safe_dump({"fleet": self.name, "config": shared, "orgs": self.orgs}))

    def cli(self, org: str) -> PulumiCli:
        """The plain CLI on one org's stack."""
        cli = PulumiCli(self.directory, f"{self.name}-{org}", PASSPHRASE, self.backend_url, dict(self.extra_env))
        cli.ca_file = tls_ca(self.standin)
        ALL_CLIS.append(cli)
        return cli

    def env(self) -> dict[str, str]:
        cli = PulumiCli(self.directory, "-", PASSPHRASE, self.backend_url, dict(self.extra_env))
        cli.ca_file = tls_ca(self.standin)
        return cli.env()

    def fleet(self, *args: str, expect: Sequence[int] = (0,), timeout: float = 900) -> FleetRun:
        """``zitadel-bootstrap fleet <args> --report <file>`` in the project directory; fails unless ``expect``."""
        report = self.directory / f"report-{len(self.runs)}.json"
        argv = ("fleet", *args, "--report", str(report)) if args[0] not in ("list", "migrate") else ("fleet", *args)
        start = time.monotonic()
        done = subprocess.run(
            [str(OPERATIONS_COMMAND), *argv],
            cwd=self.directory,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        loaded = json.loads(report.read_text()) if report.exists() else {}
        run = FleetRun(argv, done.returncode, done.stdout, done.stderr, time.monotonic() - start, loaded)
        self.runs.append(run)
        assert run.returncode in expect, run.output + self.logs_text()
        return run

    def logs(self) -> list[Path]:
        return sorted((self.directory / ".zitadel-bootstrap" / "fleet-logs").glob("*.log"))

    def logs_text(self) -> str:
        return "".join(f"\n--- {path.name}\n{path.read_text(errors='replace')[-3000:]}" for path in self.logs())

    def user(self, org_id: str, user_name: str) -> dict[str, Any] | None:
        found = [u for u in self.standin.state()["users"] if u["orgId"] == org_id and u["userName"] == user_name]
        return found[0] if found else None

    def org_id(self, org: str) -> str:
        """The ZITADEL id of an org of the fleet (its own ``orgId``, else its stack's ``organizations`` output)."""
        entry = next(o for o in self.orgs if o["name"] == org)
        if entry.get("orgId"):
            return str(entry["orgId"])
        outputs = json.loads(self.cli(org).run("stack", "output", "organizations", "--json").output)
        return str(outputs[org])

    def stacks(self) -> list[str]:
        listed = self.cli("ls").run("stack", "ls", "--json", with_stack=False)
        return sorted(str(entry["name"]).rsplit("/", 1)[-1] for entry in json.loads(listed.output))
