"""Stack config validation: every bad value fails before anything is created, naming its key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from zitadel_bootstrap.config import (
    SettingsError,
    derive_issuer,
    format_expiration,
    parse_settings,
)
from zitadel_bootstrap.verification.model import Grant

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
ORG = "259254409320316419"
PROJECT_ID = "259254409320316555"

ZITADEL = {"domain": "acme.zitadel.cloud", "jwtProfileFile": "admin.json"}


def account(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "ci", "orgId": ORG, "userName": "ci-bot"}
    entry.update(overrides)
    return entry


def parse(accounts: Any = None, zitadel: dict[str, Any] | None = None, **project: Any) -> Any:
    project.setdefault("serviceAccounts", [account()] if accounts is None else accounts)
    return parse_settings(project, ZITADEL if zitadel is None else zitadel, now=NOW)


def test_minimal_account_gets_org_owner_bearer_zitadel_audience_and_no_expiry() -> None:
    settings = parse()
    (sa,) = settings.service_accounts
    assert sa.grants == (Grant(level="org", resource_id=ORG, roles=("ORG_OWNER",)),)
    assert sa.roles == ("ORG_OWNER",)
    assert (sa.org_id, sa.org) == (ORG, None)
    assert sa.access_token_type == "ACCESS_TOKEN_TYPE_BEARER"
    assert sa.audience == "zitadel"
    assert (sa.key_lifetime_days, sa.key_expiration, sa.rotate_before_days) == (None, None, None)
    assert sa.key_generation == 0
    assert sa.former_names == ()
    assert sa.display_name == "ci-bot"
    assert settings.issuer == "https://acme.zitadel.cloud"
    assert settings.verification.deadline_seconds == 60.0
    assert settings.verification.refresh_settle_seconds == 5.0
    assert settings.organizations == ()
    assert settings.preflight is True


def test_issuer_is_derived_from_domain_port_and_insecure() -> None:
    assert derive_issuer("acme.example.com", 443, insecure=False) == "https://acme.example.com"
    assert derive_issuer("acme.example.com", 8443, insecure=False) == "https://acme.example.com:8443"
    assert derive_issuer("127.0.0.1", 80, insecure=True) == "http://127.0.0.1"
    assert derive_issuer("127.0.0.1", 41234, insecure=True) == "http://127.0.0.1:41234"


def test_insecure_provider_defaults_to_port_80_and_http_issuer() -> None:
    settings = parse(zitadel={"domain": "localhost", "insecure": "true", "jwtProfileFile": "k.json"})
    assert settings.provider.port == 80
    assert settings.issuer == "http://localhost"


def test_issuer_override_is_normalised_to_an_origin() -> None:
    settings = parse(issuer="https://login.acme.example/")
    assert settings.issuer == "https://login.acme.example"


def test_key_lifetime_days_is_kept_as_a_policy_not_turned_into_a_date() -> None:
    # The key-rotation resource dates the key with the program's clock; settings only keep the lifetime.
    (sa,) = parse([account(keyLifetimeDays=30)]).service_accounts
    assert sa.key_lifetime_days == 30
    assert sa.key_expiration is None


def test_absolute_expiration_in_another_zone_is_normalised_to_utc_z_form() -> None:
    (sa,) = parse([account(keyExpiration="2027-06-30T02:00:00+02:00")]).service_accounts
    assert sa.key_expiration == "2027-06-30T00:00:00Z"
    assert format_expiration(datetime(2030, 1, 2, 3, 4, 5, 999, tzinfo=UTC)) == "2030-01-02T03:04:05Z"


def test_all_four_manager_levels_become_grants() -> None:
    (sa,) = parse(
        [
            account(
                roles=["ORG_OWNER", "org_user_manager"],
                instanceRoles=["IAM_OWNER_VIEWER"],
                projectRoles=[{"projectId": PROJECT_ID, "roles": ["PROJECT_OWNER"]}],
                projectGrantRoles=[{"projectId": PROJECT_ID, "grantId": "42", "roles": ["PROJECT_GRANT_OWNER"]}],
            )
        ]
    ).service_accounts
    assert [g.level for g in sa.grants] == ["org", "instance", "project", "project_grant"]
    assert sa.grants == sa.grants_for(ORG)
    assert sa.instance_roles == ("IAM_OWNER_VIEWER",)
    assert sa.project_roles == ((PROJECT_ID, ("PROJECT_OWNER",)),)
    assert sa.project_grant_roles == ((PROJECT_ID, "42", ("PROJECT_GRANT_OWNER",)),)
    assert sa.grants[0].roles == ("ORG_OWNER", "ORG_USER_MANAGER")
    assert sa.grants[2] == Grant(level="project", resource_id=PROJECT_ID, roles=("PROJECT_OWNER",))
    assert sa.grants[3] == Grant(
        level="project_grant", resource_id="42", roles=("PROJECT_GRANT_OWNER",), project_id=PROJECT_ID
    )


def test_empty_org_roles_are_allowed_when_another_level_grants_something() -> None:
    (sa,) = parse([account(roles=[], instanceRoles=["IAM_OWNER"])]).service_accounts
    assert [g.level for g in sa.grants] == ["instance"]


def test_jwt_token_type_and_explicit_project_audience() -> None:
    (sa,) = parse([account(accessTokenType="jwt", audience=PROJECT_ID)]).service_accounts
    assert sa.access_token_type == "ACCESS_TOKEN_TYPE_JWT"
    assert sa.audience == PROJECT_ID


def test_same_user_name_in_two_orgs_is_allowed() -> None:
    settings = parse([account(), account(name="ci2", orgId="1234")])
    assert len(settings.service_accounts) == 2


SA = "zitadel-bootstrap:serviceAccounts[0]"

BAD_INPUTS: list[tuple[str, dict[str, Any], str, str]] = [
    # (case, overrides of the first account or of the config, key expected in the message, words expected)
    ("missing orgId", {"account": {"orgId": None}}, f"{SA}.orgId", "is required"),
    ("non-numeric orgId", {"account": {"orgId": "acme"}}, f"{SA}.orgId", "numeric"),
    ("missing userName", {"account": {"userName": ""}}, f"{SA}.userName", "is required"),
    ("userName with a space", {"account": {"userName": "ci bot"}}, f"{SA}.userName", "white space"),
    ("bad logical name", {"account": {"name": "CI_Bot"}}, f"{SA}.name", "lowercase"),
    ("unknown role", {"account": {"roles": ["ORG_GOD"]}}, f"{SA}.roles", "unknown role 'ORG_GOD'"),
    ("role at the wrong level", {"account": {"roles": ["IAM_OWNER"]}}, f"{SA}.roles", "move it to instanceRoles"),
    ("org role as instance role", {"account": {"instanceRoles": ["ORG_OWNER"]}}, f"{SA}.instanceRoles", "org-level"),
    ("roles not a list", {"account": {"roles": "ORG_OWNER"}}, f"{SA}.roles", "list of role names"),
    ("no grant at all", {"account": {"roles": []}}, f"{SA}.roles", "grants nothing"),
    ("past expiration", {"account": {"keyExpiration": "2020-01-01T00:00:00Z"}}, f"{SA}.keyExpiration", "past"),
    ("malformed expiration", {"account": {"keyExpiration": "next tuesday"}}, f"{SA}.keyExpiration", "RFC 3339"),
    ("expiration without zone", {"account": {"keyExpiration": "2030-01-01T00:00:00"}}, f"{SA}.keyExpiration", "zone"),
    (
        "both expiration forms",
        {"account": {"keyExpiration": "2030-01-01T00:00:00Z", "keyLifetimeDays": 3}},
        f"{SA}.keyExpiration",
        "not both",
    ),
    ("zero lifetime", {"account": {"keyLifetimeDays": 0}}, f"{SA}.keyLifetimeDays", "between 1 and 36500"),
    ("bad token type", {"account": {"accessTokenType": "MAC"}}, f"{SA}.accessTokenType", "BEARER or JWT"),
    ("bad audience", {"account": {"audience": "my-api"}}, f"{SA}.audience", "numeric project id"),
    ("unknown account key", {"account": {"role": ["ORG_OWNER"]}}, f"{SA}.role", "not a known key"),
    (
        "project role without projectId",
        {"account": {"projectRoles": [{"roles": ["PROJECT_OWNER"]}]}},
        f"{SA}.projectRoles[0].projectId",
        "is required",
    ),
    (
        "project grant without grantId",
        {"account": {"projectGrantRoles": [{"projectId": "1", "roles": ["PROJECT_GRANT_OWNER"]}]}},
        f"{SA}.projectGrantRoles[0].grantId",
        "is required",
    ),
    ("domain with scheme", {"zitadel": {"domain": "https://acme.zitadel.cloud"}}, "zitadel:domain", "without a scheme"),
    ("domain with path", {"zitadel": {"domain": "acme.zitadel.cloud/ui"}}, "zitadel:domain", "without a path"),
    ("domain with port", {"zitadel": {"domain": "acme.zitadel.cloud:8080"}}, "zitadel:domain", "zitadel:port"),
    ("missing domain", {"zitadel": {"domain": None}}, "zitadel:domain", "is required"),
    ("port out of range", {"zitadel": {"port": 70000}}, "zitadel:port", "between 1 and 65535"),
    ("insecure not a bool", {"zitadel": {"insecure": "maybe"}}, "zitadel:insecure", "true or false"),
    ("no provider credentials", {"zitadel": {"jwtProfileFile": None}}, "zitadel:jwtProfileFile", "credentials"),
    (
        "http issuer without insecure",
        {"project": {"issuer": "http://acme.example"}},
        "zitadel-bootstrap:issuer",
        "zitadel:insecure",
    ),
    (
        "issuer with a path",
        {"project": {"issuer": "https://acme.example/oauth"}},
        "zitadel-bootstrap:issuer",
        "without a path",
    ),
    ("issuer not a URL", {"project": {"issuer": "acme.example"}}, "zitadel-bootstrap:issuer", "absolute http(s) URL"),
    (
        "negative deadline",
        {"project": {"verification": {"deadlineSeconds": -1}}},
        "zitadel-bootstrap:verification.deadlineSeconds",
        "greater than 0",
    ),
    (
        "unknown verification key",
        {"project": {"verification": {"timeout": 3}}},
        "zitadel-bootstrap:verification.timeout",
        "not a known key",
    ),
    ("no service accounts", {"project": {"serviceAccounts": None}}, "zitadel-bootstrap:serviceAccounts", "is required"),
    (
        "empty service accounts",
        {"project": {"serviceAccounts": []}},
        "zitadel-bootstrap:serviceAccounts",
        "non-empty list",
    ),
]


@pytest.mark.parametrize(("case", "change", "key", "words"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_with_a_message_naming_the_key(
    case: str, change: dict[str, Any], key: str, words: str
) -> None:
    zitadel = {**ZITADEL, **change.get("zitadel", {})}
    project: dict[str, Any] = {"serviceAccounts": [account(**change.get("account", {}))]}
    project.update(change.get("project", {}))
    with pytest.raises(SettingsError) as caught:
        parse_settings(project, zitadel, now=NOW)
    message = str(caught.value)
    matching = [p for p in caught.value.problems if p.startswith(f"{key}:")]
    assert matching, f"{case}: no problem names {key}; got {caught.value.problems}"
    assert any(words in p for p in matching), f"{case}: {words!r} not in {matching}"
    assert "nothing was created" in message


def test_duplicate_names_and_user_names_in_one_org_are_both_reported() -> None:
    with pytest.raises(SettingsError) as caught:
        parse([account(), account(), account(name="other", userName="CI-BOT")])
    problems = caught.value.problems
    assert any(p.startswith("zitadel-bootstrap:serviceAccounts[1].name:") and "duplicates" in p for p in problems)
    assert any(p.startswith("zitadel-bootstrap:serviceAccounts[2].userName:") and "unique per" in p for p in problems)


def test_every_problem_is_reported_at_once_not_only_the_first() -> None:
    with pytest.raises(SettingsError) as caught:
        parse([account(orgId="x", userName="", accessTokenType="nope")], zitadel={"domain": "http://x"})
    keys = {p.split(":", 2)[0] + ":" + p.split(":", 2)[1] for p in caught.value.problems}
    assert len(caught.value.problems) >= 4, caught.value.problems
    assert "zitadel:domain" in keys


def test_jwt_profile_json_and_file_together_are_refused() -> None:
    with pytest.raises(SettingsError, match="zitadel:jwtProfileJson: set either"):
        parse(zitadel={**ZITADEL, "jwtProfileJson": "set"})
