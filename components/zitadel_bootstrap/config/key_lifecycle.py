"""How long an account's key lives and when it is rotated: keyLifetimeDays or keyExpiration, rotateBeforeDays,
keyGeneration.

Only the policy is read here. The dates of a lifetime come from the program's key-rotation resource and its
clock; ``now`` serves only to refuse a fixed keyExpiration that is already past.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zitadel_bootstrap import limits

from .errors import Problems
from .fields import as_int, as_moment, format_expiration

#: The keys of a service account that this module reads.
KEY_LIFECYCLE_KEYS = frozenset({"keyLifetimeDays", "keyExpiration", "rotateBeforeDays", "keyGeneration"})


@dataclass(frozen=True)
class KeyLifecycle:
    lifetime_days: int | None = None
    expiration: str | None = None
    rotate_before_days: int | None = None
    generation: int = limits.DEFAULT_KEY_GENERATION


def default_rotate_before_days(lifetime_days: int | None, has_expiration: bool) -> int | None:
    """min(30, lifetime // 3) for a lifetime (0 under three days: rotated only at expiry), 30 for a fixed date,
    None for a key that never expires."""
    if lifetime_days is not None:
        return min(limits.DEFAULT_ROTATE_BEFORE_DAYS, lifetime_days // limits.ROTATE_BEFORE_LIFETIME_DIVISOR)
    return limits.DEFAULT_ROTATE_BEFORE_DAYS if has_expiration else None


def parse_key_lifecycle(entry: Mapping[str, Any], key: str, now: datetime, problems: Problems) -> KeyLifecycle:
    lifetime_raw, expiration_raw = entry.get("keyLifetimeDays"), entry.get("keyExpiration")
    lifetime = None
    if lifetime_raw is not None:
        lifetime = as_int(
            lifetime_raw,
            f"{key}.keyLifetimeDays",
            problems,
            minimum=limits.MIN_KEY_LIFETIME_DAYS,
            maximum=limits.MAX_KEY_LIFETIME_DAYS,
            unit=" days",
        )
    expiration = None if expiration_raw is None else _expiration(expiration_raw, f"{key}.keyExpiration", now, problems)
    if lifetime_raw is not None and expiration_raw is not None:
        problems.add(f"{key}.keyExpiration", "set either keyExpiration or keyLifetimeDays, not both")
    return KeyLifecycle(
        lifetime_days=lifetime,
        expiration=expiration,
        rotate_before_days=_rotate_before_days(entry, key, lifetime, expiration, problems),
        generation=_generation(entry.get("keyGeneration"), f"{key}.keyGeneration", problems),
    )


def _expiration(value: Any, key: str, now: datetime, problems: Problems) -> str | None:
    example = "2027-06-30T00:00:00Z"
    moment = as_moment(value, key, problems, example=example)
    if moment is None:
        return None
    if moment <= now:
        problems.add(
            key,
            f"is in the past ({format_expiration(moment)}); ZITADEL refuses such keys "
            "(Errors.AuthNKey.ExpireBeforeNow). Choose a future date or use keyLifetimeDays",
        )
        return None
    return format_expiration(moment)


def _rotate_before_days(
    entry: Mapping[str, Any], key: str, lifetime: int | None, expiration: str | None, problems: Problems
) -> int | None:
    raw = entry.get("rotateBeforeDays")
    has_lifetime, has_expiration = entry.get("keyLifetimeDays") is not None, entry.get("keyExpiration") is not None
    if raw is None:
        return default_rotate_before_days(lifetime, expiration is not None)
    key = f"{key}.rotateBeforeDays"
    if not has_lifetime and not has_expiration:
        problems.add(
            key,
            "needs keyLifetimeDays or keyExpiration: a key without expiry never rotates; set one of them, "
            "or remove rotateBeforeDays",
        )
        return None
    days = as_int(
        raw,
        key,
        problems,
        minimum=limits.MIN_ROTATE_BEFORE_DAYS,
        maximum=limits.MAX_ROTATE_BEFORE_DAYS,
        unit=" days",
    )
    if days is not None and lifetime is not None and days >= lifetime:
        problems.add(
            key,
            f"must be smaller than keyLifetimeDays: rotateBeforeDays {days} with keyLifetimeDays {lifetime} would "
            "replace the key as soon as it is created; lower rotateBeforeDays, raise keyLifetimeDays, or omit "
            f"rotateBeforeDays for the default min({limits.DEFAULT_ROTATE_BEFORE_DAYS}, "
            f"keyLifetimeDays / {limits.ROTATE_BEFORE_LIFETIME_DIVISOR})",
        )
        return None
    return days


def _generation(value: Any, key: str, problems: Problems) -> int:
    if value is None:
        return limits.DEFAULT_KEY_GENERATION
    generation = as_int(
        value,
        key,
        problems,
        minimum=limits.MIN_KEY_GENERATION,
        maximum=limits.MAX_KEY_GENERATION,
        hint="raise it by one to rotate the key at the next `pulumi up`",
    )
    return limits.DEFAULT_KEY_GENERATION if generation is None else generation
