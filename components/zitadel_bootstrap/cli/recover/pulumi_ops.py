"""The `pulumi` commands the recovery runs, in the project directory, with the caller's environment.

The CLI is the one tools/engine.sh chose (``ZB_PULUMI``) or ``pulumi`` on PATH. Secrets keep coming from the
caller's environment (``PULUMI_CONFIG_PASSPHRASE[_FILE]``, a KMS, ...), the backend from Pulumi.yaml or
``PULUMI_BACKEND_URL``, exactly as for `pulumi up`. Output of a command is shown only when it fails, redacted.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from zitadel_bootstrap.cli.engine import pulumi_binary
from zitadel_bootstrap.verification.redaction import redact, redact_pem_blocks

from .model import Adoption

TIMEOUT_SECONDS = 600


class PulumiCommandError(RuntimeError):
    """A pulumi command failed; ``output`` is its whole output (stdout and stderr)."""

    def __init__(self, args: Sequence[str], returncode: int, output: str) -> None:
        self.output = output
        self.returncode = returncode
        # Whole PEM blocks first: line by line, a block's short last line and its END line would pass.
        lines = redact_pem_blocks(output).strip().splitlines()
        tail = "\n".join(redact(line, 400) for line in lines[-25:])
        super().__init__(f"`pulumi {' '.join(args)}` exited {returncode}:\n{tail}")


@dataclass(frozen=True)
class Project:
    """The Pulumi project directory: its name and where its stack config files are."""

    directory: Path
    name: str
    stack_config_dir: Path

    @classmethod
    def load(cls, directory: Path) -> Project:
        path = directory / "Pulumi.yaml"
        try:
            document = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise ValueError(f"{path} cannot be read as a Pulumi project file: {error}") from None
        if not isinstance(document, dict) or not isinstance(document.get("name"), str):
            raise ValueError(f"{path} names no project")
        config_dir = document.get("stackConfigDir") or "."
        return cls(directory, document["name"], directory / str(config_dir))

    def stack_file(self, stack: str) -> Path:
        return self.stack_config_dir / f"Pulumi.{stack}.yaml"


@dataclass
class Pulumi:
    project: Project
    stack: str

    def run(self, *args: str, with_stack: bool = True) -> str:
        argv = [*args, "--non-interactive", "--color", "never"]
        if with_stack:
            argv += ["--stack", self.stack]
        env = dict(os.environ, PULUMI_SKIP_UPDATE_CHECK="true")
        done = subprocess.run(
            [pulumi_binary(), *argv],
            cwd=self.project.directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
        if done.returncode != 0:
            raise PulumiCommandError(argv, done.returncode, done.stdout + done.stderr)
        return done.stdout

    def export(self) -> Any:
        """The checkpoint, secrets encrypted (no --show-secrets)."""
        return json.loads(self.run("stack", "export"))

    def secret_config(self, key: str) -> str:
        """A secret config value, decrypted by the CLI into this process's memory only. Never print it."""
        return self.run("config", "get", key).rstrip("\n")

    def refresh_stack_resource(self, stack_urn: str | None, *, clear_pending_creates: bool) -> None:
        """A refresh of the stack resource alone: takes the stack's lock (so it fails on a held one) and
        rewrites the checkpoint without any pending operation other than creates, and without creates too
        with ``clear_pending_creates``. No provider reads anything (the stack resource is a component)."""
        args = ["refresh", "--yes", "--skip-preview"]
        if stack_urn:
            args += ["--target", stack_urn]
        if clear_pending_creates:
            args.append("--clear-pending-creates")
        self.run(*args)

    def cancel(self) -> None:
        """Remove the stack's lock (diy backends) or cancel its update in progress (Pulumi Cloud)."""
        self.run("cancel", "--yes")

    def import_resources(self, adoptions: Sequence[Adoption]) -> str:
        """`pulumi import` of the adopted objects at their URNs: parent and provider from the state, not
        protected (the program does not protect them either), no code generated (the program declares them)."""
        names: dict[str, str] = {}

        def name_of(urn: str) -> str:
            return names.setdefault(urn, f"r{len(names)}")

        resources = [
            {
                "type": a.type_token,
                "name": a.name,
                "id": a.import_id,
                "parent": name_of(a.parent),
                "provider": name_of(a.provider),
                "protect": False,
            }
            for a in adoptions
        ]
        document = {"nameTable": {name: urn for urn, name in names.items()}, "resources": resources}
        with tempfile.TemporaryDirectory(prefix="zitadel-recover-") as tmp:
            path = Path(tmp) / "import.json"
            path.write_text(json.dumps(document, indent=2))
            return self.run(
                "import", "--file", str(path), "--yes", "--skip-preview", "--generate-code=false", "--protect=false"
            )
