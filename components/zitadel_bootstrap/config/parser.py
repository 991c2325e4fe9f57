"""The pure entry point: plain config mappings in, ``Settings`` or one ``SettingsError`` out (``now`` injected)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from zitadel_bootstrap import clock

from .accounts import parse_accounts
from .errors import Problems, SettingsError
from .fields import as_bool
from .keys import PROJECT, PROVIDER, project_key
from .model import Settings
from .organizations import parse_organizations
from .provider import parse_issuer, parse_provider
from .verification import parse_verification


def parse_settings(project: Mapping[str, Any], zitadel: Mapping[str, Any], *, now: datetime | None = None) -> Settings:
    """Validate plain config mappings (``project`` keys without the namespace) into :class:`Settings`.

    Raises only :class:`SettingsError`, listing every problem found, each naming its full config key.
    """
    for namespace, mapping in ((PROJECT, project), (PROVIDER, zitadel)):
        if not isinstance(mapping, Mapping):
            raise SettingsError([f"{namespace}: the config namespace must be a mapping of keys"])
    if now is None:
        try:
            now = clock.current().utcnow()
        except clock.ClockError as error:  # the test-only time shift is unusable
            raise SettingsError([str(error)]) from None
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)  # a naive time is taken as UTC, so it compares with zoned dates
    problems = Problems()
    provider = parse_provider(zitadel, problems)
    issuer = parse_issuer(project.get("issuer"), provider, problems)
    verification = parse_verification(project.get("verification"), problems)
    preflight = as_bool(project.get("preflight"), project_key("preflight"), problems, default=True)
    organizations, declared = parse_organizations(project.get("organizations"), problems)
    accounts = parse_accounts(project.get("serviceAccounts"), declared, now, problems)
    problems.raise_if_any()
    return Settings(
        provider=provider,
        issuer=issuer,
        verification=verification,
        service_accounts=accounts,
        organizations=organizations,
        preflight=preflight,
    )
