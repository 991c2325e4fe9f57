"""The key rotation arithmetic with the time passed in: window edges, expired keys, lifetime vs rotateBeforeDays,
fixed expiries, manual rotation and config changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from zitadel_bootstrap.key_schedule.plan import KeyPolicy, format_date, new_schedule, plan, status

T0 = datetime(2027, 1, 1, 12, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)
NINETY_THIRTY = KeyPolicy(lifetime_days=90, rotate_before_days=30)


def test_a_new_key_expires_after_its_lifetime_and_is_due_its_window_before() -> None:
    schedule = new_schedule(NINETY_THIRTY, T0)
    assert (schedule.issued_at, schedule.expires_at, schedule.rotate_at) == (
        "2027-01-01T12:00:00Z",
        "2027-04-01T12:00:00Z",
        "2027-03-02T12:00:00Z",
    )


@pytest.mark.parametrize(
    ("after", "due", "days_left"),
    [
        (timedelta(0), False, 90),
        (60 * DAY - timedelta(seconds=1), False, 30),
        (60 * DAY, True, 30),  # the window opens exactly rotateBeforeDays before expiry
        (89 * DAY, True, 1),
        (90 * DAY, True, 0),
        (91 * DAY, True, -1),  # expired: still due, and days_left says by how much
    ],
)
def test_status_at_the_window_edges(after: timedelta, due: bool, days_left: int) -> None:
    current = status(new_schedule(NINETY_THIRTY, T0), T0 + after)
    assert (current.due, current.days_left) == (due, days_left)


def test_nothing_rotates_before_the_window() -> None:
    current = new_schedule(NINETY_THIRTY, T0)
    decided = plan(NINETY_THIRTY, current, T0 + 59 * DAY)
    assert (decided.rotate, decided.reason, decided.schedule) == (False, None, current)


def test_inside_the_window_a_new_key_is_planned_from_now() -> None:
    current = new_schedule(NINETY_THIRTY, T0)
    now = T0 + 61 * DAY
    decided = plan(NINETY_THIRTY, current, now)
    assert decided.rotate is True
    assert decided.schedule.issued_at == format_date(now)
    assert decided.schedule.expires_at == format_date(now + 90 * DAY)
    assert decided.reason == "the key expires 2027-04-01T12:00:00Z, inside its 30-day rotation window"


def test_an_expired_key_is_rotated_too() -> None:
    decided = plan(NINETY_THIRTY, new_schedule(NINETY_THIRTY, T0), T0 + 200 * DAY)
    assert decided.rotate is True
    assert decided.schedule.expires_at == format_date(T0 + 290 * DAY)


def test_a_raised_generation_rotates_at_once() -> None:
    current = new_schedule(NINETY_THIRTY, T0)
    decided = plan(KeyPolicy(lifetime_days=90, rotate_before_days=30, generation=1), current, T0 + DAY)
    assert decided.rotate is True
    assert decided.reason == "keyGeneration changed to 1"


def test_a_changed_window_moves_the_rotation_date_without_a_new_key() -> None:
    current = new_schedule(NINETY_THIRTY, T0)
    decided = plan(KeyPolicy(lifetime_days=90, rotate_before_days=10), current, T0 + 61 * DAY)
    assert decided.rotate is False
    assert decided.schedule.expires_at == current.expires_at
    assert decided.schedule.rotate_at == "2027-03-22T12:00:00Z"


def test_a_changed_lifetime_mints_a_key_with_the_new_lifetime() -> None:
    current = new_schedule(NINETY_THIRTY, T0)
    decided = plan(KeyPolicy(lifetime_days=60, rotate_before_days=20), current, T0 + DAY)
    assert decided.rotate is True
    assert decided.schedule.expires_at == format_date(T0 + DAY + 60 * DAY)


def test_a_fixed_expiry_inside_its_window_is_reported_not_rotated() -> None:
    fixed = KeyPolicy(fixed_expiration="2027-02-01T00:00:00Z", rotate_before_days=30)
    current = new_schedule(fixed, T0)
    assert plan(fixed, current, T0).reason is None
    decided = plan(fixed, current, T0 + 5 * DAY)
    assert decided.rotate is False
    assert decided.schedule == current
    assert decided.reason is not None
    assert "2027-02-01T00:00:00Z" in decided.reason
    assert "keyExpiration" in decided.reason


def test_a_key_without_expiry_never_rotates() -> None:
    never = KeyPolicy()
    current = new_schedule(never, T0)
    assert (current.expires_at, current.rotate_at) == (None, None)
    assert plan(never, current, T0 + 10000 * DAY).rotate is False
    assert status(current, T0 + 10000 * DAY).days_left is None


@pytest.mark.parametrize(
    "policy",
    [
        {"lifetime_days": 30, "rotate_before_days": 30},
        {"lifetime_days": 30, "rotate_before_days": 31},
        {"lifetime_days": 0},
        {"lifetime_days": 10, "fixed_expiration": "2027-02-01T00:00:00Z"},
        {"generation": -1},
    ],
)
def test_impossible_policies_are_refused(policy: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        KeyPolicy(**policy)  # type: ignore[arg-type]


def test_a_window_of_zero_days_rotates_at_expiry() -> None:
    short = KeyPolicy(lifetime_days=2, rotate_before_days=0)
    current = new_schedule(short, T0)
    assert plan(short, current, T0 + 2 * DAY - timedelta(seconds=1)).rotate is False
    assert plan(short, current, T0 + 2 * DAY).rotate is True
