"""Fleet benchmark: prints figures and the targets of issue 17, asserts nothing. Part of `make bench`
(`python -m bench.fleet` alone; `--quick` for a short run).

Side by side in one run, on one machine, each measurement on a fresh stand-in (so none pays for another's objects,
and none needs a destroy):
1. 100 orgs x 3 accounts as one stack (`pulumi up`, then the drift check `preview --refresh --run-program
   --expect-no-changes`) against `zitadel-bootstrap fleet up` and `fleet drift-check` at --parallel 1, 2 and 4 (and
   the drift check at 8): wall time, CPU time, and the peak RSS of the whole process tree (every pulumi, language
   host, program and plugin alive at one moment, summed; the stand-in left out).
2. The fleet at 10, 100 and 300 orgs (--parallel 2): the wall time per org.
3. Within one org's stack (3 accounts): `pulumi up` with verification against without (median of 3 runs each).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

from bench.scale import PASSPHRASE, kind_of, stack_config
from tools.pulumi_cli import OPERATIONS_COMMAND, PulumiCli, make_project_copy
from tools.standin import StandIn

TARGETS = {
    "fleet / one stack, up wall at 100 orgs": 0.6,
    "peak RSS of the fleet run, GiB": 1.0,
    "time per org at 300 / at 10": 1.2,
    "fleet drift check / one-stack drift check": 1.0,
    "up with / without verification, one org": 1.25,
}


@dataclass
class Figure:
    wall: float = 0.0
    cpu: float = 0.0
    peak_mib: float = 0.0

    def __str__(self) -> str:
        return f"{self.wall:7.1f} s wall, {self.cpu:7.1f} s CPU, peak RSS {self.peak_mib:6.0f} MiB (process tree)"


@contextmanager
def measured(interval: float = 0.2) -> Iterator[Figure]:
    """Wall, CPU and the peak of the summed RSS of every descendant but the stand-in, while the block runs."""
    figure = Figure()
    me = psutil.Process()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            total = 0.0
            for child in me.children(recursive=True):
                try:
                    if kind_of(child) == "stand-in (not Pulumi)":
                        continue
                    total += child.memory_info().rss / 2**20
                except psutil.Error:
                    continue
            figure.peak_mib = max(figure.peak_mib, total)
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    before = me.cpu_times()
    start = time.perf_counter()
    sampler.start()
    try:
        yield figure
    finally:
        stop.set()
        sampler.join()
        figure.wall = time.perf_counter() - start
        after = me.cpu_times()
        figure.cpu = after.children_user + after.children_system - before.children_user - before.children_system


def one_stack(orgs: int, per_org: int) -> tuple[Figure, Figure]:
    with StandIn() as standin, tempfile.TemporaryDirectory(prefix="zb-fleet-bench-") as directory:
        cli = PulumiCli(make_project_copy(Path(directory)), "one", PASSPHRASE)
        cli.init()
        cli.write_config(stack_config(standin, orgs=orgs, per_org=per_org, accounts=0, verify=True))
        with measured() as up:
            cli.up()
        with measured() as check:
            cli.drift_check()
    return up, check


def fleet_file(standin: StandIn, orgs: int, per_org: int, verify: bool = True) -> dict[str, Any]:
    config = stack_config(standin, orgs=0, per_org=0, accounts=0, verify=verify)
    config.pop("zitadel-bootstrap:serviceAccounts")
    return {
        "fleet": "bench",
        "config": config,
        "orgs": [
            {"name": f"t{org}", "serviceAccounts": [{"name": f"sa{i}", "userName": f"sa{i}"} for i in range(per_org)]}
            for org in range(orgs)
        ],
    }


def fleet(
    orgs: int, per_org: int, parallel: int, *, drift_parallels: tuple[int, ...] = ()
) -> tuple[Figure, dict[int, Figure]]:
    with StandIn() as standin, tempfile.TemporaryDirectory(prefix="zb-fleet-bench-") as directory:
        project = make_project_copy(Path(directory))
        (project / "stacks" / "fleet.yaml").write_text(yaml.safe_dump(fleet_file(standin, orgs, per_org)))
        env = dict(os.environ, PULUMI_CONFIG_PASSPHRASE=PASSPHRASE, PULUMI_SKIP_UPDATE_CHECK="true")

        def run(*args: str, parallel: int = parallel) -> None:
            done = subprocess.run(
                [str(OPERATIONS_COMMAND), "fleet", *args, "--parallel", str(parallel), "--settle", "1"],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(
                    f"fleet {args[0]} exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
                )

        with measured() as up:
            run("up")
        checks: dict[int, Figure] = {}
        for drift_parallel in drift_parallels:
            with measured() as checks[drift_parallel]:
                run("drift-check", parallel=drift_parallel)
    return up, checks


def one_org_up(verify: bool, runs: int = 3) -> float:
    walls = []
    with StandIn() as standin:
        for run in range(runs):
            with tempfile.TemporaryDirectory(prefix="zb-fleet-bench-") as directory:
                cli = PulumiCli(make_project_copy(Path(directory)), f"org{run}", PASSPHRASE)
                cli.init()
                cli.write_config(stack_config(standin, orgs=1, per_org=3, accounts=0, verify=verify))
                with measured() as up:
                    cli.up()
                walls.append(up.wall)
    return statistics.median(walls)


def one_org_breakdown() -> list[tuple[str, float]]:
    """Where one org's time goes: each pulumi command the fleet's `run up` and `run drift-check` make, alone."""
    steps: list[tuple[str, float]] = []
    with StandIn() as standin, tempfile.TemporaryDirectory(prefix="zb-fleet-bench-") as directory:
        cli = PulumiCli(make_project_copy(Path(directory)), "org", PASSPHRASE)
        for name, step in (
            ("pulumi stack init", lambda: cli.init()),
            (
                "write its config",
                lambda: cli.write_config(stack_config(standin, orgs=1, per_org=3, accounts=0, verify=True)),
            ),
            ("pulumi preview (program + preflight)", lambda: cli.run("preview")),
            ("pulumi up --skip-preview (creates 13)", lambda: cli.run("up", "--yes", "--skip-preview")),
            ("pulumi preview (no changes)", lambda: cli.run("preview")),
            ("pulumi preview --refresh --run-program", lambda: cli.drift_check()),
            ("pulumi version (the CLI's start)", lambda: cli.run("version", with_stack=False)),
        ):
            start = time.perf_counter()
            step()
            steps.append((name, time.perf_counter() - start))
    start = time.perf_counter()
    subprocess.run([str(OPERATIONS_COMMAND), "--version"], capture_output=True, check=True)
    steps.append(("zitadel-bootstrap --version (the wrapper's start)", time.perf_counter() - start))
    return steps


def verdict(name: str, value: float) -> str:
    target = TARGETS[name]
    return f"{name}: {value:.2f} (target at most {target}: {'met' if value <= target else 'NOT met'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--per-org", type=int, default=3)
    parser.add_argument("--sizes", default="10,100,300", help="fleet sizes for the time per org")
    parser.add_argument("--parallel", default="1,2,4")
    parser.add_argument("--quick", action="store_true", help="10 orgs, sizes 2,10, parallel 2: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.orgs, args.sizes, args.parallel = 10, "2,10", "2"
    parallels = [int(p) for p in args.parallel.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    say: Callable[[str], None] = lambda text: print(text, flush=True)  # noqa: E731

    say(f"== {args.orgs} orgs x {args.per_org} accounts: one stack against the fleet ({os.cpu_count()} cores) ==")
    one_up, one_check = one_stack(args.orgs, args.per_org)
    say(f"one stack      up          {one_up}")
    say(f"one stack      drift check {one_check}")
    fleet_ups: dict[int, Figure] = {}
    fleet_checks: dict[int, Figure] = {}
    for parallel in parallels:
        also = (8,) if parallel == max(parallels) and max(parallels) < 8 else ()
        up, checks = fleet(args.orgs, args.per_org, parallel, drift_parallels=(parallel, *also))
        fleet_ups[parallel] = up
        say(f"fleet -p {parallel}     up          {up}")
        for drift_parallel, check in checks.items():
            fleet_checks[drift_parallel] = check
            say(f"fleet -p {drift_parallel}     drift check {check}")
    per_org: dict[int, float] = {}
    for size in sizes:
        reuse = size == args.orgs and 2 in fleet_ups
        wall = fleet_ups[2].wall if reuse else fleet(size, args.per_org, 2)[0].wall
        per_org[size] = wall / size
        say(f"fleet of {size:>3} orgs, -p 2: {wall:7.1f} s wall, {per_org[size]:5.2f} s per org")
    on, off = one_org_up(True), one_org_up(False)
    say(f"one org's stack, 3 accounts, up (median of 3): with verification {on:.1f} s, without {off:.1f} s")

    say("\nwhere one org's time goes (each command alone, 1 org x 3 accounts):")
    for name, seconds in one_org_breakdown():
        say(f"  {name:<50} {seconds:5.2f} s")

    say("\n== targets ==")
    best = min(fleet_ups.values(), key=lambda f: f.wall)
    say(verdict("fleet / one stack, up wall at 100 orgs", best.wall / one_up.wall))
    say(verdict("peak RSS of the fleet run, GiB", max(f.peak_mib for f in fleet_ups.values()) / 1024))
    for parallel, figure in fleet_ups.items():
        say(
            f"  --parallel {parallel}: {figure.wall / one_up.wall:.2f}x the one-stack up, "
            f"peak {figure.peak_mib / 1024:.2f} GiB"
        )
    if len(sizes) >= 2:
        say(verdict("time per org at 300 / at 10", per_org[sizes[-1]] / per_org[sizes[0]]))
    if fleet_checks:
        fastest = min(fleet_checks, key=lambda p: fleet_checks[p].wall)
        say(verdict("fleet drift check / one-stack drift check", fleet_checks[fastest].wall / one_check.wall))
        for parallel, figure in sorted(fleet_checks.items()):
            say(
                f"  --parallel {parallel}: drift check {figure.wall / one_check.wall:.2f}x the one-stack drift check, "
                f"peak {figure.peak_mib / 1024:.2f} GiB"
            )
    say(verdict("up with / without verification, one org", on / off))


if __name__ == "__main__":
    main()
