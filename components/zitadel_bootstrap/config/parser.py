"""The pure entry point: plain config mappings in, ``Settings`` or one ``SettingsError`` out (``now`` injected)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from zitadel_bootstrap import clock

from .accounts import parse_accounts
from .errors import Problems, SettingsError
from .fields import as_bool, as_name
from .keys import PROJECT, PROVIDER, project_key
from .model import Settings
from .organizations import parse_organizations
from .provider import parse_issuer, parse_provider
from .verification import parse_verification

#: The keys of each namespace the program or the zitadel plugin (its config schema, v0.2.0) reads.
KNOWN_KEYS: Mapping[str, frozenset[str]] = {
    PROJECT: frozenset({"serviceAccounts", "organizations", "verification", "issuer", "preflight", "fleet"}),
    PROVIDER: frozenset({"domain", "insecure", "port", "jwtProfileFile", "jwtProfileJson", "token"}),
}


def _unknown_config_keys(config_keys: Iterable[str], problems: Problems) -> None:
    """A problem for each key of the program's or the plugin's namespace that nothing reads (a typo would otherwise
    pass silently, with the default in its place), with the known key it most resembles."""
    for full in sorted(set(config_keys)):
        namespace, _, name = full.partition(":")
        known = KNOWN_KEYS.get(namespace)
        if known is None or name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f"did you mean {namespace}:{close[0]}?" if close else f"known keys are {', '.join(sorted(known))}"
        problems.add(full, f"is not a key that zitadel-bootstrap or the zitadel plugin reads; {hint}")


def parse_settings(
    project: Mapping[str, Any],
    zitadel: Mapping[str, Any],
    *,
    now: datetime | None = None,
    config_keys: Iterable[str] = (),
) -> Settings:
    """Validate plain config mappings (``project`` keys without the namespace) into :class:`Settings`.

    ``config_keys``: every key of the stack's config (``namespace:name``), so that unknown ones are reported.
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
    _unknown_config_keys(config_keys, problems)
    provider = parse_provider(zitadel, problems)
    issuer = parse_issuer(project.get("issuer"), provider, problems)
    verification = parse_verification(project.get("verification"), problems)
    preflight = as_bool(project.get("preflight"), project_key("preflight"), problems, default=True)
    fleet = project.get("fleet")
    fleet_name = as_name(fleet, project_key("fleet"), problems) if fleet is not None else None
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
        fleet=fleet_name or None,
    )
