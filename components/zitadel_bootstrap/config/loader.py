"""Where the config comes from: the engine's ``pulumi.Config`` in a run, or a stack file for tools.

Both hand the plain values to :func:`parse_settings`, so a run and a tool refuse the same config with the same
words. Pulumi and YAML are imported inside the functions, so the rest of the package needs neither.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import SettingsError
from .keys import PROJECT, PROVIDER, provider_key
from .model import Settings
from .parser import parse_settings

#: Program keys that hold objects or lists (JSON in the engine's config) and those that hold plain values.
_OBJECT_KEYS = ("serviceAccounts", "verification", "organizations")
_PLAIN_KEYS = ("issuer", "preflight", "fleet")
_PROVIDER_KEYS = ("domain", "insecure", "port", "jwtProfileFile", "token")


def load_settings(now: datetime | None = None) -> Settings:
    """Read the stack config through ``pulumi.Config`` once and validate it.

    Invalid config fails the run as a ``pulumi.RunError``: the engine then prints the message (every bad key)
    without a Python traceback, which would bury it; it is a config mistake, not a bug.
    """
    import pulumi  # noqa: PLC0415 - keeps parse_settings importable without the Pulumi runtime

    try:
        return _read_settings(pulumi, now)
    except SettingsError as error:
        raise pulumi.RunError(str(error)) from None


def _read_settings(pulumi: Any, now: datetime | None) -> Settings:
    project_cfg = pulumi.Config(PROJECT)
    zitadel_cfg = pulumi.Config(PROVIDER)

    def read_object(name: str) -> Any:
        text = project_cfg.get(name)
        if text is None:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # reported as "must be a list/object" with the text the user gave

    project: dict[str, Any] = {name: read_object(name) for name in _OBJECT_KEYS}
    project.update({name: project_cfg.get(name) for name in _PLAIN_KEYS})
    zitadel: dict[str, Any] = {name: zitadel_cfg.get(name) for name in _PROVIDER_KEYS}
    # Only presence matters here; the value stays a secret that the provider reads on its own.
    zitadel["jwtProfileJson"] = "set" if zitadel_cfg.get_secret("jwtProfileJson") is not None else None
    if zitadel["jwtProfileJson"] is not None and not pulumi.runtime.is_config_secret(f"{PROVIDER}:jwtProfileJson"):
        raise SettingsError(
            [
                f"{provider_key('jwtProfileJson')}: is stored in plaintext in the stack file (the schema does not "
                "mark it secret). Take it out with `pulumi config rm zitadel:jwtProfileJson`, then set it again with "
                "`pulumi config set --secret zitadel:jwtProfileJson < key.json`; the key was readable in the file and "
                "in its history, so replace it in ZITADEL too (docs/security.md)"
            ]
        )
    config_keys = list(pulumi.runtime.config.CONFIG.get())
    return parse_settings(project, zitadel, now=now, config_keys=config_keys)


def load_settings_file(path: Path | str, now: datetime | None = None) -> Settings:
    """Validate a stack config file (``stacks/Pulumi.<stack>.yaml``) the way the program validates its config.

    For tools that need the settings outside a Pulumi run (the demo). Secure values stay opaque.
    """
    import yaml  # noqa: PLC0415 - only tools read stack files; the program gets its config from the engine

    try:
        document = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as error:
        raise SettingsError([f"{path}: is not valid YAML: {error}"]) from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        config = {}
    names = [key for key in config if isinstance(key, str)]
    project = {key.split(":", 1)[1]: config[key] for key in names if key.startswith(f"{PROJECT}:")}
    zitadel = {key.split(":", 1)[1]: config[key] for key in names if key.startswith(f"{PROVIDER}:")}
    return parse_settings(project, zitadel, now=now, config_keys=names)
