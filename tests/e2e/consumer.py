"""Consumer programs of the e2e layer: a team's own Pulumi program, in its own directory with its own state, that
adopts the zitadel-bootstrap package as a team would (Python: ``pip install``; YAML and TypeScript:
``pulumi package add``), run with the plain ``pulumi`` CLI against the stand-in.

The package folder is copied out of the checkout once per test module, so the plugin virtualenv that the engine
makes inside it (PulumiPlugin.yaml's ``venv``) never lands in the working tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.stacks import ALL_CLIS, PASSPHRASE, changed_lines
from tools.pulumi_cli import EXIT_DRIFT, REPO, PulumiCli
from tools.standin import StandIn

CONSUMERS = Path(__file__).parent / "consumers"
PACKAGE = REPO / "components"


def package_copy(destination: Path) -> Path:
    """The package folder as a team gets it (a release or a git checkout), without caches or a virtualenv."""
    shutil.copytree(
        PACKAGE, destination, ignore=shutil.ignore_patterns("venv", "__pycache__", "*.egg-info", "build", "dist")
    )
    return destination


def run(argv: list[str], cwd: Path, *, timeout: float = 600) -> str:
    """A set-up command of a consumer (pip, npm); fails the test with its output."""
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"`{' '.join(argv)}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def python_venv(directory: Path, package: Path) -> Path:
    """A virtualenv of the consumer's own with the package installed from its folder (not the checkout's path)."""
    venv = directory / "venv"
    run([sys.executable, "-m", "venv", str(venv)], directory)
    run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(package)],
        directory,
    )
    return venv


@dataclass
class Consumer:
    """One consumer program and its stack on one stand-in."""

    cli: PulumiCli
    standin: StandIn
    user_name: str

    @classmethod
    def create(cls, directory: Path, standin: StandIn, user_name: str, *, project: str) -> Consumer:
        cli = PulumiCli(directory, "dev", PASSPHRASE)
        # What the package needs no more: a Python virtualenv handed to the consumer's engine for its resources.
        assert "PULUMI_RUNTIME_VIRTUALENV" not in cli.env(), "the consumer runs without the package's virtualenv"
        ALL_CLIS.append(cli)
        (directory / "stacks").mkdir(exist_ok=True)
        (directory / "state").mkdir(exist_ok=True)
        cli.init()
        cli.write_config(
            {
                "zitadel:domain": "127.0.0.1",
                "zitadel:insecure": "true",
                "zitadel:port": str(standin.port),
                "zitadel:jwtProfileFile": str(standin.admin_key_path),
                f"{project}:userName": user_name,
                f"{project}:orgId": standin.default_org_id,
            }
        )
        return cls(cli, standin, user_name)

    def user(self) -> dict[str, Any] | None:
        found = [u for u in self.standin.state()["users"] if u["userName"] == self.user_name]
        assert len(found) <= 1, f"{len(found)} users named {self.user_name}"
        return found[0] if found else None

    def lifecycle(self) -> None:
        """up (with its preview), the drift check, a drift, its repair, destroy: what a pipeline does."""
        up = self.cli.up()
        assert "error" not in up.output.lower(), up.output
        outputs = self.cli.outputs()
        assert outputs["verified"] is True, outputs
        assert outputs["keyJson"] == "[secret]", "the key file must leave the stack only as a secret"
        user = self.user()
        assert user is not None, f"no user {self.user_name} in the stand-in"
        assert user["id"] == outputs["userId"], (user, outputs)
        shown = self.cli.outputs(show_secrets=True)["keyJson"]
        assert f'"userId":"{user["id"]}"' in shown.replace(" ", ""), "the secret output holds the user's key file"

        clean = self.cli.drift_check()
        assert changed_lines(clean.output) == [], clean.output

        self.standin.remove_org_member(self.standin.default_org_id, user["id"])
        drift = self.cli.drift_check(expect=(EXIT_DRIFT,))
        assert any("robot-verification" in line for line in changed_lines(drift.output)), drift.output

        self.cli.up("--refresh", label="repair")
        roles = [
            m["roles"]
            for m in self.standin.state()["memberships"]
            if m["userId"] == user["id"] and m["targetId"] == self.standin.default_org_id
        ]
        assert roles == [["ORG_OWNER"]], roles
        self.cli.drift_check(label="drift check after repair")

        self.cli.destroy()
        assert self.user() is None, "destroy removes the machine user"
        printed = "\n".join(run.output for run in self.cli.runs if "--show-secrets" not in run.args)
        assert "PRIVATE KEY" not in printed, "no key material in any command's output but the asked-for secret"
