"""`make demo`: the main job end to end against the local ZITADEL stand-in.

Starts the stand-in on the port that stacks/Pulumi.local.yaml names (its state persists in .standin/, like a
real instance's database, so a re-run finds what the last run created), selects stack `local` on the local
file backend, runs `pulumi up`, shows the verification outputs, runs the drift check
(`preview --refresh --expect-no-changes`) and stops the stand-in.

The program is driven through the Automation API as an inline program: the Python language host cannot be
built from the module proxy (tools/README.md). The engine, the zitadel plugin and the dynamic-provider
launcher are the real ones that tools/engine.sh set up.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

REPO = Path(__file__).resolve().parents[1]
STACK = "local"
STACK_FILE = REPO / "stacks" / f"Pulumi.{STACK}.yaml"
STANDIN_DIR = REPO / ".standin"
#: Demo-only passphrase of the committed local stack; never reuse it for a real instance.
DEMO_PASSPHRASE = "zitadel-bootstrap-local"  # noqa: S105 - documented, demo-only
READY_TIMEOUT_SECONDS = 20.0


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why and what to do."""


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def local_stack_config() -> tuple[int, str]:
    """The stand-in's port and default org id, read from the committed local stack (one source of truth)."""
    config = yaml.safe_load(STACK_FILE.read_text())["config"]
    port = int(config["zitadel:port"])
    org_ids = {str(sa["orgId"]) for sa in config["zitadel-bootstrap:serviceAccounts"]}
    if len(org_ids) != 1:
        raise DemoError(f"{STACK_FILE.name}: the demo serves one org, but the accounts name {sorted(org_ids)}")
    return port, org_ids.pop()


def build_standin() -> Path:
    done = subprocess.run([str(REPO / "standin" / "build.sh")], cwd=REPO, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise DemoError(f"building the stand-in failed:\n{done.stderr.strip()}")
    return Path(done.stdout.strip().splitlines()[-1])


def start_standin(binary: Path, port: int, org_id: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    STANDIN_DIR.mkdir(exist_ok=True)
    ready_file = STANDIN_DIR / "ready.json"
    ready_file.unlink(missing_ok=True)
    log = (STANDIN_DIR / "standin.log").open("wb")
    process = subprocess.Popen(
        [
            str(binary),
            "--listen",
            f"127.0.0.1:{port}",
            "--admin-key-file",
            str(STANDIN_DIR / "admin-key.json"),
            "--ready-file",
            str(ready_file),
            "--state-file",
            str(STANDIN_DIR / "state.json"),
            "--default-org-id",
            org_id,
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(
                f"the stand-in exited with {process.returncode} (is port {port} free?); "
                f"see {STANDIN_DIR / 'standin.log'}"
            )
        if ready_file.exists() and ready_file.stat().st_size:
            return process, json.loads(ready_file.read_text())
        time.sleep(0.05)
    process.terminate()
    raise DemoError(f"the stand-in did not become ready within {READY_TIMEOUT_SECONDS:.0f} s")


def program() -> None:
    # The project's own entry point, unchanged: the inline program only serves it to the engine.
    runpy.run_path(str(REPO / "__main__.py"), run_name="__pulumi_main__")


def workspace_env() -> dict[str, str]:
    env = {
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", DEMO_PASSPHRASE),
        # The dynamic provider runs in the launcher process and is pickled by reference to our modules.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    if "PULUMI_CONFIG_PASSPHRASE_FILE" in os.environ:
        env.pop("PULUMI_CONFIG_PASSPHRASE")
    return env


def run() -> None:
    root = os.environ.get("ZB_PULUMI_ROOT")
    if not root:
        raise DemoError("ZB_PULUMI_ROOT is not set: run `make demo` (it sets up the engine with tools/engine.sh)")
    if not os.environ.get("ZB_ZITADEL_PLUGIN"):
        raise DemoError(
            "the pulumi-resource-zitadel 0.2.0 plugin is not installed; see tools/README.md "
            "(ZB_ZITADEL_PLUGIN_FILE=<official binary>, or a machine that can download it)"
        )
    port, org_id = local_stack_config()
    say(f"starting the ZITADEL stand-in on 127.0.0.1:{port} (a stand-in for tests and demos, not ZITADEL)")
    process, ready = start_standin(build_standin(), port, org_id)
    try:
        say(f"issuer {ready['issuer']}, default org {ready['defaultOrgId']}")
        command = auto.PulumiCommand(root=root, skip_version_check=True)
        stack = auto.create_or_select_stack(
            stack_name=STACK,
            project_name="zitadel-bootstrap",
            program=program,
            opts=auto.LocalWorkspaceOptions(work_dir=str(REPO), pulumi_command=command, env_vars=workspace_env()),
        )
        say("pulumi up")
        stack.up(on_output=print, color="never")
        outputs = stack.outputs()
        say("verification outputs (machineKeys stays a secret: `pulumi stack output machineKeys --show-secrets`)")
        print(json.dumps(outputs["serviceAccounts"].value, indent=2))
        unverified = [name for name, sa in outputs["serviceAccounts"].value.items() if sa.get("verified") is not True]
        if unverified:
            raise DemoError(f"not verified: {', '.join(unverified)}")
        say("drift check: pulumi preview --refresh --expect-no-changes")
        stack.preview(refresh=True, expect_no_changes=True, on_output=print, color="never")
        say("no drift: every service account logs in with its key and holds its grants")
    finally:
        say("stopping the stand-in (its state stays in .standin/ for the next run)")
        process.terminate()
        process.wait(timeout=10)


def main() -> int:
    try:
        run()
    except DemoError as error:
        print(f"\nmake demo: {error}", file=sys.stderr)
        return 1
    except auto.CommandError as error:
        print(f"\nmake demo: a pulumi command failed:\n{error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
