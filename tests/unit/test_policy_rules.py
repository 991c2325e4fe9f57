"""The guardrails policy pack's decisions (policy/rules.py) and how it reads the SDK's data (policy/pack.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi_policy.policy as sdk_policy
import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy import pack, rules
from policy.rules import UNKNOWN, Resource

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
STACK_URN = "urn:pulumi:dev::zitadel-bootstrap::pulumi:pulumi:Stack::zitadel-bootstrap-dev"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----\n"
KEY_FILE = '{"type":"serviceaccount","keyId":"1","key":"' + PEM.replace("\n", "\\n") + '","userId":"2"}'


def sa_urn(name: str) -> str:
    return f"urn:pulumi:dev::zitadel-bootstrap::pulumi:pulumi:Stack$zitadel-bootstrap:index:ServiceAccount::{name}"


def child_urn(type_: str, name: str) -> str:
    return (
        f"urn:pulumi:dev::zitadel-bootstrap::pulumi:pulumi:Stack$zitadel-bootstrap:index:ServiceAccount${type_}::{name}"
    )


def wire_secret(value: Any) -> dict[str, Any]:
    return {rules.SIG_KEY: rules.SECRET_SIG, "value": value}


# --- URNs and accounts --------------------------------------------------------------------------------------------


def test_the_account_is_the_name_of_the_parent_service_account() -> None:
    assert rules.account_of(sa_urn("ci-deployer")) == "ci-deployer"
    assert rules.urn_type_and_name(sa_urn("ci")) == (rules.SERVICE_ACCOUNT_TYPE, "ci")


def test_a_resource_without_a_service_account_parent_has_no_account() -> None:
    assert rules.account_of(STACK_URN) is None
    assert rules.account_of(None) is None
    assert rules.account_of("ci-instance-member") is None
    assert rules.urn_type_and_name("urn:pulumi:dev::project") is None


# --- options --------------------------------------------------------------------------------------------------------


def test_options_default_to_365_days_and_empty_allow_lists() -> None:
    assert rules.max_key_days({}) == 365
    assert rules.max_key_days({"maxDays": 90}) == 90
    assert rules.allowed_accounts({}, rules.NO_INSTANCE_OWNER) == frozenset()
    assert rules.allowed_accounts({"allowedAccounts": ["root"]}, rules.ACCOUNT_VERIFIED) == {"root"}


@pytest.mark.parametrize("value", [0, 36501, 1.5, "90", True])
def test_an_invalid_max_days_is_refused_by_name(value: object) -> None:
    with pytest.raises(ValueError, match=r"machine-key-expiry\.maxDays"):
        rules.max_key_days({"maxDays": value})


@pytest.mark.parametrize("value", ["root", [1], None])
def test_an_invalid_allow_list_is_refused_by_name(value: object) -> None:
    with pytest.raises(ValueError, match=r"no-instance-iam-owner\.allowedAccounts"):
        rules.allowed_accounts({"allowedAccounts": value}, rules.NO_INSTANCE_OWNER)


# --- rule 1: machine-key-expiry -----------------------------------------------------------------------------------


def expiry(expiration: object, *, account: str | None = "ci", max_days: int = 365) -> str | None:
    return rules.key_expiry_violation(
        account=account, resource="ci-key", expiration=expiration, now=NOW, max_days=max_days
    )


def at(days: float) -> str:
    return (NOW + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_key_expiring_within_max_days_passes() -> None:
    assert expiry(at(365)) is None
    assert expiry(at(30)) is None
    assert expiry(at(-1)) is None, "an expired key is the rotation's business, not this rule's"
    assert expiry(at(400), max_days=400) is None


def test_a_key_expiring_after_max_days_is_named_with_its_days() -> None:
    assert expiry(at(400)) == (
        f'service account "ci": machine key ci-key expires {at(400)}, in 400 days; machine-key-expiry allows at '
        f"most 365 days: set keyLifetimeDays or keyExpiration within 365 days, or raise maxDays of "
        f"machine-key-expiry"
    )
    one_second_late = (NOW + timedelta(days=365, seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "in 366 days" in (expiry(one_second_late) or "")


@pytest.mark.parametrize("expiration", ["9999-12-31T23:59:59Z", "9999-01-01T00:00:00+00:00"])
def test_a_key_that_never_expires_violates_the_rule(expiration: str) -> None:
    message = expiry(expiration) or ""
    assert message.startswith('service account "ci": machine key ci-key never expires'), message


def test_a_key_without_expiration_date_gets_zitadels_never() -> None:
    assert "has no expirationDate: ZITADEL gives it 9999-12-31T23:59:59Z, so it never expires" in (expiry(None) or "")
    assert expiry("") == expiry(None)


def test_an_expiration_unknown_at_preview_fails_closed() -> None:
    message = expiry(UNKNOWN) or ""
    assert "not known during this preview" in message
    assert "machine-key-expiry cannot check" in message


@pytest.mark.parametrize("expiration", ["2027-01-01", "2027-01-01T00:00:00", "soon", "2027-13-01T00:00:00Z", 5])
def test_an_unreadable_expiration_is_a_violation(expiration: object) -> None:
    message = expiry(expiration) or ""
    assert message.startswith('service account "ci": machine key ci-key has'), message


def test_a_key_outside_any_service_account_is_named_by_its_resource() -> None:
    message = expiry(at(500), account=None) or ""
    assert message.startswith("machine key ci-key (not part of a zitadel-bootstrap ServiceAccount) expires")


def test_rfc3339_parsing_needs_a_zone() -> None:
    assert rules.parse_rfc3339("2027-01-01T00:00:00Z") == datetime(2027, 1, 1, tzinfo=UTC)
    assert rules.parse_rfc3339("2027-01-01T01:00:00.5+01:00") == datetime(2027, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert rules.parse_rfc3339("2027-01-01T00:00:00") is None


# --- rule 2: no-instance-iam-owner --------------------------------------------------------------------------------


def owner(roles: object, *, account: str | None = "root", allowed: frozenset[str] = frozenset()) -> str | None:
    return rules.instance_owner_violation(
        account=account, resource=f"{account}-instance-member", roles=roles, allowed=allowed
    )


def test_instance_iam_owner_is_refused_naming_the_account() -> None:
    assert owner(["IAM_OWNER_VIEWER", "IAM_OWNER"]) == (
        'service account "root": instance member root-instance-member grants IAM_OWNER on the whole instance; '
        "no-instance-iam-owner allows that only for allow-listed accounts: grant a narrower role "
        '(IAM_OWNER_VIEWER, or ORG_OWNER at the org level), or add "root" to allowedAccounts of '
        "no-instance-iam-owner (now: none)"
    )


def test_an_allow_listed_account_may_hold_instance_iam_owner() -> None:
    assert owner(["IAM_OWNER"], allowed=frozenset({"root"})) is None
    assert 'now: "ops"' in (owner(["IAM_OWNER"], allowed=frozenset({"ops"})) or "")


def test_other_instance_roles_pass() -> None:
    assert owner(["IAM_OWNER_VIEWER", "IAM_ORG_MANAGER"]) is None
    assert owner([]) is None


def test_a_member_outside_any_service_account_cannot_be_allow_listed() -> None:
    message = owner(["IAM_OWNER"], account=None, allowed=frozenset({"None", "root"})) or ""
    assert message.startswith("instance member None-instance-member (not part of a zitadel-bootstrap")
    assert "declare it through a service account" in message


def test_roles_unknown_at_preview_fail_closed() -> None:
    assert "not known during this preview" in (owner(UNKNOWN) or "")


# --- rule 3: key-material-secret ----------------------------------------------------------------------------------


def test_secret_paths_are_found_at_any_depth() -> None:
    wire = {
        "machineKeys": wire_secret({"ci": "x"}),
        "serviceAccounts": {"ci": {"keyJson": wire_secret("x"), "keyId": "1"}},
        "list": ["a", wire_secret("b")],
        "plain": "x",
    }
    assert rules.secret_paths(wire) == {
        ("machineKeys",),
        ("serviceAccounts", "ci", "keyJson"),
        ("list", "1"),
    }


def test_a_path_inside_a_secret_is_covered() -> None:
    secrets = frozenset({("machineKeys",)})
    assert rules.is_covered(("machineKeys", "ci"), secrets)
    assert rules.is_covered(("machineKeys",), secrets)
    assert not rules.is_covered(("serviceAccounts", "ci"), secrets)


def test_plaintext_private_keys_are_found_outside_secrets_only() -> None:
    props = {
        "keyDetails": KEY_FILE,
        "nested": {"list": ["ok", KEY_FILE], "unknown": UNKNOWN},
        "machineKeys": {"ci": KEY_FILE},
    }
    secrets = frozenset({("keyDetails",), ("machineKeys", "ci")})
    assert list(rules.plaintext_private_keys(props, secrets)) == [("nested", "list", "1")]


def stack(outputs: dict[str, Any], secrets: set[tuple[str, ...]] | None) -> Resource:
    """The root stack resource with its outputs; ``secrets`` None: the probe did not run."""
    seen = None if secrets is None else frozenset(secrets)
    return Resource(STACK_URN, rules.STACK_TYPE, "zitadel-bootstrap-dev", None, outputs, seen)


def machine_key(
    account: str, *, aso: tuple[str, ...] = ("keyDetails",), outputs: dict[str, Any] | None = None
) -> Resource:
    secrets = {("keyDetails",)} if "keyDetails" in (outputs or {}) else set()
    return Resource(
        child_urn(rules.MACHINE_KEY_TYPE, f"{account}-key"),
        rules.MACHINE_KEY_TYPE,
        f"{account}-key",
        sa_urn(account),
        outputs or {},
        frozenset(secrets),
        aso,
    )


def verification(account: str, *, aso: tuple[str, ...] = ("key_json",)) -> Resource:
    return Resource(
        child_urn(rules.VERIFICATION_TYPE, f"{account}-verification"),
        rules.VERIFICATION_TYPE,
        f"{account}-verification",
        sa_urn(account),
        {"key_json": UNKNOWN},
        frozenset({("key_json",)}),
        aso,
    )


def service_account(name: str) -> Resource:
    return Resource(sa_urn(name), rules.SERVICE_ACCOUNT_TYPE, name, STACK_URN, {}, frozenset())


def test_a_stack_with_key_material_only_in_secrets_passes() -> None:
    resources = [
        stack({"machineKeys": {"ci": KEY_FILE}, "issuer": "https://x"}, {("machineKeys",)}),
        machine_key("ci", outputs={"keyDetails": KEY_FILE}),
        verification("ci"),
    ]
    assert rules.key_material_violations(resources) == []
    entry_by_entry = stack({"machineKeys": {"ci": KEY_FILE}}, {("machineKeys", "ci")})
    assert rules.key_material_violations([entry_by_entry]) == []


def test_missing_additional_secret_outputs_are_named_by_account() -> None:
    found = rules.key_material_violations([machine_key("ci", aso=()), verification("ci", aso=())])
    assert [v.message.split(":")[0:2] for v in found] == [
        ['service account "ci"', " machine key ci-key does not list keyDetails in additionalSecretOutputs"],
        ['service account "ci"', " verification ci-verification does not list key_json in additionalSecretOutputs"],
    ]
    assert [v.urn for v in found] == [machine_key("ci").urn, verification("ci").urn]


def test_a_plaintext_machine_keys_output_names_the_exposed_accounts() -> None:
    known = stack({"machineKeys": {"ci": KEY_FILE, "ops": KEY_FILE}}, {("machineKeys", "ops")})
    messages = [v.message for v in rules.key_material_violations([known])]
    assert messages[0].startswith('stack output machineKeys is not a secret: the key files of service account "ci"')
    assert messages[1] == (
        'service account "ci": stack output machineKeys.ci holds a private key in plaintext, not as a secret '
        "(key-material-secret)"
    )
    assert len(messages) == 2


def test_a_plaintext_machine_keys_output_unknown_at_preview_names_every_account_with_a_key() -> None:
    unknown = stack({"machineKeys": UNKNOWN}, set())
    found = rules.key_material_violations([unknown, machine_key("ci"), machine_key("ops")])
    assert [v.message.split(" would")[0] for v in found] == [
        'stack output machineKeys is not a secret: the key files of service accounts "ci", "ops"'
    ]


def test_a_private_key_in_any_plaintext_output_is_named_by_resource_and_path() -> None:
    leaky = replace(machine_key("ci"), props={"copy": KEY_FILE}, secret_paths=frozenset())
    (found,) = rules.key_material_violations([leaky])
    assert found.message == (
        'service account "ci": zitadel:index/machineKey:MachineKey ci-key: output copy holds a private key in '
        "plaintext, not as a secret (key-material-secret)"
    )


def test_without_secret_paths_the_rule_says_it_is_blind_instead_of_passing() -> None:
    (found,) = rules.key_material_violations([stack({"machineKeys": {"ci": KEY_FILE}}, None)])
    assert found.message.startswith("key-material-secret cannot tell secrets from plaintext")
    assert found.urn is None


# --- rule 4: service-account-verified -----------------------------------------------------------------------------


def test_every_service_account_needs_a_verification_child_unless_allow_listed() -> None:
    resources = [service_account("ci"), verification("ci"), service_account("batch"), service_account("legacy")]
    found = rules.unverified_violations(resources, frozenset({"legacy"}))
    assert [v.urn for v in found] == [sa_urn("batch")]
    assert found[0].message.startswith(
        'service account "batch" is not verified: it has no zitadel-bootstrap:index:JwtBearerVerification child'
    )
    assert 'add "batch" to allowedAccounts of service-account-verified' in found[0].message


def test_a_verification_of_another_account_does_not_count() -> None:
    found = rules.unverified_violations([service_account("a"), verification("b")], frozenset())
    assert [v.urn for v in found] == [sa_urn("a")]


# --- the pack: what the SDK hands a policy ------------------------------------------------------------------------


def sdk_props(wire: dict[str, Any]) -> Any:
    """Properties as the SDK's Analyze hands them to a policy (after the probe, if installed)."""
    return unknown_checking_proxy(sdk_policy.deserialize_properties(wire))  # type: ignore[attr-defined]


def test_the_probe_records_secret_paths_and_keeps_values_as_the_sdk_gives_them() -> None:
    assert pack.install_secret_probe()
    assert pack.install_secret_probe(), "installing twice keeps one probe"
    props = sdk_props({"keyDetails": wire_secret(KEY_FILE), "expirationDate": "2027-01-01T00:00:00Z"})
    assert props["keyDetails"] == KEY_FILE
    assert pack.seen_secret_paths(props) == frozenset({("keyDetails",)})
    assert pack.plain(props) == {"keyDetails": KEY_FILE, "expirationDate": "2027-01-01T00:00:00Z"}


def test_plain_values_mark_what_is_unknown_at_preview() -> None:
    pack.install_secret_probe()
    props = sdk_props({"expirationDate": UNKNOWN_STRING_VALUE, "roles": ["IAM_OWNER", UNKNOWN_STRING_VALUE]})
    assert pack.plain(props) == {"expirationDate": UNKNOWN, "roles": ["IAM_OWNER", UNKNOWN]}


def resource_args(type_: str, name: str, account: str, wire: dict[str, Any], config: dict[str, Any]) -> Any:
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], sa_urn(account))
    return ResourceValidationArgs(type_, sdk_props(wire), child_urn(type_, name), name, options, None, config)


def test_the_key_expiry_policy_reads_the_machine_keys_input_and_its_options() -> None:
    reported: list[str] = []
    far = (datetime.now(UTC) + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    args = resource_args(rules.MACHINE_KEY_TYPE, "ci-key", "ci", {"expirationDate": far}, {"maxDays": 365})
    pack.validate_key_expiry(args, lambda message, _urn: reported.append(message))
    assert len(reported) == 1
    assert reported[0].startswith('service account "ci": machine key ci-key expires')
    reported.clear()
    args = resource_args(rules.MACHINE_KEY_TYPE, "ci-key", "ci", {"expirationDate": far}, {"maxDays": 500})
    pack.validate_key_expiry(args, lambda message, _urn: reported.append(message))
    assert reported == []
    args = resource_args(rules.MACHINE_KEY_TYPE, "ci-key", "ci", {"expirationDate": UNKNOWN_STRING_VALUE}, {})
    pack.validate_key_expiry(args, lambda message, _urn: reported.append(message))
    assert "not known during this preview" in reported[0]


def test_the_instance_owner_policy_reads_roles_and_the_allow_list() -> None:
    reported: list[str] = []
    wire = {"roles": ["IAM_OWNER"], "userId": UNKNOWN_STRING_VALUE}
    for allowed in ([], ["root"]):
        args = resource_args(
            rules.INSTANCE_MEMBER_TYPE, "root-instance-member", "root", wire, {"allowedAccounts": allowed}
        )
        pack.validate_instance_owner(args, lambda message, _urn: reported.append(message))
    assert len(reported) == 1
    assert reported[0].startswith('service account "root": instance member root-instance-member grants IAM_OWNER')


def test_the_pack_has_one_policy_per_rule_with_its_options() -> None:
    policies = {policy.name: policy for policy in pack.policies()}
    assert list(policies) == [
        rules.KEY_EXPIRY,
        rules.NO_INSTANCE_OWNER,
        rules.KEY_MATERIAL_SECRET,
        rules.ACCOUNT_VERIFIED,
    ]
    schema = policies[rules.KEY_EXPIRY].config_schema
    assert schema is not None
    assert schema.properties["maxDays"]["default"] == 365
    for name in (rules.NO_INSTANCE_OWNER, rules.ACCOUNT_VERIFIED):
        allow_list = policies[name].config_schema
        assert allow_list is not None
        assert allow_list.properties["allowedAccounts"]["default"] == []
