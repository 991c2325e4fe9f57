"""formerNames: earlier logical names of an account, kept as Pulumi aliases so a rename keeps the user and key."""

from __future__ import annotations

from typing import Any

import pytest
from zitadel_bootstrap.config import SettingsError, parse_settings

from .test_settings import NOW, ZITADEL, account, parse

SA = "zitadel-bootstrap:serviceAccounts"


def only_problem_at(key: str, accounts: list[dict[str, Any]]) -> str:
    with pytest.raises(SettingsError) as caught:
        parse_settings({"serviceAccounts": accounts}, ZITADEL, now=NOW)
    matching = [p for p in caught.value.problems if p.startswith(f"{key}:")]
    assert len(matching) == 1, f"expected one problem at {key}, got {caught.value.problems}"
    return matching[0]


def test_former_names_are_kept_in_order() -> None:
    (sa,) = parse([account(name="deployer", formerNames=["ci", "ci-old"])]).service_accounts
    assert sa.former_names == ("ci", "ci-old")


def test_a_former_name_that_is_not_a_logical_name_is_refused() -> None:
    assert "lowercase" in only_problem_at(f"{SA}[0].formerNames[1]", [account(formerNames=["old", "Old_CI"])])


def test_former_names_must_be_a_list() -> None:
    assert "must be a list" in only_problem_at(f"{SA}[0].formerNames", [account(formerNames="old")])


def test_a_former_name_listed_twice_is_refused() -> None:
    assert "lists 'old' twice" in only_problem_at(f"{SA}[0].formerNames[1]", [account(formerNames=["old", "old"])])


def test_a_former_name_that_is_a_current_name_is_refused() -> None:
    problem = only_problem_at(
        f"{SA}[1].formerNames[0]", [account(name="ci"), account(name="cd", userName="cd", formerNames=["ci"])]
    )
    assert f"is the name of {SA}[0]" in problem


def test_an_accounts_own_name_as_former_name_is_refused() -> None:
    assert "this account's own name" in only_problem_at(f"{SA}[0].formerNames[0]", [account(formerNames=["ci"])])


def test_a_former_name_of_two_accounts_is_refused_on_the_second() -> None:
    problem = only_problem_at(
        f"{SA}[1].formerNames[0]",
        [account(formerNames=["old"]), account(name="cd", userName="cd", formerNames=["old"])],
    )
    assert f"duplicates the former name 'old' of {SA}[0].formerNames[0]" in problem


def test_a_clash_after_a_refused_entry_is_not_reported_at_a_wrong_position() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings({"serviceAccounts": [account(formerNames=["Bad", "ci"])]}, ZITADEL, now=NOW)
    assert [p.split(":", 2)[1] for p in caught.value.problems] == ["serviceAccounts[0].formerNames[0]"]
