"""Values that used to escape the validator as exceptions are problems naming their key now.

Each case is one of the known bugs the property tests kept out of their strategies (S1-S6, and mappings with
keys that are not strings); parse_settings raises SettingsError and nothing else.
"""

from __future__ import annotations

from typing import Any

import pytest
from zitadel_bootstrap.config import SettingsError, parse_settings

from .test_settings import NOW, ZITADEL, account

SA = "zitadel-bootstrap:serviceAccounts[0]"

CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    # (case, project changes, provider changes, the key the problem names)
    (
        "S1 deadline beyond float range",
        {"verification": {"deadlineSeconds": 10**400}},
        {},
        "verification.deadlineSeconds",
    ),
    (
        "S1 settle beyond float range",
        {"verification": {"refreshSettleSeconds": -(10**400)}},
        {},
        "verification.refreshSettleSeconds",
    ),
    ("S2 port of 5000 digits", {}, {"port": "9" * 5000}, "zitadel:port"),
    (
        "S2 lifetime of 5000 digits",
        {"serviceAccounts": [account(keyLifetimeDays="1" * 5000)]},
        {},
        f"{SA}.keyLifetimeDays",
    ),
    ("S3 issuer urllib cannot split", {"issuer": "https://[abc"}, {}, "issuer"),
    ("S3 issuer with a fullwidth number sign", {"issuer": "https://a\uff03b"}, {}, "issuer"),
    (
        "S4 expiration beyond year 9999",
        {"serviceAccounts": [account(keyExpiration="9999-12-31T23:59:59-01:00")]},
        {},
        f"{SA}.keyExpiration",
    ),
    ("S5 name with a trailing newline", {"serviceAccounts": [account(name="ci\n")]}, {}, f"{SA}.name"),
    ("S5 domain label with a trailing newline", {}, {"domain": "acme\n.example.com"}, "zitadel:domain"),
    ("S6 issuer port out of range", {"issuer": "https://acme.example:99999"}, {}, "issuer"),
    ("a key that is not a string", {"serviceAccounts": [{**account(), 1: "x"}]}, {}, f"{SA}.1"),
    ("an org id beyond int printing", {"serviceAccounts": [account(orgId=10**5000)]}, {}, f"{SA}.orgId"),
    ("an audience beyond int printing", {"serviceAccounts": [account(audience=10**5000)]}, {}, f"{SA}.audience"),
    (
        "project roles naming a project twice",
        {
            "serviceAccounts": [
                account(
                    projectRoles=[
                        {"projectId": "1", "roles": ["PROJECT_OWNER"]},
                        {"projectId": "1", "roles": ["PROJECT_OWNER_VIEWER"]},
                    ]
                )
            ]
        },
        {},
        f"{SA}.projectRoles[1].projectId",
    ),
    (
        "project grant roles naming a grant twice",
        {
            "serviceAccounts": [
                account(
                    projectGrantRoles=[
                        {"projectId": "1", "grantId": "2", "roles": ["PROJECT_GRANT_OWNER"]},
                        {"projectId": "3", "grantId": "2", "roles": ["PROJECT_GRANT_OWNER"]},
                    ]
                )
            ]
        },
        {},
        f"{SA}.projectGrantRoles[1].grantId",
    ),
]


def full_key(key: str) -> str:
    return key if key.startswith(("zitadel:", "zitadel-bootstrap:")) else f"zitadel-bootstrap:{key}"


@pytest.mark.parametrize(("case", "project", "zitadel", "key"), CASES, ids=[c[0] for c in CASES])
def test_hostile_values_give_a_settings_error_naming_the_key(
    case: str, project: dict[str, Any], zitadel: dict[str, Any], key: str
) -> None:
    config = {"serviceAccounts": [account()], **project}
    with pytest.raises(SettingsError) as caught:
        parse_settings(config, {**ZITADEL, **zitadel}, now=NOW)
    assert any(p.startswith(f"{full_key(key)}:") for p in caught.value.problems), (case, caught.value.problems)
    assert len(str(caught.value)) < 2000, "a long value is cut in its message"


def test_a_namespace_that_is_not_a_mapping_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="zitadel-bootstrap: the config namespace must be a mapping"):
        parse_settings(["serviceAccounts"], ZITADEL, now=NOW)  # type: ignore[arg-type]


def test_an_account_entry_that_is_not_an_object_keeps_the_indices_of_the_others() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings({"serviceAccounts": ["ci", account(), account()]}, ZITADEL, now=NOW)
    assert any(p.startswith("zitadel-bootstrap:serviceAccounts[2].name:") for p in caught.value.problems)
