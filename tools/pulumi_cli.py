"""Run the project's program the way users do: the plain ``pulumi`` CLI as a subprocess in a project directory.

The one runner that `make demo`, the e2e tests and the benchmark share. Every command is timed and its whole
output (stdout and stderr together) is kept, so callers can print it, assert on it and scan it for secrets.

The CLI comes from the environment that tools/engine.sh writes (``source "$(tools/engine.sh)"``): ``ZB_PULUMI``,
else ``pulumi`` on PATH. Nothing here uses the Automation API: `pulumi up` runs its preview, as in a pipeline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from zitadel_bootstrap.cli.engine import EXIT_DRIFT, EXIT_FAILED, pulumi_binary

REPO = Path(__file__).resolve().parents[1]
PROJECT_NAME = "zitadel-bootstrap"
#: The package's operations command, as `pip install` puts it into the project's virtualenv.
OPERATIONS_COMMAND = REPO / ".venv" / "bin" / "zitadel-bootstrap"
#: What a project directory holds, besides the stack config files: the program and its virtualenv.
PROGRAM_FILES = ("__main__.py", "components", "requirements.txt")


class PulumiCliError(RuntimeError):
    """A pulumi command exited with an unexpected status; the message holds the command and its output."""

    def __init__(self, run: CommandRun, expected: Sequence[int]) -> None:
        self.run = run
        super().__init__(
            f"`{run.display}` exited {run.returncode} (expected {' or '.join(map(str, expected))}) "
            f"after {run.seconds:.1f} s:\n{run.output.rstrip()}"
        )


@dataclass(frozen=True)
class CommandRun:
    """One finished pulumi command."""

    label: str
    args: tuple[str, ...]
    returncode: int
    seconds: float
    output: str

    @property
    def display(self) -> str:
        return "pulumi " + " ".join(self.args)


def make_project_copy(destination: Path) -> Path:
    """A project directory like a fresh checkout's, for runs that must not touch this one's stacks/ and state.

    Pulumi.yaml is copied as it is (python runtime with the .venv, stackConfigDir, local file backend); the
    program files and the virtualenv are linked, so the copy runs exactly this checkout's code.
    """
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "Pulumi.yaml", destination / "Pulumi.yaml")
    for name in (*PROGRAM_FILES, ".venv"):
        (destination / name).symlink_to(REPO / name)
    # A checkout has both folders: the stack configs and the local file backend's (committed as .gitkeep).
    (destination / "stacks").mkdir(exist_ok=True)
    (destination / ".pulumi-state").mkdir(exist_ok=True)
    return destination


@dataclass
class PulumiCli:
    """The ``pulumi`` CLI on one project directory and one stack."""

    project_dir: Path
    stack: str
    passphrase: str
    backend_url: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    runs: list[CommandRun] = field(default_factory=list)
    echo: Callable[[str], None] | None = None
    """Called with each command line and its output as it finishes (the demo prints them)."""
    ca_file: Path | None = None
    """A private CA that ZITADEL's TLS certificate chains to: given to every command as ``SSL_CERT_FILE``."""

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PULUMI_CONFIG_PASSPHRASE=self.passphrase,
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        )
        env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        if self.backend_url:
            env["PULUMI_BACKEND_URL"] = self.backend_url
        if self.ca_file is not None:
            # The one setting every client here honours: the plugin's Go TLS stack and the Python side's httpx.
            env["SSL_CERT_FILE"] = str(self.ca_file)
        env.update(self.extra_env)
        return env

    # -- running commands -------------------------------------------------------------------------------------
    def run(
        self,
        *args: str,
        label: str = "",
        expect: Sequence[int] = (0,),
        timeout: float = 600,
        stdin: str | None = None,
        with_stack: bool = True,
    ) -> CommandRun:
        """Run ``pulumi <args> --stack <stack>``; raise PulumiCliError unless it exits with one of ``expect``."""
        argv = [*args, "--color", "never"]
        if with_stack:
            argv += ["--stack", self.stack]
        start = time.monotonic()
        try:
            done = subprocess.run(
                [pulumi_binary(), *argv],
                cwd=self.project_dir,
                env=self.env(),
                input=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                check=False,
            )
            returncode, output = done.returncode, done.stdout
        except subprocess.TimeoutExpired as expired:
            partial = expired.stdout if isinstance(expired.stdout, str) else ""
            returncode, output = -1, f"{partial}\n[timed out after {timeout:.0f} s]"
        finished = CommandRun(label or args[0], tuple(argv), returncode, time.monotonic() - start, output)
        self.runs.append(finished)
        if self.echo is not None:
            self.echo(f"$ {finished.display}\n{output.rstrip()}")
        if returncode not in expect:
            raise PulumiCliError(finished, expect)
        return finished

    def init(self) -> CommandRun:
        """Create the stack (passphrase secrets) or select it if it exists."""
        return self.run("stack", "select", "--create", "--secrets-provider", "passphrase", label="stack init")

    def up(self, *flags: str, label: str = "up", expect: Sequence[int] = (0,)) -> CommandRun:
        """`pulumi up --yes`: its preview runs first, as in a pipeline. A refresh reads with the program's provider
        configuration (``--run-program``), as the README's repair does."""
        program = ("--run-program",) if "--refresh" in flags and "--run-program" not in flags else ()
        return self.run("up", "--yes", *flags, *program, label=label, expect=expect)

    def preview(self, *flags: str, label: str = "preview", expect: Sequence[int] = (0,)) -> CommandRun:
        return self.run("preview", *flags, label=label, expect=expect)

    def drift_check(self, label: str = "drift check", expect: Sequence[int] = (0,)) -> CommandRun:
        """The nightly drift job: 0 no drift, 7 drift, anything else an error."""
        return self.preview("--refresh", "--run-program", "--expect-no-changes", label=label, expect=expect)

    def destroy(self, label: str = "destroy", expect: Sequence[int] = (0,)) -> CommandRun:
        return self.run("destroy", "--yes", label=label, expect=expect)

    def outputs(self, *, show_secrets: bool = False) -> dict[str, Any]:
        flags = ("--show-secrets",) if show_secrets else ()
        raw = self.run("stack", "output", "--json", *flags, label="stack output").output
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise TypeError(f"pulumi stack output --json printed {type(value).__name__}, expected an object")
        return value

    def config_set(self, key: str, value: str, *, secret: bool = False) -> None:
        """`pulumi config set` (the value goes through stdin, never through the command line)."""
        flags = ("--secret",) if secret else ("--plaintext",)
        self.run("config", "set", key, *flags, stdin=value, label="config set")

    # -- stack config and state as files ------------------------------------------------------------------------
    @property
    def stack_file(self) -> Path:
        return self.project_dir / "stacks" / f"Pulumi.{self.stack}.yaml"

    def write_config(self, config: Mapping[str, Any]) -> None:
        """Put ``config`` into the stack file as a user edits it (keeps ``encryptionsalt`` and secure values)."""
        document: dict[str, Any] = {}
        if self.stack_file.exists():
            document = yaml.safe_load(self.stack_file.read_text()) or {}
        document["config"] = {**(document.get("config") or {}), **config}
        self.stack_file.write_text(yaml.safe_dump(document, sort_keys=False))

    def remove_config(self, *keys: str) -> None:
        document = yaml.safe_load(self.stack_file.read_text()) or {}
        for key in keys:
            (document.get("config") or {}).pop(key, None)
        self.stack_file.write_text(yaml.safe_dump(document, sort_keys=False))

    def state_files(self) -> list[Path]:
        """Every file of the local file backend for this project (checkpoints, backups, history)."""
        root = self._backend_root()
        return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []

    def checkpoint(self) -> dict[str, Any]:
        """The stack's latest deployment as stored (secrets stay encrypted); empty before the first update."""
        path = self._backend_root() / ".pulumi" / "stacks" / PROJECT_NAME / f"{self.stack}.json"
        if not path.exists():
            return {}
        latest = json.loads(path.read_text()).get("checkpoint", {}).get("latest") or {}
        return latest if isinstance(latest, dict) else {}

    def resources(self, type_: str | None = None) -> list[dict[str, Any]]:
        return [
            resource
            for resource in self.checkpoint().get("resources") or []
            if type_ is None or resource.get("type") == type_
        ]

    def _backend_root(self) -> Path:
        url = self.backend_url or f"file://{self.project_dir / '.pulumi-state'}"
        if not url.startswith("file://"):
            raise ValueError(f"the backend {url} is not a local file backend")
        path = Path(url.removeprefix("file://"))
        return path if path.is_absolute() else self.project_dir / path


__all__ = [
    "EXIT_DRIFT",
    "EXIT_FAILED",
    "OPERATIONS_COMMAND",
    "PROJECT_NAME",
    "REPO",
    "CommandRun",
    "PulumiCli",
    "PulumiCliError",
    "make_project_copy",
    "pulumi_binary",
]
