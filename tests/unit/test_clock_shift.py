"""The test-only time shift (``ZB_TEST_TIME_SHIFT_DAYS``) moves the program's wall time ahead only: a negative shift
would let the program take keys for further from their expiry than ZITADEL does, so it is refused, naming the
variable and the way out."""

from __future__ import annotations

import pytest
from zitadel_bootstrap import clock


@pytest.mark.parametrize("raw", ["-1", "-0.5", " -80 ", "-inf"])
def test_a_negative_shift_is_refused(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.SHIFT_VARIABLE, raw)
    with pytest.raises(clock.ClockError) as refused:
        clock.shift_seconds()
    message = str(refused.value)
    assert clock.SHIFT_VARIABLE in message
    assert "negative" in message or "finite" in message
    assert "unset it" in message


def test_a_negative_shift_fails_the_system_clock_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.SHIFT_VARIABLE, "-3")
    with pytest.raises(clock.ClockError, match="must not be negative"):
        clock.system().now()


@pytest.mark.parametrize(("raw", "days"), [("", 0.0), ("0", 0.0), ("-0", 0.0), ("80", 80.0), ("1.5", 1.5)])
def test_zero_and_positive_shifts_are_taken(raw: str, days: float, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.SHIFT_VARIABLE, raw)
    assert clock.shift_seconds() == days * clock.DAY_SECONDS
