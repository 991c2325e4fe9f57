"""The retry policy alone, with its clock and sleep injected: what is retried, for how long, and when it stops."""

from __future__ import annotations

import random

import pytest
from zitadel_bootstrap.verification.classify import RetryClass, StepError
from zitadel_bootstrap.verification.model import RetryPolicy
from zitadel_bootstrap.verification.retry import Budget, RetriesExhaustedError

from .helpers import FakeTime


def budget(fake: FakeTime, deadline: float = 10.0, settle: float = 3.0) -> Budget:
    policy = RetryPolicy(deadline_seconds=deadline, settle_seconds=settle)
    return Budget(policy, fake.monotonic, fake.sleep, random.Random(7))  # noqa: S311 - reproducible jitter


def failing(retry_class: RetryClass, retry_after: float | None = None) -> StepError:
    return StepError("some_kind", retry_class, "it failed", retry_after=retry_after)


def always(error: StepError) -> object:
    raise error


def test_fatal_answers_are_not_retried() -> None:
    fake = FakeTime()
    with pytest.raises(RetriesExhaustedError) as caught:
        budget(fake).run(lambda: always(failing("fatal")))
    assert caught.value.failures == 1
    assert fake.sleeps == []


def test_consistency_answers_are_retried_for_the_settle_time_only() -> None:
    fake = FakeTime()
    with pytest.raises(RetriesExhaustedError):
        budget(fake, deadline=10.0, settle=3.0).run(lambda: always(failing("consistency")))
    assert 2.0 <= sum(fake.sleeps) <= 3.0 + 1e-9


def test_transient_answers_are_retried_until_the_deadline_and_never_slept_into() -> None:
    fake = FakeTime()
    with pytest.raises(RetriesExhaustedError):
        budget(fake, deadline=10.0, settle=0.0).run(lambda: always(failing("transient")))
    assert 8.0 <= sum(fake.sleeps) < 10.0


def test_retry_after_is_honoured_and_one_beyond_the_budget_gives_up_at_once() -> None:
    fake = FakeTime()
    answers = iter([failing("transient", retry_after=2.0)])
    assert budget(fake).run(lambda: always(next(answers)) if fake.sleeps == [] else "done") == "done"
    assert fake.sleeps == [2.0]
    fake = FakeTime()
    with pytest.raises(RetriesExhaustedError) as caught:
        budget(fake, deadline=10.0).run(lambda: always(failing("transient", retry_after=30.0)))
    assert caught.value.waited_for == 30.0
    assert fake.sleeps == []


def test_a_success_after_retries_ends_them() -> None:
    fake = FakeTime()
    results = iter([failing("transient"), failing("transient"), failing("transient"), "ok"])

    def attempt() -> object:
        result = next(results)
        return always(result) if isinstance(result, StepError) else result

    assert budget(fake, deadline=60.0).run(attempt) == "ok"
    assert len(fake.sleeps) == 3
