"""`make demo`: the main job end to end, on this project directory, against the local ZITADEL stand-in.

1. Start the stand-in on the port that stacks/Pulumi.local.yaml names, over https (a CA of its own). Its state
   persists in .standin/, like a real instance's database, so a re-run finds what the last run created.
2. Select (or create) stack `local` on the project's default backend, the local files in .pulumi-state/.
3. `pulumi up --refresh --yes`: its preview, then the plugin's MachineUser, MachineKey and member resources and
   the verification resources. The refresh makes a re-run converge even if .standin/ was deleted since.
4. Show the outputs, and the drift check a pipeline runs: `pulumi preview --refresh --run-program --expect-no-changes`.
5. Stop the stand-in.

Every step is the plain `pulumi` CLI, printed as it runs (tools/pulumi_cli.py).
"""

from __future__ import annotations

import os
import sys

from zitadel_bootstrap.config import load_settings_file

from tools.pulumi_cli import REPO, PulumiCli, PulumiCliError
from tools.standin import StandIn, StandInError

STACK = "local"
STACK_FILE = REPO / "stacks" / f"Pulumi.{STACK}.yaml"
STANDIN_DIR = REPO / ".standin"
#: Demo-only passphrase of the committed local stack; never reuse it for a real instance.
DEMO_PASSPHRASE = "zitadel-bootstrap-local"  # noqa: S105 - documented, demo-only


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why and what to do."""


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def run() -> None:
    settings = load_settings_file(STACK_FILE)
    org_ids = sorted({account.org_id for account in settings.service_accounts if account.org_id})
    if len(org_ids) != 1:
        raise DemoError(f"{STACK_FILE.name}: the demo's stand-in has one default org; the accounts name {org_ids}")
    port = settings.provider.port
    say(f"starting the ZITADEL stand-in on 127.0.0.1:{port} (a stand-in for tests and demos, not ZITADEL)")
    standin = StandIn(
        listen=f"127.0.0.1:{port}",
        tls=True,
        workdir=STANDIN_DIR,
        extra_args=("--state-file", str(STANDIN_DIR / "state.json"), "--default-org-id", org_ids[0]),
    )
    try:
        standin.start()
    except StandInError as error:
        raise DemoError(f"the stand-in did not start (is port {port} free?): {error}") from error
    passphrase = os.environ.get("PULUMI_CONFIG_PASSPHRASE", DEMO_PASSPHRASE)
    cli = PulumiCli(REPO, STACK, passphrase, echo=lambda text: print(text, flush=True), ca_file=standin.ca_path)
    try:
        say(f"issuer {standin.issuer} (TLS: its CA is {standin.ca_path}, trusted through SSL_CERT_FILE)")
        say(f"default org {org_ids[0]}; stack {STACK} on the backend in Pulumi.yaml")
        cli.init()
        say("pulumi up: the preview, then the machine users, keys and grants, then their verification")
        cli.up("--refresh")
        say("outputs (key files stay secret: `pulumi stack output machineKeys --show-secrets`)")
        outputs = cli.outputs()
        unverified = [name for name, account in outputs["serviceAccounts"].items() if account["verified"] is not True]
        if unverified:
            raise DemoError(f"not verified: {', '.join(unverified)}")
        say("drift check, as a nightly pipeline runs it: pulumi preview --refresh --run-program --expect-no-changes")
        cli.drift_check()
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
    except PulumiCliError as error:
        print(
            f"\nmake demo: `{error.run.display}` exited {error.run.returncode} (its output is above)", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
