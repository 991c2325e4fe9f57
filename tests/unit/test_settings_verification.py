"""The verification keys and the issuer: one set of limits and one issuer rule for settings and the verifier."""

from __future__ import annotations

from typing import Any

import pytest
from zitadel_bootstrap import limits
from zitadel_bootstrap.config import SettingsError, parse_settings
from zitadel_bootstrap.verification.errors import InvalidInputError
from zitadel_bootstrap.verification.model import validate_issuer, validate_seconds
from zitadel_bootstrap.verification.props import VerificationProps

from .test_settings import NOW, ZITADEL, account, parse

VERIFICATION = "zitadel-bootstrap:verification"
ISSUER = "zitadel-bootstrap:issuer"


def problems_of(project: dict[str, Any], zitadel: dict[str, Any] | None = None) -> tuple[str, ...]:
    project.setdefault("serviceAccounts", [account()])
    with pytest.raises(SettingsError) as caught:
        parse_settings(project, zitadel or ZITADEL, now=NOW)
    return caught.value.problems


@pytest.mark.parametrize(("value", "seconds"), [(0, 0.0), ("0", 0.0), (-0.0, 0.0), (2.5, 2.5), (600, 600.0)])
def test_refresh_settle_seconds_accepts_0_up_to_the_limit(value: Any, seconds: float) -> None:
    settings = parse(verification={"refreshSettleSeconds": value})
    assert settings.verification.refresh_settle_seconds == seconds


@pytest.mark.parametrize("value", [-1, 600.5, "nan", "inf", 10**400, True, "soon"])
def test_refresh_settle_seconds_outside_0_to_600_is_refused(value: Any) -> None:
    (problem,) = problems_of({"verification": {"refreshSettleSeconds": value}})
    assert problem.startswith(f"{VERIFICATION}.refreshSettleSeconds: must be a number of seconds from 0 to 600")


@pytest.mark.parametrize("value", [0, -0.5, 3600.5, 10**400, "1e400"])
def test_deadline_seconds_must_be_above_0_and_at_most_the_limit(value: Any) -> None:
    (problem,) = problems_of({"verification": {"deadlineSeconds": value}})
    assert problem.startswith(f"{VERIFICATION}.deadlineSeconds: must be a number of seconds greater than 0")
    assert "at most 3600" in problem


def test_settings_and_the_verifier_share_the_refresh_settle_limit() -> None:
    top = limits.MAX_REFRESH_SETTLE_SECONDS
    assert parse(verification={"refreshSettleSeconds": top}).verification.refresh_settle_seconds == top
    assert validate_seconds(top, "refresh_settle_seconds", allow_zero=True, maximum=top) == top
    inputs = {"issuer": "https://acme.example", "key_json": "{}", "grants": [{"level": "instance", "roles": ["X"]}]}
    props = VerificationProps.from_inputs({**inputs, "org_id": "1", "refresh_settle_seconds": top})
    assert props.refresh_settle_seconds == top
    with pytest.raises(InvalidInputError, match="at most 600 seconds"):
        VerificationProps.from_inputs({**inputs, "org_id": "1", "refresh_settle_seconds": top + 1})
    assert problems_of({"verification": {"refreshSettleSeconds": top + 1}})


def test_verification_defaults_come_from_limits() -> None:
    verification = parse().verification
    assert verification.deadline_seconds == limits.DEFAULT_DEADLINE_SECONDS
    assert verification.refresh_settle_seconds == limits.DEFAULT_REFRESH_SETTLE_SECONDS


ISSUERS = [
    "https://login.acme.example",
    "https://login.acme.example/",
    " https://login.acme.example:8443 ",
    "http://localhost:8080",
    "https://[::1]:443",
    "https://acme.example:99999",
    "https://acme.example:0",
    "https://[abc",
    "https://a\uff03b",
    "https://user:pw@acme.example",
    "https://acme.example/oauth",
    "https://acme.example?x=1",
    "ftp://acme.example",
    "acme.example",
]


@pytest.mark.parametrize("insecure", [False, True])
@pytest.mark.parametrize("issuer", ISSUERS)
def test_the_issuer_override_is_accepted_exactly_when_the_verifier_accepts_it(issuer: str, insecure: bool) -> None:
    zitadel = {**ZITADEL, "insecure": insecure}
    try:
        expected = validate_issuer(issuer, insecure=insecure)
    except InvalidInputError:
        problems = problems_of({"issuer": issuer}, zitadel)
        assert [p.split(": ", 1)[0] for p in problems] == [ISSUER], problems
    else:
        assert parse(issuer=issuer, zitadel=zitadel).issuer == expected


def test_an_http_issuer_without_insecure_says_how_to_fix_it() -> None:
    (problem,) = problems_of({"issuer": "http://acme.example"})
    assert problem.startswith(f"{ISSUER}: the issuer 'http://acme.example' uses plain http")
    assert "set zitadel:insecure to true" in problem


def test_an_issuer_that_is_not_text_is_refused() -> None:
    (problem,) = problems_of({"issuer": 443})
    assert problem.startswith(f"{ISSUER}: must be an absolute http(s) URL")
