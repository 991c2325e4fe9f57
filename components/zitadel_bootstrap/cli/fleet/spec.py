"""The fleet file: the orgs of a fleet and their accounts, validated whole before any stack runs.

    fleet: customers                 # the fleet's name; org ``acme``'s stack is ``customers-acme``
    config:                          # the stack config every org's stack shares (plain values only)
      zitadel:domain: id.example.com
      zitadel:jwtProfileFile: admin-key.json
      zitadel-bootstrap:verification: {deadlineSeconds: 60}
    orgs:
      - name: acme                   # an existing org: its id ...
        orgId: "259254409320316419"
        serviceAccounts:             # ... and the accounts, as in zitadel-bootstrap:serviceAccounts, without orgId/org
          - {name: ci-deployer, userName: ci-deployer, keyLifetimeDays: 90}
      - name: globex                 # no orgId: the org's stack creates the org (displayName, default: name)
        displayName: Globex Corp
        serviceAccounts: [...]

Every org's stack config is the shared ``config`` plus its accounts (and its org, when the stack creates it) and
``zitadel-bootstrap:fleet``; each is checked here by the program's own parser, so a mistake in org 240 fails the
fleet command before org 1 runs, naming the org and the key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from zitadel_bootstrap.config.errors import SettingsError
from zitadel_bootstrap.config.fields import NAME, NAME_RULE
from zitadel_bootstrap.config.keys import PROJECT, PROVIDER
from zitadel_bootstrap.config.parser import parse_settings

FLEET_KEYS = ("fleet", "config", "orgs")
ORG_KEYS = ("name", "orgId", "displayName", "serviceAccounts")
#: Keys the fleet writes into each org's stack config; the shared config must not set them.
FLEET_WRITTEN = tuple(f"{PROJECT}:{name}" for name in ("serviceAccounts", "organizations", "fleet"))
ORG_ID = re.compile(r"[0-9]{1,32}")


class FleetError(ValueError):
    """The fleet file is unusable; the message lists every problem, each naming its place in the file."""


@dataclass(frozen=True)
class FleetOrg:
    name: str
    org_id: str | None
    display_name: str | None
    accounts: tuple[Mapping[str, Any], ...]

    def stack_config(self, fleet: Fleet) -> dict[str, Any]:
        """The org's whole stack config: the shared config, the fleet's name, the org's accounts (and org)."""
        config: dict[str, Any] = dict(fleet.config)
        config[f"{PROJECT}:fleet"] = fleet.name
        if self.org_id is None:
            config[f"{PROJECT}:organizations"] = [{"name": self.name, "displayName": self.display_name or self.name}]
        where = {"orgId": self.org_id} if self.org_id else {"org": self.name}
        config[f"{PROJECT}:serviceAccounts"] = [{**account, **where} for account in self.accounts]
        return config


@dataclass(frozen=True)
class Fleet:
    name: str
    path: Path
    config: Mapping[str, Any]
    orgs: tuple[FleetOrg, ...]

    def stack_name(self, org: str) -> str:
        return f"{self.name}-{org}"

    def org_of_stack(self, stack: str) -> str | None:
        """The org name of a stack named by this fleet (``<fleet>-<org>``), else None."""
        prefix = f"{self.name}-"
        rest = stack.rsplit("/", 1)[-1]
        return rest[len(prefix) :] if rest.startswith(prefix) and NAME.fullmatch(rest[len(prefix) :]) else None

    def org(self, name: str) -> FleetOrg | None:
        return next((org for org in self.orgs if org.name == name), None)


@dataclass(frozen=True)
class Shard:
    """``--shard I/N``: the orgs whose name hashes to I of N. A hash, not a position, so adding or removing an org
    moves no other org to another shard (another runner)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*", text)
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise FleetError(
                f"--shard: expected I/N with 1 <= I <= N, e.g. 2/4 for the second of 4 runners, got {text!r}"
            )
        return cls(int(match[1]), int(match[2]))

    def holds(self, org: str) -> bool:
        digest = hashlib.sha256(org.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_fleet(path: Path, *, now: datetime | None = None) -> Fleet:
    """Read and validate the fleet file; :class:`FleetError` lists every problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FleetError(f"{path}: no fleet file there; write one (docs/fleet.md) or pass --fleet PATH") from None
    except (OSError, yaml.YAMLError) as error:
        raise FleetError(f"{path}: cannot read the fleet file: {error}") from None
    return parse_fleet(raw, path, now=now)


def parse_fleet(raw: Any, path: Path, *, now: datetime | None = None) -> Fleet:
    problems: list[str] = []

    def problem(where: str, what: str) -> None:
        problems.append(f"{path}: {where}: {what}")

    if not isinstance(raw, Mapping):
        raise FleetError(f"{path}: must be a mapping with the keys {', '.join(FLEET_KEYS)}, got {_show(raw)}")
    for key in sorted(set(map(str, raw)) - set(FLEET_KEYS)):
        problem(key, f"is not a key of a fleet file; known keys are {', '.join(FLEET_KEYS)}")
    name = raw.get("fleet")
    if not (isinstance(name, str) and NAME.fullmatch(name)):
        problem("fleet", f"the fleet's name must be {NAME_RULE}, got {_show(name)}")
        name = ""
    shared = raw.get("config") or {}
    if not isinstance(shared, Mapping):
        problem("config", f"must be a mapping of stack config keys (zitadel:domain: ...), got {_show(shared)}")
        shared = {}
    for key, value in shared.items():
        if not isinstance(key, str) or ":" not in key:
            problem(f"config.{key}", "must be a namespaced stack config key, e.g. zitadel:domain")
        elif key in FLEET_WRITTEN:
            problem(f"config.{key}", "is written by the fleet for each org: list accounts under orgs[].serviceAccounts")
        elif isinstance(value, Mapping) and "secure" in value:
            problem(
                f"config.{key}",
                "holds an encrypted value, which belongs to one stack; the fleet's config is plain: give the admin "
                "key as a file (zitadel:jwtProfileFile: admin-key.json, written by the pipeline from its secret)",
            )
    orgs = _parse_orgs(raw.get("orgs"), problem)
    fleet = Fleet(name, path, dict(shared), tuple(orgs))
    if not problems:
        for index, org in enumerate(fleet.orgs):
            _check_org_config(fleet, org, index, problem, now)
    if problems:
        raise FleetError("the fleet file is not valid:\n" + "\n".join(f"  - {p}" for p in problems))
    return fleet


def _parse_orgs(value: Any, problem: Any) -> list[FleetOrg]:
    if not isinstance(value, list) or not value:
        problem(
            "orgs",
            f"must be a non-empty list of orgs (name, orgId or displayName, serviceAccounts), got {_show(value)}",
        )
        return []
    orgs: list[FleetOrg] = []
    names: set[str] = set()
    ids: set[str] = set()
    for index, entry in enumerate(value):
        org = _parse_org(entry, f"orgs[{index}]", problem, ids)
        if org is None:
            continue
        if org.name in names:
            problem(f"orgs[{index}].name", f"{org.name!r} is listed twice: each org has one entry (and one stack)")
        names.add(org.name)
        orgs.append(org)
    return orgs


def _parse_org(entry: Any, where: str, problem: Any, ids: set[str]) -> FleetOrg | None:
    if not isinstance(entry, Mapping):
        problem(where, f"must be a mapping with name and serviceAccounts, got {_show(entry)}")
        return None
    for key in sorted(set(map(str, entry)) - set(ORG_KEYS)):
        problem(f"{where}.{key}", f"is not a key of an org; known keys are {', '.join(ORG_KEYS)}")
    name = entry.get("name")
    if not (isinstance(name, str) and NAME.fullmatch(name)):
        problem(f"{where}.name", f"must be {NAME_RULE}, got {_show(name)}")
        return None
    org_id = entry.get("orgId")
    if org_id is not None:
        org_id = str(org_id)
        if not ORG_ID.fullmatch(org_id):
            problem(f"{where}.orgId", f"must be the numeric id of an existing org, got {_show(org_id)}")
        elif org_id in ids:
            problem(f"{where}.orgId", f"{org_id} is the org of another entry too: one entry per org")
        ids.add(org_id)
        if entry.get("displayName") is not None:
            problem(f"{where}.displayName", "is for an org the stack creates; an org with orgId keeps its name")
    accounts = entry.get("serviceAccounts")
    if not isinstance(accounts, list) or not accounts:
        problem(f"{where}.serviceAccounts", f"must be a non-empty list of service accounts, got {_show(accounts)}")
        return None
    for number, account in enumerate(accounts):
        for key in ("orgId", "org"):
            if isinstance(account, Mapping) and key in account:
                problem(f"{where}.serviceAccounts[{number}].{key}", "is set by the fleet from the org entry")
    return FleetOrg(name, org_id, entry.get("displayName"), tuple(accounts))


def _check_org_config(fleet: Fleet, org: FleetOrg, index: int, problem: Any, now: datetime | None) -> None:
    """The program's own validation of the org's stack config, its problems named by the org."""
    config = org.stack_config(fleet)
    project = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{PROJECT}:")}
    provider = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{PROVIDER}:")}
    try:
        parse_settings(project, provider, now=now, config_keys=list(config))
    except SettingsError as error:
        for line in error.problems:
            problem(f"orgs[{index}] ({org.name})", line)


def select(fleet: Fleet, shard: Shard | None, only: Iterable[str] = ()) -> list[FleetOrg]:
    """The orgs this run takes: those of the shard (all without one), narrowed to ``only`` when given."""
    wanted = set(only)
    unknown = wanted - {org.name for org in fleet.orgs}
    if unknown:
        raise FleetError(f"--org: {', '.join(sorted(unknown))} is not an org of the fleet file {fleet.path}")
    return [
        org for org in fleet.orgs if (shard is None or shard.holds(org.name)) and (not wanted or org.name in wanted)
    ]


def dropped(fleet: Fleet, stacks: Sequence[str], shard: Shard | None) -> list[str]:
    """The fleet's stacks (by name) whose org the fleet file no longer lists, in this shard."""
    listed = {org.name for org in fleet.orgs}
    found = []
    for stack in stacks:
        org = fleet.org_of_stack(stack)
        if org is not None and org not in listed and (shard is None or shard.holds(org)):
            found.append(stack)
    return sorted(found)
