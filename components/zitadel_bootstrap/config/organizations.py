"""Which organizations the program declares: the ``zitadel-bootstrap:organizations`` list.

Logical names follow the rules of account names; display names are ZITADEL's organization names, which it keeps
unique in the instance (compared here ignoring case and surrounding blanks, so two names that differ only so
are refused before anything is created).
"""

from __future__ import annotations

from typing import Any

from zitadel_bootstrap import limits

from .errors import Problems
from .fields import as_name, show, unknown_keys
from .keys import project_key
from .model import OrganizationSettings

ORGANIZATION_KEYS = frozenset({"name", "displayName"})


def _display_name(value: Any, key: str, problems: Problems) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > limits.ORG_DISPLAY_NAME_MAX_LENGTH:
        problems.add(
            key,
            f"must be 1-{limits.ORG_DISPLAY_NAME_MAX_LENGTH} characters and not blank (the organization's name in "
            f"ZITADEL; omit it to use the name), got {show(value)}",
        )
        return ""
    return text


def parse_organizations(
    value: Any, problems: Problems
) -> tuple[tuple[OrganizationSettings, ...], frozenset[str] | None]:
    """The declared organizations, and every logical name declared (also of entries with other problems);
    None instead of the names when the list itself is unreadable, so references to it are not judged."""
    key = project_key("organizations")
    if value is None:
        return (), frozenset()
    if not isinstance(value, list):
        problems.add(key, f"must be a list of {{name, displayName}} objects, got {show(value)}")
        return (), None
    parsed: list[tuple[int, OrganizationSettings]] = []
    for index, entry in enumerate(value):
        entry_key = f"{key}[{index}]"
        if not isinstance(entry, dict):
            problems.add(entry_key, f"must be an object with name and optionally displayName, got {show(entry)}")
            continue
        unknown_keys(entry, entry_key, ORGANIZATION_KEYS, problems)
        name = as_name(entry.get("name"), f"{entry_key}.name", problems)
        raw_display_name = entry.get("displayName")
        display_name = (
            name if raw_display_name is None else _display_name(raw_display_name, f"{entry_key}.displayName", problems)
        )
        if name:
            parsed.append((index, OrganizationSettings(name=name, display_name=display_name)))
    _check_unique(parsed, key, problems)
    return tuple(org for _, org in parsed), frozenset(org.name for _, org in parsed)


def _check_unique(parsed: list[tuple[int, OrganizationSettings]], key: str, problems: Problems) -> None:
    names: dict[str, int] = {}
    display_names: dict[str, int] = {}
    for index, org in parsed:
        if org.name in names:
            problems.add(
                f"{key}[{index}].name",
                f"duplicates the name {org.name!r} of {key}[{names[org.name]}]; names must be unique",
            )
            continue
        names[org.name] = index
        folded = org.display_name.casefold()
        if folded and folded in display_names:
            problems.add(
                f"{key}[{index}].displayName",
                f"duplicates the displayName {org.display_name!r} of {key}[{display_names[folded]}]; ZITADEL refuses "
                "two organizations with the same name",
            )
        display_names.setdefault(folded, index)
