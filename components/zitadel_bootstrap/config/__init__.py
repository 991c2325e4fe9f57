"""Typed, validated stack configuration.

The stack config is read once, by :func:`load_settings`, into frozen dataclasses. Every problem found is
reported together, each naming the full config key (``zitadel-bootstrap:serviceAccounts[1].orgId``), what is
wrong with it and how to fix it. Validation runs before any resource is declared, so a bad value fails
``pulumi preview`` and nothing is created. :func:`parse_settings` is the pure part (plain mappings in,
dataclasses out, ``now`` injected), so every rule is testable without the Pulumi runtime.

One job per module:

=====================  ==========================================================================================
``errors``             how problems are collected and reported (``SettingsError``)
``keys``               the namespaces and full key paths
``model``              the frozen dataclasses the program reads
``fields``             primitive values: booleans, whole numbers, seconds, ids, logical names, dates, known keys
``provider``           the ``zitadel:`` keys and the issuer (one rule: the verifier's ``validate_issuer``)
``verification``       the ``verification`` object
``organizations``      the ``organizations`` list
``roles``              the manager roles per level (``roles``, ``instanceRoles``, ``projectRoles``, ...)
``key_lifecycle``      a key's expiry, rotation window and generation
``accounts``           the ``serviceAccounts`` list, and what must be unique across it
``parser``             ``parse_settings``: the pure entry point
``loader``             ``load_settings`` (``pulumi.Config``) and ``load_settings_file`` (a stack file)
``component_args``     a validated entry as the ServiceAccount component's inputs (the stack-config program's use)
``preflight``          before anything is planned: can the provider's admin do what the plan needs?
=====================  ==========================================================================================

Defaults and limits come from :mod:`zitadel_bootstrap.limits`.

Why not pydantic: its models would need a custom error per field to keep these messages (ZITADEL's words, the
fix, the key where a misplaced role belongs), a mapping of its ``loc`` tuples to camelCase key paths, and its
cross-field validators run only once every field is valid, so a duplicate name or a rotateBeforeDays beyond the
lifetime would stay hidden behind the first field error instead of being reported at once. It is also not a
dependency of the program. The explicit validator below keeps every problem, with its full key, in one run.
"""

from zitadel_bootstrap.limits import NO_EXPIRATION

from .errors import SettingsError
from .fields import format_expiration
from .keys import PROJECT, PROVIDER
from .loader import load_settings, load_settings_file
from .model import (
    OrganizationSettings,
    ProviderSettings,
    ServiceAccountSettings,
    Settings,
    VerificationSettings,
)
from .parser import parse_settings
from .provider import derive_issuer

__all__ = [
    "NO_EXPIRATION",
    "PROJECT",
    "PROVIDER",
    "OrganizationSettings",
    "ProviderSettings",
    "ServiceAccountSettings",
    "Settings",
    "SettingsError",
    "VerificationSettings",
    "derive_issuer",
    "format_expiration",
    "load_settings",
    "load_settings_file",
    "parse_settings",
]
