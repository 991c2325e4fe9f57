"""Property tests of the stack-config parser (issue 9): any config gives Settings or a SettingsError.

The strategies start from configs that are valid by construction and break one to three places in them
(replace a value with a hostile one, drop a key, add a key, grow a list), so most examples get past the
shape checks into the rules behind them. Every run draws the same examples (see ``fuzzing.FUZZ``).

A refused value is shown in its problem only redacted and shortened (``redaction.shown``: no PEM block, JWT or
long opaque string), so a secret pasted into the wrong key (orgId, userName, roles, issuer, ...) is never printed
by ``pulumi preview``; the leak property puts secrets in every place that gets quoted (``QUIET_PLACES``).

The bug classes these properties found in the parser before its refactor (an OverflowError, ValueErrors and a
TypeError escaping, a newline passing the name and host patterns, an issuer with port 0 or 99999 accepted) are
fixed, so no generated config is filtered out; the strategies still aim at each (``FIELD_HOSTILE``), so a
regression fails here.
"""

from __future__ import annotations

import copy
import json
import math
import operator
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from hypothesis import event, given, note
from hypothesis import strategies as st
from zitadel_bootstrap.config import ProviderSettings, Settings, SettingsError, parse_settings
from zitadel_bootstrap.verification.model import Grant

from .fuzzing import FUZZ, fake_secrets, leaked_slice, pem_keys, secret_texts

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
EXPIRATION_FORM = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
NAME_FORM = re.compile(r"[a-z][a-z0-9-]{0,39}")
ID_FORM = re.compile(r"[0-9]{1,32}")

# ZITADEL's manager roles per level, written out here so the test does not take them from the code it checks.
ORG_ROLES = (
    "ORG_OWNER",
    "ORG_OWNER_VIEWER",
    "ORG_USER_MANAGER",
    "ORG_SETTINGS_MANAGER",
    "ORG_USER_PERMISSION_EDITOR",
    "ORG_PROJECT_PERMISSION_EDITOR",
    "ORG_PROJECT_CREATOR",
    "ORG_ADMIN_IMPERSONATOR",
    "ORG_END_USER_IMPERSONATOR",
)
INSTANCE_ROLES = (
    "IAM_OWNER",
    "IAM_OWNER_VIEWER",
    "IAM_ORG_MANAGER",
    "IAM_USER_MANAGER",
    "IAM_ADMIN_IMPERSONATOR",
    "IAM_END_USER_IMPERSONATOR",
    "IAM_LOGIN_CLIENT",
)
PROJECT_ROLES = ("PROJECT_OWNER", "PROJECT_OWNER_VIEWER", "PROJECT_OWNER_GLOBAL", "PROJECT_OWNER_VIEWER_GLOBAL")
PROJECT_GRANT_ROLES = ("PROJECT_GRANT_OWNER", "PROJECT_GRANT_OWNER_VIEWER")
ROLES_BY_LEVEL = {
    "org": ORG_ROLES,
    "instance": INSTANCE_ROLES,
    "project": PROJECT_ROLES,
    "project_grant": PROJECT_GRANT_ROLES,
}
TOKEN_TYPES = {
    "BEARER": "ACCESS_TOKEN_TYPE_BEARER",
    "JWT": "ACCESS_TOKEN_TYPE_JWT",
    "ACCESS_TOKEN_TYPE_BEARER": "ACCESS_TOKEN_TYPE_BEARER",
    "ACCESS_TOKEN_TYPE_JWT": "ACCESS_TOKEN_TYPE_JWT",
}

PROVIDER_KEYS = ("domain", "insecure", "port", "jwtProfileFile", "jwtProfileJson", "token")
PROJECT_KEYS = ("issuer", "verification", "serviceAccounts", "organizations", "preflight")
VERIFICATION_KEYS = ("enabled", "deadlineSeconds", "refreshSettleSeconds")
ACCOUNT_KEYS = (
    "name",
    "formerNames",
    "org",
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
    "rotateBeforeDays",
    "keyGeneration",
    "audience",
)
GRANT_KEYS = ("projectId", "grantId", "roles")
ORGANIZATION_KEYS = ("name", "displayName")

Config: TypeAlias = dict[str, dict[str, Any]]
Path: TypeAlias = tuple[str | int, ...]

# --- valid by construction ---------------------------------------------------------------------------------

# Plain alphabets, not st.from_regex: several times cheaper to draw, and the shapes are simple.
LOWER = "abcdefghijklmnopqrstuvwxyz"
ALNUM = LOWER + LOWER.upper() + "0123456789"
NAMES = st.builds(operator.add, st.sampled_from(LOWER), st.text(alphabet=LOWER + "0123456789-", max_size=39))
DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=19)
NO_SPACE_TEXT = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=40),
    st.just("u" * 200),
).filter(lambda text: not any(ch.isspace() for ch in text))
VISIBLE_TEXT = st.text(max_size=40).filter(str.strip)
HOST_LABELS = st.one_of(
    st.sampled_from(ALNUM),
    st.builds(
        lambda first, middle, last: first + middle + last,
        st.sampled_from(ALNUM),
        st.text(alphabet=ALNUM + "-", max_size=20),
        st.sampled_from(ALNUM),
    ),
)
DNS_NAMES = st.builds(
    lambda labels, dot: ".".join(labels) + dot,
    st.lists(HOST_LABELS, min_size=1, max_size=4),
    st.sampled_from(["", "."]),
)
HOSTS = st.one_of(DNS_NAMES, st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))
PADDING = st.sampled_from(["", " ", "\t", " \n"])
#: The forms of one id that the parser accepts: the digits, padded, or a number.
ID_FORMS: st.SearchStrategy[Callable[[str], str | int]] = st.sampled_from([str, lambda d: f" {d} ", int])
#: The spellings of a role name that the parser accepts.
SPELLINGS: st.SearchStrategy[Callable[[str], str]] = st.sampled_from(
    [str, str.lower, str.title, lambda role: f" {role}\t"]
)
ROLE_NAMES = {level: st.sampled_from(pool) for level, pool in ROLES_BY_LEVEL.items()}


def draw_padded(draw: st.DrawFn, text: str) -> str:
    return draw(PADDING) + text + draw(PADDING)


def draw_id(draw: st.DrawFn) -> tuple[str | int, str]:
    """(an id as written in the config, the id the parser must keep)."""
    raw = draw(ID_FORMS)(draw(DIGITS))
    return raw, str(raw).strip()


def draw_roles(draw: st.DrawFn, level: str, *, min_size: int) -> tuple[list[str], tuple[str, ...]]:
    """(the roles as written in the config, the role names the parser must keep, in order)."""
    names = draw(st.lists(ROLE_NAMES[level], min_size=min_size, max_size=3, unique=True))
    return [draw(SPELLINGS)(name) for name in names], tuple(names)


@dataclass(frozen=True)
class ExpectedAccount:
    name: str
    org_id: str | None
    org: str | None
    user_name: str
    display_name: str
    description: str | None
    access_token_type: str
    roles: tuple[str, ...]
    instance_roles: tuple[str, ...]
    project_roles: tuple[tuple[str, tuple[str, ...]], ...]
    project_grant_roles: tuple[tuple[str, str, tuple[str, ...]], ...]
    audience: str
    key_lifetime_days: int | None
    key_expiration: str | None
    rotate_before_days: int | None
    key_generation: int
    former_names: tuple[str, ...] = ()

    @property
    def organization(self) -> str:
        """What user names are unique in: the org id, or the declared organization's logical name."""
        return self.org_id or f"org:{self.org}"


@dataclass(frozen=True)
class ExpectedConfig:
    domain: str
    insecure: bool
    port: int
    jwt_profile_file: str | None
    issuer: str
    enabled: bool
    deadline_seconds: float
    refresh_settle_seconds: float
    preflight: bool
    #: (name, display name) per declared organization.
    organizations: tuple[tuple[str, str], ...]
    accounts: tuple[ExpectedAccount, ...]


def utc_form(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


OFFSETS = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59)
)
FUTURE_MOMENTS = st.builds(
    lambda naive, zone: naive.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(2027, 1, 1), max_value=datetime(9998, 12, 31)),
    OFFSETS,
)


@st.composite
def project_role_entries(draw: st.DrawFn) -> tuple[list[dict[str, Any]], tuple[tuple[str, tuple[str, ...]], ...]]:
    """``projectRoles`` entries (one per project) and the (project id, roles) the parser must keep."""
    entries: list[dict[str, Any]] = []
    kept: list[tuple[str, tuple[str, ...]]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        project_raw, project_id = draw_id(draw)
        if any(project_id == known for known, _ in kept):
            continue  # one entry per project
        raw_roles, roles = draw_roles(draw, "project", min_size=1)
        entries.append({"projectId": project_raw, "roles": raw_roles})
        kept.append((project_id, roles))
    return entries, tuple(kept)


@st.composite
def project_grant_role_entries(
    draw: st.DrawFn,
) -> tuple[list[dict[str, Any]], tuple[tuple[str, str, tuple[str, ...]], ...]]:
    """``projectGrantRoles`` entries (one per grant) and the (project id, grant id, roles) the parser must keep."""
    entries: list[dict[str, Any]] = []
    kept: list[tuple[str, str, tuple[str, ...]]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        project_raw, project_id = draw_id(draw)
        grant_raw, grant_id = draw_id(draw)
        if any(grant_id == known for _, known, _ in kept):
            continue  # one entry per project grant
        raw_roles, roles = draw_roles(draw, "project_grant", min_size=1)
        entries.append({"projectId": project_raw, "grantId": grant_raw, "roles": raw_roles})
        kept.append((project_id, grant_id, roles))
    return entries, tuple(kept)


@dataclass(frozen=True)
class ExpectedRoles:
    roles: tuple[str, ...]
    instance_roles: tuple[str, ...]
    project_roles: tuple[tuple[str, tuple[str, ...]], ...]
    project_grant_roles: tuple[tuple[str, str, tuple[str, ...]], ...]


def draw_all_roles(draw: st.DrawFn, entry: dict[str, Any]) -> ExpectedRoles:
    """Roles of every level into ``entry``, granting something; what the parser must keep of them."""
    org_roles: tuple[str, ...] = ("ORG_OWNER",)
    if draw(st.booleans()):
        entry["roles"], org_roles = draw_roles(draw, "org", min_size=0)
    instance_roles: tuple[str, ...] = ()
    if draw(st.booleans()):
        entry["instanceRoles"], instance_roles = draw_roles(draw, "instance", min_size=1)
    elif draw(st.booleans()):
        entry["instanceRoles"] = None
    project_roles: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if draw(st.booleans()):
        entry["projectRoles"], project_roles = draw(project_role_entries())
    project_grant_roles: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    if draw(st.booleans()):
        entry["projectGrantRoles"], project_grant_roles = draw(project_grant_role_entries())
    if not (org_roles or instance_roles or project_roles or project_grant_roles):
        # An empty roles list needs another level; without one the default [ORG_OWNER] is the valid form.
        del entry["roles"]
        org_roles = ("ORG_OWNER",)
    return ExpectedRoles(org_roles, instance_roles, project_roles, project_grant_roles)


@dataclass(frozen=True)
class ExpectedLifecycle:
    lifetime_days: int | None
    expiration: str | None
    rotate_before_days: int | None
    generation: int


def draw_lifecycle(draw: st.DrawFn, entry: dict[str, Any]) -> ExpectedLifecycle:
    """keyLifetimeDays or keyExpiration or neither, rotateBeforeDays and keyGeneration into ``entry``; what the
    parser must keep of them."""
    lifetime: int | None = None
    expiration: str | None = None
    rotate: int | None = None
    form = draw(st.sampled_from(["none", "explicit-none", "lifetime", "absolute"]))
    if form == "explicit-none":
        entry["keyExpiration"] = entry["keyLifetimeDays"] = None
    elif form == "lifetime":
        lifetime = draw(st.integers(min_value=1, max_value=36500))
        entry["keyLifetimeDays"] = draw(st.sampled_from([lifetime, str(lifetime), f" {lifetime} "]))
        rotate = min(30, lifetime // 3)
        if lifetime > 1 and draw(st.booleans()):
            rotate = draw(st.integers(min_value=1, max_value=lifetime - 1))
            entry["rotateBeforeDays"] = draw(st.sampled_from([rotate, str(rotate)]))
    elif form == "absolute":
        moment = draw(FUTURE_MOMENTS)
        text = moment.isoformat()
        if text.endswith("+00:00") and draw(st.booleans()):
            text = text.removesuffix("+00:00") + "Z"
        entry["keyExpiration"] = draw_padded(draw, text)
        expiration, rotate = utc_form(moment), 30
        if draw(st.booleans()):
            rotate = entry["rotateBeforeDays"] = draw(st.integers(min_value=1, max_value=36500))
    generation = 0
    if draw(st.booleans()):
        generation = draw(st.integers(min_value=0, max_value=1_000_000))
        entry["keyGeneration"] = draw(st.sampled_from([generation, str(generation)]))
    return ExpectedLifecycle(lifetime, expiration, rotate, generation)


@st.composite
def valid_accounts(draw: st.DrawFn, organizations: tuple[str, ...]) -> tuple[dict[str, Any], ExpectedAccount]:
    """An account in an org given by id, or in one of the declared ``organizations`` (logical names)."""
    name = draw(NAMES)
    user_name = draw(NO_SPACE_TEXT)
    entry: dict[str, Any] = {"name": name, "userName": user_name}
    org_id: str | None = None
    org: str | None = None
    in_declared_org: bool = bool(organizations) and draw(st.booleans())
    if in_declared_org:
        org = entry["org"] = draw(st.sampled_from(organizations))
    else:
        entry["orgId"], org_id = draw_id(draw)

    display_name = user_name
    if draw(st.booleans()):
        display_name = entry["displayName"] = draw(VISIBLE_TEXT)
    description: str | None = None
    if draw(st.booleans()):
        description = entry["description"] = draw(st.none() | st.text(max_size=60))

    token_type = "ACCESS_TOKEN_TYPE_BEARER"
    if draw(st.booleans()):
        spelling = draw(st.sampled_from(sorted(TOKEN_TYPES)))
        token_type = TOKEN_TYPES[spelling]
        entry["accessTokenType"] = draw(st.sampled_from([spelling, spelling.lower(), f" {spelling} "]))

    roles = draw_all_roles(draw, entry)
    lifecycle = draw_lifecycle(draw, entry)

    audience = "zitadel"
    if draw(st.booleans()):
        if draw(st.booleans()):
            entry["audience"] = draw(st.sampled_from(["zitadel", " zitadel "]))
        else:
            entry["audience"], audience = draw_id(draw)

    return entry, ExpectedAccount(
        name=name,
        org_id=org_id,
        org=org,
        user_name=user_name,
        display_name=display_name,
        description=description,
        access_token_type=token_type,
        roles=roles.roles,
        instance_roles=roles.instance_roles,
        project_roles=roles.project_roles,
        project_grant_roles=roles.project_grant_roles,
        audience=audience,
        key_lifetime_days=lifecycle.lifetime_days,
        key_expiration=lifecycle.expiration,
        rotate_before_days=lifecycle.rotate_before_days,
        key_generation=lifecycle.generation,
    )


def _account_identity(pair: tuple[dict[str, Any], ExpectedAccount]) -> tuple[str, str]:
    return pair[1].organization, pair[1].user_name.lower()


def _account_name(pair: tuple[dict[str, Any], ExpectedAccount]) -> str:
    return pair[1].name


@st.composite
def organization_entries(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[str, str]]:
    """An ``organizations`` entry and the (name, display name) the parser must keep."""
    name = draw(NAMES)
    if draw(st.booleans()):
        return {"name": name}, (name, name)
    display_name = draw(VISIBLE_TEXT)
    return {"name": name, "displayName": display_name}, (name, display_name.strip())


def _organization_name(pair: tuple[dict[str, Any], tuple[str, str]]) -> str:
    return pair[1][0]


def _folded_display_name(pair: tuple[dict[str, Any], tuple[str, str]]) -> str:
    return pair[1][1].casefold()


def draw_former_names(draw: st.DrawFn, pairs: list[tuple[dict[str, Any], ExpectedAccount]]) -> None:
    """formerNames into some accounts: names no account has now, each listed once across all accounts."""
    taken = {expected.name for _, expected in pairs}
    for position, (entry, expected) in enumerate(pairs):
        if not draw(st.booleans()):
            continue
        former = [name for name in draw(st.lists(NAMES, max_size=2, unique=True)) if name not in taken]
        taken.update(former)
        entry["formerNames"] = former
        pairs[position] = (entry, replace(expected, former_names=tuple(former)))


@st.composite
def valid_providers(draw: st.DrawFn) -> tuple[dict[str, Any], ProviderSettings]:
    """The ``zitadel:`` keys of a reachable instance, and the provider settings the parser must make of them."""
    host = draw(HOSTS)
    zitadel: dict[str, Any] = {"domain": draw_padded(draw, host)}
    insecure = False
    if draw(st.booleans()):
        insecure = draw(st.booleans())
        zitadel["insecure"] = draw(st.sampled_from([insecure, str(insecure).lower(), f" {str(insecure).upper()} "]))
    port = 80 if insecure else 443
    if draw(st.booleans()):
        port = draw(st.integers(min_value=1, max_value=65535))
        zitadel["port"] = draw(st.sampled_from([port, str(port)]))
    profile_file: str | None = None
    credentials = draw(st.sampled_from(["file", "json", "token", "file+token", "json+token"]))
    if "file" in credentials:
        profile_file = zitadel["jwtProfileFile"] = draw(VISIBLE_TEXT)
    if "json" in credentials:
        zitadel["jwtProfileJson"] = "set"
    if "token" in credentials:
        zitadel["token"] = draw(VISIBLE_TEXT)
    return zitadel, ProviderSettings(domain=host, insecure=insecure, port=port, jwt_profile_file=profile_file)


def draw_issuer(draw: st.DrawFn, project: dict[str, Any], provider: ProviderSettings) -> str:
    """An issuer override (or none) into ``project``; the issuer the parser must settle on."""
    scheme = "http" if provider.insecure else "https"
    host = f"[{provider.domain}]" if ":" in provider.domain else provider.domain
    default_port = 80 if provider.insecure else 443
    issuer = f"{scheme}://{host}" if provider.port == default_port else f"{scheme}://{host}:{provider.port}"
    if draw(st.booleans()):
        override_host = draw(HOSTS)
        netloc = f"[{override_host}]" if ":" in override_host else override_host
        if draw(st.booleans()):
            netloc += f":{draw(st.integers(min_value=1, max_value=65535))}"
        issuer = f"{draw(st.sampled_from(['https', 'http'] if provider.insecure else ['https']))}://{netloc}"
        project["issuer"] = draw_padded(draw, issuer + draw(st.sampled_from(["", "/"])))
    elif draw(st.booleans()):
        project["issuer"] = draw(st.sampled_from([None, ""]))
    return issuer


def draw_verification(draw: st.DrawFn, project: dict[str, Any]) -> tuple[bool, float, float]:
    """A verification object (or none) into ``project``; (enabled, deadline, settle) the parser must keep."""
    enabled, deadline, settle = True, 60.0, 5.0
    if not draw(st.booleans()):
        return enabled, deadline, settle
    verification: dict[str, Any] = {}
    if draw(st.booleans()):
        enabled = draw(st.booleans())
        verification["enabled"] = draw(st.sampled_from([enabled, str(enabled).lower()]))
    if draw(st.booleans()):
        deadline = draw(st.floats(min_value=0, max_value=3600, exclude_min=True))
        verification["deadlineSeconds"] = draw(st.sampled_from([deadline, repr(deadline)]))
    if draw(st.booleans()):
        settle = float(draw(st.integers(min_value=0, max_value=600)))
        verification["refreshSettleSeconds"] = draw(st.sampled_from([int(settle), str(int(settle))]))
    project["verification"] = verification
    return enabled, deadline, settle


@st.composite
def valid_configs(draw: st.DrawFn) -> tuple[Config, ExpectedConfig]:
    zitadel, provider = draw(valid_providers())
    project: dict[str, Any] = {}
    issuer = draw_issuer(draw, project, provider)
    enabled, deadline, settle = draw_verification(draw, project)
    preflight = True
    if draw(st.booleans()):
        preflight = draw(st.booleans())
        project["preflight"] = draw(st.sampled_from([preflight, str(preflight).lower()]))

    organizations = draw(
        st.lists(organization_entries(), max_size=2, unique_by=(_organization_name, _folded_display_name))
    )
    listed: bool = bool(organizations) or draw(st.booleans())  # an empty list is valid too
    if listed:
        project["organizations"] = [entry for entry, _ in organizations]
    names = tuple(name for _, (name, _) in organizations)

    pairs = draw(st.lists(valid_accounts(names), min_size=1, max_size=4, unique_by=(_account_name, _account_identity)))
    draw_former_names(draw, pairs)
    project["serviceAccounts"] = [entry for entry, _ in pairs]
    return {"project": project, "zitadel": zitadel}, ExpectedConfig(
        domain=provider.domain,
        insecure=provider.insecure,
        port=provider.port,
        jwt_profile_file=provider.jwt_profile_file,
        issuer=issuer,
        enabled=enabled,
        deadline_seconds=deadline,
        refresh_settle_seconds=settle,
        preflight=preflight,
        organizations=tuple(expected for _, expected in organizations),
        accounts=tuple(expected for _, expected in pairs),
    )


# --- hostile values and mutations --------------------------------------------------------------------------

SECRET_VALUES = st.deferred(lambda: st.sampled_from([key.pem for key in pem_keys()] + list(fake_secrets())))
KEY_FILE_TEXTS = st.deferred(
    lambda: st.sampled_from(
        [json.dumps({"type": "serviceaccount", "keyId": "1", "key": key.pem, "userId": "2"}) for key in pem_keys()]
    )
)
HOSTILE_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\t\n ",
        "\u200b",
        "\x00",
        "true",
        "False",
        "yes",
        "0",
        "-1",
        "1.5",
        "65536",
        "1e400",
        "nan",
        "-inf",
        "\uff11\uff12",
        "\u0664\u0662",
        "zitadel",
        "ZITADEL",
        "BEARER",
        "mac",
        "ORG_OWNER",
        "iam_owner",
        "PROJECT_OWNER",
        "PROJECT_GRANT_OWNER",
        "259254409320316419",
        "1" * 33,
        "ci",
        "CI_Bot",
        "ci bot",
        "a" * 41,
        "x" * 201,
        "acme.zitadel.cloud",
        "acme.zitadel.cloud:8080",
        "-bad-.example",
        "a..b",
        ("a" * 63 + ".") * 4,
        "127.0.0.1",
        "::1",
        "[::1]",
        "2027-06-30T00:00:00Z",
        "2027-06-30t00:00:00z",
        "2020-01-01T00:00:00Z",
        "2030-01-01T00:00:00",
        "2030-02-30T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "next tuesday",
        "null",
        "{}",
        "[]",
    ]
)
URLS = st.builds(
    lambda scheme, sep, host, port, tail: f"{scheme}{sep}{host}{port}{tail}",
    st.sampled_from(["https", "http", "HTTPS", "ftp", ""]),
    st.sampled_from(["://", ":", "//", ":///"]),
    st.one_of(HOSTS, st.sampled_from(["", "user:pw@acme.example", "[::1]", "acme.example.", "é.example"])),
    st.sampled_from(["", ":443", ":0", ":65536", ":x"]),
    st.sampled_from(["", "/", "/oauth", "?q=1", "#f", "//"]),
)
# Built, not listed, so a failure report shows a short strategy instead of 100 kB of it.
HUGE_STRINGS = st.builds(
    lambda filler, count, tail: filler * count + tail,
    st.sampled_from(["A", "\u00e9", " "]),
    st.sampled_from([5_000, 100_000]),
    st.sampled_from(["", "x"]),
)
HUGE_INTS = st.integers(min_value=-(10**400), max_value=10**400)  # as big as JSON writes them; beyond floats
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=70_000),
    st.sampled_from([36500, 36501, 2**63, -(2**63), 10**32]),
    HUGE_INTS,
    st.floats(),
    st.sampled_from([0.0, -0.0, 3600.0, 3600.000001, 600.0, 5e-324, math.inf, -math.inf, math.nan]),
    HOSTILE_STRINGS,
    st.text(max_size=30),
    URLS,
    FUTURE_MOMENTS.map(datetime.isoformat),
    HUGE_STRINGS,
)
VOCABULARY = st.sampled_from(
    [
        *sorted(set(PROVIDER_KEYS + PROJECT_KEYS + VERIFICATION_KEYS + ACCOUNT_KEYS + GRANT_KEYS)),
        *["", " ", "role", "org_id", "OrgId", "roles ", "timeout", "type"],
    ]
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(VOCABULARY | st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
HOSTILE = st.one_of(JSON_VALUES, SECRET_VALUES, KEY_FILE_TEXTS, st.lists(SECRET_VALUES, min_size=1, max_size=2))


# Hostile values aimed at one key's rules, edge cases first. They hold no secrets (the leak property uses them
# too). Several aim at bugs the parser had before its refactor: a digit run beyond Python's int limit, integers
# beyond float range, dates whose UTC form leaves years 1-9999, URLs urllib refuses, a trailing newline.
ALL_MOMENTS = st.builds(lambda naive, zone: naive.replace(tzinfo=zone), st.datetimes(), OFFSETS)
ALL_ROLE_NAMES = st.sampled_from(ORG_ROLES + INSTANCE_ROLES + PROJECT_ROLES + PROJECT_GRANT_ROLES + ("ORG_GOD", ""))
FIELD_HOSTILE: dict[str, st.SearchStrategy[Any]] = {
    "seconds": st.one_of(
        st.sampled_from([0, -1, "0", "-0", 3600.000001, 600.000001, "1e309", "nan", math.nan, math.inf, True, "5s"]),
        st.integers(min_value=10**300, max_value=10**400),
    ),
    "whole": st.sampled_from(
        ["0", "-1", "65536", "36501", " 0080 ", "+80", "8_0", "\u0668\u0660", "1.0", 1.0, True, 2**70, "1" * 4301]
    ),
    "issuer": st.one_of(
        URLS,
        st.sampled_from(
            [
                "https://[abc",
                "https://[::1",
                "https://[::1]x",
                "https://a\uff03b.example",
                "https://acme\uff0fexample",
                "https://acme.example:99999",
                "https://acme.example:abc",
                "https://acme.example:",
                "https://user:pw@acme.example",
                "https:acme.example",
                "https://acme.example/?",
            ]
        ),
    ),
    "keyExpiration": st.one_of(
        ALL_MOMENTS.map(datetime.isoformat),
        st.datetimes().map(datetime.isoformat),
        st.sampled_from(["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", "2027"]),
    ),
    "name": st.one_of(
        NAMES.map(lambda name: name + "\n"),
        st.sampled_from(["CI", "ci_bot", "1ci", "-ci", "a" * 41, "ci\r", "ci\t", "ci\n\n", "\u0131"]),
    ),
    "domain": st.one_of(
        DNS_NAMES.filter(lambda host: "." in host.rstrip(".")).map(lambda host: host.replace(".", "\n.", 1)),
        st.sampled_from(
            [
                "fe80::1%eth0",
                "[::1]",
                "acme.example:443",
                "acme.example/",
                "a" * 64 + ".example",
                "a." * 127 + "a",
                "-a.example",
                "a_b.example",
                "\u00e9.example",
                "acme..example",
                "acme.example..",
            ]
        ),
    ),
    "id": st.sampled_from(["123\n", " 1 ", "1" * 33, "-1", -1, 1.0, True, "\uff10\uff11", "1e3", "0x10", [1], {}]),
    "userName": st.sampled_from(["ci bot", "ci\u00a0bot", "ci\u200bbot", "u" * 201, "ci\n", "\u3000", 7, ["ci"]]),
    "roles": st.one_of(
        st.lists(st.builds(lambda name, spell: spell(name), ALL_ROLE_NAMES, SPELLINGS), max_size=4),
        st.sampled_from([["ORG_OWNER", "org_owner"], [None], "ORG_OWNER", [["ORG_OWNER"]], [{"role": "ORG_OWNER"}]]),
    ),
    "names": st.one_of(
        st.lists(NAMES, max_size=3),
        st.sampled_from([["ci"], ["CI"], ["a", "a"], "old", [None], [["old"]], ["ci\n"]]),
    ),
    "displayName": st.sampled_from(["", " ", "\t\n", "x" * 201, " x ", "X", 5, None, ["ACME"]]),
    "bool": st.sampled_from(["maybe", "1", 1, 0, " TRUE ", "yes", "", [], 1.0]),
}
FIELD_OF_KEY = {
    "deadlineSeconds": "seconds",
    "refreshSettleSeconds": "seconds",
    "port": "whole",
    "keyLifetimeDays": "whole",
    "issuer": "issuer",
    "keyExpiration": "keyExpiration",
    "name": "name",
    "domain": "domain",
    "orgId": "id",
    "projectId": "id",
    "grantId": "id",
    "audience": "id",
    "userName": "userName",
    "roles": "roles",
    "instanceRoles": "roles",
    "rotateBeforeDays": "whole",
    "keyGeneration": "whole",
    "org": "name",
    "formerNames": "names",
    "displayName": "displayName",
    "insecure": "bool",
    "enabled": "bool",
    "preflight": "bool",
}


def draw_value(draw: st.DrawFn, key: str | int, values: st.SearchStrategy[Any]) -> Any:
    """A value for ``key``: one aimed at its rules as often as not, else any of ``values``."""
    aimed = FIELD_OF_KEY.get(key) if isinstance(key, str) else None
    value = draw(FIELD_HOSTILE[aimed]) if aimed is not None and draw(st.booleans()) else draw(values)
    # sampled_from hands out the same list each time: a later mutation must not change the next example's.
    return copy.deepcopy(value)


def _children(node: Any) -> list[tuple[str | int, Any]]:
    if isinstance(node, dict):
        return list(node.items())
    if isinstance(node, list):
        return list(enumerate(node))
    return []


def _paths(node: Any, prefix: Path = ()) -> list[Path]:
    """Every place below ``node`` that holds a value, as a path of keys and indices."""
    found: list[Path] = []
    for key, value in _children(node):
        found.append((*prefix, key))
        found += _paths(value, (*prefix, key))
    return found


def _containers(node: Any, prefix: Path = ()) -> list[Path]:
    found: list[Path] = [prefix] if isinstance(node, dict | list) else []
    for key, value in _children(node):
        found += _containers(value, (*prefix, key))
    return found


def _at(root: Any, path: Path) -> Any:
    node = root
    for step in path:
        node = node[step]
    return node


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[Config], values: st.SearchStrategy[Any]) -> Config:
    """A config with zero to three places broken: a value replaced or dropped, a key added, a list grown."""
    config = copy.deepcopy(draw(base))
    # Shrinks towards one mutation; Hypothesis favours the first entries, so "none" comes last.
    for _ in range(draw(st.sampled_from([1, 2, 1, 3, 0]))):
        # The two namespaces stay mappings (the engine hands over nothing else); all below them may change.
        places = [path for path in _paths(config) if len(path) > 1]
        action = draw(st.sampled_from(["replace", "replace", "replace", "drop", "add"]))
        if action in ("replace", "drop") and places:
            path = draw(st.sampled_from(places))
            parent = _at(config, path[:-1])
            if action == "replace":
                parent[path[-1]] = draw_value(draw, path[-1], values)
            else:
                del parent[path[-1]]
            note(f"{action} {path}")
            event(f"mutation: {action}")
        else:
            path = draw(st.sampled_from(_containers(config)[1:] or [("project",)]))
            parent = _at(config, path)
            if isinstance(parent, dict):
                key = draw(VOCABULARY | st.text(max_size=8))
                parent[key] = draw_value(draw, key, values)
                note(f"add {(*path, key)}")
                event("mutation: add")
            else:
                parent.append(draw(values))
                note(f"append to {path}")
                event("mutation: append")
    return config


def configs_only(pairs: st.SearchStrategy[tuple[Config, ExpectedConfig]]) -> st.SearchStrategy[Config]:
    return pairs.map(lambda pair: pair[0])


# --- what every outcome must satisfy -----------------------------------------------------------------------

_ACCOUNT_FIELD = "|".join(
    key for key in ACCOUNT_KEYS if key not in ("projectRoles", "projectGrantRoles", "formerNames")
)
_KNOWN_KEY = (
    rf"zitadel:(?:{'|'.join(PROVIDER_KEYS)})"
    r"|zitadel-bootstrap:(?:issuer|preflight"
    rf"|verification(?:\.(?:{'|'.join(VERIFICATION_KEYS)}))?"
    r"|organizations(?:\[\d+\](?:\.(?:name|displayName))?)?"
    r"|serviceAccounts(?:\[\d+\](?:"
    rf"\.(?:{_ACCOUNT_FIELD})"
    r"|\.formerNames(?:\[\d+\])?"
    r"|\.projectRoles(?:\[\d+\](?:\.(?:projectId|roles))?)?"
    r"|\.projectGrantRoles(?:\[\d+\](?:\.(?:projectId|grantId|roles))?)?"
    r")?)?)"
)
KNOWN_KEY_PROBLEM = re.compile(rf"(?P<key>{_KNOWN_KEY}): \S", re.S)
UNKNOWN_KEY_PROBLEM = re.compile(
    r"(?P<parent>zitadel-bootstrap:(?:verification|organizations\[\d+\]"
    r"|serviceAccounts\[\d+\](?:\.project(?:Grant)?Roles\[\d+\])?))"
    r"\.(?P<name>.*?): is not a known key",
    re.S,
)
_STEP = re.compile(r"([A-Za-z]+)|\[(\d+)\]")


def _resolve(key: str, config: Config) -> Any:
    """The config value a problem's key points at; fails the test if the key points outside the input."""
    namespace, _, rest = key.partition(":")
    node: Any = config["zitadel" if namespace == "zitadel" else "project"]
    steps = _STEP.findall(rest)
    for position, (name, index) in enumerate(steps):
        last = position == len(steps) - 1
        if name:
            assert isinstance(node, Mapping), f"{key}: {name} is read from a {type(node).__name__}"
            if last:
                return node.get(name)
            node = node.get(name)
        else:
            assert isinstance(node, list), f"{key}: [{index}] is read from a {type(node).__name__}"
            assert int(index) < len(node), f"{key}: [{index}] is not in the input"
            node = node[int(index)]
    return node


def assert_problems_name_their_keys(error: SettingsError, config: Config) -> None:
    assert error.problems, "a SettingsError without problems"
    assert "nothing was created" in str(error)
    for problem in error.problems:
        assert isinstance(problem, str)
        assert problem in str(error)
        unknown = UNKNOWN_KEY_PROBLEM.match(problem)
        if unknown is not None:
            parent = _resolve(unknown["parent"], config)
            if isinstance(parent, Mapping) and unknown["name"] in parent:
                event("problem: " + re.sub(r"\[\d+\]", "[]", unknown["parent"]) + ".<unknown key>")
                continue
        known = KNOWN_KEY_PROBLEM.match(problem)
        assert known is not None, f"problem does not start with a config key: {problem[:300]!r}"
        _resolve(known["key"], config)
        event("problem: " + re.sub(r"\[\d+\]", "[]", known["key"]))


def assert_invariants(result: Settings) -> None:
    """What a Settings promises to the components, whatever config it came from."""
    provider = result.provider
    assert provider.domain, provider
    assert not any(ch.isspace() for ch in provider.domain), provider
    assert 1 <= provider.port <= 65535
    parts = urlsplit(result.issuer)
    assert parts.scheme in ("http", "https"), result.issuer
    assert parts.hostname, result.issuer
    assert (parts.path, parts.query, parts.fragment, parts.username) == ("", "", "", None), result.issuer
    assert parts.port is None or 1 <= parts.port <= 65535, result.issuer
    assert not any(ch.isspace() for ch in result.issuer), result.issuer
    verification = result.verification
    assert isinstance(verification.enabled, bool)
    assert 0 < verification.deadline_seconds <= 3600
    assert 0 <= verification.refresh_settle_seconds <= 600
    assert isinstance(result.preflight, bool)
    organizations = {organization.name for organization in result.organizations}
    assert len(organizations) == len(result.organizations)
    folded = {organization.display_name.casefold() for organization in result.organizations}
    assert len(folded) == len(result.organizations)
    for organization in result.organizations:
        assert NAME_FORM.fullmatch(organization.name), organization
        assert organization.display_name == organization.display_name.strip(), organization
        assert 1 <= len(organization.display_name) <= 200, organization
    assert result.service_accounts
    names = [account.name for account in result.service_accounts]
    assert len(set(names)) == len(names)
    former = [name for account in result.service_accounts for name in account.former_names]
    assert len(set(former)) == len(former)
    assert not set(former) & set(names)
    users = [(account.org_id or account.org, account.user_name.lower()) for account in result.service_accounts]
    assert len(set(users)) == len(users)
    for account in result.service_accounts:
        assert NAME_FORM.fullmatch(account.name), account.name
        assert all(NAME_FORM.fullmatch(name) for name in account.former_names), account.former_names
        assert (account.org_id is None) != (account.org is None), account
        assert account.org_id is None or ID_FORM.fullmatch(account.org_id), account.org_id
        assert account.org is None or account.org in organizations, account.org
        assert 1 <= len(account.user_name) <= 200, account.user_name
        assert not any(ch.isspace() for ch in account.user_name), account.user_name
        assert account.display_name.strip()
        assert account.description is None or isinstance(account.description, str)
        assert account.access_token_type in ("ACCESS_TOKEN_TYPE_BEARER", "ACCESS_TOKEN_TYPE_JWT")
        assert account.audience == "zitadel" or ID_FORM.fullmatch(account.audience), account.audience
        assert_key_lifecycle(account.key_lifetime_days, account.key_expiration, account.rotate_before_days)
        assert 0 <= account.key_generation <= 1_000_000
        grants = account.grants_for(account.org_id or "1")
        assert grants
        for grant in grants:
            assert set(grant.roles) <= set(ROLES_BY_LEVEL[grant.level]), grant
            assert len(set(grant.roles)) == len(grant.roles), grant


def assert_key_lifecycle(lifetime: int | None, expiration: str | None, rotate_before: int | None) -> None:
    assert lifetime is None or expiration is None, (lifetime, expiration)
    assert expiration is None or EXPIRATION_FORM.fullmatch(expiration), expiration
    if lifetime is not None:
        assert 1 <= lifetime <= 36500
        # At most the default min(30, lifetime // 3), or a value given below the lifetime.
        assert rotate_before is not None, lifetime
        assert 0 <= rotate_before < lifetime or rotate_before == min(30, lifetime // 3), (lifetime, rotate_before)
    elif expiration is not None:
        assert rotate_before is not None, expiration
        assert 1 <= rotate_before <= 36500, rotate_before
    else:
        assert rotate_before is None, rotate_before


def parse(config: Config) -> Settings | SettingsError:
    """Settings or the SettingsError; any other exception fails the property as it is."""
    try:
        return parse_settings(config["project"], config["zitadel"], now=NOW)
    except SettingsError as error:
        return error


def check_outcome(config: Config, outcomes: Counter[str] | None = None) -> Settings | SettingsError:
    result = parse(config)
    kind = "valid" if isinstance(result, Settings) else "refused"
    event(kind)
    if outcomes is not None:
        outcomes[kind] += 1
    if isinstance(result, Settings):
        assert_invariants(result)
    else:
        assert_problems_name_their_keys(result, config)
    return result


# --- the properties ----------------------------------------------------------------------------------------


@FUZZ
@given(valid_configs())
def test_valid_configs_always_parse_and_keep_every_value(pair: tuple[Config, ExpectedConfig]) -> None:
    config, expected = pair
    result = parse(config)
    assert isinstance(result, Settings), result
    assert_invariants(result)
    assert result.provider.domain == expected.domain
    assert result.provider.insecure is expected.insecure
    assert result.provider.port == expected.port
    assert result.provider.jwt_profile_file == expected.jwt_profile_file
    assert result.issuer == expected.issuer
    assert result.verification.enabled is expected.enabled
    assert result.verification.deadline_seconds == expected.deadline_seconds
    assert result.verification.refresh_settle_seconds == expected.refresh_settle_seconds
    assert result.preflight is expected.preflight
    assert [(org.name, org.display_name) for org in result.organizations] == list(expected.organizations)
    assert len(result.service_accounts) == len(expected.accounts)
    for account, want in zip(result.service_accounts, expected.accounts, strict=True):
        assert (account.name, account.former_names) == (want.name, want.former_names)
        assert (account.org_id, account.org) == (want.org_id, want.org)
        assert (account.user_name, account.display_name) == (want.user_name, want.display_name)
        assert account.description == want.description
        assert account.access_token_type == want.access_token_type
        assert (account.roles, account.instance_roles) == (want.roles, want.instance_roles)
        assert (account.project_roles, account.project_grant_roles) == (want.project_roles, want.project_grant_roles)
        assert account.audience == want.audience
        assert (account.key_lifetime_days, account.key_expiration) == (want.key_lifetime_days, want.key_expiration)
        assert (account.rotate_before_days, account.key_generation) == (want.rotate_before_days, want.key_generation)
        org_id = want.org_id or "259254409320316419"  # a declared org's id exists only once it is created
        grants = [Grant(level="org", resource_id=org_id, roles=want.roles)] if want.roles else []
        grants += [Grant(level="instance", resource_id="", roles=want.instance_roles)] if want.instance_roles else []
        grants += [Grant(level="project", resource_id=project, roles=roles) for project, roles in want.project_roles]
        grants += [
            Grant(level="project_grant", resource_id=grant, roles=roles, project_id=project)
            for project, grant, roles in want.project_grant_roles
        ]
        assert account.grants_for(org_id) == tuple(grants)


def test_mutated_configs_give_settings_or_a_settings_error_naming_config_keys() -> None:
    outcomes: Counter[str] = Counter()

    @FUZZ
    @given(mutated(configs_only(valid_configs()), HOSTILE))
    def check(config: Config) -> None:
        check_outcome(config, outcomes)

    check()
    # The valid path must be exercised too, not only the refusals.
    assert outcomes["valid"] >= outcomes.total() // 10, outcomes
    assert outcomes["refused"] >= outcomes.total() // 2, outcomes


PROJECT_JUNK = st.dictionaries(st.sampled_from(PROJECT_KEYS) | st.text(max_size=8), HOSTILE, max_size=4)
PROVIDER_JUNK = st.dictionaries(st.sampled_from(PROVIDER_KEYS) | st.text(max_size=8), HOSTILE, max_size=6)


@FUZZ
@given(st.builds(lambda project, zitadel: {"project": project, "zitadel": zitadel}, PROJECT_JUNK, PROVIDER_JUNK))
def test_arbitrary_json_in_both_namespaces_gives_only_settings_errors(config: Config) -> None:
    check_outcome(config)


# --- secrets in the config never reach a problem -----------------------------------------------------------

SECRETS_OR_KEY_FILES = SECRET_VALUES | KEY_FILE_TEXTS
ONE_LINE_SECRETS = st.deferred(lambda: st.sampled_from(fake_secrets()))
# (place, what may be put there). The parser keeps these, or refuses them quoting only a redacted, shortened
# form (S7, fixed: a refused value is shown through redaction.shown), so a secret never reaches a problem.
QUIET_PLACES: tuple[tuple[str, st.SearchStrategy[Any]], ...] = (
    ("zitadel.jwtProfileJson", SECRETS_OR_KEY_FILES),
    ("zitadel.token", SECRET_VALUES),
    ("zitadel.jwtProfileFile", SECRETS_OR_KEY_FILES),
    ("zitadel.domain", SECRETS_OR_KEY_FILES),
    ("zitadel.port", SECRET_VALUES),
    ("project.issuer", SECRETS_OR_KEY_FILES),
    ("account.description", SECRETS_OR_KEY_FILES),
    ("account.displayName", SECRETS_OR_KEY_FILES),
    ("account.userName", SECRETS_OR_KEY_FILES),
    ("account.name", SECRETS_OR_KEY_FILES),
    ("account.orgId", SECRETS_OR_KEY_FILES),
    ("account.accessTokenType", SECRETS_OR_KEY_FILES),
    ("account.keyExpiration", SECRETS_OR_KEY_FILES),
    ("account.audience", SECRETS_OR_KEY_FILES),
    ("account.roles", SECRETS_OR_KEY_FILES.map(lambda secret: [secret])),
)


@st.composite
def configs_with_secrets(draw: st.DrawFn) -> Config:
    config = draw(mutated(configs_only(valid_configs()), JSON_VALUES))
    listed = config["project"].get("serviceAccounts")
    accounts = [entry for entry in listed if isinstance(entry, dict)] if isinstance(listed, list) else []
    used_user_names: set[str] = set()
    for place, values in draw(st.lists(st.sampled_from(QUIET_PLACES), min_size=1, max_size=4)):
        scope, key = place.split(".")
        secret = draw(values)
        if scope == "account":
            if not accounts:
                continue
            if key == "userName":
                if not isinstance(secret, str) or secret in used_user_names:
                    continue  # two equal user names in one org are reported by name, like any duplicate
                used_user_names.add(secret)
            draw(st.sampled_from(accounts))[key] = secret
        else:
            config[scope][key] = secret
        note(f"secret at {place}")
    return config


@FUZZ
@given(configs_with_secrets())
def test_secrets_placed_in_the_config_never_appear_in_a_problem(config: Config) -> None:
    result = check_outcome(config)
    if isinstance(result, SettingsError):
        # The message holds every problem line, so one scan covers them all.
        leaked = leaked_slice(str(result), secret_texts())
        assert leaked is None, f"secret slice {leaked!r} in {str(result)[:600]!r}"


def test_the_leak_check_finds_a_quoted_pem_key() -> None:
    # Guards the property above against a check that can never fire.
    key = pem_keys()[0]
    assert leaked_slice(f"got {key.pem!r}", secret_texts()) is not None
    assert leaked_slice(f"got {key.pem.encode()!r}", secret_texts()) is not None
    assert leaked_slice("zitadel:orgId: must be a numeric id, got 'acme'", secret_texts()) is None
