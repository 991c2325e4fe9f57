"""Key expiry and rotation under the plain `pulumi` CLI with the real plugin, days passing through the test-only
clock shift (ZB_TEST_TIME_SHIFT_DAYS): a due key is drift (7) named with its date, `up` rotates it with the new
key verified before the old one goes, a failed verification leaves the old key working until the next `up`,
manual rotation, a rename that re-mints nothing, and a fixed expiry that only the config can move.

One stack for the module; each test works out the clock shift it needs from the current key's schedule, so
the tests do not depend on each other's order.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from zitadel_bootstrap.clock import SHIFT_VARIABLE

from tests.e2e.stacks import KEY_ROTATION_TYPE, E2EStack, changed_lines
from tools.pulumi_cli import EXIT_DRIFT, EXIT_FAILED, OPERATIONS_COMMAND, REPO
from tools.standin import StandIn

# The fixed-expiry account's key expires this many days after the test starts: further out than any shift the
# other tests need, so the program never finds that date in the past (which the settings refuse).
FIXED_DAYS = 3650


def fixed_expiration(days: int) -> str:
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def stack(standin: StandIn, tmp_path_factory: pytest.TempPathFactory) -> E2EStack:
    org = standin.default_org_id
    accounts: list[dict[str, Any]] = [
        {"name": "rotating", "orgId": org, "userName": "rotating", "keyLifetimeDays": 90, "rotateBeforeDays": 30},
        {"name": "manual", "orgId": org, "userName": "manual", "keyLifetimeDays": 365},
        {"name": "fixed", "orgId": org, "userName": "fixed", "keyExpiration": fixed_expiration(FIXED_DAYS)},
    ]
    created = E2EStack.create(tmp_path_factory.mktemp("rotation"), "rotation", standin, accounts)
    created.cli.up(label="rotation: up from empty")
    return created


@pytest.fixture
def rotation(stack: E2EStack) -> Iterator[E2EStack]:
    """The module's stack; the clock shift and faults a test sets do not outlive it."""
    yield stack
    stack.cli.extra_env = {}
    stack.standin.reset()


def key_output(stack: E2EStack, account: str) -> dict[str, Any]:
    return dict(stack.cli.outputs()["serviceAccounts"][account]["key"])


def shift_into_window(stack: E2EStack, account: str) -> float:
    """Days of clock shift that put the account's current key one day inside its rotation window."""
    rotate_at = datetime.strptime(key_output(stack, account)["rotateAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return math.ceil((rotate_at - datetime.now(UTC)).total_seconds() / 86400) + 1


def key_ids_in_zitadel(stack: E2EStack, user_name: str) -> list[str]:
    user = stack.user(user_name)
    assert user is not None, f"no user {user_name}"
    return [str(key["id"]) for key in user["keys"]]


def verify_with_cli(stack: E2EStack, key_json: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(str(OPERATIONS_COMMAND), "verify", "--issuer", stack.standin.issuer, "--insecure"),
            *("--key-file", "-", "--org-id", stack.standin.default_org_id, "--json"),
        ],
        cwd=REPO,
        input=key_json,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_outputs_show_each_keys_expiry_days_left_and_rotation_date(rotation: E2EStack) -> None:
    key = key_output(rotation, "rotating")
    expires = datetime.strptime(key["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((expires - datetime.now(UTC)).total_seconds() - 90 * 86400) < 3600
    assert "daysLeft" not in key, "days left move daily: a nightly drift check would show them as a change"
    assert rotation.resource_outputs(KEY_ROTATION_TYPE, "rotating-key-rotation")["days_left"] in (89, 90)
    assert key["rotationDue"] is False
    assert key["id"] == key_ids_in_zitadel(rotation, "rotating")[0]
    assert key_output(rotation, "fixed")["expiresAt"] == rotation.accounts[2]["keyExpiration"]


def test_a_plain_up_with_nothing_due_keeps_every_key(rotation: E2EStack) -> None:
    before = {name: key_output(rotation, name)["id"] for name in ("rotating", "manual", "fixed")}
    output = rotation.cli.up(label="rotation: up, nothing due").output
    assert changed_lines(output) == []
    assert {name: key_output(rotation, name)["id"] for name in before} == before


def test_a_due_key_is_drift_named_with_its_date_and_up_rotates_it_new_key_first(rotation: E2EStack) -> None:
    cli = rotation.cli
    old_key = key_output(rotation, "rotating")
    cli.extra_env = {SHIFT_VARIABLE: str(shift_into_window(rotation, "rotating"))}

    check = cli.drift_check(label="drift check: key due", expect=(EXIT_DRIFT,))
    assert f"rotating: the key expires {old_key['expiresAt']}, inside its 30-day rotation window" in check.output
    changes = changed_lines(check.output)
    assert any("rotating-key replace" in line for line in changes), changes

    up = cli.up(label="up: rotate the due key").output
    # Create the new key, verify it (the proof is replaced), and only then delete the old key.
    order = [
        up.index(step) for step in ("rotating-key created", "rotating-verification created", "rotating-key deleted")
    ]
    assert order == sorted(order), up[-3000:]
    new_key = key_output(rotation, "rotating")
    assert new_key["id"] != old_key["id"]
    assert key_ids_in_zitadel(rotation, "rotating") == [new_key["id"]]
    keys = cli.outputs(show_secrets=True)["machineKeys"]
    assert json.loads(keys["rotating"])["keyId"] == new_key["id"]
    done = verify_with_cli(rotation, keys["rotating"])
    assert done.returncode == 0, done.stderr
    cli.drift_check(label="drift check: rotated")


def test_a_failed_verification_keeps_the_old_key_until_the_next_up_completes_the_rotation(rotation: E2EStack) -> None:
    cli = rotation.cli
    old_key = key_output(rotation, "rotating")
    old_json = cli.outputs(show_secrets=True)["machineKeys"]["rotating"]
    user = rotation.user("rotating")
    assert user is not None
    cli.extra_env = {SHIFT_VARIABLE: str(shift_into_window(rotation, "rotating"))}
    rotation.cli.write_config({"zitadel-bootstrap:verification": {"deadlineSeconds": 4, "refreshSettleSeconds": 1}})
    # Every token request of this user fails; the plugin logs in as the admin and is not affected.
    rotation.standin.inject_fault("/oauth/v2/token", status=500, count=-1, subject=str(user["id"]))
    try:
        failed = cli.up(label="up: rotation whose verification fails", expect=(EXIT_FAILED,))
    finally:
        rotation.standin.clear_faults()
        rotation.cli.write_config(
            {"zitadel-bootstrap:verification": {"deadlineSeconds": 30, "refreshSettleSeconds": 1}}
        )
    assert "rotating-verification" in failed.output
    assert f"Verification of user {user['id']}" in failed.output
    assert "rotating-key deleted" not in failed.output
    ids = key_ids_in_zitadel(rotation, "rotating")
    assert old_key["id"] in ids
    assert len(ids) == 2, "the new key exists next to the old one"
    assert cli.outputs(show_secrets=True)["machineKeys"]["rotating"] == old_json
    assert verify_with_cli(rotation, old_json).returncode == 0, "the old key keeps working"

    cli.up(label="up: the rotation completes")
    new_key = key_output(rotation, "rotating")
    assert new_key["id"] != old_key["id"]
    assert key_ids_in_zitadel(rotation, "rotating") == [new_key["id"]]
    cli.drift_check(label="drift check: rotation completed")


def test_raising_key_generation_rotates_now_with_the_same_order(rotation: E2EStack) -> None:
    accounts = [dict(account) for account in rotation.accounts]
    manual = next(account for account in accounts if account["userName"] == "manual")  # a test may rename it
    name = manual["name"]
    old_id = key_output(rotation, name)["id"]
    manual["keyGeneration"] = int(manual.get("keyGeneration", 0)) + 1
    rotation.configure_accounts(accounts)
    up = rotation.cli.up(label="up: keyGeneration raised").output
    assert f"{name}: keyGeneration changed to" in up
    assert up.index(f"{name}-key created") < up.index(f"{name}-verification created") < up.index(f"{name}-key deleted")
    new_id = key_output(rotation, name)["id"]
    assert new_id != old_id
    assert key_ids_in_zitadel(rotation, "manual") == [new_id]


def test_renaming_an_account_with_former_names_re_mints_nothing(rotation: E2EStack) -> None:
    accounts = [dict(account) for account in rotation.accounts]
    current = next(account for account in accounts if account["userName"] == "manual")
    old_name = current["name"]
    key_id, user = key_output(rotation, old_name)["id"], rotation.user("manual")
    current["name"] = f"{old_name}-renamed"
    current["formerNames"] = [*current.get("formerNames", []), old_name]
    rotation.configure_accounts(accounts)
    output = rotation.cli.up(label="up: account renamed").output
    assert changed_lines(output) == [], output[-3000:]
    assert key_output(rotation, current["name"])["id"] == key_id
    assert rotation.user("manual") == user


def test_a_fixed_expiry_inside_its_window_stays_drift_until_the_config_moves_it(rotation: E2EStack) -> None:
    cli = rotation.cli
    fixed = key_output(rotation, "fixed")
    cli.extra_env = {SHIFT_VARIABLE: str(shift_into_window(rotation, "fixed"))}
    check = cli.drift_check(label="drift check: fixed expiry due", expect=(EXIT_DRIFT,))
    assert f"fixed: the key expires {fixed['expiresAt']}" in check.output
    assert "set a later keyExpiration" in check.output
    up = cli.up(label="up: fixed expiry due").output
    assert "fixed-key replace" not in up, "only the config can move a fixed expiry"
    cli.drift_check(label="drift check: still due", expect=(EXIT_DRIFT,))

    accounts = [dict(account) for account in rotation.accounts]
    entry = next(account for account in accounts if account["userName"] == "fixed")
    entry["keyExpiration"] = fixed_expiration(FIXED_DAYS + 365)
    rotation.configure_accounts(accounts)
    moved = cli.up(label="up: keyExpiration moved").output
    assert (
        moved.index("fixed-key created") < moved.index("fixed-verification created") < moved.index("fixed-key deleted")
    )
    assert key_output(rotation, "fixed")["expiresAt"] == entry["keyExpiration"]
    cli.drift_check(label="drift check: fixed expiry moved")
