"""The verification resource's boundary: its one list of inputs and the one conversion of grants, for the
component that declares it, the package's provider that receives it and the tests.

The engine hands the provider plain values: strings, numbers, bools, lists and dicts. ``VerificationProps`` is
those inputs once every one is known and valid; ``input_failures`` checks what is known at preview time, where
values computed by other resources (the key, ids, parts of grants) are still unknown. No Pulumi imports here:
the provider passes in how it recognises an unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from zitadel_bootstrap import limits

from .errors import InvalidInputError, KeyFileError, VerificationError
from .keyfile import MachineKey, ensure_not_expired, parse_key_file
from .model import (
    GRANT_LEVELS,
    ZITADEL_AUDIENCE,
    Grant,
    RetryPolicy,
    VerificationRequest,
    validate_audience,
    validate_id,
    validate_issuer,
    validate_seconds,
)

# The resource's defaults, as the provider module and the component read them; the values live in limits.
DEFAULT_DEADLINE_SECONDS = limits.DEFAULT_DEADLINE_SECONDS
DEFAULT_REFRESH_SETTLE_SECONDS = limits.DEFAULT_REFRESH_SETTLE_SECONDS


def grant_to_input(grant: Grant) -> dict[str, Any]:
    """A grant as the resource keeps it in state (no None values: they would not survive the RPC)."""
    return {name: value for name, value in grant.to_dict().items() if value is not None}


def grant_from_input(raw: Any, index: int) -> Grant:
    """The grant a resource input holds; InvalidInputError naming ``grants[index]`` when it is unusable."""
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


def grants_from_input(raw: Any) -> tuple[Grant, ...]:
    if not isinstance(raw, list | tuple) or not raw:
        raise InvalidInputError("grants must be a non-empty list.", field="grants")
    grants = tuple(grant_from_input(item, index) for index, item in enumerate(raw))
    _no_duplicates(grants)
    return grants


def _no_duplicates(grants: tuple[Grant, ...]) -> None:
    keys = [grant.key for grant in grants]
    if len(set(keys)) != len(keys):
        raise InvalidInputError("grants name the same membership twice; merge their roles.", field="grants")


def _key(value: Any, now: float | None) -> MachineKey:
    if not isinstance(value, str):
        raise KeyFileError("key_json must be the key file's JSON text.")
    key = parse_key_file(value)
    if now is not None:
        ensure_not_expired(key, now)
    return key


def _insecure(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError("insecure must be true or false.", field="insecure")
    return value


@dataclass(frozen=True)
class VerificationProps:
    """Every input of a JwtBearerVerification, known and valid."""

    issuer: str
    key_json: str
    grants: tuple[Grant, ...]
    org_id: str
    audience: str = ZITADEL_AUDIENCE
    insecure: bool = False
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    refresh_settle_seconds: float = DEFAULT_REFRESH_SETTLE_SECONDS

    @classmethod
    def from_inputs(cls, raw: Mapping[str, Any]) -> VerificationProps:
        """Validate the inputs the engine sent (or, on refresh, the prior outputs that repeat them)."""
        key_json = raw.get("key_json")
        if not isinstance(key_json, str):
            raise KeyFileError("key_json is missing: the verification needs the machine key file.")
        insecure = _insecure(raw.get("insecure", False))
        return cls(
            issuer=validate_issuer(raw.get("issuer"), insecure=insecure),
            key_json=key_json,
            grants=grants_from_input(raw.get("grants")),
            org_id=validate_id(raw.get("org_id"), "org_id", "org id"),
            audience=validate_audience(raw.get("audience", ZITADEL_AUDIENCE)),
            insecure=insecure,
            deadline_seconds=validate_seconds(
                raw.get("deadline_seconds", DEFAULT_DEADLINE_SECONDS),
                "deadline_seconds",
                allow_zero=False,
                maximum=limits.MAX_DEADLINE_SECONDS,
            ),
            refresh_settle_seconds=validate_seconds(
                raw.get("refresh_settle_seconds", DEFAULT_REFRESH_SETTLE_SECONDS),
                "refresh_settle_seconds",
                allow_zero=True,
                maximum=limits.MAX_REFRESH_SETTLE_SECONDS,
            ),
        )

    def to_inputs(self) -> dict[str, Any]:
        inputs = {name: getattr(self, name) for name in INPUT_NAMES}
        inputs["grants"] = [grant_to_input(grant) for grant in self.grants]
        return inputs

    def request(self, *, settle_seconds: float | None) -> VerificationRequest:
        """What to prove. ``settle_seconds=None`` settles for the whole deadline (create/update: a fresh key or
        grant is expected to lag); refresh passes its short settle time."""
        settle = self.deadline_seconds if settle_seconds is None else min(settle_seconds, self.deadline_seconds)
        return VerificationRequest(
            issuer=self.issuer,
            key=_key(self.key_json, None),
            grants=self.grants,
            audience=self.audience,
            org_id=self.org_id,
            insecure=self.insecure,
            policy=RetryPolicy(deadline_seconds=self.deadline_seconds, settle_seconds=settle),
        )


#: The one list of the resource's inputs, in declaration order.
INPUT_NAMES: tuple[str, ...] = tuple(field.name for field in fields(VerificationProps))


def input_failures(raw: Mapping[str, Any], *, is_unknown: Callable[[Any], bool], now: float) -> list[tuple[str, str]]:
    """(input name, reason) for every known input that is invalid; unknown or absent ones are left for later.

    ``is_unknown(value)`` tells whether a value is, or contains, a value not known until create.

    A grant with an unknown part still has its known level checked; every value is validated in full once
    known, by ``VerificationProps.from_inputs`` at create and update.
    """
    failures: list[tuple[str, str]] = []

    def known(name: str) -> bool:
        return raw.get(name) is not None and not is_unknown(raw[name])

    def attempt(name: str, validate: Callable[[Any], object]) -> None:
        try:
            validate(raw[name])
        except VerificationError as error:
            failures.append((name, str(error)))

    insecure = raw.get("insecure") if known("insecure") else None
    if known("insecure"):
        attempt("insecure", _insecure)
    if known("issuer"):
        attempt(
            "issuer", lambda value: validate_issuer(value, insecure=insecure if isinstance(insecure, bool) else None)
        )
    if known("key_json"):
        attempt("key_json", lambda value: _key(value, now))
    if raw.get("grants") is not None:
        attempt("grants", lambda value: _known_grants(value, is_unknown))
    if known("org_id"):
        attempt("org_id", lambda value: validate_id(value, "org_id", "org id"))
    if known("audience"):
        attempt("audience", validate_audience)
    if known("deadline_seconds"):
        attempt(
            "deadline_seconds",
            lambda value: validate_seconds(
                value, "deadline_seconds", allow_zero=False, maximum=limits.MAX_DEADLINE_SECONDS
            ),
        )
    if known("refresh_settle_seconds"):
        attempt(
            "refresh_settle_seconds",
            lambda value: validate_seconds(
                value, "refresh_settle_seconds", allow_zero=True, maximum=limits.MAX_REFRESH_SETTLE_SECONDS
            ),
        )
    return failures


def _known_grants(value: Any, is_unknown: Callable[[Any], bool]) -> None:
    if not isinstance(value, list | tuple) or not value:
        if is_unknown(value):
            return  # the whole list is computed by another resource
        raise InvalidInputError("grants must be a non-empty list.", field="grants")
    known: list[Grant] = []
    for index, item in enumerate(value):
        if not is_unknown(item):
            known.append(grant_from_input(item, index))
            continue
        # A grant with a value computed by another resource: check what is already known, the rest at create.
        level = item.get("level") if isinstance(item, Mapping) else None
        if level is not None and not is_unknown(level) and level not in GRANT_LEVELS:
            raise InvalidInputError(
                f"grants[{index}].level {level!r} is unknown; use one of {', '.join(GRANT_LEVELS)}.", field="grants"
            )
    _no_duplicates(tuple(known))
