"""Primitive values of the config: booleans, whole numbers, seconds, ids, logical names, dates, known keys.

Each parser takes the raw value the engine handed over (a string from the CLI, or any JSON value from an
object), records a problem naming ``key`` when it is unusable, and returns the value or a fallback. None of
them raises: a config of any shape gives problems, never an exception.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Set
from datetime import UTC, datetime
from typing import Any

from zitadel_bootstrap import limits
from zitadel_bootstrap.verification.redaction import shown

from .errors import Problems

#: Logical names (accounts, organizations): they name Pulumi resources and stack outputs.
NAME = re.compile(rf"[a-z][a-z0-9-]{{0,{limits.NAME_MAX_LENGTH - 1}}}")
ID = re.compile(rf"[0-9]{{1,{limits.ID_MAX_DIGITS}}}")
NAME_RULE = (
    "a logical name of lowercase letters, digits and '-', starting with a letter, at most "
    f"{limits.NAME_MAX_LENGTH} characters (it names the Pulumi resources)"
)
#: A quoted value longer than this is cut: a pasted file must not flood the message.
#: Digit strings longer than this are out of every range here (and beyond Python's int conversion limit).
_DIGITS_MAX = 30


def show(value: Any) -> str:
    """A refused value for a message: redacted (a key pasted into the wrong field stays out) and cut short."""
    return shown(value)


def unknown_keys(entry: Mapping[Any, Any], key: str, known: Set[str], problems: Problems) -> None:
    """One problem per key of ``entry`` that is not in ``known``, listing the known ones."""
    for unknown in sorted(set(entry) - set(known), key=str):
        problems.add(f"{key}.{unknown}", f"is not a known key; known keys are {', '.join(sorted(known))}")


def as_bool(value: Any, key: str, problems: Problems, *, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    problems.add(key, f"must be true or false, got {show(value)}")
    return default


def as_int(
    value: Any, key: str, problems: Problems, *, minimum: int, maximum: int, unit: str = "", hint: str = ""
) -> int | None:
    """A whole number from ``minimum`` to ``maximum``, given as a number or as digits; None when refused."""
    suffix = f"; {hint}" if hint else ""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        digits = value.strip()
        number = int(digits) if len(digits) <= _DIGITS_MAX else maximum + 1
    else:
        problems.add(key, f"must be a whole number, got {show(value)}{suffix}")
        return None
    if not minimum <= number <= maximum:
        problems.add(key, f"must be between {minimum} and {maximum}{unit}, got {show(value)}{suffix}")
        return None
    return number


def as_seconds(value: Any, key: str, problems: Problems, *, default: float, maximum: float, allow_zero: bool) -> float:
    """A number of seconds above 0 (or from 0, with ``allow_zero``) and at most ``maximum``."""
    if value is None:
        return default
    number: float | None = None
    try:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            number = float(value)
    except (ValueError, OverflowError):  # not a number, or an integer beyond float range
        number = None
    in_range = number is not None and math.isfinite(number) and number <= maximum
    if in_range and number is not None and (number >= 0 if allow_zero else number > 0):
        return number + 0.0  # -0.0 -> 0.0
    bounds = f"from 0 to {maximum:g}" if allow_zero else f"greater than 0 and at most {maximum:g}"
    problems.add(key, f"must be a number of seconds {bounds}, got {show(value)}")
    return default


def as_id(value: Any, key: str, what: str, problems: Problems, *, required: bool = True) -> str:
    """A numeric ZITADEL id (as digits or a number); "" when absent or refused."""
    if value is None or value == "":
        if required:
            problems.add(key, f"is required: the numeric {what} id (find it in the ZITADEL console)")
        return ""
    text = value.strip() if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**limits.ID_MAX_DIGITS:
        text = str(value)
    if text is None or not ID.fullmatch(text):
        problems.add(key, f"must be a numeric ZITADEL {what} id such as 259254409320316419, got {show(value)}")
        return ""
    return text


def as_name(value: Any, key: str, problems: Problems) -> str:
    """A logical name; "" when refused."""
    if isinstance(value, str) and NAME.fullmatch(value):
        return value
    problems.add(key, f"must be {NAME_RULE}, got {show(value)}")
    return ""


def as_moment(value: Any, key: str, problems: Problems, *, example: str) -> datetime | None:
    """An RFC 3339 date-time with a zone, within ZITADEL's dates; None when refused."""
    # YAML (a stack file read by tools) turns an unquoted date-time into a datetime; the engine gives text.
    text = str(value).strip() if isinstance(value, str | datetime) else None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")) if text else None
    except ValueError:
        parsed = None
    if text is None or parsed is None:
        problems.add(key, f"is not an RFC 3339 date-time, got {show(value)}; write it like {example}")
        return None
    if parsed.tzinfo is None:
        problems.add(key, f"has no time zone, got {show(text)}; add 'Z' for UTC, e.g. {example}")
        return None
    try:
        parsed.astimezone(UTC)
    except OverflowError:  # its UTC form leaves years 1-9999
        problems.add(key, f"is after {limits.NO_EXPIRATION}, the latest date ZITADEL accepts, got {show(text)}")
        return None
    return parsed


def format_expiration(moment: datetime) -> str:
    """The one form the provider reads back unchanged: ``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
