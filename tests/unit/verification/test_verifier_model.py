"""Request validation shared by the library, the CLI and the provider, and the JSON shape of results."""

from __future__ import annotations

import json

import pytest
from zitadel_bootstrap.verification import (
    Grant,
    InvalidInputError,
    MachineKey,
    RetryPolicy,
    VerificationRequest,
    VerificationResult,
)

from .helpers import ORG_ID


def _request(key: MachineKey, **overrides: object) -> VerificationRequest:
    values: dict[str, object] = {"issuer": "https://acme.zitadel.cloud", "key": key}
    values.update(overrides)
    return VerificationRequest(**values)  # type: ignore[arg-type]


def test_plain_http_issuer_needs_insecure(machine_key: MachineKey) -> None:
    with pytest.raises(InvalidInputError, match="plain http") as caught:
        _request(machine_key, issuer="http://localhost:8080")
    assert caught.value.field == "issuer"
    assert _request(machine_key, issuer="http://localhost:8080", insecure=True).issuer == "http://localhost:8080"


@pytest.mark.parametrize(
    "issuer",
    [
        "acme.zitadel.cloud",
        "https://acme.zitadel.cloud/oauth",
        "ftp://acme",
        "https://acme?x=1",
        "https://u:p@acme",
        "",
    ],
)
def test_issuer_must_be_an_http_origin(machine_key: MachineKey, issuer: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _request(machine_key, issuer=issuer)
    assert caught.value.field == "issuer"


def test_issuer_trailing_slash_is_dropped_because_aud_must_match_exactly(machine_key: MachineKey) -> None:
    assert _request(machine_key, issuer="https://acme.zitadel.cloud/").issuer == "https://acme.zitadel.cloud"


def test_scope_asks_for_openid_and_the_project_audience(machine_key: MachineKey) -> None:
    assert _request(machine_key).scope == "openid urn:zitadel:iam:org:project:id:zitadel:aud"
    assert _request(machine_key, audience="170079991923474433").scope.endswith(":id:170079991923474433:aud")


@pytest.mark.parametrize(
    ("level", "resource_id", "roles", "message"),
    [
        ("tenant", ORG_ID, ("ORG_OWNER",), "Unknown grant level"),
        ("instance", ORG_ID, ("IAM_OWNER",), "no resource id"),
        ("org", "", ("ORG_OWNER",), "resource_id must be a non-empty"),
        ("project", "1 2", ("PROJECT_OWNER",), "whitespace"),
        ("org", ORG_ID, "ORG_OWNER", "list of non-empty role names"),
        ("org", ORG_ID, ("",), "list of non-empty role names"),
    ],
)
def test_invalid_grants_are_refused(level: str, resource_id: str, roles: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Grant(level, resource_id, roles)  # type: ignore[arg-type]


def test_the_same_membership_twice_is_refused(machine_key: MachineKey) -> None:
    grants = (Grant("org", ORG_ID, ("ORG_OWNER",)), Grant("org", ORG_ID, ("ORG_USER_MANAGER",)))
    with pytest.raises(InvalidInputError, match="same membership twice"):
        _request(machine_key, grants=grants)


@pytest.mark.parametrize(
    "overrides",
    [
        {"deadline_seconds": 0},
        {"deadline_seconds": -1},
        {"settle_seconds": -0.1},
        {"request_timeout_seconds": float("nan")},
        {"initial_backoff": 2.0, "max_backoff": 1.0},
    ],
)
def test_unusable_retry_policies_are_refused(overrides: dict[str, float]) -> None:
    with pytest.raises(InvalidInputError):
        RetryPolicy(**overrides)


def test_result_to_dict_is_snake_case_and_json_safe() -> None:
    result = VerificationResult(
        verified=True,
        user_id="1",
        key_id="2",
        org_id="3",
        roles_found={"org:3": ("ORG_OWNER",), "instance": ()},
        token_type="Bearer",
        token_format="opaque",
        expires_in=43199,
        attempts=4,
        elapsed_seconds=0.123456,
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["roles_found"] == {"instance": [], "org:3": ["ORG_OWNER"]}
    assert data["elapsed_seconds"] == 0.123
    assert set(data) == {
        "verified", "user_id", "key_id", "org_id", "roles_found", "token_type", "token_format",
        "expires_in", "attempts", "elapsed_seconds", "failure_kind", "failure",
    }  # fmt: skip
