"""A stack made by the program as it was before the package (0.2: ``components.*`` on the program's path, the
verification and key schedule as ``pulumi.dynamic`` resources) upgrades to the package in place: the nightly drift
check still runs before the first `pulumi up`, and that `up` replaces no key, no user and no grant.

The old program is this repository at the last commit before the package (``PRE_PACKAGE_COMMIT``), taken from git.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stacks import (
    KEY_ROTATION_TYPE,
    MACHINE_KEY,
    MACHINE_USER,
    ORG_MEMBER,
    PASSPHRASE,
    VERIFICATION_TYPE,
    changed_lines,
    standin_config,
)
from tools.pulumi_cli import REPO, PulumiCli
from tools.standin import StandIn

#: main before the package: the state it writes is what teams have today.
PRE_PACKAGE_COMMIT = "d8a524e"
OLD_TYPES = {
    "pulumi-python:dynamic/verification:JwtBearerVerification": VERIFICATION_TYPE,
    "pulumi-python:dynamic/rotation:KeyRotation": KEY_ROTATION_TYPE,
}


def old_program(destination: Path) -> Path:
    """The program files of ``PRE_PACKAGE_COMMIT`` (git archive), with this checkout's virtualenv."""
    archive = subprocess.run(
        [
            "git",
            "-C",
            str(REPO),
            "archive",
            "--format=tar",
            PRE_PACKAGE_COMMIT,
            "Pulumi.yaml",
            "__main__.py",
            "components",
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    if archive.returncode != 0:
        pytest.fail(
            f"the upgrade test needs commit {PRE_PACKAGE_COMMIT} in this clone's history (a shallow clone lacks it): "
            f"{archive.stderr.decode(errors='replace')}",
            pytrace=False,
        )
    destination.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")
    (destination / ".venv").symlink_to(REPO / ".venv")
    (destination / "stacks").mkdir()
    (destination / ".pulumi-state").mkdir()
    return destination


def upgrade_in_place(project: Path) -> None:
    """What a team does: check out the new version over the old one (same directory, same stacks and state)."""
    shutil.rmtree(project / "components")
    for name in ("__main__.py", "Pulumi.yaml"):
        (project / name).unlink()
    shutil.copy2(REPO / "Pulumi.yaml", project / "Pulumi.yaml")
    for name in ("__main__.py", "components", "requirements.txt"):
        (project / name).symlink_to(REPO / name)


def ids(cli: PulumiCli) -> dict[str, Any]:
    return {
        resource["urn"].split("::")[-1]: resource.get("id")
        for resource in cli.resources()
        if resource["type"] in (MACHINE_KEY, MACHINE_USER, ORG_MEMBER)
    }


def test_a_stack_made_before_the_package_upgrades_without_replacing_a_key_user_or_grant(
    tmp_path: Path, standin: StandIn
) -> None:
    project = old_program(tmp_path / "project")
    cli = PulumiCli(project, "team", PASSPHRASE)
    cli.init()
    accounts: list[dict[str, Any]] = [
        {"name": "deployer", "orgId": standin.default_org_id, "userName": "deployer", "keyLifetimeDays": 90},
        {"name": "auditor", "orgId": standin.default_org_id, "userName": "auditor", "roles": ["ORG_OWNER_VIEWER"]},
    ]
    cli.write_config(standin_config(standin, accounts))
    cli.up(label="up (0.2)")
    old_types = {resource["type"] for resource in cli.resources()}
    assert set(OLD_TYPES) <= old_types, f"the old program wrote dynamic resources: {sorted(old_types)}"
    before = ids(cli)
    keys_before = sorted(k["id"] for u in standin.state()["users"] for k in u.get("keys", []))

    upgrade_in_place(project)
    # The nightly drift check runs before anyone runs `up`: the stored 0.2 providers still load (the old module
    # paths are aliases), and nothing has drifted.
    cli.drift_check(label="drift check after the upgrade, before up")

    preview = cli.preview(label="preview of the upgrade")
    replaced = [
        line for line in changed_lines(preview.output) if any(s in line for s in ("replace", "delete", "create"))
    ]
    assert replaced == [], f"the upgrade plans to create, replace or delete:\n{preview.output}"
    cli.up(label="up (0.3)")
    assert ids(cli) == before, "the same users, keys and memberships, with the same ids"
    assert sorted(k["id"] for u in standin.state()["users"] for k in u.get("keys", [])) == keys_before
    new_types = {resource["type"] for resource in cli.resources()}
    assert not new_types & set(OLD_TYPES), f"the dynamic resources moved to the package's provider: {sorted(new_types)}"
    assert set(OLD_TYPES.values()) <= new_types
    outputs = cli.outputs()
    assert all(account["verified"] is True for account in outputs["serviceAccounts"].values()), outputs
    cli.drift_check(label="drift check after the upgrade")
    cli.destroy()
