"""The guardrails policy pack: four policies over ``policy.rules``, and what they see of the engine's data.

Resource policies (rules 1 and 2) run on each resource's inputs as the program registers it, before its step
runs; stack policies (rules 3 and 4) run on every resource's outputs at the end of a preview or an update.
``pulumi up`` runs a preview first, so a mandatory violation of any rule stops it before anything is created.

What a policy cannot see through pulumi-policy's API: whether a value is a secret. The engine sends secrets in
their wire form (``{sig: secret, value: ...}``), and the SDK unwraps them before a policy gets the properties
(pulumi/pulumi-policy#241). ``install_secret_probe`` wraps the SDK's deserializer (a private module function of
pulumi-policy 1.21.0) so that each resource's properties also carry ``SECRET_PATHS``: the paths of the values
that arrived as secrets. Without it, rule 3 reports that it is blind instead of passing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import pulumi_policy.deserialize as sdk_deserialize
import pulumi_policy.policy as sdk_policy
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyPack,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policy import rules

PACK_NAME: Final = "zitadel-bootstrap-guardrails"
#: A synthetic property that the probe adds to each resource's deserialized properties (never sent back).
SECRET_PATHS: Final = "__zitadelBootstrapSecretPaths"  # noqa: S105 (a property name)
_PROBE_MARK: Final = "_zitadel_bootstrap_secret_probe"

Deserializer = Callable[..., dict[str, Any]]


# --- what the policy sees -----------------------------------------------------------------------------------------


def install_secret_probe() -> bool:
    """Make the SDK record which properties arrived as secrets; False if this SDK has no such hook."""
    original = getattr(sdk_policy, "deserialize_properties", None)
    if not callable(original):
        return False
    if getattr(original, _PROBE_MARK, False):
        return True
    if (sdk_deserialize.SPECIAL_SIG_KEY, sdk_deserialize.SPECIAL_SECRET_SIG) != (rules.SIG_KEY, rules.SECRET_SIG):
        return False
    # The servicer looks the function up in its module at each call: replacing it there is the whole hook.
    sdk_policy.deserialize_properties = _probe(original)  # type: ignore[attr-defined]
    return True


def _probe(original: Deserializer) -> Deserializer:
    def deserialize_properties(props: dict[str, Any], proxy_secrets: bool = False) -> dict[str, Any]:
        result = original(props, proxy_secrets)
        # Remediation (proxy_secrets=True) sends properties back to the engine: leave those untouched.
        if not proxy_secrets and isinstance(result, dict):
            result[SECRET_PATHS] = [list(path) for path in sorted(rules.secret_paths(props))]
        return result

    setattr(deserialize_properties, _PROBE_MARK, True)
    return deserialize_properties


def plain(value: Any) -> Any:
    """The SDK's unknown-checking proxies as plain dicts and lists, with ``rules.UNKNOWN`` for unknown values."""
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in value:
            if key == SECRET_PATHS:
                continue
            try:
                result[str(key)] = plain(value[key])
            except UnknownValueError:
                result[str(key)] = rules.UNKNOWN
        return result
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(rules.UNKNOWN)
        return items
    return value


def seen_secret_paths(props: Mapping[str, Any]) -> frozenset[rules.Path] | None:
    """The probe's record of a resource's secret paths; None when the probe did not run."""
    if SECRET_PATHS not in props:
        return None
    recorded = plain(props[SECRET_PATHS])
    return frozenset(tuple(str(part) for part in path) for path in recorded)


def as_resource(resource: PolicyResource) -> rules.Resource:
    return rules.Resource(
        urn=resource.urn,
        type=resource.resource_type,
        name=resource.name,
        parent=resource.opts.parent or (resource.parent.urn if resource.parent else None),
        props=plain(resource.props),
        secret_paths=seen_secret_paths(resource.props),
        additional_secret_outputs=tuple(resource.opts.additional_secret_outputs),
    )


def _prop(args: ResourceValidationArgs, name: str) -> Any:
    try:
        return plain(args.props.get(name))
    except UnknownValueError:
        return rules.UNKNOWN


def _fail_on_bad_config(report: ReportViolation, rule: str, error: ValueError) -> None:
    report(f"{rule}: invalid policy pack config: {error}", None)


# --- the policies ---------------------------------------------------------------------------------------------------


def validate_key_expiry(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != rules.MACHINE_KEY_TYPE:
        return
    try:
        max_days = rules.max_key_days(args.get_config())
    except ValueError as error:
        _fail_on_bad_config(report, rules.KEY_EXPIRY, error)
        return
    message = rules.key_expiry_violation(
        account=rules.account_of(args.opts.parent),
        resource=args.name,
        expiration=_prop(args, "expirationDate"),
        now=datetime.now(UTC),
        max_days=max_days,
    )
    if message:
        report(message, None)


def validate_instance_owner(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != rules.INSTANCE_MEMBER_TYPE:
        return
    try:
        allowed = rules.allowed_accounts(args.get_config(), rules.NO_INSTANCE_OWNER)
    except ValueError as error:
        _fail_on_bad_config(report, rules.NO_INSTANCE_OWNER, error)
        return
    message = rules.instance_owner_violation(
        account=rules.account_of(args.opts.parent),
        resource=args.name,
        roles=_prop(args, "roles"),
        allowed=allowed,
    )
    if message:
        report(message, None)


def validate_key_material(args: StackValidationArgs, report: ReportViolation) -> None:
    for violation in rules.key_material_violations([as_resource(r) for r in args.resources]):
        report(violation.message, violation.urn)


def validate_verified(args: StackValidationArgs, report: ReportViolation) -> None:
    try:
        allowed = rules.allowed_accounts(args.get_config(), rules.ACCOUNT_VERIFIED)
    except ValueError as error:
        _fail_on_bad_config(report, rules.ACCOUNT_VERIFIED, error)
        return
    for violation in rules.unverified_violations([as_resource(r) for r in args.resources], allowed):
        report(violation.message, violation.urn)


def _allow_list(what: str) -> PolicyConfigSchema:
    return PolicyConfigSchema(
        properties={
            "allowedAccounts": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "uniqueItems": True,
                "default": [],
                "description": what,
            }
        }
    )


def policies() -> list[Policy]:
    """The four rules; each takes its enforcement level and options from ``--policy-pack-config``."""
    return [
        ResourceValidationPolicy(
            name=rules.KEY_EXPIRY,
            description="Every machine key expires within maxDays days (default 365).",
            validate=validate_key_expiry,
            config_schema=PolicyConfigSchema(
                properties={
                    "maxDays": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": rules.MAX_KEY_DAYS_LIMIT,
                        "default": rules.DEFAULT_MAX_KEY_DAYS,
                        "description": "A key's expirationDate may be at most this many days from now.",
                    }
                }
            ),
        ),
        ResourceValidationPolicy(
            name=rules.NO_INSTANCE_OWNER,
            description="No instance-level IAM_OWNER, unless the service account is allow-listed.",
            validate=validate_instance_owner,
            config_schema=_allow_list("Service accounts that may hold IAM_OWNER on the instance."),
        ),
        StackValidationPolicy(
            name=rules.KEY_MATERIAL_SECRET,
            description="Key material is stored and leaves the stack only as a secret.",
            validate=validate_key_material,
        ),
        StackValidationPolicy(
            name=rules.ACCOUNT_VERIFIED,
            description="Every service account is verified by a JWT-bearer token exchange, unless allow-listed.",
            validate=validate_verified,
            config_schema=_allow_list("Service accounts that may be declared without a verification."),
        ),
    ]


def serve() -> None:
    """Run the pack (blocks: the SDK serves the engine until it stops the process)."""
    install_secret_probe()
    PolicyPack(
        name=PACK_NAME,
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=policies(),
    )
