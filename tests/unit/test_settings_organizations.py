"""Organizations declared in the stack config, and service accounts that name theirs by orgId or by org."""

from __future__ import annotations

from typing import Any

import pytest
from zitadel_bootstrap.config import OrganizationSettings, SettingsError, parse_settings
from zitadel_bootstrap.verification.model import Grant

from .test_settings import NOW, ORG, PROJECT_ID, ZITADEL, account, parse

ORGS = "zitadel-bootstrap:organizations"
SA = "zitadel-bootstrap:serviceAccounts"


def in_org(org: Any = "acme", **overrides: Any) -> dict[str, Any]:
    entry = account(org=org, **overrides)
    del entry["orgId"]
    return entry


def problems_of(project: dict[str, Any]) -> tuple[str, ...]:
    project.setdefault("serviceAccounts", [account()])
    with pytest.raises(SettingsError) as caught:
        parse_settings(project, ZITADEL, now=NOW)
    return caught.value.problems


def only_problem_at(key: str, project: dict[str, Any]) -> str:
    problems = problems_of(project)
    matching = [p for p in problems if p.startswith(f"{key}:")]
    assert len(matching) == 1, f"expected one problem at {key}, got {problems}"
    return matching[0]


def test_declared_organizations_keep_their_names_and_default_the_display_name_to_the_name() -> None:
    settings = parse(
        [in_org("acme")],
        organizations=[
            {"name": "acme", "displayName": "  ACME Corp "},
            {"name": "beta"},
            {"name": "c", "displayName": None},
        ],
    )
    assert settings.organizations == (
        OrganizationSettings(name="acme", display_name="ACME Corp"),
        OrganizationSettings(name="beta", display_name="beta"),
        OrganizationSettings(name="c", display_name="c"),
    )


def test_an_account_in_a_declared_org_has_roles_but_grants_only_for_a_resolved_org_id() -> None:
    (sa,) = parse(
        [
            in_org(
                instanceRoles=["IAM_OWNER_VIEWER"], projectRoles=[{"projectId": PROJECT_ID, "roles": ["PROJECT_OWNER"]}]
            )
        ],
        organizations=[{"name": "acme"}],
    ).service_accounts
    assert (sa.org, sa.org_id) == ("acme", None)
    assert sa.roles == ("ORG_OWNER",)
    with pytest.raises(ValueError, match="grants_for"):
        _ = sa.grants
    assert sa.grants_for("777") == (
        Grant(level="org", resource_id="777", roles=("ORG_OWNER",)),
        Grant(level="instance", resource_id="", roles=("IAM_OWNER_VIEWER",)),
        Grant(level="project", resource_id=PROJECT_ID, roles=("PROJECT_OWNER",)),
    )


def test_an_empty_organizations_list_is_allowed() -> None:
    assert parse(organizations=[]).organizations == ()


def test_org_and_org_id_together_are_refused_on_org() -> None:
    problem = only_problem_at(
        f"{SA}[0].org", {"organizations": [{"name": "acme"}], "serviceAccounts": [account(org="acme")]}
    )
    assert "set either org or orgId, not both" in problem


def test_an_account_without_org_or_org_id_is_refused_on_org_id_naming_both() -> None:
    entry = account()
    del entry["orgId"]
    problem = only_problem_at(f"{SA}[0].orgId", {"serviceAccounts": [entry]})
    assert "is required" in problem
    assert "set org to the name of an entry of zitadel-bootstrap:organizations" in problem


def test_an_unknown_org_is_refused_listing_the_declared_names() -> None:
    problem = only_problem_at(
        f"{SA}[0].org", {"organizations": [{"name": "beta"}, {"name": "acme"}], "serviceAccounts": [in_org("acne")]}
    )
    assert "declared: acme, beta" in problem
    assert "'acne'" in problem


def test_an_org_when_none_is_declared_says_so() -> None:
    assert "it declares none" in only_problem_at(f"{SA}[0].org", {"serviceAccounts": [in_org("acme")]})


def test_an_org_that_is_not_a_name_is_refused() -> None:
    problem = only_problem_at(
        f"{SA}[0].org", {"organizations": [{"name": "acme"}], "serviceAccounts": [in_org(["acme"])]}
    )
    assert "must be the name of an entry of zitadel-bootstrap:organizations" in problem


def test_org_references_are_not_judged_against_an_unreadable_organizations_list() -> None:
    problems = problems_of({"organizations": "acme", "serviceAccounts": [in_org("acme")]})
    assert [p.split(":", 2)[1] for p in problems] == ["organizations"], problems


def test_duplicate_organization_names_name_the_duplicate_and_the_first_index() -> None:
    problem = only_problem_at(
        f"{ORGS}[2].name", {"organizations": [{"name": "acme"}, {"name": "beta"}, {"name": "acme", "displayName": "X"}]}
    )
    assert f"duplicates the name 'acme' of {ORGS}[0]" in problem


def test_duplicate_display_names_are_refused_ignoring_case_and_blanks() -> None:
    problem = only_problem_at(
        f"{ORGS}[1].displayName",
        {"organizations": [{"name": "a", "displayName": "ACME"}, {"name": "b", "displayName": " acme "}]},
    )
    assert f"of {ORGS}[0]" in problem
    assert "ZITADEL refuses two organizations with the same name" in problem


def test_a_display_name_equal_to_another_orgs_default_is_a_duplicate() -> None:
    problem = only_problem_at(
        f"{ORGS}[1].displayName", {"organizations": [{"name": "acme"}, {"name": "b", "displayName": "acme"}]}
    )
    assert "duplicates the displayName" in problem


BAD_ORGS: list[tuple[str, Any, str, str]] = [
    ("not a list", {"name": "acme"}, ORGS, "must be a list of {name, displayName} objects"),
    ("entry not an object", ["acme"], f"{ORGS}[0]", "must be an object with name"),
    ("bad name", [{"name": "Acme Corp"}], f"{ORGS}[0].name", "lowercase"),
    ("missing name", [{"displayName": "Acme"}], f"{ORGS}[0].name", "lowercase"),
    ("blank display name", [{"name": "acme", "displayName": "  "}], f"{ORGS}[0].displayName", "not blank"),
    ("long display name", [{"name": "acme", "displayName": "x" * 201}], f"{ORGS}[0].displayName", "1-200 characters"),
    ("display name not text", [{"name": "acme", "displayName": 5}], f"{ORGS}[0].displayName", "1-200 characters"),
    ("unknown key", [{"name": "acme", "domain": "acme.example"}], f"{ORGS}[0].domain", "not a known key"),
]


@pytest.mark.parametrize(("case", "value", "key", "words"), BAD_ORGS, ids=[b[0] for b in BAD_ORGS])
def test_bad_organizations_are_refused_naming_their_key(case: str, value: Any, key: str, words: str) -> None:
    assert words in only_problem_at(key, {"organizations": value}), case


def test_user_names_are_unique_per_declared_org_name() -> None:
    orgs = [{"name": "acme"}, {"name": "beta"}]
    settings = parse([in_org("acme"), in_org("beta", name="b"), account(name="c")], organizations=orgs)
    assert len(settings.service_accounts) == 3
    problem = only_problem_at(
        f"{SA}[1].userName",
        {"organizations": orgs, "serviceAccounts": [in_org("acme"), in_org("acme", name="b", userName="CI-bot")]},
    )
    assert f"of {SA}[0] in organization 'acme'" in problem


def test_preflight_defaults_to_true_and_reads_false() -> None:
    assert parse().preflight is True
    assert parse(preflight="false").preflight is False
    assert parse(preflight=False).preflight is False


def test_preflight_that_is_not_a_boolean_is_refused() -> None:
    assert "true or false" in only_problem_at("zitadel-bootstrap:preflight", {"preflight": "maybe"})


def test_an_account_keeps_its_numeric_org_id_beside_declared_orgs() -> None:
    (sa,) = parse([account()], organizations=[{"name": "acme"}]).service_accounts
    assert (sa.org_id, sa.org) == (ORG, None)
