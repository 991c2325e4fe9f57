"""`zitadel-bootstrap fleet up|drift-check|destroy|list|migrate`: the fleet's commands (docs/fleet.md).

zitadel-bootstrap fleet up [--parallel 2] [--shard 1/4] [--json] [--report FILE] [--destroy-dropped]
zitadel-bootstrap fleet drift-check [--shard 1/4] [--report FILE]     # 0 clean, 7 an org drifted, 1 failed
zitadel-bootstrap fleet destroy [--org NAME ...] [--destroy-dropped]
zitadel-bootstrap fleet list [--shard 1/4]                              # the orgs and stacks a shard takes
zitadel-bootstrap fleet migrate --from STACK                            # one stack's orgs into the fleet's stacks
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from zitadel_bootstrap.cli.engine import EXIT_FAILED
from zitadel_bootstrap.cli.recover.pulumi_ops import Project

from . import report
from .runner import FleetRun
from .spec import FleetError, Shard, load_fleet, select

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_FLEET_FILE = "stacks/fleet.yaml"
DESCRIPTION = (
    "One Pulumi stack per org of the fleet file, run side by side (at most --parallel at a time), with one report. "
    "Each org runs as `zitadel-bootstrap run ACTION --stack <fleet>-<org>` with its own log; a failed org stops "
    "no other."
)
EPILOG = (
    "exit codes: 0 every org done (no drift); 7 drift-check: an org drifted, or an org dropped from the fleet file "
    "still has its stack; 1 an org failed (the table and --json say which and why); 2 bad usage or fleet file"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--fleet", default=DEFAULT_FLEET_FILE, help=f"the fleet file ({DEFAULT_FLEET_FILE})")
    common.add_argument("--shard", help="I/N: only the orgs of shard I of N (by a hash of the org's name)")
    common.add_argument("--org", action="append", default=[], help="only this org (repeatable)")
    runs = argparse.ArgumentParser(add_help=False)
    runs.add_argument("--parallel", type=int, default=2, help="orgs run at the same time (2)")
    runs.add_argument("--json", action="store_true", help="print the report as JSON instead of the table")
    runs.add_argument("--report", help="also write the JSON report to this file")
    runs.add_argument("--log-dir", default=".zitadel-bootstrap/fleet-logs", help="one log per org's stack")
    runs.add_argument("--org-timeout", type=float, default=3600.0, help="seconds before an org's run is stopped")
    runs.add_argument(
        "--destroy-dropped", action="store_true", help="destroy the stacks of orgs no longer in the fleet file"
    )
    runs.add_argument("--attempts", type=int, default=3, help="runs of an org's command that fails transiently (3)")
    runs.add_argument("--retry-wait", type=float, default=10.0, help="seconds before an org's 2nd run, grows (10)")
    runs.add_argument("--settle", type=float, default=10.0, help="seconds before a drift check is repeated (10)")
    runs.add_argument("--lock-wait", type=float, default=0.0, help="seconds to wait for an org stack's lock (0)")
    actions = parser.add_subparsers(dest="fleet_action", required=True, metavar="ACTION")
    up = actions.add_parser("up", parents=[common, runs], help="pulumi up on every org's stack", epilog=EPILOG)
    up.add_argument("--refresh", action="store_true", help="each org: refresh first where a settled check differs")
    actions.add_parser("drift-check", parents=[common, runs], help="0 clean, 7 drift, 1 failed", epilog=EPILOG)
    actions.add_parser(
        "destroy", parents=[common, runs], help="destroy every org's stack, then remove it", epilog=EPILOG
    )
    actions.add_parser("list", parents=[common], help="the orgs (and their stacks) that this shard takes")
    migrate = actions.add_parser(
        "migrate",
        parents=[common],
        help="move one stack's accounts and orgs into the fleet's stacks, re-creating nothing",
        description="Moves each org's resources from --from into its fleet stack (`pulumi state move`).",
    )
    migrate.add_argument("--from", dest="source", required=True, help="the one stack that holds the orgs now")


def _options(args: argparse.Namespace) -> list[str]:
    options = []
    for name in ("attempts", "retry_wait", "settle", "lock_wait"):
        options += [f"--{name.replace('_', '-')}", f"{getattr(args, name):g}"]
    if getattr(args, "refresh", False):
        options.append("--refresh")
    return options


def execute(args: argparse.Namespace) -> int:
    try:
        fleet = load_fleet(Path(args.fleet))
        shard = Shard.parse(args.shard) if args.shard else None
        orgs = select(fleet, shard, args.org)
        project = Project.load(Path.cwd())
    except (FleetError, ValueError) as error:
        print(f"fleet: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.fleet_action == "list":
        for org in orgs:
            print(f"{org.name}\t{fleet.stack_name(org.name)}")
        return 0
    if args.fleet_action == "migrate":
        from .migrate import migrate  # noqa: PLC0415 - migrate only

        return migrate(fleet, project, orgs, args.source)
    if args.parallel < 1 or args.attempts < 1 or min(args.retry_wait, args.settle, args.lock_wait) < 0:
        print("fleet: --parallel and --attempts must be at least 1 and the waits not negative", file=sys.stderr)
        return EXIT_USAGE
    if args.org_timeout <= 0:
        print("fleet: --org-timeout must be more than 0 seconds", file=sys.stderr)
        return EXIT_USAGE
    run = FleetRun(
        fleet,
        project,
        args.fleet_action,
        orgs,
        shard=shard,
        parallel=args.parallel,
        log_dir=Path(args.log_dir),
        run_options=_options(args),
        destroy_dropped=args.destroy_dropped,
        org_timeout=args.org_timeout,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)  # a cancelled CI job: pass it on like Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored (a background job)
    start = time.monotonic()
    try:
        results = run.run()
    except RuntimeError as error:
        print(f"fleet: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(
            "fleet: interrupted; the orgs that were running were told to stop and have ended (their logs say where). "
            "Rerun the command: each org's stack continues from its state",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    document = report.document(
        fleet.name, args.fleet_action, str(shard) if shard else None, results, time.monotonic() - start
    )
    if args.report:
        Path(args.report).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(document, indent=2) if args.json else report.table(document), flush=True)
    code: int = document["exitCode"]
    return code
