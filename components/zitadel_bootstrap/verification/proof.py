"""Prove a ZITADEL machine key end to end: discovery, JWT-bearer exchange (RFC 7523), then the ZITADEL API.

This module is the run: it sends the requests, within one budget, and counts them. What the answers mean lives
with each job: ``exchange`` (discovery and the token exchange), ``api`` (the identity, grant and permission
proofs on ZITADEL's API); classify.py classifies the failures and retry.py retries them.

Entry points: ``verify`` raises a VerificationError when the proof fails; ``try_verify`` reports the failure in
the result instead (refresh uses it: a revoked key is live state to report, not an error). Both tell an optional
``on_wait`` what they wait for before each pause between attempts; printing it is the caller's business.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypedDict, TypeVar, Unpack
from urllib.parse import urlsplit

import httpx

from .api import (
    MAX_MEMBERSHIP_PAGES,
    MEMBERSHIPS_SEARCH_PATH,
    PERMISSIONS_SEARCH_PATH,
    USERS_ME_PATH,
    USERS_SEARCH_PATH,
    grants_failure,
    memberships_query,
    read_identity,
    read_memberships_page,
    read_permissions,
    read_user_ids,
)
from .assertion import build_assertion
from .classify import HINT_NOTHING_ANSWERS, HINT_TRANSIENT, ORG_HEADER, StepError
from .errors import (
    KIND_AUDIENCE_REJECTED,
    KIND_CONNECTION_FAILED,
    KIND_ROLES_MISSING,
    KIND_TIMEOUT,
    KIND_TLS_FAILED,
    KIND_TOKEN_REJECTED,
    ApiProofError,
    DeadlineExceededError,
    DiscoveryError,
    TokenExchangeError,
    VerificationError,
)
from .exchange import DISCOVERY_PATH, JWT_BEARER_GRANT_TYPE, Discovery, TokenGrant, read_discovery, read_token
from .grants import GrantMatch, match_grants
from .http import build_client, client_for, is_tls_failure, tls_failure
from .keyfile import ensure_not_expired
from .model import Grant, VerificationRequest, VerificationResult, Waiting
from .retry import Budget, RetriesExhaustedError, Steadiness

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Step(enum.Enum):
    """The steps of a proof, each with the error class its final failure raises."""

    DISCOVERY = ("OIDC discovery", DiscoveryError)
    TOKEN = ("the token exchange", TokenExchangeError)
    IDENTITY = ("the identity proof (users/me)", ApiProofError)
    GRANTS = ("the grant proof (memberships/me)", ApiProofError)
    PERMISSIONS = ("the permission check (permissions/zitadel/me)", ApiProofError)

    def __init__(self, label: str, error: type[VerificationError]) -> None:
        self.label = label
        self.error = error


# --- the run --------------------------------------------------------------------------------------------------


class _Proof:
    """One verification run: its budget, its attempt counter and what it has learned so far."""

    def __init__(
        self,
        request: VerificationRequest,
        budget: Budget,
        clock: Callable[[], float],
        client: Callable[[str], httpx.Client],
        on_wait: Callable[[Waiting], None] | None = None,
    ) -> None:
        self.request = request
        self.budget = budget
        self.clock = clock
        self.client = client
        self.on_wait = on_wait
        self.attempts = 0
        self.token: TokenGrant | None = None
        self.roles_found: dict[str, tuple[str, ...]] = {}
        self.wrong_roles = Steadiness()
        self.unchanged_for: float | None = None

    def subject(self) -> str:
        key = self.request.key
        org = f", org {self.request.org_id}" if self.request.org_id else ""
        return f"user {key.user_id} (key {key.key_id}{org})"

    def log_in(self) -> TokenGrant:
        ensure_not_expired(self.request.key, self.clock())
        discovery = self._step(Step.DISCOVERY, self._discover)
        self.token = self._step(Step.TOKEN, lambda: self._exchange(discovery))
        return self.token

    def run(self) -> VerificationResult:
        token = self.log_in()
        try:
            self._step(Step.IDENTITY, lambda: self._prove_identity(token))
        except ApiProofError as error:
            if error.kind not in (KIND_AUDIENCE_REJECTED, KIND_TOKEN_REJECTED):
                raise
            # A token refused moments after it was issued may belong to an instance that restarted or lost it;
            # one fresh token tells that apart from a token that can never work (a wrong audience).
            token = self.log_in()
            self._step(Step.IDENTITY, lambda: self._prove_identity(token))
        if self.request.grants:
            self._step(Step.GRANTS, lambda: self._prove_grants(token))
        return self.result(verified=True)

    def result(self, *, verified: bool, error: VerificationError | None = None) -> VerificationResult:
        token = self.token
        return VerificationResult(
            verified=verified,
            user_id=self.request.key.user_id,
            key_id=self.request.key.key_id,
            org_id=self.request.org_id,
            roles_found=dict(self.roles_found),
            token_type=token.token_type if token else None,
            token_format=token.token_format if token else None,
            expires_in=token.expires_in if token else None,
            attempts=self.attempts,
            elapsed_seconds=self.budget.elapsed(),
            failure_kind=error.kind if error else None,
            failure=str(error) if error else None,
        )

    def _step(self, step: Step, operation: Callable[[], T]) -> T:
        def log_retry(failure: StepError, failures: int, delay: float) -> None:
            logger.debug(
                "%s for %s: attempt %d answered %s (%s); retrying in %.2f s",
                step.label,
                self.subject(),
                failures,
                failure.kind,
                failure.retry_class,
                delay,
            )
            if self.on_wait is not None:
                self.on_wait(self._waiting(step, failure, delay))

        try:
            return self.budget.run(operation, on_retry=log_retry)
        except RetriesExhaustedError as exhausted:
            raise self._final_error(step, exhausted) from exhausted.failure

    def _waiting(self, step: Step, failure: StepError, delay: float) -> Waiting:
        grants = step is Step.GRANTS
        return Waiting(
            step=step.label,
            kind=failure.kind,
            message=failure.message,
            delay=delay,
            elapsed_seconds=self.budget.elapsed(),
            deadline_seconds=self.request.policy.deadline_seconds,
            roles_found=dict(self.roles_found) if grants else {},
            unchanged_seconds=self.unchanged_for if grants else None,
            steady_refusal_seconds=self.request.policy.steady_refusal_seconds,
        )

    def _final_error(self, step: Step, exhausted: RetriesExhaustedError) -> VerificationError:
        failure = exhausted.failure
        attempts = (
            f"{exhausted.failures} attempt{'s' if exhausted.failures != 1 else ''} in {self.budget.elapsed():.1f} s"
        )
        if failure.retry_class == "transient":
            deadline = f"the {self.request.policy.deadline_seconds:.0f} s deadline"
            reason = (
                f"the server asked to wait {exhausted.waited_for:.1f} s, beyond {deadline}"
                if exhausted.waited_for is not None
                else f"{deadline} leaves no time for another attempt"
            )
            return DeadlineExceededError(
                f"Verification of {self.subject()} did not finish: {step.label} still failed after {attempts} "
                f"and {reason}. Last answer: {failure.message}.",
                last_kind=failure.kind,
                hint=failure.hint,
            )
        message = f"Verification of {self.subject()} failed at {step.label} after {attempts}: {failure.message}."
        return step.error(message, kind=failure.kind, hint=failure.hint)

    # transport

    def _send(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        remaining = self.budget.remaining()
        if remaining <= 0:
            raise StepError(KIND_TIMEOUT, "transient", f"{what} had no time left", hint=HINT_TRANSIENT)
        timeout = min(self.request.policy.request_timeout_seconds, remaining)
        self.attempts += 1
        try:
            return self.client(url).request(method, url, timeout=timeout, **kwargs)
        except httpx.TimeoutException as exc:
            raise StepError(
                KIND_TIMEOUT, "transient", f"{what} timed out after {timeout:.1f} s", hint=HINT_TRANSIENT
            ) from exc
        except httpx.ConnectError as exc:
            if is_tls_failure(exc):
                problem, way_out = tls_failure(exc, urlsplit(url).netloc)
                raise StepError(KIND_TLS_FAILED, "fatal", f"{what} failed: {problem}", hint=way_out) from exc
            if self.attempts == 1:
                # Nothing has answered at this address in this proof: a wrong host or port, not a busy instance.
                raise StepError(
                    KIND_CONNECTION_FAILED,
                    "fatal",
                    f"{what} could not connect to {urlsplit(url).netloc} ({exc})",
                    hint=HINT_NOTHING_ANSWERS,
                ) from exc
            raise StepError(
                KIND_CONNECTION_FAILED, "transient", f"{what} could not connect ({exc})", hint=HINT_TRANSIENT
            ) from exc
        except httpx.TransportError as exc:
            raise StepError(
                KIND_CONNECTION_FAILED,
                "transient",
                f"{what} failed in transit ({type(exc).__name__})",
                hint=HINT_TRANSIENT,
            ) from exc

    def _api_headers(self, token: TokenGrant) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token.access_token}"}
        if self.request.org_id:
            headers[ORG_HEADER] = self.request.org_id
        return headers

    # steps

    def _discover(self) -> Discovery:
        issuer = self.request.issuer
        response = self._send("GET", issuer + DISCOVERY_PATH, f"OIDC discovery at {issuer}")
        return read_discovery(response, issuer=issuer, insecure=self.request.insecure, now=self.clock())

    def _exchange(self, discovery: Discovery) -> TokenGrant:
        key = self.request.key
        assertion = build_assertion(key, discovery.issuer, self.clock())
        response = self._send(
            "POST",
            discovery.token_endpoint,
            f"The token exchange for user {key.user_id}",
            data={"grant_type": JWT_BEARER_GRANT_TYPE, "assertion": assertion, "scope": self.request.scope},
        )
        return read_token(response, user_id=key.user_id, key_id=key.key_id, now=self.clock())

    def _prove_identity(self, token: TokenGrant) -> None:
        user_id = self.request.key.user_id
        what = f"GET {USERS_ME_PATH} for user {user_id}"
        response = self._send("GET", self.request.issuer + USERS_ME_PATH, what, headers=self._api_headers(token))
        read_identity(response, user_id=user_id, what=what, now=self.clock())

    def _prove_grants(self, token: TokenGrant) -> None:
        match = match_grants(self.request.grants, self._list_memberships(token))
        # Kept even when the proof fails: the result reports what was found.
        self.roles_found = match.roles_found
        failure = grants_failure(match, self.request.key.user_id)
        if failure is not None:
            raise self._steady_refusal(match) or failure

    def _steady_refusal(self, match: GrantMatch) -> StepError | None:
        """Fatal once the same wrong roles have come back for the policy's steady refusal time. Only when every
        required membership is there with roles: one (or its roles) not there yet is read lag, waited for."""
        limit = self.request.policy.steady_refusal_seconds
        if limit is None:
            return None
        if match.missing or not all(match.roles_found[name] for name in match.lacking_roles):
            self.wrong_roles.forget()
            self.unchanged_for = None
            return None
        answer = tuple(sorted(match.roles_found.items()))
        self.unchanged_for = self.wrong_roles.seen(answer, self.budget.monotonic())
        if self.unchanged_for < limit:
            return None
        return _steady_refusal_error(self.request.grants, match, self.request.key.user_id, self.unchanged_for, limit)

    def permissions_in(self, org_id: str | None) -> frozenset[str]:
        """The ZITADEL permissions the token's user holds in ``org_id``'s context (its own org when None);
        instance-level roles count in every org."""
        assert self.token is not None, "run() first"  # noqa: S101
        token = self.token

        def ask() -> frozenset[str]:
            what = f"POST {PERMISSIONS_SEARCH_PATH} for user {self.request.key.user_id}"
            headers = {"Authorization": f"Bearer {token.access_token}"}
            if org_id:
                headers[ORG_HEADER] = org_id
            response = self._send("POST", self.request.issuer + PERMISSIONS_SEARCH_PATH, what, headers=headers, json={})
            return read_permissions(response, what=what, org_id=org_id, now=self.clock())

        return self._step(Step.PERMISSIONS, ask)

    def user_ids_named(self, org_id: str, user_name: str) -> tuple[str, ...]:
        """The ids of the org's users of that user name (ZITADEL keeps user names unique, ignoring case)."""
        assert self.token is not None, "log_in() first"  # noqa: S101
        token = self.token

        def ask() -> tuple[str, ...]:
            what = f"POST {USERS_SEARCH_PATH} for {user_name!r} in org {org_id}"
            query = {"userNameQuery": {"userName": user_name, "method": "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE"}}
            headers = {"Authorization": f"Bearer {token.access_token}", ORG_HEADER: org_id}
            url = self.request.issuer + USERS_SEARCH_PATH
            response = self._send("POST", url, what, headers=headers, json={"queries": [query]})
            return read_user_ids(response, what=what, user_name=user_name, now=self.clock())

        return self._step(Step.PERMISSIONS, ask)

    def _list_memberships(self, token: TokenGrant) -> list[dict[str, Any]]:
        what = f"POST {MEMBERSHIPS_SEARCH_PATH} for user {self.request.key.user_id}"
        url = self.request.issuer + MEMBERSHIPS_SEARCH_PATH
        collected: list[dict[str, Any]] = []
        for _page in range(MAX_MEMBERSHIP_PAGES):
            query = memberships_query(len(collected))
            response = self._send("POST", url, what, headers=self._api_headers(token), json=query)
            page, total = read_memberships_page(response, what=what, now=self.clock())
            collected.extend(page)
            if not page or total is None or len(collected) >= total:
                return collected
        logger.debug("%s: stopped after %d pages", what, MAX_MEMBERSHIP_PAGES)
        return collected


def _steady_refusal_error(
    grants: Sequence[Grant], match: GrantMatch, user_id: str, unchanged: float, limit: float
) -> StepError:
    lacking = [grant for grant in grants if grant.key in match.lacking_roles]
    held = "; ".join(
        f"user {user_id} holds {', '.join(match.roles_found[grant.key])} on {grant.describe()}, "
        f"not {', '.join(match.lacking_roles[grant.key])}"
        for grant in lacking
    )
    to_grant = " and ".join(f"{', '.join(match.lacking_roles[grant.key])} on {grant.describe()}" for grant in lacking)
    return StepError(
        KIND_ROLES_MISSING,
        "fatal",
        f"{held}; unchanged for {unchanged:.0f} s (settle time {limit:g} s), so this is not read lag",
        hint=(
            f"Grant {to_grant} to user {user_id}, or require the roles it is meant to hold. A role change made "
            "moments ago shows within seconds: verify again once it is made."
        ),
    )


class Runtime(TypedDict, total=False):
    """What a run may be given instead of the real clock, sleep, network and jitter (tests), and whom to tell
    what it waits for."""

    clock: Callable[[], float]
    """Wall time: assertion iat/exp, Retry-After dates."""
    monotonic: Callable[[], float]
    """Drives the budgets, with ``sleep``."""
    sleep: Callable[[float], None]
    transport: httpx.BaseTransport
    """Gives the run a client of its own instead of the process's shared one."""
    rng: random.Random
    on_wait: Callable[[Waiting], None]
    """Told before each pause between attempts what the run waits for (ids, roles, classified reasons only)."""


@contextmanager
def _running(request: VerificationRequest, runtime: Runtime) -> Iterator[_Proof]:
    """A proof with its budget started; a client of its own when a transport is given, closed at the end.

    Unset time functions are read at call time (time.time, time.monotonic, time.sleep), so tests can replace them.
    """
    if not isinstance(request, VerificationRequest):
        raise TypeError("request must be a VerificationRequest")
    # Jitter only needs to decorrelate clients, not to be unpredictable.
    rng = runtime.get("rng") or random.Random()  # noqa: S311
    budget = Budget(request.policy, runtime.get("monotonic", time.monotonic), runtime.get("sleep", time.sleep), rng)
    transport = runtime.get("transport")
    own = build_client(transport) if transport is not None else None
    client = (lambda _url: own) if own is not None else client_for
    try:
        yield _Proof(request, budget, runtime.get("clock", time.time), client, runtime.get("on_wait"))
    finally:
        if own is not None:
            own.close()


def verify(request: VerificationRequest, **runtime: Unpack[Runtime]) -> VerificationResult:
    """Prove the key works and holds the grants; raise a VerificationError subclass when it does not.

    ``attempts`` in the result counts every HTTP request sent, retries and pages included.
    """
    with _running(request, runtime) as proof:
        result = proof.run()
    logger.debug("verified %s in %d requests, %.2f s", proof.subject(), result.attempts, result.elapsed_seconds)
    return result


def try_verify(request: VerificationRequest, **runtime: Unpack[Runtime]) -> VerificationResult:
    """Like ``verify``, but a failed proof is reported as ``verified=False`` with its kind, not raised.

    What was learned before the failure (token type, roles found) stays in the result.
    """
    with _running(request, runtime) as proof:
        try:
            return proof.run()
        except VerificationError as error:
            logger.debug("verification of %s failed: %s", proof.subject(), error.kind)
            return proof.result(verified=False, error=error)


def held_permissions(
    request: VerificationRequest, org_ids: Sequence[str | None], **runtime: Unpack[Runtime]
) -> dict[str | None, frozenset[str]]:
    """Log in with the key and list the ZITADEL permissions it holds in each org context.

    For a preflight: what an admin key may do, before a plan needs it. Raises a VerificationError when the key
    cannot log in or an org is unknown. The permission search itself proves the token reaches ZITADEL's API.
    """
    with _running(request, runtime) as proof:
        proof.log_in()
        return {org_id: proof.permissions_in(org_id) for org_id in org_ids}


def user_ids_named(
    request: VerificationRequest, wanted: Sequence[tuple[str, str]], **runtime: Unpack[Runtime]
) -> dict[tuple[str, str], tuple[str, ...]]:
    """Log in with the key and look each (org id, user name) up: the ids of the users ZITADEL holds by that name.

    For a preflight: a user name that ZITADEL holds already, for an account whose user the plan creates, would
    fail the update with AlreadyExists.
    """
    with _running(request, runtime) as proof:
        proof.log_in()
        return {(org_id, name): proof.user_ids_named(org_id, name) for org_id, name in wanted}


__all__ = ["JWT_BEARER_GRANT_TYPE", "Runtime", "held_permissions", "try_verify", "user_ids_named", "verify"]
