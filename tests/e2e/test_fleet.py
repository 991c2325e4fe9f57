"""Fleet mode: one stack per org from a fleet file, run side by side by `zitadel-bootstrap fleet`, one report.

Every test drives the real command (the package's console script) in a project directory like a fresh checkout,
over TLS as real ZITADEL serves it, each org's stack run by the plain `pulumi` CLI underneath. Sharding and the S3
backend: test_fleet_s3.py.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.fleet import FleetProject, org_entry
from tests.e2e.leaks import assert_no_leaks
from tests.e2e.stacks import E2EStack
from tools.pulumi_cli import OPERATIONS_COMMAND
from tools.standin import StandIn

#: What `pulumi up` prints in its summary when it created, deleted or replaced anything.
CHANGED_SUMMARY = re.compile(r"^\s*[-+~]+\s*\d+ (created|deleted|replaced|updated)\s*$", re.MULTILINE)


def key_ids(standin: StandIn, user_ids: set[str]) -> list[str]:
    return sorted(k["id"] for u in standin.state()["users"] if u["id"] in user_ids for k in u.get("keys") or [])


def test_fleet_up_drift_check_and_destroy_over_tls_with_one_report(
    tls_standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin = tls_standin
    orgs = [
        org_entry("acme", ["ci", "audit"]),
        org_entry("globex", ["ci"]),
        org_entry("home", ["ci"], standin.default_org_id),
    ]
    fleet = FleetProject.create(tmp_path / "project", standin, "cust", orgs)

    up = fleet.fleet("up", "--parallel", "2")
    assert up.results() == {"acme": "ok", "globex": "ok", "home": "ok"}, up.output
    assert up.report["counts"]["ok"] == 3
    assert up.report["exitCode"] == 0
    for org in ("acme", "globex", "home"):
        assert re.search(rf"fleet: \[\d/3\] {org}: up started \(stack cust-{org}\)", up.stderr), up.stderr
        assert re.search(rf"fleet: \[\d/3 done\] {org}: ok in \d+\.\d s", up.stderr), up.stderr
        assert re.search(rf"^{org}\s+cust-{org}\s+ok\s+\d+\.\d", up.stdout, re.MULTILINE), up.stdout
    assert "fleet cust, up: 3 org(s): 3 ok" in up.stdout
    for org, accounts in (("acme", ["ci", "audit"]), ("globex", ["ci"]), ("home", ["ci"])):
        org_id = fleet.org_id(org)
        for account in accounts:
            assert fleet.user(org_id, f"{org}-{account}") is not None, f"no user {org}-{account} in org {org_id}"
    assert fleet.org_id("acme") != fleet.org_id("globex") != standin.default_org_id

    again = fleet.fleet("up")
    assert again.results() == {"acme": "ok", "globex": "ok", "home": "ok"}
    assert CHANGED_SUMMARY.search(fleet.logs_text()) is None, "a second fleet up changed something"

    check = fleet.fleet("drift-check", "--settle", "1")
    assert check.results() == {"acme": "ok", "globex": "ok", "home": "ok"}, check.output

    # Key material stays out of the report, the command's output, the logs and the state files.
    assert standin.ca_path is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(standin.ca_path))
    keys = []
    state_files: list[Path] = []
    for org in ("acme", "globex", "home"):
        cli = fleet.cli(org)
        shown = cli.run("stack", "output", "machineKeys", "--show-secrets", "--json")
        keys += list(json.loads(shown.output).values())
        state_files += cli.state_files()
    texts = [run.output + json.dumps(run.report) for run in fleet.runs]
    assert_no_leaks([*state_files, *fleet.logs()], texts, keys, standin.issuer)

    destroyed = fleet.fleet("destroy", "--parallel", "3")
    assert destroyed.results() == {"acme": "destroyed", "globex": "destroyed", "home": "destroyed"}
    assert fleet.user(standin.default_org_id, "home-ci") is None
    assert fleet.stacks() == [], "fleet destroy leaves no stack behind"


def test_fleet_a_failing_org_among_good_ones_is_named_and_stops_no_other(tls_standin: StandIn, tmp_path: Path) -> None:
    standin = tls_standin
    orgs = [
        org_entry("first", ["ci"]),
        # An org id ZITADEL does not know: this org's update fails; the others go on.
        org_entry("broken", ["ci"], "999999999999999999"),
        org_entry("last", ["ci"]),
    ]
    fleet = FleetProject.create(tmp_path / "project", standin, "mixed", orgs)
    up = fleet.fleet("up", "--parallel", "1", "--attempts", "1", expect=(1,))
    assert up.results() == {"first": "ok", "broken": "failed", "last": "ok"}, up.output
    broken = up.org("broken")
    assert broken["exitCode"] != 0, broken
    assert broken["reason"], broken
    assert "999999999999999999" in broken["reason"] or "failed" in broken["reason"], broken
    assert Path(fleet.directory / broken["log"]).is_file()
    assert re.search(r"^broken\s+mixed-broken\s+failed\s+\d+\.\d\s+\S", up.stdout, re.MULTILINE), up.stdout
    assert "1 failed" in up.stdout
    assert "(exit 1)" in up.stdout
    assert "logs of the orgs that did not end well: .zitadel-bootstrap/fleet-logs/mixed-broken.log" in up.stdout
    for org in ("first", "last"):
        assert fleet.user(fleet.org_id(org), f"{org}-ci") is not None


def test_fleet_drift_check_names_the_drifted_org_and_the_refresh_repairs_it(
    tls_standin: StandIn, tmp_path: Path
) -> None:
    standin = tls_standin
    orgs = [org_entry("steady", ["ci"]), org_entry("drifty", ["ci"])]
    fleet = FleetProject.create(tmp_path / "project", standin, "drift", orgs)
    fleet.fleet("up")
    user = fleet.user(fleet.org_id("drifty"), "drifty-ci")
    assert user is not None
    keys = user["keys"]
    assert len(keys) == 1, keys
    standin.remove_key(user["id"], keys[0]["id"])  # someone deletes the key in the console

    check = fleet.fleet("drift-check", "--settle", "1", expect=(7,))
    assert check.results() == {"steady": "ok", "drifty": "drift"}, check.output
    assert check.report["exitCode"] == 7
    assert check.report["counts"]["drift"] == 1
    assert "drift found" in check.org("drifty")["reason"], check.org("drifty")
    assert re.search(r"^drifty\s+drift-drifty\s+drift\s", check.stdout, re.MULTILINE), check.stdout

    repaired = fleet.fleet("up", "--refresh", "--settle", "1")
    assert repaired.results() == {"steady": "ok", "drifty": "ok"}, repaired.output
    repaired_user = fleet.user(fleet.org_id("drifty"), "drifty-ci")
    assert repaired_user is not None
    assert repaired_user["keys"], "the repair made a new key"
    fleet.fleet("drift-check", "--settle", "1")


def test_fleet_dropped_org_is_reported_and_destroyed_only_with_the_flag(tls_standin: StandIn, tmp_path: Path) -> None:
    standin = tls_standin
    fleet = FleetProject.create(
        tmp_path / "project", standin, "drop", [org_entry("kept", ["ci"]), org_entry("gone", ["ci"])]
    )
    fleet.fleet("up")
    gone_org = fleet.org_id("gone")
    # A stack that only shares the fleet's name prefix is not the fleet's: never reported, never destroyed.
    fleet.cli("unrelated").run("stack", "init", "drop-unrelated", "--no-select", with_stack=False)

    fleet.write([org_entry("kept", ["ci"])])
    up = fleet.fleet("up")
    assert up.results() == {"kept": "ok", "gone": "dropped"}, up.output
    assert "fleet up --destroy-dropped" in up.org("gone")["reason"]
    assert fleet.user(gone_org, "gone-ci") is not None, "a dropped org is destroyed only with --destroy-dropped"

    check = fleet.fleet("drift-check", "--settle", "1", expect=(7,))
    assert check.results() == {"kept": "ok", "gone": "dropped"}, check.output

    destroyed = fleet.fleet("up", "--destroy-dropped")
    assert destroyed.results() == {"kept": "ok", "gone": "destroyed"}, destroyed.output
    assert fleet.user(gone_org, "gone-ci") is None
    assert fleet.stacks() == ["drop-kept", "drop-unrelated"]
    fleet.fleet("drift-check", "--settle", "1")


def test_fleet_migrate_one_stack_into_the_fleet_recreates_no_user_or_key(tls_standin: StandIn, tmp_path: Path) -> None:
    standin = tls_standin
    # The one stack as teams have it today: every org's accounts in one stack config (so with unique names).
    orgs = [org_entry("north", ["nci", "naudit"]), org_entry("south", ["sci"], standin.default_org_id)]
    accounts = [{**a, "org": "north"} for a in orgs[0]["serviceAccounts"]]
    accounts += [{**a, "orgId": standin.default_org_id} for a in orgs[1]["serviceAccounts"]]
    one = E2EStack.create(tmp_path / "project", "one", standin, accounts)
    one.cli.write_config({"zitadel-bootstrap:organizations": [{"name": "north"}]})
    one.cli.run("up", "--yes")
    before = {
        (u["userName"], u["id"]) for u in standin.state()["users"] if u["userName"].startswith(("north-", "south-"))
    }
    keys_before = key_ids(standin, {uid for _, uid in before})
    assert len(before) == 3
    assert len(keys_before) == 3

    fleet = FleetProject(one.cli.project_dir, standin, "regions", orgs)
    fleet.write()
    moved = fleet.fleet("migrate", "--from", "one")
    assert "moved" in moved.stderr, moved.output
    assert "regions-north" in moved.stderr, moved.output
    up = fleet.fleet("up")
    assert up.results() == {"north": "ok", "south": "ok"}, up.output
    assert CHANGED_SUMMARY.search(fleet.logs_text()) is None, "the first fleet up after the move changed something"
    after = {
        (u["userName"], u["id"]) for u in standin.state()["users"] if u["userName"].startswith(("north-", "south-"))
    }
    keys_after = key_ids(standin, {uid for _, uid in after})
    assert after == before, "the migration re-created a user"
    assert keys_after == keys_before, "the migration re-created a key"
    fleet.fleet("drift-check", "--settle", "1")
    remaining = {r["type"] for r in one.cli.resources()}
    assert not any("ServiceAccount" in t or t.endswith(":Org") for t in remaining), remaining


def test_fleet_bad_fleet_file_fails_before_any_stack_naming_the_org_and_the_key(
    tls_standin: StandIn, tmp_path: Path
) -> None:
    fleet = FleetProject.create(tmp_path / "project", tls_standin, "bad", [org_entry("fine", ["ci"])])
    orgs = [org_entry("fine", ["ci"]), {**org_entry("wrong", ["ci"]), "orgId": "not-a-number"}]
    orgs[0]["serviceAccounts"][0]["roles"] = ["IAM_OWNER"]
    fleet.write(orgs)
    refused = fleet.fleet("up", expect=(2,))
    assert "orgs[1].orgId: must be the numeric id of an existing org, got 'not-a-number'" in refused.stderr
    fleet.write([orgs[0]])
    refused = fleet.fleet("up", expect=(2,))
    assert "orgs[0] (fine): zitadel-bootstrap:serviceAccounts[0].roles: IAM_OWNER" in refused.stderr, refused.output
    assert fleet.stacks() == [], "a bad fleet file creates no stack"
    assert yaml.safe_load(fleet.fleet_file.read_text())["fleet"] == "bad"


def test_fleet_interrupted_like_a_cancelled_ci_job_leaves_no_lock_and_a_rerun_converges(
    tls_standin: StandIn, tmp_path: Path
) -> None:
    """A cancelled CI job sends SIGTERM: the fleet passes an interrupt on to each running org, whose pulumi ends
    its update cleanly (state saved, lock released), and exits 130; the rerun finishes every org."""
    names = ("ia", "ib", "ic")
    fleet = FleetProject.create(
        tmp_path / "project", tls_standin, "cancel", [org_entry(n, ["ci", "audit"]) for n in names]
    )
    process = subprocess.Popen(
        [str(OPERATIONS_COMMAND), "fleet", "up", "--parallel", "2"],
        cwd=fleet.directory,
        env=fleet.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any("creating" in log.read_text() for log in fleet.logs()):
        time.sleep(0.2)
    assert process.poll() is None, "the fleet ended before an org started creating"
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stdout + stderr + fleet.logs_text()
    assert "fleet: interrupted" in stderr
    assert "pipeline: interrupted; pulumi ended its run cleanly" in fleet.logs_text()

    rerun = fleet.fleet("up")
    assert rerun.results() == dict.fromkeys(names, "ok"), rerun.output
    assert "locked" not in fleet.logs_text()
    for name in names:
        org_id = fleet.org_id(name)
        for account in ("ci", "audit"):
            assert fleet.user(org_id, f"{name}-{account}") is not None
    fleet.fleet("drift-check", "--settle", "1")
