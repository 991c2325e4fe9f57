"""The verification resource's whole life with the real engine: up, no-op preview, drift and repair, destroy.

One stack for the module (each engine command costs seconds); the tests run in file order and every test leaves
the stack converged (verified) for the next. The last test scans everything the engine wrote and printed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from tests.e2e.harness import VERIFICATION_TYPE, EngineStack, is_changeless
from tests.e2e.identities import Identity, new_key, provision
from tests.e2e.leaks import assert_no_leaks
from tools.standin import StandIn

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value in state
# How CommandError reports the exit code of a violated --expect-no-changes in recent CLIs.
EXIT_UNEXPECTED_CHANGES = "code: 7"


@dataclass
class Deployed:
    engine: EngineStack
    identity: Identity
    up_outputs: dict[str, Any]


@pytest.fixture(scope="module")
def deployed(engine_root: str, standin: StandIn, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    identity = provision(standin, "lifecycle")
    engine = EngineStack.create(tmp_path_factory.mktemp("lifecycle"), "lifecycle")
    engine.configure(*identity.stack_config(standin.issuer))
    result = engine.up("lifecycle: up from empty")
    return Deployed(engine, identity, {key: value.value for key, value in result.outputs.items()})


def verification_state(engine: EngineStack) -> dict[str, Any]:
    resources = engine.resources()
    assert len(resources) == 1, f"expected one {VERIFICATION_TYPE} in state, found {len(resources)}"
    return resources[0]


def test_up_from_empty_verifies_and_exports_the_ids(deployed: Deployed) -> None:
    outputs, identity = deployed.up_outputs, deployed.identity
    assert outputs["verified"] is True, outputs
    assert (outputs["userId"], outputs["keyId"], outputs["orgId"]) == (
        identity.user_id,
        identity.key_id,
        identity.org_id,
    )
    assert outputs["rolesFound"] == {f"org:{identity.org_id}": ["ORG_OWNER"]}
    assert outputs["attempts"] >= 3, "discovery, token exchange and the API proof are separate requests"
    assert verification_state(deployed.engine)["id"] == f"{identity.user_id}:{identity.key_id}"


def test_up_stores_the_key_json_only_encrypted_in_state(deployed: Deployed) -> None:
    resource = verification_state(deployed.engine)
    for section in ("inputs", "outputs"):
        stored = resource[section]["key_json"]
        assert isinstance(stored, dict), f"{section}.key_json is plaintext in the state file"
        assert stored.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270", f"{section}.key_json is no secret"
        assert set(stored) == {SECRET_SIG, "ciphertext"}, f"{section}.key_json is not encrypted: {sorted(stored)}"
    assert "key_json" in resource.get("additionalSecretOutputs", [])


def test_second_preview_reports_no_changes(deployed: Deployed) -> None:
    result = deployed.engine.preview("lifecycle: second preview")
    assert is_changeless(result.change_summary), result.change_summary
    deployed.engine.preview_refresh("lifecycle: refresh preview, no drift", expect_no_changes=True)


@dataclass(frozen=True)
class Drift:
    """One way the identity can break behind Pulumi's back, how the verifier names it, and how to undo it."""

    name: str
    cause: Callable[[StandIn, Identity], None]
    failure_kind: str
    repair: Callable[[StandIn, Identity, EngineStack], None]


def _replace_key(standin: StandIn, identity: Identity, engine: EngineStack) -> None:
    identity.key_id, identity.key_json = new_key(standin, identity.org_id, identity.user_id)
    identity.all_keys.append(identity.key_json)
    engine.set_secret("keyJson", identity.key_json)


DRIFTS = [
    Drift(
        "membership_removed",
        lambda s, i: s.remove_org_member(i.org_id, i.user_id),
        "grant_missing",
        lambda s, i, _: s.add_org_member(i.org_id, i.user_id, list(i.roles)),
    ),
    Drift(
        "roles_reduced",
        lambda s, i: s.set_org_member_roles(i.org_id, i.user_id, ["ORG_OWNER_VIEWER"]),
        "roles_missing",
        lambda s, i, _: s.set_org_member_roles(i.org_id, i.user_id, list(i.roles)),
    ),
    Drift("key_deleted", lambda s, i: s.remove_key(i.user_id, i.key_id), "key_rejected", _replace_key),
    Drift(
        "user_deactivated",
        lambda s, i: s.deactivate_user(i.user_id),
        "user_inactive",
        lambda s, i, _: s.reactivate_user(i.user_id),
    ),
]


@pytest.mark.parametrize("drift", DRIFTS, ids=[drift.name for drift in DRIFTS])
def test_drift_is_detected_by_refresh_and_repaired_by_up_refresh(
    deployed: Deployed, standin: StandIn, drift: Drift
) -> None:
    engine, identity = deployed.engine, deployed.identity
    drift.cause(standin, identity)

    # The pipeline drift checks: both exit 7 (changes where none were expected) when the proof no longer holds.
    label = f"drift {drift.name}"
    with pytest.raises(auto.CommandError) as refreshed:
        engine.preview_refresh(f"{label}: refresh --preview-only --expect-no-changes", expect_no_changes=True)
    assert EXIT_UNEXPECTED_CHANGES in str(refreshed.value), str(refreshed.value)
    assert "no changes were expected" in str(refreshed.value)
    with pytest.raises(auto.CommandError) as previewed:
        engine.preview(f"{label}: preview --refresh --expect-no-changes", refresh=True, expect_no_changes=True)
    assert EXIT_UNEXPECTED_CHANGES in str(previewed.value), str(previewed.value)
    assert "no changes were expected" in str(previewed.value)

    # What `pulumi refresh` records: the lost proof and why, without failing the refresh.
    engine.refresh(f"drift {drift.name}: refresh")
    outputs = verification_state(engine)["outputs"]
    assert outputs["verified"] is False, outputs
    assert outputs["failure_kind"] == drift.failure_kind, outputs.get("failure")
    assert identity.user_id in outputs["failure"]

    drift.repair(standin, identity, engine)
    result = engine.up(f"drift {drift.name}: up --refresh after repair", refresh=True)
    assert result.outputs["verified"].value is True
    assert result.outputs["keyId"].value == identity.key_id
    state = verification_state(engine)
    assert state["outputs"]["verified"] is True
    assert state["id"] == f"{identity.user_id}:{identity.key_id}"
    engine.preview_refresh(f"drift {drift.name}: refresh preview after repair", expect_no_changes=True)


def test_destroy_removes_the_proof_from_state_and_nothing_remote(deployed: Deployed, standin: StandIn) -> None:
    engine, identity = deployed.engine, deployed.identity
    engine.destroy("lifecycle: destroy")
    assert engine.resources() == [], "the verification resource is still in state"

    state = standin.state()
    users = {user["id"]: user for user in state["users"]}
    assert identity.user_id in users, "destroy deleted the machine user"
    assert users[identity.user_id]["state"] == "USER_STATE_ACTIVE"
    assert identity.key_id in {key["id"] for key in users[identity.user_id]["keys"]}, "destroy deleted the key"
    members = [
        member
        for member in state["memberships"]
        if member["targetId"] == identity.org_id and member["userId"] == identity.user_id
    ]
    assert [member["roles"] for member in members] == [list(identity.roles)], "destroy changed the membership"


def test_state_and_engine_output_hold_no_private_key_or_token(deployed: Deployed, standin: StandIn) -> None:
    engine, identity = deployed.engine, deployed.identity
    files: list[Path] = list(engine.files())
    # Every state version is kept (backups/, history/): the scan covers every command of this module.
    assert any(path.name == f"{engine.stack.name}.json" for path in files), "no state file to scan"
    assert len([path for path in files if path.name.endswith(".checkpoint.json")]) >= 5, "state history missing"
    assert len(engine.captured) >= 10, "the engine output of the earlier commands was not captured"
    assert_no_leaks(files, engine.captured, identity.all_keys, standin.issuer)
