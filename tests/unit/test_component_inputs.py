# mypy: disallow-untyped-decorators=False
# (pulumi.runtime.test is an untyped decorator)
"""The ServiceAccount's inputs are checked before anything exists: each problem names its input (the schema's
camelCase, plus the Python name where that differs), all are reported at once, and a ServiceAccount with a bad
input registers no resource at all, not even itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pulumi
import pytest
from zitadel_bootstrap import ServiceAccount, ServiceAccountArgs, ServiceAccountInputError, clock
from zitadel_bootstrap.component.inputs import ProviderDefaults, ServiceAccountSpec, check_inputs

ORG = "259254409320316419"
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
CLOUD = ProviderDefaults(domain="acme.zitadel.cloud")
VALID: dict[str, Any] = {"user_name": "ci-bot", "org_id": ORG}


def check(provider: ProviderDefaults = CLOUD, **changes: Any) -> ServiceAccountSpec:
    return check_inputs("ci", {**VALID, **changes}, provider=provider, now=NOW)


def problems_of(provider: ProviderDefaults = CLOUD, **changes: Any) -> tuple[str, ...]:
    with pytest.raises(ServiceAccountInputError) as caught:
        check(provider, **changes)
    return caught.value.problems


# --- check_inputs: each problem names its input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"roles": ["ORG_OWNERR"]}, "roles: unknown role 'ORG_OWNERR'; roles at the org level are "),
        ({"org_id": "acme"}, "orgId (Python: org_id): must be a numeric ZITADEL organization id"),
        ({"key_expiration": "2026-01-01T00:00:00Z"}, "keyExpiration (Python: key_expiration): is in the past"),
        (
            {"key_lifetime_days": 30, "key_expiration": "2027-06-01T00:00:00Z"},
            "keyExpiration (Python: key_expiration): set either keyExpiration or keyLifetimeDays, not both",
        ),
        ({"key_lifetime_days": 30.5}, "keyLifetimeDays (Python: key_lifetime_days): must be a whole number"),
        (
            {"key_lifetime_days": 30, "rotate_before_days": 40},
            "rotateBeforeDays (Python: rotate_before_days): must be smaller than keyLifetimeDays",
        ),
        ({"user_name": ""}, "userName (Python: user_name): is required"),
        ({"access_token_type": "OPAQUE"}, "accessTokenType (Python: access_token_type): must be BEARER or JWT"),
        (
            {"instance_roles": ["ORG_OWNER"]},
            "instanceRoles (Python: instance_roles): ORG_OWNER is a org-level role and cannot be granted at the "
            "instance level",
        ),
        (
            {"project_roles": [{"project_id": "x", "roles": ["PROJECT_OWNER"]}]},
            "projectRoles[0].projectId (Python: project_roles[0].project_id): must be a numeric ZITADEL project id",
        ),
        (
            {"project_grant_roles": [{"project_id": "77", "grant_id": "g", "roles": ["PROJECT_GRANT_OWNER"]}]},
            "projectGrantRoles[0].grantId (Python: project_grant_roles[0].grant_id): must be a numeric",
        ),
        ({"verify": "yes"}, "verify: must be true or false"),
        ({"verify_deadline_seconds": 0}, "verifyDeadlineSeconds (Python: verify_deadline_seconds): must be a number"),
        ({"issuer": "http://zitadel.local"}, "issuer: The issuer 'http://zitadel.local' uses plain http"),
        ({"colour": "red"}, "colour: is not an input of ServiceAccount; inputs are user_name, org_id, "),
        ({"userName": "ci-bot"}, "userName: is not an input of ServiceAccount; in Python it is user_name"),
    ],
)
def test_a_bad_input_is_refused_naming_the_input(changes: dict[str, Any], expected: str) -> None:
    (problem,) = problems_of(**changes)
    assert problem.startswith(expected), problem


def test_every_problem_is_reported_at_once_and_the_message_says_nothing_was_created() -> None:
    with pytest.raises(ServiceAccountInputError) as caught:
        check(roles=["ORG_OWNERR"], org_id="acme", colour="red")
    error = caught.value
    expected = ("colour: ", "orgId (Python: org_id): ", "roles: ")
    assert len(error.problems) == len(expected)
    assert all(problem.startswith(start) for problem, start in zip(error.problems, expected, strict=True))
    assert str(error).startswith("ServiceAccount 'ci' has invalid inputs; nothing was created:\n  - colour: ")
    # The engine prints a RunError's message alone, without a traceback that would bury it.
    assert isinstance(error, pulumi.RunError)
    assert isinstance(error, ValueError)


def test_whole_numbers_that_the_engine_hands_over_as_floats_are_accepted() -> None:
    # The component host turns a YAML `keyLifetimeDays: 30` into 30.0.
    account = check(key_lifetime_days=30.0, rotate_before_days=10.0, key_generation=2.0).account
    assert (account.key_lifetime_days, account.rotate_before_days, account.key_generation) == (30, 10, 2)
    assert all(type(value) is int for value in (account.key_lifetime_days, account.rotate_before_days))


def test_a_valid_account_is_named_after_the_component_with_the_config_defaults() -> None:
    spec = check()
    assert spec.account.name == "ci"
    assert spec.account.roles == ("ORG_OWNER",)
    assert spec.account.display_name == "ci-bot"
    assert (spec.verification.enabled, spec.issuer, spec.insecure) == (True, "https://acme.zitadel.cloud", False)


@pytest.mark.parametrize(
    ("provider", "issuer", "insecure"),
    [
        (ProviderDefaults(domain="acme.zitadel.cloud"), "https://acme.zitadel.cloud", False),
        (ProviderDefaults(domain="zitadel.example", port=8443), "https://zitadel.example:8443", False),
        (ProviderDefaults(domain="localhost", port=8080, insecure=True), "http://localhost:8080", True),
        (ProviderDefaults(domain="zitadel.local", insecure=True), "http://zitadel.local", True),
    ],
)
def test_the_issuer_defaults_to_the_programs_zitadel_domain_port_and_insecure(
    provider: ProviderDefaults, issuer: str, insecure: bool
) -> None:
    spec = check(provider)
    assert (spec.issuer, spec.insecure) == (issuer, insecure)


def test_an_explicit_issuer_wins_over_the_zitadel_domain() -> None:
    assert check(issuer="https://other.zitadel.cloud").issuer == "https://other.zitadel.cloud"


def test_the_issuer_is_required_when_the_program_has_no_zitadel_domain() -> None:
    (problem,) = problems_of(ProviderDefaults())
    assert problem.startswith("issuer: is required when the program's zitadel:domain is not set")
    assert check(ProviderDefaults(), issuer="https://acme.zitadel.cloud").issuer == "https://acme.zitadel.cloud"


# --- the component: nothing is registered on bad input -----------------------------------------------------------


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    #: Every resource the SDK asked the monitor to register, in order, the component itself included (the stack
    #: the mocks make for themselves is left out).
    registered: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.created.append(args.name)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    with clock.use(clock.Clock(now=NOW.timestamp, monotonic=lambda: 0.0, sleep=lambda _seconds: None)):
        yield


@pytest.fixture
def mocks() -> Iterator[RecordingMocks]:
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="zitadel-bootstrap", stack="unit", preview=False)
    monitor: Any = pulumi.runtime.settings.get_monitor()
    register = monitor.RegisterResource

    def recording_register(request: Any) -> Any:
        if request.type != "pulumi:pulumi:Stack":
            recorder.registered.append(request.name)
        return register(request)

    monitor.RegisterResource = recording_register
    yield recorder
    pulumi.runtime.set_all_config({})


def refused(inputs: dict[str, Any]) -> ServiceAccountInputError:
    """Declare a ServiceAccount under the test runtime; return the error it raised, once every RPC has finished."""
    raised: list[ServiceAccountInputError] = []

    @pulumi.runtime.test
    def program() -> None:
        try:
            ServiceAccount("ci", cast(ServiceAccountArgs, inputs))
        except ServiceAccountInputError as error:
            raised.append(error)

    program()
    assert raised, "the ServiceAccount was declared"
    return raised[0]


def test_a_service_account_with_role_org_ownerr_registers_no_resource_at_all(mocks: RecordingMocks) -> None:
    error = refused({**VALID, "issuer": "https://acme.zitadel.cloud", "roles": ["ORG_OWNERR"]})
    assert error.problems[0].startswith("roles: unknown role 'ORG_OWNERR'")
    # Not the user, not the key, not the component itself: nothing reached the engine.
    assert mocks.registered == []
    assert mocks.created == []


def test_a_later_valid_service_account_still_registers_after_a_refused_one(mocks: RecordingMocks) -> None:
    refused({**VALID, "issuer": "https://acme.zitadel.cloud", "roles": ["ORG_OWNERR"]})

    @pulumi.runtime.test
    def program() -> None:
        ServiceAccount("ok", ServiceAccountArgs(user_name="ok", org_id=ORG, issuer="https://acme.zitadel.cloud"))

    program()
    assert mocks.registered[0] == "ok"
    assert {"ok", "ok-user", "ok-key", "ok-key-rotation", "ok-org-member", "ok-verification"} == set(mocks.created)


def test_a_bad_input_is_refused_before_registration_even_while_the_org_id_is_still_unknown(
    mocks: RecordingMocks,
) -> None:
    created_org = pulumi.Output.from_input(ORG)
    error = refused({"user_name": "ci-bot", "org_id": created_org, "issuer": "https://acme.zitadel.cloud", "verify": 3})
    assert error.problems == ("verify: must be true or false, got 3",)
    assert mocks.registered == []


def test_only_the_org_id_may_come_from_another_resource(mocks: RecordingMocks) -> None:
    late = pulumi.Output.from_input("ci-bot")
    error = refused({**VALID, "issuer": "https://acme.zitadel.cloud", "user_name": late})
    (problem,) = error.problems
    assert problem.startswith("userName (Python: user_name): must be a value known when the program runs")
    assert mocks.registered == []


def test_the_component_reads_the_issuer_default_from_the_programs_zitadel_config(mocks: RecordingMocks) -> None:
    pulumi.runtime.set_all_config({"zitadel:domain": "localhost", "zitadel:port": "8080", "zitadel:insecure": "true"})
    issuers: list[Any] = []

    @pulumi.runtime.test
    def program() -> None:
        ServiceAccount("ci", ServiceAccountArgs(user_name="ci-bot", org_id=ORG))

    original = RecordingMocks.new_resource

    def recording(self: RecordingMocks, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.name == "ci-verification":
            issuers.append((args.inputs["issuer"], args.inputs["insecure"]))
        return original(self, args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RecordingMocks, "new_resource", recording)
        program()
    assert issuers == [("http://localhost:8080", True)]


def test_without_a_zitadel_domain_or_an_issuer_the_component_registers_nothing(mocks: RecordingMocks) -> None:
    error = refused(dict(VALID))
    assert error.problems[0].startswith("issuer: is required when the program's zitadel:domain is not set")
    assert mocks.registered == []


def test_an_org_id_that_arrived_as_a_float_is_refused_with_the_way_out() -> None:
    # Pulumi YAML hands a config value of digits over as a number: 396472808707001110 arrives as 3.964728087070011e17.
    with pytest.raises(ServiceAccountInputError) as refused:
        check_inputs(
            "robot",
            {"user_name": "robot", "org_id": 3.964728087070011e17},
            provider=ProviderDefaults(domain="zitadel.example.com"),
            now=NOW,
        )
    assert len(refused.value.problems) == 1
    assert refused.value.problems[0].startswith("orgId (Python: org_id): arrived as the number 3.964728087070011e+17")
    assert 'orgId: "259254409320316419"' in refused.value.problems[0]
