"""When a machine key expires and when it is rotated: the arithmetic, pure, with the time passed in.

A key's policy comes from the stack config: a lifetime in days (rotated ``rotate_before_days`` before it ends),
a fixed expiration date (which only the config can move; inside its rotation window it is reported, not
rotated), or no expiry at all (ZITADEL's default, never rotated). ``plan`` decides, from the policy and the
schedule of the current key, whether the next `pulumi up` keeps the key or rotates it, and why.

Dates are ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, the one form the zitadel provider reads back unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DAY = timedelta(days=1)


def format_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(DATE_FORMAT)


def parse_date(text: str) -> datetime:
    return datetime.strptime(text, DATE_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True)
class KeyPolicy:
    """What the config asks of one account's key."""

    lifetime_days: int | None = None
    fixed_expiration: str | None = None
    rotate_before_days: int | None = None
    generation: int = 0

    def __post_init__(self) -> None:
        if self.lifetime_days is not None and self.fixed_expiration is not None:
            raise ValueError("a key has a lifetime or a fixed expiration, not both")
        if self.lifetime_days is not None and self.lifetime_days < 1:
            raise ValueError("the lifetime is at least one day")
        window = self.rotate_before_days
        if window is not None and (window < 0 or (self.lifetime_days is not None and window >= self.lifetime_days)):
            raise ValueError("the rotation window is shorter than the lifetime")
        if self.generation < 0:
            raise ValueError("the generation is not negative")


@dataclass(frozen=True)
class Schedule:
    """The current key's dates, and the policy they were made for."""

    issued_at: str
    expires_at: str | None
    """None: the key never expires (ZITADEL writes 9999-12-31T23:59:59Z)."""
    rotate_at: str | None
    """From this moment on the key is due for rotation; None when it never is."""
    policy: KeyPolicy

    def window_start(self) -> datetime | None:
        return parse_date(self.rotate_at) if self.rotate_at else None


@dataclass(frozen=True)
class Plan:
    schedule: Schedule
    rotate: bool
    """True when this schedule belongs to a new key: the old one is replaced (after the new one is verified)."""
    reason: str | None
    """Why the key is rotated, or why the current one needs attention; None when all is well."""


@dataclass(frozen=True)
class Status:
    days_left: int | None
    """Whole days until the key expires (negative once it has); None when it never expires."""
    due: bool
    """True inside the rotation window (or past expiry)."""


def _rotate_at(expires_at: datetime | None, policy: KeyPolicy) -> str | None:
    if expires_at is None or policy.rotate_before_days is None:
        return None
    return format_date(expires_at - policy.rotate_before_days * DAY)


def new_schedule(policy: KeyPolicy, now: datetime) -> Schedule:
    """The schedule of a key minted at ``now``."""
    issued = now.astimezone(UTC).replace(microsecond=0)
    expires: datetime | None = None
    if policy.lifetime_days is not None:
        expires = issued + policy.lifetime_days * DAY
    elif policy.fixed_expiration is not None:
        expires = parse_date(policy.fixed_expiration)
    return Schedule(
        issued_at=format_date(issued),
        expires_at=format_date(expires) if expires else None,
        rotate_at=_rotate_at(expires, policy),
        policy=policy,
    )


def status(schedule: Schedule, now: datetime) -> Status:
    if schedule.expires_at is None:
        return Status(days_left=None, due=False)
    left = (parse_date(schedule.expires_at) - now).total_seconds() / DAY.total_seconds()
    window = schedule.window_start()
    return Status(days_left=math.floor(left), due=window is not None and now >= window)


def plan(policy: KeyPolicy, current: Schedule | None, now: datetime) -> Plan:
    """Keep the current key, or rotate it: on a raised generation, a changed expiry policy, or inside the window."""
    if current is None:
        return Plan(new_schedule(policy, now), rotate=False, reason=None)
    previous = current.policy
    if policy.generation != previous.generation:
        return Plan(new_schedule(policy, now), rotate=True, reason=f"keyGeneration changed to {policy.generation}")
    if (policy.lifetime_days, policy.fixed_expiration) != (previous.lifetime_days, previous.fixed_expiration):
        return Plan(new_schedule(policy, now), rotate=True, reason="the key's expiry changed in the config")
    expires = parse_date(current.expires_at) if current.expires_at else None
    kept = replace(current, rotate_at=_rotate_at(expires, policy), policy=policy)
    if not status(kept, now).due or expires is None:
        return Plan(kept, rotate=False, reason=None)
    window = f"inside its {policy.rotate_before_days}-day rotation window"
    if policy.lifetime_days is not None:
        return Plan(new_schedule(policy, now), rotate=True, reason=f"the key expires {current.expires_at}, {window}")
    return Plan(
        kept,
        rotate=False,
        reason=(
            f"the key expires {current.expires_at} ({window}), and keyExpiration fixes that date: "
            "set a later keyExpiration, or use keyLifetimeDays to rotate it automatically"
        ),
    )
