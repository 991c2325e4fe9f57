"""When to try again: the retry policy of one verification, pure, with the clock and the sleep injected.

Two budgets (``RetryPolicy``): the deadline bounds the whole verification; the settle time bounds how long a
consistency-class answer is retried, counted from the first such answer of a step. Transient answers are
retried until the deadline, honouring Retry-After; fatal ones are not retried. Backoff is exponential with full
jitter, so many accounts bootstrapped at once do not retry in step. A retry that could not start before the
deadline is not slept into: the caller gets the real failure at once. ``Steadiness`` times how long the same
answer keeps coming back (a steady refusal, ``RetryPolicy.steady_refusal_seconds``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .classify import StepError
from .model import RetryPolicy

T = TypeVar("T")

MIN_RETRY_DELAY_SECONDS = 0.05


class RetriesExhaustedError(Exception):
    """Retrying stopped; ``failure`` is the last answer, ``waited_for`` a Retry-After beyond the budget."""

    def __init__(self, failure: StepError, failures: int, waited_for: float | None = None) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.failures = failures
        self.waited_for = waited_for


@dataclass
class Steadiness:
    """How long the same answer has kept coming back; a different answer starts the count again."""

    answer: object = None
    since: float | None = None

    def seen(self, answer: object, now: float) -> float:
        """Record ``answer`` seen at ``now``; the seconds it has been the answer, unchanged."""
        if self.since is None or answer != self.answer:
            self.answer, self.since = answer, now
        return max(0.0, now - self.since)

    def forget(self) -> None:
        self.answer, self.since = None, None


@dataclass
class Budget:
    """The time budgets of one verification, started when it is made."""

    policy: RetryPolicy
    monotonic: Callable[[], float]
    sleep: Callable[[float], None]
    rng: random.Random = field(default_factory=random.Random)
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.monotonic()

    @property
    def deadline_at(self) -> float:
        return self.started + self.policy.deadline_seconds

    def elapsed(self) -> float:
        return max(0.0, self.monotonic() - self.started)

    def remaining(self) -> float:
        return self.deadline_at - self.monotonic()

    def next_delay(self, failure: StepError, failures: int, budget_end: float, now: float) -> float:
        """Seconds to wait before attempt ``failures + 1``; RetriesExhaustedError if no attempt fits the budget."""
        left = budget_end - now
        if failure.retry_after is not None:
            if failure.retry_after >= left:
                raise RetriesExhaustedError(failure, failures, waited_for=failure.retry_after)
            delay = max(failure.retry_after, MIN_RETRY_DELAY_SECONDS)
        else:
            cap = min(self.policy.max_backoff, self.policy.initial_backoff * 2 ** min(failures - 1, 30))
            delay = min(max(self.rng.uniform(0, cap), MIN_RETRY_DELAY_SECONDS), left)
        if left <= 0 or now + delay >= self.deadline_at:
            raise RetriesExhaustedError(failure, failures)
        return delay

    def run(self, operation: Callable[[], T], on_retry: Callable[[StepError, int, float], None] | None = None) -> T:
        """Run ``operation`` until it returns, retrying StepErrors by their class; RetriesExhaustedError at the end."""
        settle_until: float | None = None
        failures = 0
        while True:
            try:
                return operation()
            except StepError as failure:
                failures += 1
                now = self.monotonic()
                if failure.retry_class == "fatal":
                    raise RetriesExhaustedError(failure, failures) from failure
                budget_end = self.deadline_at
                if failure.retry_class == "consistency":
                    if settle_until is None:
                        settle_until = now + self.policy.settle_seconds
                    budget_end = min(settle_until, budget_end)
                try:
                    delay = self.next_delay(failure, failures, budget_end, now)
                except RetriesExhaustedError as exhausted:
                    raise exhausted from failure
                if on_retry is not None:
                    on_retry(failure, failures, delay)
                self.sleep(delay)
