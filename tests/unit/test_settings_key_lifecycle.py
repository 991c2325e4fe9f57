"""A key's lifecycle in the stack config: keyLifetimeDays or keyExpiration, rotateBeforeDays, keyGeneration."""

from __future__ import annotations

from typing import Any

import pytest
from zitadel_bootstrap.config import SettingsError, parse_settings

from .test_settings import NOW, ZITADEL, account, parse

SA = "zitadel-bootstrap:serviceAccounts[0]"


def problems_of(**overrides: Any) -> tuple[str, ...]:
    with pytest.raises(SettingsError) as caught:
        parse_settings({"serviceAccounts": [account(**overrides)]}, ZITADEL, now=NOW)
    return caught.value.problems


def problem_at(key: str, **overrides: Any) -> str:
    problems = problems_of(**overrides)
    matching = [p for p in problems if p.startswith(f"{key}:")]
    assert len(matching) == 1, f"expected one problem at {key}, got {problems}"
    return matching[0]


@pytest.mark.parametrize(
    ("policy", "rotate_before_days"),
    [
        ({"keyLifetimeDays": 90}, 30),
        ({"keyLifetimeDays": 365}, 30),
        ({"keyLifetimeDays": 30}, 10),
        ({"keyLifetimeDays": 3}, 1),
        ({"keyLifetimeDays": 2}, 0),
        ({"keyLifetimeDays": 1}, 0),
        ({"keyExpiration": "2027-06-30T00:00:00Z"}, 30),
        ({}, None),
    ],
    ids=["lifetime-90", "lifetime-365", "lifetime-30", "lifetime-3", "lifetime-2", "lifetime-1", "fixed", "none"],
)
def test_rotate_before_days_defaults_to_min_30_and_a_third_of_the_lifetime_or_30_for_a_fixed_date(
    policy: dict[str, Any], rotate_before_days: int | None
) -> None:
    (sa,) = parse([account(**policy)]).service_accounts
    assert sa.rotate_before_days == rotate_before_days


def test_an_explicit_rotate_before_days_below_the_lifetime_is_kept() -> None:
    (sa,) = parse([account(keyLifetimeDays="90", rotateBeforeDays=" 7 ")]).service_accounts
    assert (sa.key_lifetime_days, sa.rotate_before_days, sa.key_expiration) == (90, 7, None)


def test_a_fixed_expiration_allows_rotate_before_days_up_to_36500() -> None:
    (sa,) = parse([account(keyExpiration="2027-06-30T02:00:00+02:00", rotateBeforeDays=36500)]).service_accounts
    assert (sa.key_expiration, sa.rotate_before_days, sa.key_lifetime_days) == ("2027-06-30T00:00:00Z", 36500, None)


def test_key_generation_defaults_to_0_and_keeps_the_number_given() -> None:
    first, second, third = parse(
        [
            account(),
            account(name="b", userName="b", keyGeneration=3),
            account(name="c", userName="c", keyGeneration="0"),
        ]
    ).service_accounts
    assert (first.key_generation, second.key_generation, third.key_generation) == (0, 3, 0)


def test_rotate_before_days_not_below_the_lifetime_names_the_key_and_both_values() -> None:
    problem = problem_at(f"{SA}.rotateBeforeDays", keyLifetimeDays=10, rotateBeforeDays=15)
    assert "smaller than keyLifetimeDays" in problem
    assert "rotateBeforeDays 15" in problem
    assert "keyLifetimeDays 10" in problem


def test_rotate_before_days_equal_to_the_lifetime_is_refused() -> None:
    assert "smaller than keyLifetimeDays" in problem_at(
        f"{SA}.rotateBeforeDays", keyLifetimeDays=30, rotateBeforeDays=30
    )


def test_rotate_before_days_without_an_expiry_is_refused() -> None:
    problem = problem_at(f"{SA}.rotateBeforeDays", rotateBeforeDays=10)
    assert "needs keyLifetimeDays or keyExpiration: a key without expiry never rotates" in problem


BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("rotate 0", {"keyLifetimeDays": 90, "rotateBeforeDays": 0}, "rotateBeforeDays", "between 1 and 36500 days"),
    ("rotate negative", {"keyLifetimeDays": 90, "rotateBeforeDays": -1}, "rotateBeforeDays", "between 1 and 36500"),
    ("rotate a word", {"keyLifetimeDays": 90, "rotateBeforeDays": "soon"}, "rotateBeforeDays", "whole number"),
    ("rotate a float", {"keyLifetimeDays": 90, "rotateBeforeDays": 1.5}, "rotateBeforeDays", "whole number"),
    (
        "rotate beyond 36500 with a date",
        {"keyExpiration": "2030-01-01T00:00:00Z", "rotateBeforeDays": 36501},
        "rotateBeforeDays",
        "between 1 and 36500",
    ),
    ("generation negative", {"keyGeneration": -1}, "keyGeneration", "between 0 and 1000000"),
    ("generation too big", {"keyGeneration": 10**7}, "keyGeneration", "between 0 and 1000000"),
    ("generation a bool", {"keyGeneration": True}, "keyGeneration", "whole number"),
    ("generation a word", {"keyGeneration": "next"}, "keyGeneration", "rotate the key at the next `pulumi up`"),
    ("lifetime too long", {"keyLifetimeDays": 36501}, "keyLifetimeDays", "between 1 and 36500 days"),
    ("lifetime huge digits", {"keyLifetimeDays": "9" * 5000}, "keyLifetimeDays", "between 1 and 36500 days"),
    ("lifetime a float", {"keyLifetimeDays": 1.5}, "keyLifetimeDays", "whole number"),
    (
        "expiration beyond year 9999 in UTC",
        {"keyExpiration": "9999-12-31T23:59:59-01:00"},
        "keyExpiration",
        "latest date ZITADEL accepts",
    ),
    ("expiration not text", {"keyExpiration": 20270630}, "keyExpiration", "RFC 3339"),
]


@pytest.mark.parametrize(("case", "overrides", "field", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_key_lifecycle_values_are_refused_naming_their_key(
    case: str, overrides: dict[str, Any], field: str, words: str
) -> None:
    assert words in problem_at(f"{SA}.{field}", **overrides), case


def test_both_expiry_forms_are_refused_on_key_expiration_and_each_is_still_checked() -> None:
    problems = problems_of(keyExpiration="2020-01-01T00:00:00Z", keyLifetimeDays=0)
    assert any(p.startswith(f"{SA}.keyExpiration:") and "not both" in p for p in problems)
    assert any(p.startswith(f"{SA}.keyExpiration:") and "past" in p for p in problems)
    assert any(p.startswith(f"{SA}.keyLifetimeDays:") for p in problems)


def test_a_key_expiration_in_the_past_is_judged_against_the_injected_now() -> None:
    # One second after NOW is the future for this run, whatever the wall clock says.
    (sa,) = parse([account(keyExpiration="2026-11-28T12:00:01Z")]).service_accounts
    assert sa.key_expiration == "2026-11-28T12:00:01Z"
    assert "past" in problem_at(f"{SA}.keyExpiration", keyExpiration="2026-11-28T12:00:00Z")
