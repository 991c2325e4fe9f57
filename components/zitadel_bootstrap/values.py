"""Walking the plain values that inputs and the engine hand over: mappings and lists, nested."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def deep_any(value: Any, predicate: Callable[[Any], bool]) -> bool:
    """True if ``value``, or any value nested in its mappings and lists, satisfies ``predicate``."""
    if predicate(value):
        return True
    if isinstance(value, Mapping):
        return any(deep_any(item, predicate) for item in value.values())
    if isinstance(value, list | tuple):
        return any(deep_any(item, predicate) for item in value)
    return False
