"""Typed, validated stack configuration.

The stack config is read once, by :func:`load_settings`, into frozen dataclasses. Every problem found is
reported together, each naming the full config key (``zitadel-bootstrap:serviceAccounts[1].orgId``), what is
wrong with it and how to fix it. Validation runs before any resource is declared, so a bad value fails
``pulumi preview`` and nothing is created.

:func:`parse_settings` is the pure part (plain mappings in, dataclasses out, ``now`` injected) so every rule
is testable without the Pulumi runtime.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from components.verification.model import Grant, GrantLevel

PROJECT = "zitadel-bootstrap"
PROVIDER = "zitadel"

#: ZITADEL's manager roles per level (its defaults.yaml role mappings). A role is accepted only at its level.
INSTANCE_ROLES = frozenset(
    {
        "IAM_OWNER",
        "IAM_OWNER_VIEWER",
        "IAM_ORG_MANAGER",
        "IAM_USER_MANAGER",
        "IAM_ADMIN_IMPERSONATOR",
        "IAM_END_USER_IMPERSONATOR",
        "IAM_LOGIN_CLIENT",
    }
)
ORG_ROLES = frozenset(
    {
        "ORG_OWNER",
        "ORG_OWNER_VIEWER",
        "ORG_USER_MANAGER",
        "ORG_SETTINGS_MANAGER",
        "ORG_USER_PERMISSION_EDITOR",
        "ORG_PROJECT_PERMISSION_EDITOR",
        "ORG_PROJECT_CREATOR",
        "ORG_ADMIN_IMPERSONATOR",
        "ORG_END_USER_IMPERSONATOR",
    }
)
PROJECT_ROLES = frozenset(
    {"PROJECT_OWNER", "PROJECT_OWNER_VIEWER", "PROJECT_OWNER_GLOBAL", "PROJECT_OWNER_VIEWER_GLOBAL"}
)
PROJECT_GRANT_ROLES = frozenset({"PROJECT_GRANT_OWNER", "PROJECT_GRANT_OWNER_VIEWER"})

Level = GrantLevel
ROLES_BY_LEVEL: Mapping[Level, frozenset[str]] = {
    "instance": INSTANCE_ROLES,
    "org": ORG_ROLES,
    "project": PROJECT_ROLES,
    "project_grant": PROJECT_GRANT_ROLES,
}
#: The config key that holds roles of each level, used to tell the user where a misplaced role belongs.
ROLE_KEY_BY_LEVEL: Mapping[Level, str] = {
    "instance": "instanceRoles",
    "org": "roles",
    "project": "projectRoles[].roles",
    "project_grant": "projectGrantRoles[].roles",
}

ACCESS_TOKEN_TYPES = {
    "BEARER": "ACCESS_TOKEN_TYPE_BEARER",
    "JWT": "ACCESS_TOKEN_TYPE_JWT",
    "ACCESS_TOKEN_TYPE_BEARER": "ACCESS_TOKEN_TYPE_BEARER",
    "ACCESS_TOKEN_TYPE_JWT": "ACCESS_TOKEN_TYPE_JWT",
}

#: ZITADEL's own default for keys created without an expiration date.
NO_EXPIRATION = "9999-12-31T23:59:59Z"

_ID = re.compile(r"^[0-9]{1,32}$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_USER_NAME_MAX = 200
_SERVICE_ACCOUNT_FIELDS = frozenset(
    {
        "name",
        "orgId",
        "userName",
        "displayName",
        "description",
        "accessTokenType",
        "roles",
        "instanceRoles",
        "projectRoles",
        "projectGrantRoles",
        "keyExpiration",
        "keyLifetimeDays",
        "audience",
    }
)
_VERIFICATION_FIELDS = frozenset({"enabled", "deadlineSeconds", "refreshSettleSeconds"})


class SettingsError(ValueError):
    """The stack config is invalid. ``problems`` holds one line per invalid key."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"invalid stack configuration ({len(self.problems)} problem(s)); nothing was created:\n{lines}"
        )


@dataclass(frozen=True)
class ServiceAccountSettings:
    name: str
    org_id: str
    user_name: str
    display_name: str
    description: str | None
    access_token_type: str
    grants: tuple[Grant, ...]
    #: Always ``YYYY-MM-DDTHH:MM:SSZ`` in UTC: the only form the provider reads back unchanged.
    key_expiration: str
    #: True when the expiration came from ``keyLifetimeDays``: the date then moves with every run, so the
    #: component pins it at creation (ignore_changes) instead of replacing the key each time.
    key_expiration_is_relative: bool
    audience: str


@dataclass(frozen=True)
class VerificationSettings:
    enabled: bool = True
    deadline_seconds: float = 60.0
    refresh_settle_seconds: float = 5.0


@dataclass(frozen=True)
class ProviderSettings:
    domain: str
    insecure: bool
    port: int
    #: Path given as ``zitadel:jwtProfileFile`` (the JSON form is secret and never kept here).
    jwt_profile_file: str | None


@dataclass(frozen=True)
class Settings:
    provider: ProviderSettings
    issuer: str
    verification: VerificationSettings
    service_accounts: tuple[ServiceAccountSettings, ...] = field(default_factory=tuple)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(f"{key}: {message}")


def _pkey(name: str) -> str:
    return f"{PROJECT}:{name}"


def _zkey(name: str) -> str:
    return f"{PROVIDER}:{name}"


def _as_bool(value: Any, key: str, problems: _Problems, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    problems.add(key, f"must be true or false, got {value!r}")
    return default


def _as_int(value: Any, key: str, problems: _Problems) -> int | None:
    if isinstance(value, bool):
        problems.add(key, f"must be a whole number, got {value!r}")
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        return int(value)
    problems.add(key, f"must be a whole number, got {value!r}")
    return None


def _as_seconds(value: Any, key: str, problems: _Problems, default: float, maximum: float) -> float:
    if value is None:
        return default
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not (0 < number <= maximum):
        problems.add(key, f"must be a number of seconds greater than 0 and at most {maximum:g}, got {value!r}")
        return default
    return number


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels)


def _parse_domain(value: Any, problems: _Problems) -> str:
    key = _zkey("domain")
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.add(
            key,
            "is required: the bare host name of your ZITADEL instance, e.g. "
            "`pulumi config set zitadel:domain my-instance.zitadel.cloud`",
        )
        return ""
    if not isinstance(value, str):
        problems.add(key, f"must be a host name string, got {value!r}")
        return ""
    domain = value.strip()
    if "://" in domain:
        problems.add(
            key,
            f"must be a bare host name without a scheme, got {domain!r}; drop the 'http(s)://' "
            "(use zitadel:insecure for plain http)",
        )
        return ""
    if "/" in domain or "?" in domain or "#" in domain:
        problems.add(key, f"must be a bare host name without a path, got {domain!r}")
        return ""
    if ":" in domain and not _valid_host(domain):
        problems.add(key, f"must not contain a port, got {domain!r}; set the port with zitadel:port")
        return ""
    if not _valid_host(domain):
        problems.add(key, f"is not a valid host name, got {domain!r}")
        return ""
    return domain


def _normalise_origin(value: str, key: str, insecure: bool, problems: _Problems) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        problems.add(key, f"must be an absolute http(s) URL such as https://my-instance.zitadel.cloud, got {value!r}")
        return value
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        problems.add(
            key,
            f"must be the instance origin without a path, query or fragment (ZITADEL's issuer), got {value!r}",
        )
        return value
    if parts.scheme == "http" and not insecure:
        problems.add(
            key,
            f"uses plain http ({value!r}) but zitadel:insecure is not true; use https, or set "
            "zitadel:insecure to true for a local instance",
        )
    return f"{parts.scheme}://{parts.netloc}"


def derive_issuer(domain: str, port: int, insecure: bool) -> str:
    """ZITADEL's issuer for a provider config: the origin, with the port only when it is not the default."""
    scheme = "http" if insecure else "https"
    default_port = 80 if insecure else 443
    host = f"[{domain}]" if ":" in domain else domain
    return f"{scheme}://{host}" if port == default_port else f"{scheme}://{host}:{port}"


def _parse_provider(zitadel: Mapping[str, Any], problems: _Problems) -> ProviderSettings:
    domain = _parse_domain(zitadel.get("domain"), problems)
    insecure = _as_bool(zitadel.get("insecure"), _zkey("insecure"), problems, default=False)
    port = 80 if insecure else 443
    if zitadel.get("port") is not None:
        parsed = _as_int(zitadel.get("port"), _zkey("port"), problems)
        if parsed is not None and not (1 <= parsed <= 65535):
            problems.add(_zkey("port"), f"must be between 1 and 65535, got {parsed}")
        elif parsed is not None:
            port = parsed
    profile_file = zitadel.get("jwtProfileFile")
    has_json = zitadel.get("jwtProfileJson") not in (None, "")
    has_token = zitadel.get("token") not in (None, "")
    if profile_file in (None, "") and not has_json and not has_token:
        problems.add(
            _zkey("jwtProfileFile"),
            "the provider needs credentials: set zitadel:jwtProfileFile to the path of an instance or org "
            "admin's machine key file, or `pulumi config set --secret zitadel:jwtProfileJson < key.json`",
        )
    if profile_file not in (None, "") and has_json:
        problems.add(_zkey("jwtProfileJson"), "set either zitadel:jwtProfileFile or zitadel:jwtProfileJson, not both")
    return ProviderSettings(
        domain=domain,
        insecure=insecure,
        port=port,
        jwt_profile_file=str(profile_file) if profile_file not in (None, "") else None,
    )


def _parse_expiration(entry: Mapping[str, Any], key: str, now: datetime, problems: _Problems) -> tuple[str, bool]:
    absolute = entry.get("keyExpiration")
    lifetime = entry.get("keyLifetimeDays")
    if absolute is not None and lifetime is not None:
        problems.add(f"{key}.keyExpiration", "set either keyExpiration or keyLifetimeDays, not both")
        return NO_EXPIRATION, False
    if lifetime is not None:
        days = _as_int(lifetime, f"{key}.keyLifetimeDays", problems)
        if days is None:
            return NO_EXPIRATION, False
        if not (1 <= days <= 36500):
            problems.add(f"{key}.keyLifetimeDays", f"must be between 1 and 36500 days, got {days}")
            return NO_EXPIRATION, False
        return format_expiration(now + timedelta(days=days)), True
    if absolute is None:
        return NO_EXPIRATION, False
    text = str(absolute).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        problems.add(
            f"{key}.keyExpiration",
            f"is not an RFC 3339 date-time, got {text!r}; write it like 2027-06-30T00:00:00Z",
        )
        return NO_EXPIRATION, False
    if parsed.tzinfo is None:
        problems.add(
            f"{key}.keyExpiration",
            f"has no time zone, got {text!r}; add 'Z' for UTC, e.g. 2027-06-30T00:00:00Z",
        )
        return NO_EXPIRATION, False
    if parsed <= now:
        problems.add(
            f"{key}.keyExpiration",
            f"is in the past ({format_expiration(parsed)}); ZITADEL refuses such keys "
            "(Errors.AuthNKey.ExpireBeforeNow). Choose a future date or use keyLifetimeDays",
        )
        return NO_EXPIRATION, False
    return format_expiration(parsed), False


def format_expiration(moment: datetime) -> str:
    """The one form the provider reads back unchanged: ``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_roles(value: Any, key: str, level: Level, problems: _Problems, *, allow_empty: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        problems.add(key, f"must be a list of role names, e.g. [{sorted(ROLES_BY_LEVEL[level])[0]}], got {value!r}")
        return ()
    if not value and not allow_empty:
        problems.add(key, "must name at least one role")
        return ()
    roles: list[str] = []
    for role in value:
        role_name = role.strip().upper()
        if role_name in ROLES_BY_LEVEL[level]:
            if role_name in roles:
                problems.add(key, f"lists {role_name} twice")
            roles.append(role_name)
            continue
        other = next((lv for lv, known in ROLES_BY_LEVEL.items() if role_name in known), None)
        if other is not None:
            problems.add(
                key,
                f"{role_name} is a {other.replace('_', ' ')}-level role and cannot be granted at the "
                f"{level.replace('_', ' ')} level; move it to {ROLE_KEY_BY_LEVEL[other]}",
            )
        else:
            problems.add(
                key,
                f"unknown role {role!r}; roles at the {level.replace('_', ' ')} level are "
                f"{', '.join(sorted(ROLES_BY_LEVEL[level]))}",
            )
    return tuple(roles)


def _parse_id(value: Any, key: str, what: str, problems: _Problems, *, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            problems.add(key, f"is required: the numeric {what} id (find it in the ZITADEL console)")
        return ""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
    if text is None or not _ID.match(text):
        problems.add(key, f"must be a numeric ZITADEL {what} id such as 259254409320316419, got {value!r}")
        return ""
    return text


def _parse_project_grants(
    value: Any, key: str, level: Literal["project", "project_grant"], problems: _Problems
) -> list[Grant]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(key, f"must be a list of objects, got {value!r}")
        return []
    grants: list[Grant] = []
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        if not isinstance(item, dict):
            problems.add(item_key, f"must be an object with projectId and roles, got {item!r}")
            continue
        allowed = {"projectId", "roles"} | ({"grantId"} if level == "project_grant" else set())
        for unknown in sorted(set(item) - allowed):
            problems.add(f"{item_key}.{unknown}", f"is not a known key; expected {', '.join(sorted(allowed))}")
        project_id = _parse_id(item.get("projectId"), f"{item_key}.projectId", "project", problems)
        roles = _parse_roles(item.get("roles"), f"{item_key}.roles", level, problems, allow_empty=False)
        if level == "project":
            if project_id:
                grants.append(Grant(level="project", resource_id=project_id, roles=roles))
        else:
            grant_id = _parse_id(item.get("grantId"), f"{item_key}.grantId", "project grant", problems)
            if project_id and grant_id:
                grants.append(Grant(level="project_grant", resource_id=grant_id, roles=roles, project_id=project_id))
    return grants


def _parse_account(entry: Any, key: str, now: datetime, problems: _Problems) -> ServiceAccountSettings | None:
    if not isinstance(entry, dict):
        problems.add(key, f"must be an object with at least name, orgId and userName, got {entry!r}")
        return None
    for unknown in sorted(set(entry) - _SERVICE_ACCOUNT_FIELDS):
        problems.add(
            f"{key}.{unknown}",
            f"is not a known key; known keys are {', '.join(sorted(_SERVICE_ACCOUNT_FIELDS))}",
        )
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.add(
            f"{key}.name",
            f"must be a logical name of lowercase letters, digits and '-', starting with a letter, at most 40 "
            f"characters (it names the Pulumi resources), got {name!r}",
        )
        name = ""
    org_id = _parse_id(entry.get("orgId"), f"{key}.orgId", "organization", problems)
    user_name = entry.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        problems.add(f"{key}.userName", "is required: the ZITADEL user name of the machine user, e.g. ci-deployer")
        user_name = ""
    elif len(user_name) > _USER_NAME_MAX or any(c.isspace() for c in user_name):
        problems.add(f"{key}.userName", f"must be 1-{_USER_NAME_MAX} characters without white space, got {user_name!r}")
    display_name = entry.get("displayName", user_name)
    if not isinstance(display_name, str) or not display_name.strip():
        problems.add(f"{key}.displayName", f"must be a non-empty string, got {display_name!r}")
        display_name = str(user_name)
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        problems.add(f"{key}.description", f"must be a string, got {description!r}")
        description = None

    token_type_raw = entry.get("accessTokenType", "BEARER")
    token_type = ACCESS_TOKEN_TYPES.get(str(token_type_raw).strip().upper())
    if token_type is None:
        problems.add(f"{key}.accessTokenType", f"must be BEARER or JWT, got {token_type_raw!r}")
        token_type = ACCESS_TOKEN_TYPES["BEARER"]

    grants: list[Grant] = []
    org_roles = _parse_roles(entry.get("roles", ["ORG_OWNER"]), f"{key}.roles", "org", problems, allow_empty=True)
    if org_roles and org_id:
        grants.append(Grant(level="org", resource_id=org_id, roles=org_roles))
    if entry.get("instanceRoles") is not None:
        instance_roles = _parse_roles(
            entry["instanceRoles"], f"{key}.instanceRoles", "instance", problems, allow_empty=False
        )
        grants.append(Grant(level="instance", resource_id="", roles=instance_roles))
    grants += _parse_project_grants(entry.get("projectRoles"), f"{key}.projectRoles", "project", problems)
    grants += _parse_project_grants(
        entry.get("projectGrantRoles"), f"{key}.projectGrantRoles", "project_grant", problems
    )
    if not grants and not any(p.startswith(f"{key}.") for p in problems.items):
        problems.add(
            f"{key}.roles",
            "grants nothing: an empty roles list needs instanceRoles, projectRoles or projectGrantRoles, "
            "or the service account cannot manage anything (omit roles for the default [ORG_OWNER])",
        )

    expiration, relative = _parse_expiration(entry, key, now, problems)

    audience_raw = entry.get("audience", "zitadel")
    audience = str(audience_raw).strip() if isinstance(audience_raw, str | int) else ""
    if audience != "zitadel" and not _ID.match(audience):
        problems.add(
            f"{key}.audience",
            f"must be 'zitadel' (the instance's own API project, the default) or a numeric project id, "
            f"got {audience_raw!r}",
        )
        audience = "zitadel"
    return ServiceAccountSettings(
        name=name,
        org_id=org_id,
        user_name=str(user_name),
        display_name=str(display_name),
        description=description,
        access_token_type=token_type,
        grants=tuple(grants),
        key_expiration=expiration,
        key_expiration_is_relative=relative,
        audience=audience,
    )


def _parse_verification(value: Any, problems: _Problems) -> VerificationSettings:
    key = _pkey("verification")
    if value is None:
        return VerificationSettings()
    if not isinstance(value, dict):
        problems.add(key, f"must be an object such as {{deadlineSeconds: 60}}, got {value!r}")
        return VerificationSettings()
    for unknown in sorted(set(value) - _VERIFICATION_FIELDS):
        problems.add(
            f"{key}.{unknown}",
            f"is not a known key; known keys are {', '.join(sorted(_VERIFICATION_FIELDS))}",
        )
    return VerificationSettings(
        enabled=_as_bool(value.get("enabled"), f"{key}.enabled", problems, default=True),
        deadline_seconds=_as_seconds(
            value.get("deadlineSeconds"), f"{key}.deadlineSeconds", problems, default=60.0, maximum=3600.0
        ),
        refresh_settle_seconds=_as_seconds(
            value.get("refreshSettleSeconds"),
            f"{key}.refreshSettleSeconds",
            problems,
            default=5.0,
            maximum=600.0,
        ),
    )


def parse_settings(project: Mapping[str, Any], zitadel: Mapping[str, Any], *, now: datetime | None = None) -> Settings:
    """Validate plain config mappings (``project`` keys without the namespace) into :class:`Settings`."""
    now = now or datetime.now(UTC)
    problems = _Problems()
    provider = _parse_provider(zitadel, problems)

    issuer_override = project.get("issuer")
    if issuer_override not in (None, ""):
        issuer = _normalise_origin(str(issuer_override).strip(), _pkey("issuer"), provider.insecure, problems)
    else:
        issuer = derive_issuer(provider.domain, provider.port, provider.insecure) if provider.domain else ""

    verification = _parse_verification(project.get("verification"), problems)

    accounts_key = _pkey("serviceAccounts")
    raw_accounts = project.get("serviceAccounts")
    accounts: list[ServiceAccountSettings] = []
    if raw_accounts is None:
        problems.add(
            accounts_key,
            "is required: a list of service accounts, e.g. [{name: ci, orgId: '123...', userName: ci-bot}] "
            "(see the README's stack config reference)",
        )
    elif not isinstance(raw_accounts, list) or not raw_accounts:
        problems.add(accounts_key, f"must be a non-empty list of service accounts, got {raw_accounts!r}")
    else:
        for index, entry in enumerate(raw_accounts):
            account = _parse_account(entry, f"{accounts_key}[{index}]", now, problems)
            if account is not None:
                accounts.append(account)
        _check_duplicates(accounts, accounts_key, problems)

    if problems.items:
        raise SettingsError(problems.items)
    return Settings(provider=provider, issuer=issuer, verification=verification, service_accounts=tuple(accounts))


def _check_duplicates(accounts: Sequence[ServiceAccountSettings], key: str, problems: _Problems) -> None:
    seen_names: dict[str, int] = {}
    seen_users: dict[tuple[str, str], int] = {}
    for index, account in enumerate(accounts):
        if account.name:
            if account.name in seen_names:
                problems.add(
                    f"{key}[{index}].name",
                    f"duplicates the name {account.name!r} of {key}[{seen_names[account.name]}]; names must be unique",
                )
            seen_names.setdefault(account.name, index)
        if account.user_name and account.org_id:
            user = (account.org_id, account.user_name.lower())
            if user in seen_users:
                problems.add(
                    f"{key}[{index}].userName",
                    f"duplicates the userName {account.user_name!r} of {key}[{seen_users[user]}] in org "
                    f"{account.org_id}; ZITADEL user names are unique per organization",
                )
            seen_users.setdefault(user, index)


ConfigGetter = Callable[[str], Any]


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

    def read_object(cfg: pulumi.Config, name: str) -> Any:
        text = cfg.get(name)
        if text is None:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    project = {name: read_object(project_cfg, name) for name in ("serviceAccounts", "verification")}
    project["issuer"] = project_cfg.get("issuer")
    zitadel: dict[str, Any] = {
        name: zitadel_cfg.get(name) for name in ("domain", "insecure", "port", "jwtProfileFile", "token")
    }
    # Only presence matters here; the value stays a secret that the provider reads on its own.
    zitadel["jwtProfileJson"] = "set" if zitadel_cfg.get_secret("jwtProfileJson") is not None else None
    if zitadel["jwtProfileJson"] is not None and not pulumi.runtime.is_config_secret(f"{PROVIDER}:jwtProfileJson"):
        raise SettingsError(
            [
                f"{_zkey('jwtProfileJson')}: is stored in plaintext in the stack file; the schema does not mark "
                "it secret, so set it with `pulumi config set --secret zitadel:jwtProfileJson < key.json`"
            ]
        )
    return parse_settings(project, zitadel, now=now)


def load_settings_file(path: Path, now: datetime | None = None) -> Settings:
    """Validate a stack config file (``stacks/Pulumi.<stack>.yaml``) the way the program validates its config.

    For tools that need the settings outside a Pulumi run (the demo). Secure values stay opaque.
    """
    import yaml  # noqa: PLC0415 - only tools read stack files; the program gets its config from the engine

    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    project = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith(f"{PROJECT}:")}
    zitadel = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith(f"{PROVIDER}:")}
    return parse_settings(project, zitadel, now=now)
