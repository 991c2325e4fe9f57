"""`zitadel-bootstrap`: the operations command of the package, one subcommand per job.

====================  ==========================================================================================
``verify``            prove a key file: the JWT-bearer exchange and the grants on ZITADEL's API (``verify``)
``run``               ``up``, ``drift-check``, ``destroy`` through `pulumi`, riding out ZITADEL's faults (``run``)
``adopt-user``        import a machine user that ZITADEL holds into its account's resource (``run``)
``recover``           repair a stack after an interrupted or failed `pulumi up` (``recover``)
``key-file``          write one account's key file from the stack, mode 0600 (``key_file``)
``fleet``             one stack per org of a fleet file, run side by side, one report (``fleet``)
====================  ==========================================================================================
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from zitadel_bootstrap import __version__

#: Subcommand -> the module that defines its arguments and runs it. A run imports only the one it needs: `verify`
#: in a pipeline step should not pay for the recovery's and the wrapper's imports.
MODULES = {
    "verify": "zitadel_bootstrap.cli.verify",
    "run": "zitadel_bootstrap.cli.run",
    "adopt-user": "zitadel_bootstrap.cli.run",
    "recover": "zitadel_bootstrap.cli.recover.cli",
    "key-file": "zitadel_bootstrap.cli.key_file",
    "fleet": "zitadel_bootstrap.cli.fleet.cli",
}

EPILOG_RUN = (
    "exit codes: 0 done (no drift), 7 drift found (drift-check), 1 failed (the last `pipeline:` line says why), "
    "2 bad usage"
)
EPILOG_UP = "exit codes: 0 done, 1 failed (the last `pipeline:` line says why), 2 bad usage"
EPILOG_DRIFT_CHECK = "exit codes: 0 no drift, 7 drift found (still there --settle seconds later), 1 error, 2 bad usage"
EPILOG_DESTROY = "exit codes: 0 destroyed, 1 failed (the last `pipeline:` line says why), 2 bad usage"


def _run_arguments() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", help="the stack (default: the selected one)")
    common.add_argument("--attempts", type=int, default=3, help="runs of a command that fails transiently (3)")
    common.add_argument("--retry-wait", type=float, default=10.0, help="seconds before the 2nd run, grows (10)")
    common.add_argument("--settle", type=float, default=10.0, help="seconds before a check is repeated (10)")
    common.add_argument("--lock-wait", type=float, default=0.0, help="seconds to wait for another run's lock (0)")
    return common


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, the arguments of that subcommand alone (the others list their help)."""

    def module_command(commands: Any, name: str, summary: str) -> None:
        """A subcommand whose module holds its DESCRIPTION, EPILOG and add_arguments (loaded only when wanted)."""
        module = importlib.import_module(MODULES[name]) if only in (None, name) else None
        parser = commands.add_parser(
            name,
            help=summary,
            description=module.DESCRIPTION if module else None,
            epilog=module.EPILOG if module else None,
        )
        if module:
            module.add_arguments(parser)

    top = argparse.ArgumentParser(
        prog="zitadel-bootstrap",
        description="Operations for ZITADEL service accounts declared with the zitadel-bootstrap Pulumi package.",
        epilog="Each subcommand's --help lists its exit codes. Run it where you run `pulumi`: the same project "
        "directory, backend and secrets passphrase.",
    )
    top.add_argument("--version", action="version", version=f"zitadel-bootstrap {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    module_command(commands, "verify", "prove a key file: token exchange and grants (0 verified, 1 not, 2 bad input)")
    common = _run_arguments()
    run_parser = commands.add_parser(
        "run",
        help="pulumi up | drift-check | destroy, riding out ZITADEL's faults (0, 7 drift, 1, 2)",
        description="The pipeline's pulumi commands, riding out what ZITADEL does under load.",
        epilog=EPILOG_RUN,
    )
    actions = run_parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser(
        "up",
        parents=[common],
        help="pulumi up --yes, retried on transient ZITADEL errors",
        description="`pulumi up --yes`, rerun on transient ZITADEL errors; users lost to read lag are adopted.",
        epilog=EPILOG_UP,
    )
    up.add_argument("--refresh", action="store_true", help="refresh first, what a settled check finds changed")
    up.add_argument("--no-adopt", action="store_true", help="stop at users lost to read lag instead of adopting them")
    up.add_argument("--no-recover", action="store_true", help="no recovery step after an update that needed reruns")
    actions.add_parser(
        "drift-check",
        parents=[common],
        help="0 no drift, 7 drift (seen twice), 1 error",
        description="`pulumi preview --refresh --expect-no-changes`; drift counts only when a second check agrees.",
        epilog=EPILOG_DRIFT_CHECK,
    )
    actions.add_parser(
        "destroy",
        parents=[common],
        help="pulumi destroy --yes, retried on transient errors",
        description="`pulumi destroy --yes`, rerun on transient ZITADEL errors.",
        epilog=EPILOG_DESTROY,
    )

    adopt = commands.add_parser(
        "adopt-user",
        parents=[common],
        help="import a machine user ZITADEL holds into its account (0, 1, 2)",
        description="Import the machine user of a configured account that ZITADEL holds and the stack does not.",
        epilog="exit codes: 0 imported, 1 failed, 2 bad usage",
    )
    adopt.add_argument("account", help="the service account's name in the stack config")
    adopt.add_argument("user_id", nargs="?", help="the user's id in ZITADEL (default: looked up by user name)")
    adopt.add_argument("--org-id", help="the user's org (default: the account's, from the stack config)")

    module_command(
        commands, "recover", "repair a stack after an interrupted or failed up (0 ready, 3 needs a person, 1, 2)"
    )
    module_command(commands, "key-file", "write one account's key file from the stack, mode 0600 (0, 1, 2)")
    module_command(commands, "fleet", "one stack per org of a fleet file, side by side, one report (0, 7, 1, 2)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    first = next((word for word in words if not word.startswith("-")), None)
    only = first if first in MODULES else None
    args = build_parser(only).parse_args(words)
    status: int = importlib.import_module(MODULES[args.command]).execute(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
