"""Scale benchmark: prints figures, asserts nothing. Part of `make bench` (`python -m bench.scale` alone).

1. The whole program at scale: 100 organizations declared in the config with 3 service accounts each (1,900
   resources), through the plain `pulumi` CLI against the stand-in: `up` from empty (with its preview), the drift
   check `preview --refresh --expect-no-changes`, and `destroy`, each with its wall time, CPU time and the peak
   memory of the engine, the language host and program, the zitadel plugin and the package provider; then the
   drift check again with `--parallel` 4 and 64 to show its effect.
2. The verification's share: 100 accounts in one org with verification on and off, side by side in one run, and
   their ratios (targets: up at most 1.25x, preview --refresh at most 1.5x, destroy at most 1.1x), with the CPU
   time of each part (engine, language host and program, package provider, zitadel plugin).
3. The engine's share: the same pair again with PULUMI_SKIP_CHECKPOINTS=true, which leaves out the local file
   backend's rewrite of the whole checkpoint after every step (an experimental engine switch, for measuring only).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tools.pulumi_cli import PulumiCli, make_project_copy
from tools.standin import StandIn

PASSPHRASE = "zitadel-bootstrap-bench"  # noqa: S105 - a throwaway passphrase of a throwaway backend
TARGETS = {"up": 1.25, "drift check": 1.5, "destroy": 1.1}


def kind_of(process: psutil.Process) -> str:
    """Which part of a pulumi run a process is."""
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return "other"
    if "zitadel-standin" in command:
        return "stand-in (not Pulumi)"
    # The package's own provider: its script, or a python running its module. Checked before the zitadel plugin,
    # whose name "pulumi-resource-zitadel" is the start of the script's.
    if any(
        name in command
        for name in ("pulumi-resource-zitadel-bootstrap", "zitadel_bootstrap.provider", "zitadel_bootstrap/provider")
    ):
        return "package provider (verification, key schedule)"
    if "pulumi-resource-zitadel" in command:
        return "zitadel plugin"
    if "pulumi-language-python" in command or "/.venv/bin/python" in command:
        return "language host + program"  # with the host's own python calls (pip list, version checks)
    if command.split(" ", 1)[0].endswith("pulumi"):
        return "engine (pulumi)"
    return "other"


@dataclass
class Usage:
    """Wall time, CPU time of the whole process tree, and the peak RSS and CPU time of each part."""

    wall: float = 0.0
    cpu: float = 0.0
    peaks: dict[str, float] = field(default_factory=dict)
    #: CPU seconds of each process as last sampled (a process's last ~0.1 s and very short-lived ones are missed).
    process_cpu: dict[int, tuple[str, float]] = field(default_factory=dict)

    def cpu_by_kind(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for kind, seconds in self.process_cpu.values():
            totals[kind] = totals.get(kind, 0.0) + seconds
        return totals


@contextmanager
def measured(interval: float = 0.1) -> Iterator[Usage]:
    """Sample the RSS of every descendant of this process while the block runs (a pulumi command in it)."""
    usage = Usage()
    me = psutil.Process()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            totals: dict[str, float] = {}
            for child in me.children(recursive=True):
                try:
                    rss = child.memory_info().rss / 2**20
                    times = child.cpu_times()
                except psutil.Error:
                    continue
                # A process is classified once: an exited one (a zombie) no longer shows its command line.
                kind = usage.process_cpu[child.pid][0] if child.pid in usage.process_cpu else kind_of(child)
                usage.process_cpu[child.pid] = (kind, times.user + times.system)
                totals[kind] = totals.get(kind, 0.0) + rss
            for kind, mib in totals.items():
                usage.peaks[kind] = max(usage.peaks.get(kind, 0.0), mib)
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    before = psutil.Process().cpu_times()
    start = time.perf_counter()
    sampler.start()
    try:
        yield usage
    finally:
        stop.set()
        sampler.join()
        usage.wall = time.perf_counter() - start
        after = psutil.Process().cpu_times()
        # The pulumi command is our child; it waits for its language host and plugins, so their CPU is in its
        # children's times and thus in ours once it has ended. The stand-in, also our child, is not waited for.
        usage.cpu = after.children_user + after.children_system - before.children_user - before.children_system


def stack_config(standin: StandIn, *, orgs: int, per_org: int, accounts: int, verify: bool) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    config: dict[str, Any] = {
        "zitadel:domain": "127.0.0.1",
        "zitadel:insecure": "true",
        "zitadel:port": str(standin.port),
        "zitadel:jwtProfileFile": str(standin.admin_key_path),
        "zitadel-bootstrap:verification": {"enabled": verify, "refreshSettleSeconds": 1},
    }
    if orgs:
        config["zitadel-bootstrap:organizations"] = [
            {"name": f"t{index}", "displayName": f"tenant {run} {index}"} for index in range(orgs)
        ]
        entries = [
            {"name": f"t{org}-sa{index}", "org": f"t{org}", "userName": f"sa{index}"}
            for org in range(orgs)
            for index in range(per_org)
        ]
    else:
        entries = [
            {"name": f"sa{index}", "orgId": standin.default_org_id, "userName": f"scale-{run}-{index}"}
            for index in range(accounts)
        ]
    config["zitadel-bootstrap:serviceAccounts"] = entries
    return config


def run_stack(
    standin: StandIn,
    label: str,
    config: dict[str, Any],
    steps: list[tuple[str, Callable[[PulumiCli], object]]],
    extra_env: dict[str, str] | None = None,
) -> dict[str, Usage]:
    figures: dict[str, Usage] = {}
    with tempfile.TemporaryDirectory(prefix="zb-scale-") as directory:
        cli = PulumiCli(
            make_project_copy(Path(directory)), f"scale{uuid.uuid4().hex[:6]}", PASSPHRASE, extra_env=extra_env or {}
        )
        cli.init()
        cli.write_config(config)
        for name, step in steps:
            with measured() as usage:
                step(cli)
            figures[name] = usage
            parts = ", ".join(
                f"{kind} {mib:.0f} MiB / {usage.cpu_by_kind().get(kind, 0.0):.1f} s"
                for kind, mib in sorted(usage.peaks.items())
                if kind not in {"stand-in (not Pulumi)", "other"}
            )
            print(
                f"{label}: {name:<26} {usage.wall:7.1f} s wall, {usage.cpu:7.1f} s CPU; peak RSS / CPU: {parts}",
                flush=True,
            )
    return figures


def whole_program(standin: StandIn, orgs: int, per_org: int) -> None:
    print(f"\n== {orgs} organizations x {per_org} accounts, whole program ==", flush=True)
    run_stack(
        standin,
        "orgs",
        stack_config(standin, orgs=orgs, per_org=per_org, accounts=0, verify=True),
        [
            ("up", lambda cli: cli.up()),
            ("drift check", lambda cli: cli.drift_check()),
            (
                "drift check --parallel 4",
                lambda cli: cli.preview("--refresh", "--expect-no-changes", "--parallel", "4"),
            ),
            (
                "drift check --parallel 64",
                lambda cli: cli.preview("--refresh", "--expect-no-changes", "--parallel", "64"),
            ),
            ("destroy", lambda cli: cli.destroy()),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orgs", type=int, default=100, help="0 leaves the whole-program run out")
    parser.add_argument("--per-org", type=int, default=3)
    parser.add_argument("--accounts", type=int, default=100, help="accounts in one org for the on/off comparison")
    args = parser.parse_args()
    with StandIn() as standin:
        if args.orgs:
            whole_program(standin, args.orgs, args.per_org)
        print(f"\n== {args.accounts} accounts in one org, verification on and off ==", flush=True)
        on, off = on_and_off(standin, args.accounts, {})
        print_ratios(f"verification on / off, {args.accounts} accounts", on, off)
        # The engine's share: the local file backend rewrites the whole checkpoint after every step, so each extra
        # resource costs in proportion to the whole state. PULUMI_SKIP_CHECKPOINTS (experimental; it saves only the
        # final state, which a killed run would lose) takes that cost out, leaving the rest of the pipeline.
        print(f"\n== the same, with the engine's per-step checkpoints off ({SKIP_CHECKPOINTS}) ==", flush=True)
        on, off = on_and_off(standin, args.accounts, {SKIP_CHECKPOINTS: "true"})
        print_ratios(
            "verification on / off, per-step checkpoints off (the engine's checkpoint share left out)", on, off
        )


SKIP_CHECKPOINTS = "PULUMI_SKIP_CHECKPOINTS"


def on_and_off(standin: StandIn, accounts: int, extra_env: dict[str, str]) -> tuple[dict[str, Usage], dict[str, Usage]]:
    steps: list[tuple[str, Callable[[PulumiCli], object]]] = [
        ("up", lambda cli: cli.up()),
        ("drift check", lambda cli: cli.drift_check()),
        ("destroy", lambda cli: cli.destroy()),
    ]
    on, off = (
        run_stack(
            standin,
            f"verification {'on ' if verify else 'off'}",
            stack_config(standin, orgs=0, per_org=0, accounts=accounts, verify=verify),
            steps,
            extra_env,
        )
        for verify in (True, False)
    )
    return on, off


def print_ratios(title: str, on: dict[str, Usage], off: dict[str, Usage]) -> None:
    print(f"\n{title} (wall; target in brackets):")
    for name, target in TARGETS.items():
        ratio = on[name].wall / off[name].wall
        print(
            f"  {name:<12} {on[name].wall:6.1f} s / {off[name].wall:6.1f} s = {ratio:4.2f}x (target {target}x: "
            f"{'met' if ratio <= target else 'NOT met'}); CPU {on[name].cpu:6.1f} s / {off[name].cpu:6.1f} s"
        )
    for name in TARGETS:
        parts = ", ".join(
            f"{kind} {seconds:.1f} s / {off[name].cpu_by_kind().get(kind, 0.0):.1f} s"
            for kind, seconds in sorted(on[name].cpu_by_kind().items())
            if kind not in {"stand-in (not Pulumi)", "other"}
        )
        print(f"  {name:<12} CPU by part, on / off: {parts}")


if __name__ == "__main__":
    main()
