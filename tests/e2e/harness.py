"""The e2e harness: the real Pulumi engine (Automation API, inline program) driving the real dynamic provider.

Only the verification resource runs through the engine here: the zitadel plugin cannot be built on this machine
(see tools/README.md), so the identities it would create are made through the stand-in's control API and the key
file reaches the program as a secret stack config value, the way ``MachineKey.key_details`` would.

Every engine command goes through ``EngineStack``: it is timed (``TIMINGS``, printed at the end of the run) and
its whole output is kept (``captured``), so the secret scan can read everything the engine printed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pulumi
from pulumi import automation as auto

from components.service_account import grant_inputs
from components.verification.model import Grant
from components.verification.provider import JwtBearerVerification

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "zb-e2e"
PASSPHRASE = "zitadel-bootstrap-e2e"  # a throwaway passphrase of a throwaway tmp backend
VERIFICATION_TYPE = "pulumi-python:dynamic/verification:JwtBearerVerification"
ENGINE_HINT = (
    'run the e2e layer with `make test-e2e`, or first `env_sh="$(tools/engine.sh env --without-zitadel)" && '
    'eval "$env_sh"` (it builds the Pulumi CLI from Go modules and caches it)'
)

T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    label: str
    operation: str
    seconds: float
    ok: bool


TIMINGS: list[Timing] = []


def pulumi_root() -> str:
    """``$ZB_PULUMI_ROOT`` (``bin/pulumi`` inside), as exported by tools/engine.sh; a clear failure otherwise."""
    root = os.environ.get("ZB_PULUMI_ROOT", "")
    if not root:
        raise RuntimeError(f"ZB_PULUMI_ROOT is not set, so there is no Pulumi engine to drive: {ENGINE_HINT}.")
    binary = Path(root) / "bin" / "pulumi"
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"ZB_PULUMI_ROOT={root} has no executable bin/pulumi: {ENGINE_HINT}.")
    if shutil.which("pulumi-resource-pulumi-python") is None:
        raise RuntimeError(
            "The dynamic-provider launcher pulumi-resource-pulumi-python is not on PATH, so the engine cannot run "
            f"the verification provider: {ENGINE_HINT}."
        )
    return root


def program_env() -> dict[str, str]:
    """What the engine and the provider launcher need beyond the inherited environment.

    The launcher unpickles the provider by reference, so it must import ``components.verification.provider``
    from the repository root; inline programs have no language host to name a virtualenv, so the launcher is told
    which python to run (the one running the tests, i.e. the project's venv).
    """
    return {
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PYTHONPATH": str(REPO_ROOT),
        "PULUMI_PYTHON_CMD": sys.executable,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
    }


def verification_program() -> None:
    """The inline program: one ``JwtBearerVerification`` declared as ``components/service_account.py`` does.

    Config (``zb-e2e:*``): issuer, insecure, orgId, roles, keyJson (secret), deadlineSeconds, refreshSettleSeconds.
    """
    config = pulumi.Config()
    org_id = config.require("orgId")
    roles = tuple(config.require_object("roles"))
    proof = JwtBearerVerification(
        "sa-verification",
        issuer=config.require("issuer"),
        key_json=config.require_secret("keyJson"),
        grants=grant_inputs([Grant(level="org", resource_id=org_id, roles=roles)]),
        org_id=org_id,
        audience="zitadel",
        insecure=config.require_bool("insecure"),
        deadline_seconds=config.require_float("deadlineSeconds"),
        refresh_settle_seconds=config.require_float("refreshSettleSeconds"),
    )
    pulumi.export("verified", proof.verified)
    pulumi.export("userId", proof.user_id)
    pulumi.export("keyId", proof.key_id)
    pulumi.export("orgId", proof.org_id)
    pulumi.export("rolesFound", proof.roles_found)
    pulumi.export("tokenFormat", proof.token_format)
    pulumi.export("attempts", proof.attempts)
    pulumi.export("failureKind", proof.failure_kind)
    pulumi.export("failure", proof.failure)


@dataclass
class EngineStack:
    """A stack on a local file backend in its own directory, with every command timed and its output kept."""

    stack: auto.Stack
    directory: Path
    captured: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, directory: Path, name: str, program: Callable[[], None] = verification_program) -> EngineStack:
        backend = directory / "backend"
        work = directory / "work"
        backend.mkdir(parents=True)
        work.mkdir(parents=True)
        url = f"file://{backend}"
        env = {**program_env(), "PULUMI_BACKEND_URL": url}
        options = auto.LocalWorkspaceOptions(
            work_dir=str(work),
            pulumi_command=auto.PulumiCommand(root=pulumi_root(), skip_version_check=True),
            project_settings=auto.ProjectSettings(name=PROJECT, runtime="python", backend=auto.ProjectBackend(url)),
            secrets_provider="passphrase",
            env_vars=env,
        )
        engine = cls(stack=None, directory=directory)  # type: ignore[arg-type]
        engine.stack = engine._timed(
            name,
            "init",
            lambda: auto.create_stack(stack_name=name, project_name=PROJECT, program=program, opts=options),
        )
        return engine

    # -- config -------------------------------------------------------------------------------------------------
    def configure(self, values: dict[str, Any], secrets: dict[str, str] | None = None) -> None:
        config = {key: auto.ConfigValue(value=_config_text(value)) for key, value in values.items()}
        config.update({key: auto.ConfigValue(value=value, secret=True) for key, value in (secrets or {}).items()})
        self.stack.set_all_config(config)

    def set_secret(self, key: str, value: str) -> None:
        self.stack.set_config(key, auto.ConfigValue(value=value, secret=True))

    # -- engine commands (each timed, output captured, errors' text captured too) --------------------------------
    def up(self, label: str, **kwargs: Any) -> auto.UpResult:
        return self._timed(
            label,
            "up --refresh" if kwargs.get("refresh") else "up",
            lambda: self.stack.up(on_output=self.captured.append, show_secrets=False, **kwargs),
        )

    def preview(self, label: str, **kwargs: Any) -> auto.PreviewResult:
        operation = "preview --refresh" if kwargs.get("refresh") else "preview"
        return self._timed(label, operation, lambda: self.stack.preview(on_output=self.captured.append, **kwargs))

    def preview_refresh(self, label: str, **kwargs: Any) -> auto.PreviewResult:
        return self._timed(
            label,
            "refresh --preview-only",
            lambda: self.stack.preview_refresh(on_output=self.captured.append, show_secrets=False, **kwargs),
        )

    def refresh(self, label: str, **kwargs: Any) -> auto.RefreshResult:
        return self._timed(
            label, "refresh", lambda: self.stack.refresh(on_output=self.captured.append, show_secrets=False, **kwargs)
        )

    def destroy(self, label: str, **kwargs: Any) -> auto.DestroyResult:
        return self._timed(
            label, "destroy", lambda: self.stack.destroy(on_output=self.captured.append, show_secrets=False, **kwargs)
        )

    def _timed(self, label: str, operation: str, run: Callable[[], T]) -> T:
        start = time.monotonic()
        ok = False
        try:
            result = run()
            ok = True
            return result
        except auto.CommandError as error:
            # The error carries the command's stderr, which on_output never sees.
            self.captured.append(str(error))
            raise
        finally:
            TIMINGS.append(Timing(label, operation, time.monotonic() - start, ok))

    # -- state -----------------------------------------------------------------------------------------------------
    def state_file(self) -> Path:
        """The stack's checkpoint as the engine wrote it (``export_stack`` would decrypt the secrets)."""
        found = sorted((self.directory / "backend" / ".pulumi" / "stacks").glob(f"*/{self.stack.name}.json"))
        assert len(found) == 1, f"expected one state file of stack {self.stack.name}, found {found}"
        return found[0]

    def deployment(self) -> dict[str, Any]:
        """The current state, read from the state file (secrets stay encrypted); empty before the first update."""
        if not any((self.directory / "backend" / ".pulumi" / "stacks").glob(f"*/{self.stack.name}.json")):
            return {}
        checkpoint = json.loads(self.state_file().read_text())
        deployment = checkpoint.get("checkpoint", {}).get("latest") or {}
        return deployment if isinstance(deployment, dict) else {}

    def resources(self, type_: str = VERIFICATION_TYPE) -> list[dict[str, Any]]:
        return [resource for resource in self.deployment().get("resources") or [] if resource.get("type") == type_]

    def outputs(self) -> dict[str, Any]:
        return {key: value.value for key, value in self.stack.outputs().items()}

    def files(self) -> Iterator[Path]:
        """Every file the engine wrote: state, its backups and history, the stack config."""
        return (path for path in sorted(self.directory.rglob("*")) if path.is_file())


def _config_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def is_changeless(summary: Mapping[Any, int]) -> bool:
    """True when a change summary has nothing but ``same`` steps."""
    return all(str(getattr(op, "value", op)) == "same" or count == 0 for op, count in summary.items())


def timing_report() -> list[str]:
    if not TIMINGS:
        return []
    lines = [f"{'seconds':>8}  {'ok':<3} {'operation':<24} label"]
    lines += [
        f"{timing.seconds:8.2f}  {'ok' if timing.ok else 'err':<3} {timing.operation:<24} {timing.label}"
        for timing in TIMINGS
    ]
    by_operation: dict[str, list[float]] = {}
    for timing in TIMINGS:
        by_operation.setdefault(timing.operation, []).append(timing.seconds)
    lines.append(
        "per operation: "
        + ", ".join(
            f"{op} n={len(values)} median={sorted(values)[len(values) // 2]:.2f}s max={max(values):.2f}s"
            for op, values in by_operation.items()
        )
    )
    lines.append(f"engine commands: {len(TIMINGS)}, {sum(timing.seconds for timing in TIMINGS):.1f} s in total")
    return lines
