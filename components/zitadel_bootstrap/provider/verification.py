"""``JwtBearerVerification``: the proof that a machine key works, a custom resource of the package's provider.

A thin adapter over the pure library: ``check`` validates the known inputs, ``create``/``update`` verify (and
fail the deployment with the verifier's error), ``read`` re-verifies on refresh and reports the live state
without raising, ``diff`` turns a lost proof into a change so ``pulumi preview --refresh`` shows drift,
``delete`` touches nothing remote. The inputs and their conversions live in ``props``; time comes from
``zitadel_bootstrap.clock``.

The package's provider process (``provider.server``) runs these methods for the engine; the program that declares
the resource only registers it. Importing this module registers no resources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.runtime import known_types, rpc

from zitadel_bootstrap import clock
from zitadel_bootstrap.values import deep_any
from zitadel_bootstrap.verification.errors import VerificationError
from zitadel_bootstrap.verification.keyfile import ensure_not_expired, parse_key_file
from zitadel_bootstrap.verification.model import ZITADEL_AUDIENCE, Grant, VerificationResult
from zitadel_bootstrap.verification.proof import try_verify, verify
from zitadel_bootstrap.verification.props import (
    DEFAULT_DEADLINE_SECONDS,
    DEFAULT_REFRESH_SETTLE_SECONDS,
    INPUT_NAMES,
    VerificationProps,
    grant_to_input,
    grants_from_input,
    input_failures,
)

RESULT_NAMES = (
    "verified",
    "user_id",
    "key_id",
    "org_id",
    "roles_found",
    "token_type",
    "token_format",
    "expires_in",
    "attempts",
    "elapsed_seconds",
    "failure_kind",
    "failure",
)
OUTPUT_NAMES = (*RESULT_NAMES, "checked_at", "summary")
#: The facts of ``summary``: what stays the same while nothing changes (no time, no request count), without nulls.
SUMMARY_NAMES = {
    "roles_found": "rolesFound",
    "token_type": "tokenType",
    "token_format": "tokenFormat",
    "expires_in": "expiresIn",
    "failure_kind": "failureKind",
    "failure": "failure",
}


def summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The non-secret facts of a proof as one output that is never null.

    A program reads its outputs in a preview as they are stored, except that a null one counts as unknown. Built
    from separate outputs, the component's summary was therefore unknown in every preview of a verified proof (its
    failure is null), and a clean drift check showed it as a change.
    """
    return {camel: result[name] for name, camel in SUMMARY_NAMES.items() if result.get(name) is not None}


def _is_wholly_unknown(value: Any) -> bool:
    return known_types.is_unknown(value) or (isinstance(value, str) and value == rpc.UNKNOWN)


def is_unknown(value: Any) -> bool:
    """True if ``value`` is or contains a preview-time unknown.

    The package's provider (``provider.server``) deserializes the engine's unknown sentinel into a
    ``pulumi.output.Unknown`` object (``rpc.deserialize_properties(..., keep_unknowns=True)``); the raw sentinel
    string is the same value before deserialization. Both mean "computed by another resource, known at create time".
    """
    return deep_any(value, _is_wholly_unknown)


def _plain(value: Any) -> Any:
    """Strip RPC secret wrappers: the package's provider accepts secrets, so secret inputs arrive wrapped."""
    if rpc.is_rpc_secret(value):
        return _plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _key_identity(key_json: Any) -> tuple[str, str] | None:
    try:
        key = parse_key_file(key_json) if isinstance(key_json, str) else None
    except VerificationError:
        return None
    return (key.user_id, key.key_id) if key else None


def _comparable(name: str, value: Any) -> Any:
    """Inputs as diff compares them: by content, not by how they round-tripped through protobuf."""
    if name == "grants" and isinstance(value, list | tuple):
        try:
            return sorted(grant.key + repr(grant.roles) for grant in grants_from_input(value))
        except VerificationError:
            return value
    if name in ("deadline_seconds", "refresh_settle_seconds") and isinstance(value, int | float):
        return float(value)
    return value


def _outputs(props: Mapping[str, Any], result: VerificationResult) -> dict[str, Any]:
    # The inputs are repeated in the outputs because refresh calls read() with the prior outputs only: without
    # key_json there, a refresh could not re-verify. key_json stays encrypted in state: its input is a secret and
    # the resource lists it in additional_secret_outputs. No token is ever part of the outputs.
    outs = {name: props[name] for name in INPUT_NAMES if name in props}
    outs.update(result.to_dict())
    outs["org_id"] = props.get("org_id", result.org_id)
    outs["checked_at"] = clock.current().utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    outs["summary"] = summary(outs)
    return outs


def _failed_result(props: Mapping[str, Any], error: VerificationError) -> VerificationResult:
    identity = _key_identity(props.get("key_json"))
    return VerificationResult(
        verified=False,
        user_id=identity[0] if identity else None,
        key_id=identity[1] if identity else None,
        org_id=props.get("org_id") if isinstance(props.get("org_id"), str) else None,
        failure_kind=error.kind,
        failure=str(error),
    )


def _run(props: VerificationProps, *, refresh: bool) -> VerificationResult:
    """Create/update verify with the whole deadline to settle and raise; refresh reports with its short settle.

    Whether the key has expired is judged by the program's clock (``zitadel_bootstrap.clock``, which tests may shift
    by days); the assertion's iat/exp use real time, because ZITADEL checks them against its own clock.
    """
    time = clock.current()
    request = props.request(settle_seconds=props.refresh_settle_seconds if refresh else None)
    try:
        ensure_not_expired(request.key, time.now())
        if refresh:
            return try_verify(request, monotonic=time.monotonic, sleep=time.sleep)
        return verify(request, monotonic=time.monotonic, sleep=time.sleep)
    except VerificationError as error:
        if refresh:
            return _failed_result(props.to_inputs(), error)
        # The engine prints the traceback: the chain of HTTP internals adds nothing for the operator.
        raise error from None


class JwtBearerVerificationProvider(ResourceProvider):
    """What the package's provider does for ``JwtBearerVerification``. Stateless: HTTP clients are shared."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = input_failures(_plain(news), is_unknown=is_unknown, now=clock.current().now())
        return CheckResult(news, [CheckFailure(name, reason) for name, reason in failures])

    def create(self, props: dict[str, Any]) -> CreateResult:
        plain = _plain(props)
        result = _run(_validated(plain), refresh=False)
        return CreateResult(f"{result.user_id}:{result.key_id}", _outputs(plain, result))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        plain = _plain(props)
        try:
            checked = VerificationProps.from_inputs(plain)
        except VerificationError as error:
            result = _failed_result(plain, error)
        else:
            # A revoked key, removed grant or deactivated user is live state to report, not an error to raise.
            result = _run(checked, refresh=True)
        return ReadResult(id_, _outputs(plain, result))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # After a refresh, olds are the refreshed outputs (inputs repeated, plus verified); news are the inputs.
        olds = _plain(olds)
        news = _plain(news)
        changed = [
            name
            for name in INPUT_NAMES
            if is_unknown(news.get(name)) or _comparable(name, olds.get(name)) != _comparable(name, news.get(name))
        ]
        replaces = []
        if "issuer" in changed:
            replaces.append("issuer")
        if "key_json" in changed:
            new_identity = None if is_unknown(news.get("key_json")) else _key_identity(news.get("key_json"))
            if new_identity is None or new_identity != _key_identity(olds.get("key_json")):
                replaces.append("key_json")
        # A proof that no longer holds is a change: `pulumi up` then runs update, which verifies again.
        lost_proof = olds.get("verified") is not True
        return DiffResult(changes=bool(changed) or lost_proof, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        plain = _plain(news)
        return UpdateResult(_outputs(plain, _run(_validated(plain), refresh=False)))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Nothing remote belongs to a proof: the key, user and grants are separate resources.
        return


def _validated(props: Mapping[str, Any]) -> VerificationProps:
    try:
        return VerificationProps.from_inputs(props)
    except VerificationError as error:
        raise error from None


#: The resource's type: a custom resource of this package's own provider (served by ``provider.server``).
RESOURCE_TYPE = "zitadel-bootstrap:index:JwtBearerVerification"
#: Its type up to 0.2, as a ``pulumi.dynamic`` resource: the alias that carries existing stacks over unchanged.
FORMER_TYPE = "pulumi-python:dynamic/verification:JwtBearerVerification"


class JwtBearerVerification(pulumi.CustomResource):
    """Proof that ``key_json`` logs in at ``issuer`` (JWT-bearer, RFC 7523) and holds ``grants``.

    ``pulumi refresh`` re-runs the proof; a failure shows as ``verified: false`` and as a pending change.
    """

    verified: pulumi.Output[bool]
    """True when the token exchange, the identity proof and every grant proof succeeded."""
    user_id: pulumi.Output[str]
    key_id: pulumi.Output[str]
    org_id: pulumi.Output[str]
    roles_found: pulumi.Output[dict[str, list[str]]]
    """Roles held per required grant (``"org:<id>"``, ``"project:<id>"``, ``"instance"``...)."""
    token_type: pulumi.Output[str | None]
    token_format: pulumi.Output[str | None]
    """``opaque`` or ``jwt`` (the machine user's access token type)."""
    expires_in: pulumi.Output[int | None]
    attempts: pulumi.Output[int]
    """HTTP requests sent by the last verification, retries included."""
    elapsed_seconds: pulumi.Output[float]
    failure_kind: pulumi.Output[str | None]
    failure: pulumi.Output[str | None]
    checked_at: pulumi.Output[str]
    summary: pulumi.Output[dict[str, Any]]
    """rolesFound, tokenType, tokenFormat, expiresIn, failureKind and failure, the null ones left out."""

    def __init__(
        self,
        resource_name: str,
        *,
        issuer: pulumi.Input[str],
        key_json: pulumi.Input[str],
        grants: pulumi.Input[Sequence[Grant | Mapping[str, Any]]],
        org_id: pulumi.Input[str],
        audience: pulumi.Input[str] = ZITADEL_AUDIENCE,
        insecure: pulumi.Input[bool] = False,
        deadline_seconds: pulumi.Input[float] = DEFAULT_DEADLINE_SECONDS,
        refresh_settle_seconds: pulumi.Input[float] = DEFAULT_REFRESH_SETTLE_SECONDS,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "issuer": issuer,
            # Secret in, secret in state: the outputs repeat it (see _outputs), so it must never be plaintext.
            "key_json": pulumi.Output.secret(key_json),
            "grants": pulumi.Output.from_input(grants).apply(
                lambda items: [grant_to_input(item) if isinstance(item, Grant) else item for item in items]
            ),
            "org_id": org_id,
            "audience": audience,
            "insecure": insecure,
            "deadline_seconds": deadline_seconds,
            "refresh_settle_seconds": refresh_settle_seconds,
        }
        assert set(props) == set(INPUT_NAMES), "the resource declares exactly the inputs of VerificationProps"  # noqa: S101
        # None placeholders declare the provider-computed outputs so they become attributes of this resource.
        props.update({name: None for name in OUTPUT_NAMES if name not in props})
        opts = pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(additional_secret_outputs=["key_json"], aliases=[pulumi.Alias(type_=FORMER_TYPE)]),
        )
        super().__init__(RESOURCE_TYPE, resource_name, props, opts)
