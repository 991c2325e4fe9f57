"""The names of config keys: the two namespaces and the full key paths that every problem starts with."""

from __future__ import annotations

#: The program's own namespace (``zitadel-bootstrap:serviceAccounts``) and the provider's (``zitadel:domain``).
PROJECT = "zitadel-bootstrap"
PROVIDER = "zitadel"


def project_key(name: str) -> str:
    """``zitadel-bootstrap:<name>``."""
    return f"{PROJECT}:{name}"


def provider_key(name: str) -> str:
    """``zitadel:<name>``."""
    return f"{PROVIDER}:{name}"
