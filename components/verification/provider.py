"""``JwtBearerVerification``: the proof that a machine key works, as a Pulumi dynamic resource.

A thin adapter over the pure library: ``check`` validates, ``create``/``update`` verify (and fail the deployment
with the verifier's error), ``read`` re-verifies on refresh and reports the live state without raising, ``diff``
turns a lost proof into a change so ``pulumi preview --refresh`` shows drift, ``delete`` touches nothing remote.

The engine pickles the provider (by reference: it lives in this importable module and has no attributes) and runs
it in a separate launcher process. Importing this module registers no resources.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
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

from .client import check, verify
from .errors import InvalidInputError, KeyFileError, VerificationError
from .keyfile import ensure_not_expired, parse_key_file
from .model import (
    GRANT_LEVELS,
    ZITADEL_AUDIENCE,
    Grant,
    RetryPolicy,
    VerificationRequest,
    VerificationResult,
    validate_audience,
    validate_id,
    validate_issuer,
    validate_seconds,
)

DEFAULT_DEADLINE_SECONDS = 60.0
DEFAULT_REFRESH_SETTLE_SECONDS = 5.0

INPUT_NAMES = (
    "issuer",
    "key_json",
    "grants",
    "org_id",
    "audience",
    "insecure",
    "deadline_seconds",
    "refresh_settle_seconds",
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
OUTPUT_NAMES = (*RESULT_NAMES, "checked_at")
# The proof is of one key at one instance: another key, user or issuer is another proof.
REPLACE_ON = ("issuer", "key_json")


def _is_wholly_unknown(value: Any) -> bool:
    return known_types.is_unknown(value) or (isinstance(value, str) and value == rpc.UNKNOWN)


def _is_unknown(value: Any) -> bool:
    """True if ``value`` is or contains a preview-time unknown.

    The dynamic-provider server deserializes the engine's unknown sentinel into a ``pulumi.output.Unknown``
    object (``rpc.deserialize_properties(..., keep_unknowns=True)``); the raw sentinel string is the same value
    before deserialization. Both mean "computed by another resource, known at create time".
    """
    if _is_wholly_unknown(value):
        return True
    if isinstance(value, Mapping):
        return any(_is_unknown(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_is_unknown(item) for item in value)
    return False


def _plain(value: Any) -> Any:
    """Strip RPC secret wrappers (the engine normally sends plaintext to dynamic providers, but be sure)."""
    if rpc.is_rpc_secret(value):
        return _plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _grant_from_mapping(raw: Any, index: int) -> Grant:
    if not isinstance(raw, Mapping):
        raise InvalidInputError(f"grants[{index}] must be an object with level, resource_id, roles.", field="grants")
    level = raw.get("level")
    if level not in GRANT_LEVELS:
        raise InvalidInputError(
            f"grants[{index}].level {level!r} is unknown; use one of {', '.join(GRANT_LEVELS)}.", field="grants"
        )
    roles = raw.get("roles")
    if not isinstance(roles, list | tuple) or not roles:
        raise InvalidInputError(f"grants[{index}].roles must be a non-empty list of role names.", field="grants")
    try:
        return Grant(
            level=level,
            resource_id=raw.get("resource_id") or "",
            roles=tuple(roles),
            project_id=raw.get("project_id") or None,
        )
    except InvalidInputError as error:
        raise InvalidInputError(f"grants[{index}]: {error.message}", field="grants", hint=error.hint) from error


def grants_from_props(raw: Any) -> tuple[Grant, ...]:
    _validate_grants(raw)
    return tuple(_grant_from_mapping(item, index) for index, item in enumerate(raw))


def request_from_props(props: Mapping[str, Any], *, settle_seconds: float | None) -> VerificationRequest:
    """Build the request from the resource's inputs (or, on refresh, the prior outputs that repeat them).

    ``settle_seconds=None`` settles for the whole deadline (create/update: a fresh key or grant is expected to lag).
    """
    props = _plain(props)
    key_json = props.get("key_json")
    if not isinstance(key_json, str):
        raise KeyFileError("key_json is missing: the verification needs the machine key file.")
    insecure = props.get("insecure", False)
    if not isinstance(insecure, bool):
        raise InvalidInputError("insecure must be true or false.", field="insecure")
    deadline = validate_seconds(
        props.get("deadline_seconds", DEFAULT_DEADLINE_SECONDS), "deadline_seconds", allow_zero=False
    )
    settle = deadline if settle_seconds is None else settle_seconds
    return VerificationRequest(
        issuer=validate_issuer(props.get("issuer"), insecure=insecure),
        key=parse_key_file(key_json),
        grants=grants_from_props(props.get("grants")),
        audience=validate_audience(props.get("audience", ZITADEL_AUDIENCE)),
        org_id=validate_id(props.get("org_id"), "org_id", "org id"),
        insecure=insecure,
        policy=RetryPolicy(deadline_seconds=deadline, settle_seconds=min(settle, deadline)),
    )


def _key_identity(key_json: Any) -> tuple[str, str] | None:
    try:
        key = parse_key_file(key_json) if isinstance(key_json, str) else None
    except VerificationError:
        return None
    return (key.user_id, key.key_id) if key else None


def _normalized(name: str, value: Any) -> Any:
    if name == "grants" and isinstance(value, list | tuple):
        # Grants round-trip through protobuf: compare content, not representation (None vs absent, tuple vs list).
        return [
            (
                item.get("level"),
                item.get("resource_id") or "",
                tuple(item.get("roles") or ()),
                item.get("project_id") or None,
            )
            if isinstance(item, Mapping)
            else item
            for item in value
        ]
    if name in ("deadline_seconds", "refresh_settle_seconds") and isinstance(value, int | float):
        return float(value)
    return value


def _checked_at() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _outputs(props: Mapping[str, Any], result: VerificationResult) -> dict[str, Any]:
    # The inputs are repeated in the outputs because refresh calls read() with the prior outputs only: without
    # key_json there, a refresh could not re-verify. key_json stays encrypted in state: its input is a secret and
    # the resource lists it in additional_secret_outputs. No token is ever part of the outputs.
    outs = {name: props[name] for name in INPUT_NAMES if name in props}
    outs.update(result.to_dict())
    outs["org_id"] = props.get("org_id", result.org_id)
    outs["checked_at"] = _checked_at()
    return outs


def _failed_result(props: Mapping[str, Any], error: VerificationError) -> VerificationResult:
    identity = _key_identity(_plain(props).get("key_json"))
    return VerificationResult(
        verified=False,
        user_id=identity[0] if identity else None,
        key_id=identity[1] if identity else None,
        org_id=props.get("org_id") if isinstance(props.get("org_id"), str) else None,
        failure_kind=error.kind,
        failure=str(error),
    )


class JwtBearerVerificationProvider(ResourceProvider):
    """Dynamic provider of ``JwtBearerVerification``. Stateless: HTTP clients are built per call."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = _plain(news)
        failures: list[CheckFailure] = []

        def known(name: str) -> bool:
            # Preview passes unknowns (values computed by other resources) or leaves them out: those are
            # validated at create time, when they are known. Grants validate their known parts themselves.
            value = props.get(name)
            unknown = _is_wholly_unknown if name == "grants" else _is_unknown
            return value is not None and not unknown(value)

        def attempt(name: str, validate: Callable[[Any], object]) -> None:
            if not known(name):
                return
            try:
                validate(props[name])
            except VerificationError as error:
                failures.append(CheckFailure(name, str(error)))

        insecure = props.get("insecure") if known("insecure") else None
        attempt("insecure", _validate_bool)
        attempt(
            "issuer",
            lambda value: validate_issuer(value, insecure=insecure if isinstance(insecure, bool) else None),
        )
        attempt("key_json", _validate_key_json)
        attempt("grants", _validate_grants)
        attempt("org_id", lambda value: validate_id(value, "org_id", "org id"))
        attempt("audience", validate_audience)
        attempt("deadline_seconds", lambda value: validate_seconds(value, "deadline_seconds", allow_zero=False))
        attempt(
            "refresh_settle_seconds",
            lambda value: validate_seconds(value, "refresh_settle_seconds", allow_zero=True),
        )
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        result = _verify_or_fail(props)
        return CreateResult(f"{result.user_id}:{result.key_id}", _outputs(props, result))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            settle = validate_seconds(
                _plain(props).get("refresh_settle_seconds", DEFAULT_REFRESH_SETTLE_SECONDS),
                "refresh_settle_seconds",
                allow_zero=True,
            )
            request = request_from_props(props, settle_seconds=settle)
        except VerificationError as error:
            result = _failed_result(props, error)
        else:
            # A revoked key, removed grant or deactivated user is live state to report, not an error to raise.
            result = check(request)
        return ReadResult(id_, _outputs(props, result))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # After a refresh, olds are the refreshed outputs (inputs repeated, plus verified); news are the inputs.
        olds = _plain(olds)
        news = _plain(news)
        changed = [
            name
            for name in INPUT_NAMES
            if _is_unknown(news.get(name)) or _normalized(name, olds.get(name)) != _normalized(name, news.get(name))
        ]
        replaces = []
        if "issuer" in changed:
            replaces.append("issuer")
        if "key_json" in changed:
            new_identity = None if _is_unknown(news.get("key_json")) else _key_identity(news.get("key_json"))
            if new_identity is None or new_identity != _key_identity(olds.get("key_json")):
                replaces.append("key_json")
        # A proof that no longer holds is a change: `pulumi up` then runs update, which verifies again.
        lost_proof = olds.get("verified") is not True
        return DiffResult(
            changes=bool(changed) or lost_proof,
            replaces=replaces,
            delete_before_replace=False,
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        result = _verify_or_fail(news)
        return UpdateResult(_outputs(news, result))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Nothing remote belongs to a proof: the key, user and grants are separate resources.
        return


def _validate_bool(value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidInputError("insecure must be true or false.", field="insecure")


def _validate_key_json(value: Any) -> None:
    if not isinstance(value, str):
        raise KeyFileError("key_json must be the key file's JSON text.")
    ensure_not_expired(parse_key_file(value), time.time())


def _validate_grants(value: Any) -> None:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidInputError("grants must be a non-empty list.", field="grants")
    known: list[Grant] = []
    for index, item in enumerate(value):
        if not _is_unknown(item):
            known.append(_grant_from_mapping(item, index))
            continue
        # A grant with a value computed by another resource: check what is already known, the rest at create.
        level = item.get("level") if isinstance(item, Mapping) else None
        if level is not None and not _is_unknown(level) and level not in GRANT_LEVELS:
            raise InvalidInputError(
                f"grants[{index}].level {level!r} is unknown; use one of {', '.join(GRANT_LEVELS)}.", field="grants"
            )
    keys = [grant.key for grant in known]
    if len(set(keys)) != len(keys):
        raise InvalidInputError("grants name the same membership twice; merge their roles.", field="grants")


def _verify_or_fail(props: Mapping[str, Any]) -> VerificationResult:
    try:
        return verify(request_from_props(props, settle_seconds=None))
    except VerificationError as error:
        # The engine prints the traceback: the chain of HTTP internals adds nothing for the operator.
        raise error from None


class JwtBearerVerification(pulumi.dynamic.Resource, module="verification", name="JwtBearerVerification"):
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

    def __init__(
        self,
        resource_name: str,
        *,
        issuer: pulumi.Input[str],
        key_json: pulumi.Input[str],
        grants: pulumi.Input[Sequence[Mapping[str, Any]]],
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
            "grants": _grant_props(grants),
            "org_id": org_id,
            "audience": audience,
            "insecure": insecure,
            "deadline_seconds": deadline_seconds,
            "refresh_settle_seconds": refresh_settle_seconds,
        }
        # None placeholders declare the provider-computed outputs so they become attributes of this resource.
        props.update({name: None for name in OUTPUT_NAMES if name not in props})
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["key_json"]))
        super().__init__(JwtBearerVerificationProvider(), resource_name, props, opts)


def _grant_props(grants: pulumi.Input[Sequence[Mapping[str, Any]]]) -> Any:
    if isinstance(grants, list | tuple):
        # Tuples do not serialize as lists in every SDK path; normalise plain values, leave Outputs alone.
        return [
            {**grant, "roles": list(grant["roles"])}
            if isinstance(grant, Mapping) and isinstance(grant.get("roles"), tuple)
            else grant
            for grant in grants
        ]
    return grants
