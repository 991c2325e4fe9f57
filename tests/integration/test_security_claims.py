"""Claims of docs/security.md about the stand-in that no other test holds: it refuses to listen beyond loopback;
its control API answers whoever reaches the port, up to a key of the instance admin (why it must never be exposed);
its state file keeps public keys only and, like its admin key file, is readable by its owner only."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
from zitadel_bootstrap.verification import Grant, RetryPolicy, VerificationRequest, parse_key_file, verify

from tools.standin import StandIn, build_standin


def pem_slices(key_json: str) -> list[str]:
    lines = [line for line in json.loads(key_json)["key"].splitlines() if not line.startswith("-----")]
    return [lines[1], lines[len(lines) // 2], lines[-2]]


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0"])
def test_the_standin_refuses_to_listen_beyond_loopback(listen: str, tmp_path: Path) -> None:
    ready, admin_key = tmp_path / "ready.json", tmp_path / "admin.json"
    argv = [str(build_standin()), "--listen", listen, "--ready-file", str(ready), "--admin-key-file", str(admin_key)]
    # Both addresses could be bound here: a stand-in that took one would still be serving when the timeout ends.
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    assert done.returncode == 1
    assert "zitadel-standin: " in done.stderr
    assert "loopback addresses only" in done.stderr, "it says why"
    assert "ready issuer=" not in done.stdout
    assert not ready.exists()
    assert not admin_key.exists(), "no admin key is made for a refused address"


def test_the_control_api_hands_anyone_who_reaches_the_port_a_key_of_the_instance_admin(standin: StandIn) -> None:
    with httpx.Client(base_url=standin.issuer, timeout=10.0) as anyone:  # no credentials of any kind
        assert anyone.get("/_standin/state").status_code == 200
        answer = anyone.post(f"/_standin/users/{standin.admin_user_id}/keys", json={})
    assert answer.status_code == 200
    key_json = answer.json()["keyDetails"]
    assert "PRIVATE KEY" in key_json
    # That key is the IAM_OWNER of the instance.
    request = VerificationRequest(
        issuer=standin.issuer,
        key=parse_key_file(key_json),
        grants=(Grant(level="instance", resource_id="", roles=("IAM_OWNER",)),),
        insecure=True,
        policy=RetryPolicy(deadline_seconds=20.0, settle_seconds=20.0),
    )
    assert verify(request).verified is True


def test_the_state_file_keeps_public_keys_only_and_it_and_the_admin_key_file_are_0600() -> None:
    with StandIn(state_file=Path("state.json")) as running:
        org = running.default_org_id
        user_id = running.create_machine_user(org, "state-file-check")
        key_json = running.add_machine_key(org, user_id)
        state_file = running.state_file
        assert state_file is not None
        # Saved before the answer to the call that made the change: the key is in it now.
        saved = state_file.read_text()
        (user,) = [user for user in json.loads(saved)["users"] if user["id"] == user_id]
        assert [key["id"] for key in user["keys"]] == [json.loads(key_json)["keyId"]]
        assert "PUBLIC KEY" in saved
        assert "PRIVATE KEY" not in saved
        for piece in pem_slices(key_json) + pem_slices(running.admin_key_json):
            assert piece not in saved
            assert piece.replace("/", "\\/") not in saved
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(running.admin_key_path.stat().st_mode) == 0o600
