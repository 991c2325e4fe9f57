"""Fixtures of the e2e layer: the plain `pulumi` CLI (from tools/engine.sh's environment) and fresh stand-ins.

Nothing here skips: a missing engine, plugin or stand-in fails the tests with the reason and the command that
fixes it. The layer may run in several pytest-xdist workers (one test module each, ``--dist loadfile``): every
worker writes what it ran to a report file, and the summary at the end reads them all.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from zitadel_bootstrap.cli.engine import ENGINE_HINT, pulumi_binary

from tests.e2e.reliability import SCENARIOS, Scenario, summary_lines
from tests.e2e.stacks import ALL_CLIS, serving
from tools.seaweedfs import SeaweedFS, SeaweedFSError
from tools.standin import StandIn, StandInError

_LAYER_START: list[float] = []


@pytest.fixture(scope="session", autouse=True)
def engine() -> str:
    """The pulumi CLI with the zitadel plugin installed; fails (never skips) with the command that provides it."""
    try:
        binary = pulumi_binary()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    plugins = subprocess.run([binary, "plugin", "ls"], capture_output=True, text=True, check=False, timeout=60)
    if plugins.returncode != 0 or not any(
        line.split()[:2] == ["zitadel", "resource"] for line in plugins.stdout.splitlines()
    ):
        pytest.fail(f"the zitadel resource plugin is not installed for {binary}: {ENGINE_HINT}", pytrace=False)
    return binary


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    # Lets fixtures see whether the test itself failed (item.rep_call), to repair a shared stack after it.
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    """A fresh stand-in for each test module (built by standin/build.sh if needed)."""
    with serving(StandIn(), StandInError, "the ZITADEL stand-in") as server:
        yield server


@pytest.fixture(scope="module")
def tls_standin() -> Iterator[StandIn]:
    """A fresh stand-in serving https and gRPC over TLS with a CA of its own, for each test module that asks."""
    with serving(StandIn(tls=True), StandInError, "the ZITADEL stand-in over TLS") as server:
        yield server


@pytest.fixture(scope="module")
def seaweedfs() -> Iterator[SeaweedFS]:
    """A fresh SeaweedFS for the module (its binary built by tools/build-seaweedfs.sh if needed, ~9 min cold)."""
    with serving(SeaweedFS(), SeaweedFSError, "SeaweedFS") as store:
        yield store


@pytest.fixture
def clean_faults(standin: StandIn) -> Iterator[StandIn]:
    """Leave no fault or lag behind for the next test, whatever happens in this one."""
    yield standin
    standin.reset()


def _report_dir(config: pytest.Config) -> Path:
    """Where workers leave their reports: made by the controller, handed to each worker by xdist."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return Path(workerinput["zb_report_dir"])
    return Path(config.stash[_REPORT_DIR])


_REPORT_DIR = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is None:
        config.stash[_REPORT_DIR] = tempfile.mkdtemp(prefix="zb-e2e-report-")
        _LAYER_START.append(time.monotonic())


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: give each worker the controller's report folder."""
    node.workerinput["zb_report_dir"] = node.config.stash[_REPORT_DIR]


def pytest_sessionfinish(session: pytest.Session) -> None:
    runs = [
        {"command": run.args[0] if run.args[0] != "stack" else " ".join(run.args[:2]), "seconds": run.seconds}
        for cli in ALL_CLIS
        for run in cli.runs
    ]
    scenarios = [dataclasses.asdict(item) for item in SCENARIOS]
    worker = getattr(session.config, "workerinput", {}).get("workerid", "main")
    report = {"runs": runs, "scenarios": scenarios}
    (_report_dir(session.config) / f"{worker}.json").write_text(json.dumps(report))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reports = [json.loads(path.read_text()) for path in sorted(_report_dir(terminalreporter.config).glob("*.json"))]
    scenarios = [
        Scenario(**{k: v for k, v in item.items() if k != "_started"}) for r in reports for item in r["scenarios"]
    ]
    reliability = summary_lines(scenarios)
    if reliability:
        terminalreporter.section("e2e: reliability (faults and interruptions)")
        for line in reliability:
            terminalreporter.write_line(line)
    runs = [run for report in reports for run in report["runs"]]
    if not runs:
        return
    terminalreporter.section("e2e: pulumi commands (wall clock)")
    by_command: dict[str, list[float]] = {}
    for run in runs:
        by_command.setdefault(run["command"], []).append(run["seconds"])
    for command, seconds in sorted(by_command.items()):
        terminalreporter.write_line(
            f"{command:<16} n={len(seconds):<3} median={statistics.median(seconds):6.2f} s  max={max(seconds):6.2f} s"
        )
    total = sum(run["seconds"] for run in runs)
    terminalreporter.write_line(f"{len(runs)} pulumi commands, {total:.1f} s in total, in {len(reports)} process(es)")
    if _LAYER_START:
        terminalreporter.write_line(f"e2e layer wall time: {time.monotonic() - _LAYER_START[0]:.1f} s")
