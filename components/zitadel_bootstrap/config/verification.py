"""How the program proves each account: the ``zitadel-bootstrap:verification`` object."""

from __future__ import annotations

from typing import Any

from zitadel_bootstrap import limits

from .errors import Problems
from .fields import as_bool, as_seconds, show, unknown_keys
from .keys import project_key
from .model import VerificationSettings

VERIFICATION_KEYS = frozenset({"enabled", "deadlineSeconds", "refreshSettleSeconds"})


def parse_verification(value: Any, problems: Problems, key: str = project_key("verification")) -> VerificationSettings:
    """``key``: the config key problems name (the ServiceAccount component names its own inputs)."""
    if value is None:
        return VerificationSettings()
    if not isinstance(value, dict):
        problems.add(key, f"must be an object such as {{deadlineSeconds: 60}}, got {show(value)}")
        return VerificationSettings()
    unknown_keys(value, key, VERIFICATION_KEYS, problems)

    def seconds(name: str, default: float, maximum: float, *, allow_zero: bool) -> float:
        return as_seconds(
            value.get(name), f"{key}.{name}", problems, default=default, maximum=maximum, allow_zero=allow_zero
        )

    return VerificationSettings(
        enabled=as_bool(value.get("enabled"), f"{key}.enabled", problems, default=True),
        deadline_seconds=seconds(
            "deadlineSeconds", limits.DEFAULT_DEADLINE_SECONDS, limits.MAX_DEADLINE_SECONDS, allow_zero=False
        ),
        refresh_settle_seconds=seconds(
            "refreshSettleSeconds",
            limits.DEFAULT_REFRESH_SETTLE_SECONDS,
            limits.MAX_REFRESH_SETTLE_SECONDS,
            allow_zero=True,
        ),
    )
