"""The stacks this repository ships (stacks/) pass the shipped policy pack with its defaults: a team that copies
the example and runs the README's pipeline (`pulumi up --policy-pack policy`) is not refused on day one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from zitadel_bootstrap.component.service_account import key_policy
from zitadel_bootstrap.config import ServiceAccountSettings, load_settings_file
from zitadel_bootstrap.key_schedule.plan import new_schedule
from zitadel_bootstrap.limits import NO_EXPIRATION

from policy.rules import DEFAULT_MAX_KEY_DAYS, instance_owner_violation, key_expiry_violation

STACKS = sorted((Path(__file__).resolve().parents[2] / "stacks").glob("Pulumi.*.yaml"))


def accounts(stack: Path, tmp_path: Path, now: datetime | None = None) -> tuple[ServiceAccountSettings, ...]:
    """The stack's accounts, once the team has set the provider's credentials as the example says."""
    document = yaml.safe_load(stack.read_text())
    config = document["config"]
    if not any(key in config for key in ("zitadel:jwtProfileFile", "zitadel:jwtProfileJson")):
        config["zitadel:jwtProfileJson"] = {"secure": "v1:set-with-pulumi-config-set--secret"}
    copy = tmp_path / stack.name
    copy.write_text(yaml.safe_dump(document))
    return load_settings_file(copy, now=now).service_accounts


def test_the_repository_ships_the_local_and_the_example_stack() -> None:
    assert [path.name for path in STACKS] == ["Pulumi.example.yaml", "Pulumi.local.yaml"]


@pytest.mark.parametrize("stack", STACKS, ids=lambda path: path.name)
def test_every_key_of_a_shipped_stack_passes_machine_key_expiry(stack: Path, tmp_path: Path) -> None:
    now = datetime.now(UTC)  # the files are checked as a team would copy them today
    violations = []
    for account in accounts(stack, tmp_path, now):
        # The date the key gets, as the program's key schedule plans it for a new key.
        expires_at = new_schedule(key_policy(account), now).expires_at or NO_EXPIRATION
        violation = key_expiry_violation(
            account=account.name,
            resource=f"{account.name}-key",
            expiration=expires_at,
            now=now,
            max_days=DEFAULT_MAX_KEY_DAYS,
        )
        if violation:
            violations.append(violation)
    assert violations == []


@pytest.mark.parametrize("stack", STACKS, ids=lambda path: path.name)
def test_no_shipped_account_is_an_instance_owner(stack: Path, tmp_path: Path) -> None:
    for account in accounts(stack, tmp_path):
        if account.instance_roles:
            violation = instance_owner_violation(
                account=account.name,
                resource=f"{account.name}-instance-member",
                roles=list(account.instance_roles),
                allowed=frozenset(),
            )
            assert violation is None


def test_the_demo_port_lies_outside_the_ephemeral_port_range() -> None:
    """`make demo` listens on a fixed port. Inside the kernel's ephemeral range, any process's outgoing connection
    or `listen :0` (each test's stand-in, SeaweedFS, every plugin's gRPC server) can hold it at that moment, and the
    demo's stand-in cannot bind (the likely cause of one failed fresh-clone run, whose stand-in said nothing)."""
    stack = yaml.safe_load((Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.local.yaml").read_text())
    port = int(stack["config"]["zitadel:port"])
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low, high = map(int, ranges.read_text().split()) if ranges.exists() else (32768, 60999)
    assert not low <= port <= high, f"zitadel:port {port} is inside the ephemeral port range {low}-{high}"
    assert 1024 < port < 32768, "outside the ranges Linux distributions use for ephemeral ports, above the privileged"
