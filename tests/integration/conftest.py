"""Integration layer: every test here talks to one real stand-in process (standin/), built if needed.

A stand-in that cannot be built or started errors the tests (StandInError), it never skips them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.standin import StandIn


@pytest.fixture(scope="session")
def standin() -> Iterator[StandIn]:
    with StandIn() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_standin_settings(standin: StandIn) -> Iterator[None]:
    # Faults, lag and the error style are per test; objects a test creates stay (ids never collide).
    standin.reset()
    yield
    standin.reset()
