"""Raising keyGeneration rotates every kind of key at the next `pulumi up`: one with a lifetime, one with a fixed
keyExpiration and one that never expires. Before, only the first was rotated: the other two keep their expiry
date, which was the key's only trigger of a replacement, so the raised generation was recorded and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.e2e.stacks import E2EStack, changed_lines
from tools.standin import StandIn


def test_raising_key_generation_rotates_every_kind_of_key_and_warns_only_in_that_run(
    standin: StandIn, tmp_path: Path
) -> None:
    org = standin.default_org_id
    fixed = (datetime.now(UTC) + timedelta(days=300)).strftime("%Y-%m-%dT%H:%M:%SZ")
    accounts: list[dict[str, Any]] = [
        {"name": "lifetime", "orgId": org, "userName": "gen-lifetime", "keyLifetimeDays": 90},
        {"name": "fixed", "orgId": org, "userName": "gen-fixed", "keyExpiration": fixed},
        {"name": "forever", "orgId": org, "userName": "gen-forever"},
    ]
    stack = E2EStack.create(tmp_path, "generation", standin, accounts)
    stack.cli.up(label="up from empty")
    before = stack.cli.outputs()["serviceAccounts"]

    stack.configure_accounts([{**account, "keyGeneration": 1} for account in accounts])
    preview = stack.cli.preview(label="preview of the raised generation")
    planned = changed_lines(preview.output)
    for name in ("lifetime", "fixed", "forever"):
        assert any(line.startswith(f"+- zitadel:index:MachineKey {name}-key replace") for line in planned), planned
    rotated = stack.cli.up(label="up with keyGeneration 1")
    assert "lifetime: keyGeneration changed to 1" in rotated.output, rotated.output[-3000:]
    after = stack.cli.outputs()["serviceAccounts"]

    for name, account in zip(("lifetime", "fixed", "forever"), accounts, strict=True):
        assert after[name]["keyId"] != before[name]["keyId"], f"{name}: the key was not rotated"
        assert after[name]["verified"] is True, after[name]
        user = stack.user(str(account["userName"]))
        assert user is not None
        assert [str(key["id"]) for key in user["keys"]] == [after[name]["keyId"]], "only the new key is left"
    assert after["fixed"]["key"]["expiresAt"] == fixed
    # The warning belongs to the run that rotated; later runs have nothing to warn about.
    check = stack.cli.drift_check(label="drift check after the rotation")
    again = stack.cli.up(label="up again: nothing rotates twice")
    for run in (check, again):
        assert "keyGeneration changed" not in run.output, run.output[-3000:]
    assert stack.cli.outputs()["serviceAccounts"]["forever"]["keyId"] == after["forever"]["keyId"]
    stack.cli.destroy()
