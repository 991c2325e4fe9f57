"""The reliability summary of the e2e layer: each fault or interruption scenario, how it ended, how long it took
and what was found in ZITADEL afterwards. Scenarios record themselves; conftest.py prints one screen at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Scenario:
    name: str
    outcome: str = "did not finish"
    """How it ended, e.g. "converged on the next up", "failed clearly; recover + up converged"."""
    found: str = ""
    """What ZITADEL (the stand-in) held afterwards, e.g. "3 users, 3 keys, 3 members; drift check 0"."""
    seconds: float = 0.0
    _started: float = field(default_factory=time.monotonic, repr=False)


SCENARIOS: list[Scenario] = []


@contextmanager
def scenario(name: str) -> Iterator[Scenario]:
    """Record a scenario; set ``outcome`` and ``found`` on the yielded object before the block ends."""
    current = Scenario(name)
    SCENARIOS.append(current)
    try:
        yield current
    except BaseException:
        if current.outcome == "did not finish":
            current.outcome = "FAILED (see the test's error)"
        raise
    finally:
        current.seconds = time.monotonic() - current._started


def summary_lines(scenarios: list[Scenario]) -> list[str]:
    if not scenarios:
        return []
    width = max(len(item.name) for item in scenarios)
    lines = [f"{'scenario':<{width}}  {'seconds':>7}  outcome / found in ZITADEL afterwards"]
    for item in scenarios:
        lines.append(f"{item.name:<{width}}  {item.seconds:7.1f}  {item.outcome}")
        if item.found:
            lines.append(f"{'':<{width}}  {'':>7}  {item.found}")
    return lines
