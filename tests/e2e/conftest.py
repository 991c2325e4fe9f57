"""Fixtures of the e2e layer: the real engine (from tools/engine.sh's environment) and one stand-in per run.

Nothing here skips: a missing engine or stand-in fails the tests with the reason and the command that fixes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.harness import TIMINGS, pulumi_root, timing_report
from tools.standin import StandIn, StandInError

_LAYER_START: list[float] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in item.nodeid:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def engine_root() -> str:
    """The Pulumi CLI root; fails (never skips) with the command that provides it."""
    _LAYER_START.append(time.monotonic())
    try:
        return pulumi_root()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def standin() -> Iterator[StandIn]:
    """One stand-in for the whole layer (built by standin/build.sh if needed); every test has an org of its own."""
    try:
        server = StandIn().start()
    except StandInError as error:
        pytest.fail(f"the ZITADEL stand-in is not available: {error}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clean_faults(standin: StandIn) -> Iterator[StandIn]:
    """Leave no fault or lag behind for the next test, whatever happens in this one."""
    yield standin
    standin.clear_faults()
    standin.set_lag(keys_ms=0, memberships_ms=0)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = timing_report()
    if not lines:
        return
    terminalreporter.section("e2e engine timings (wall clock)")
    for line in lines:
        terminalreporter.write_line(line)
    if _LAYER_START:
        terminalreporter.write_line(f"e2e layer wall time: {time.monotonic() - _LAYER_START[0]:.1f} s")
    TIMINGS.clear()
