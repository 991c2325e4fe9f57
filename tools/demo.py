"""`make demo`: the main job end to end against the local ZITADEL stand-in.

Starts the stand-in on the port that stacks/Pulumi.local.yaml names (its state persists in .standin/, like a
real instance's database, so a re-run finds what the last run created), selects stack `local` on the local
file backend, runs `pulumi up`, shows the verification outputs, runs the drift check
(`preview --refresh --expect-no-changes`) and stops the stand-in.

The program is driven through the Automation API as an inline program, because the Python language host
cannot be built from the module proxy (tools/README.md); the engine and the dynamic-provider launcher are the
real ones that tools/engine.sh set up.

Without the zitadel plugin (it cannot be built from the module proxy either) the demo says so and runs the part
that does not need it: it creates each configured account's machine user, JSON key and grants through the
stand-in's control API, where the plugin would create them, and the engine then runs the same verification
resources and the same drift check on them.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi import automation as auto

from components.service_account import declare_verification, verification_summary
from components.settings import PROJECT, PROVIDER, ServiceAccountSettings, Settings, parse_settings
from tools.standin import StandIn, StandInError

REPO = Path(__file__).resolve().parents[1]
STACK = "local"
STACK_FILE = REPO / "stacks" / f"Pulumi.{STACK}.yaml"
STANDIN_DIR = REPO / ".standin"
DEMO_KEYS = STANDIN_DIR / "demo-keys"
#: Demo-only passphrase of the committed local stack; never reuse it for a real instance.
DEMO_PASSPHRASE = "zitadel-bootstrap-local"  # noqa: S105 - documented, demo-only


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why and what to do."""


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def local_settings() -> Settings:
    """The committed local stack, validated exactly as the program validates it."""
    config = yaml.safe_load(STACK_FILE.read_text())["config"]
    project = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith(f"{PROJECT}:")}
    zitadel = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith(f"{PROVIDER}:")}
    return parse_settings(project, zitadel)


def the_org(settings: Settings) -> str:
    org_ids = {account.org_id for account in settings.service_accounts}
    if len(org_ids) != 1:
        raise DemoError(f"{STACK_FILE.name}: the stand-in serves one org, but the accounts name {sorted(org_ids)}")
    return org_ids.pop()


def project_program() -> None:
    # The project's own entry point, unchanged: the inline program only serves it to the engine.
    runpy.run_path(str(REPO / "__main__.py"), run_name="__pulumi_main__")


def ensure_account(standin: StandIn, account: ServiceAccountSettings) -> str:
    """Machine user, JSON key and org grant as the plugin would create them; returns the key file text.

    The key file is kept in .standin/demo-keys/ (git-ignored, 0600) so that a re-run reuses the same key.
    """
    state = standin.state()
    user = next(
        (u for u in state["users"] if u["orgId"] == account.org_id and u["userName"] == account.user_name), None
    )
    if user is None:
        user_id = standin.create_machine_user(
            account.org_id,
            account.user_name,
            account.access_token_type,  # type: ignore[arg-type]
            name=account.display_name,
            description=account.description or "",
        )
        key_ids: set[str] = set()
    else:
        user_id = str(user["id"])
        key_ids = {str(key["id"]) for key in user["keys"]}
    key_file = DEMO_KEYS / f"{account.name}.json"
    key_json = key_file.read_text() if key_file.exists() else ""
    if not key_json or json.loads(key_json).get("keyId") not in key_ids:
        key_json = standin.add_machine_key(account.org_id, user_id, account.key_expiration)
        DEMO_KEYS.mkdir(parents=True, exist_ok=True)
        key_file.write_text(key_json)
        key_file.chmod(0o600)
    for grant in account.grants:
        if grant.level != "org":
            raise DemoError(f"{account.name}: the demo without the zitadel plugin grants org roles only")
        held = [
            m
            for m in state["memberships"]
            if m["kind"] == "org" and m["targetId"] == account.org_id and m["userId"] == user_id
        ]
        if not held:
            standin.add_org_member(account.org_id, user_id, list(grant.roles))
        elif sorted(held[0]["roles"]) != sorted(grant.roles):
            standin.set_org_member_roles(account.org_id, user_id, list(grant.roles))
    return key_json


def verification_program(settings: Settings, keys: dict[str, str]) -> Callable[[], None]:
    """The verification half of the program, for accounts whose identities exist already."""

    def program() -> None:
        exported: dict[str, Any] = {}
        for account in settings.service_accounts:
            proof = declare_verification(
                f"{account.name}-verification",
                account,
                key_json=pulumi.Output.secret(keys[account.name]),
                issuer=settings.issuer,
                insecure=settings.provider.insecure,
                settings=settings.verification,
            )
            exported[account.name] = {
                "userId": proof.user_id,
                "keyId": proof.key_id,
                "orgId": proof.org_id,
                "verified": proof.verified,
                "verification": verification_summary(proof),
            }
        pulumi.export("issuer", settings.issuer)
        pulumi.export("serviceAccounts", exported)

    return program


def workspace_env() -> dict[str, str]:
    env = {
        # The dynamic provider runs in the launcher process and is pickled by reference to our modules.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    if "PULUMI_CONFIG_PASSPHRASE_FILE" not in os.environ:
        env["PULUMI_CONFIG_PASSPHRASE"] = os.environ.get("PULUMI_CONFIG_PASSPHRASE", DEMO_PASSPHRASE)
    return env


def run() -> None:
    root = os.environ.get("ZB_PULUMI_ROOT")
    if not root:
        raise DemoError("ZB_PULUMI_ROOT is not set: run `make demo` (it sets up the engine with tools/engine.sh)")
    settings = local_settings()
    org_id = the_org(settings)
    port = settings.provider.port
    full = bool(os.environ.get("ZB_ZITADEL_PLUGIN"))
    # The partial demo's users were made through the control API; the plugin would meet them as "already
    # exists". Each mode keeps its own instance state so switching to the full demo starts clean.
    state_file = STANDIN_DIR / ("state.json" if full else "partial-state.json")
    say(f"starting the ZITADEL stand-in on 127.0.0.1:{port} (a stand-in for tests and demos, not ZITADEL)")
    standin = StandIn(
        listen=f"127.0.0.1:{port}",
        workdir=STANDIN_DIR,
        extra_args=("--state-file", str(state_file), "--default-org-id", org_id),
    )
    try:
        standin.start()
    except StandInError as error:
        raise DemoError(f"the stand-in did not start (is port {port} free?): {error}") from error
    try:
        say(f"issuer {standin.issuer}, default org {org_id}")
        program: Callable[[], None]
        if full:
            program = project_program
        else:
            say(
                "PARTIAL DEMO: the pulumi-resource-zitadel plugin is not installed (it cannot be built here, see "
                "tools/README.md), so the machine users, keys and grants are created through the stand-in's "
                "control API instead of by Pulumi; the verification resources and the drift check below are real"
            )
            keys = {account.name: ensure_account(standin, account) for account in settings.service_accounts}
            program = verification_program(settings, keys)
        command = auto.PulumiCommand(root=root, skip_version_check=True)
        stack = auto.create_or_select_stack(
            stack_name=STACK,
            project_name="zitadel-bootstrap",
            program=program,
            opts=auto.LocalWorkspaceOptions(work_dir=str(REPO), pulumi_command=command, env_vars=workspace_env()),
        )
        say("pulumi up")
        stack.up(on_output=print, color="never")
        accounts = stack.outputs()["serviceAccounts"].value
        if program is project_program:
            say("verification outputs (key files stay secret: `pulumi stack output machineKeys --show-secrets`)")
        else:
            say(f"verification outputs (the key files the stand-in issued are in {DEMO_KEYS.relative_to(REPO)}/)")
        print(json.dumps(accounts, indent=2))
        unverified = [name for name, account in accounts.items() if account.get("verified") is not True]
        if unverified:
            raise DemoError(f"not verified: {', '.join(unverified)}")
        say("drift check: pulumi preview --refresh --expect-no-changes")
        stack.preview(refresh=True, expect_no_changes=True, on_output=print, color="never")
        say("no drift: every service account logs in with its key and holds its grants")
    finally:
        say("stopping the stand-in (its state stays in .standin/ for the next run)")
        standin.stop()


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
