"""The one clock of the program and of the verification provider.

Everything that asks "what time is it" (key expiry and rotation, a verification's deadlines and retries) reads
``current()``. Tests swap it with ``use()``. The end-to-end tests, which run the real program and provider in
processes of their own, shift wall time with an environment variable instead:

    ZB_TEST_TIME_SHIFT_DAYS=80 pulumi preview --refresh    # test-only: the program lives 80 days ahead

The shift is for tests only (days must pass for key rotation); never set it in a pipeline. ZITADEL (and the
stand-in) keep real time, so a shifted program sees keys closer to their expiry than ZITADEL does, never the
other way round: a negative shift is refused.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

SHIFT_VARIABLE = "ZB_TEST_TIME_SHIFT_DAYS"
DAY_SECONDS = 86400.0


class ClockError(ValueError):
    """The test-only time shift is unusable; the message names the variable."""


@dataclass(frozen=True)
class Clock:
    now: Callable[[], float]
    """Wall time, seconds since the epoch (expiry dates, assertion iat/exp)."""
    monotonic: Callable[[], float]
    """Time for budgets and deadlines."""
    sleep: Callable[[float], None]

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)


def shift_seconds() -> float:
    """The test-only shift of wall time, from ``ZB_TEST_TIME_SHIFT_DAYS`` (0 when unset)."""
    raw = os.environ.get(SHIFT_VARIABLE, "").strip()
    if not raw:
        return 0.0
    try:
        days = float(raw)
    except ValueError as error:
        raise ClockError(f"{SHIFT_VARIABLE}={raw!r} is not a number of days (test-only; unset it)") from error
    if not math.isfinite(days):
        raise ClockError(f"{SHIFT_VARIABLE}={raw!r} is not a finite number of days (test-only; unset it)")
    if days < 0:
        # Behind real time, the program would take keys for further from their expiry than ZITADEL does.
        raise ClockError(
            f"{SHIFT_VARIABLE}={raw!r} must not be negative: the shift moves the program's time ahead only "
            "(test-only; unset it, or give 0 or more days)"
        )
    return days * DAY_SECONDS


def _shifted_now() -> float:
    return time.time() + shift_seconds()


def system() -> Clock:
    # The functions are looked up when called, so a patched time.sleep or time.monotonic is honoured.
    return Clock(now=_shifted_now, monotonic=lambda: time.monotonic(), sleep=lambda seconds: time.sleep(seconds))


_override: list[Clock] = []


def current() -> Clock:
    """The clock in use: the innermost ``use()``, else the system clock (with the test-only shift)."""
    return _override[-1] if _override else system()


@contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Run a block with ``clock`` as the clock of everything that reads ``current()``."""
    _override.append(clock)
    try:
        yield clock
    finally:
        _override.remove(clock)
