"""The API proof: what ZITADEL's API says about the token's user.

A token alone proves little: ZITADEL issues one even for a wrong project audience. So the token is used:
``GET /auth/v1/users/me`` proves the ZITADEL audience, the identity and an active user,
``POST /auth/v1/memberships/me/_search`` proves the grants, and ``POST /auth/v1/permissions/zitadel/me/_search``
lists the permissions a preflight needs. The readers here turn each answer into a fact or a classified
``StepError``; the run (``proof``) sends the requests, pages, retries and counts them.
"""

from __future__ import annotations

from typing import Any

import httpx

from .classify import (
    API_RULES,
    HINT_GRANT_MISSING,
    HINT_ISSUER,
    HINT_ROLES_MISSING,
    HINT_USER_INACTIVE,
    USERS_ME_RULES,
    StepError,
    classify,
    json_object,
)
from .errors import (
    KIND_BAD_RESPONSE,
    KIND_GRANT_MISSING,
    KIND_IDENTITY_MISMATCH,
    KIND_ROLES_MISSING,
    KIND_USER_INACTIVE,
)
from .exchange import as_int
from .grants import GrantMatch
from .redaction import redact

USERS_ME_PATH = "/auth/v1/users/me"
MEMBERSHIPS_SEARCH_PATH = "/auth/v1/memberships/me/_search"
PERMISSIONS_SEARCH_PATH = "/auth/v1/permissions/zitadel/me/_search"
USERS_SEARCH_PATH = "/management/v1/users/_search"
USER_STATE_ACTIVE = "USER_STATE_ACTIVE"
# Zero values are omitted by ZITADEL's REST gateway, so an absent state is "unspecified", not "inactive".
USER_STATES_NOT_INACTIVE = frozenset({USER_STATE_ACTIVE, "USER_STATE_UNSPECIFIED", ""})
MEMBERSHIPS_PAGE_LIMIT = 100
MAX_MEMBERSHIP_PAGES = 50


def read_identity(response: httpx.Response, *, user_id: str, what: str, now: float) -> None:
    """``users/me`` names ``user_id``, active: the token reaches ZITADEL's API as the key's own user."""
    if response.status_code != 200:
        raise classify(USERS_ME_RULES, response, what, now)
    body = json_object(response)
    user = body.get("user") if body else None
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        raise StepError(KIND_BAD_RESPONSE, "fatal", f"{what} returned no user object", hint=HINT_ISSUER)
    if user["id"] != user_id:
        raise StepError(
            KIND_IDENTITY_MISMATCH,
            "fatal",
            f"{what} authenticated user {redact(user['id'], 40)}, not {user_id}",
            hint="The key file's userId does not belong to the key; use the key file of this machine user.",
        )
    state = user.get("state", "")
    if not isinstance(state, str) or state not in USER_STATES_NOT_INACTIVE:
        raise StepError(
            KIND_USER_INACTIVE,
            "fatal",
            f"{what} reports the user in state {redact(str(state), 40)}",
            hint=HINT_USER_INACTIVE,
        )


def memberships_query(offset: int) -> dict[str, Any]:
    """One page of ``memberships/me/_search``, oldest first."""
    # int64/uint64 travel as strings through ZITADEL's REST gateway; limit is a uint32 number.
    return {"query": {"offset": str(offset), "limit": MEMBERSHIPS_PAGE_LIMIT, "asc": True}}


def read_memberships_page(
    response: httpx.Response, *, what: str, now: float
) -> tuple[list[dict[str, Any]], int | None]:
    """The memberships of one page, and the total ZITADEL reports (None when it reports none)."""
    if response.status_code != 200:
        raise classify(API_RULES, response, what, now)
    body = json_object(response)
    if body is None:
        raise StepError(KIND_BAD_RESPONSE, "fatal", f"{what} did not return a JSON object")
    page = body.get("result", [])  # omitted when empty
    if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
        raise StepError(KIND_BAD_RESPONSE, "fatal", f"{what} returned a malformed result list")
    details = body.get("details")
    return page, as_int(details.get("totalResult")) if isinstance(details, dict) else None


def grants_failure(match: GrantMatch, user_id: str) -> StepError | None:
    """Why the memberships found do not prove the grants (a consistency answer: they may still appear)."""
    if match.missing:
        names = ", ".join(grant.describe() for grant in match.missing)
        return StepError(
            KIND_GRANT_MISSING,
            "consistency",
            f"user {user_id} has no membership on {names}",
            hint=HINT_GRANT_MISSING,
        )
    if match.lacking_roles:
        details = "; ".join(
            f"{name} lacks {', '.join(roles)} (has {', '.join(match.roles_found[name]) or 'none'})"
            for name, roles in sorted(match.lacking_roles.items())
        )
        return StepError(
            KIND_ROLES_MISSING,
            "consistency",
            f"user {user_id} lacks required roles: {details}",
            hint=HINT_ROLES_MISSING,
        )
    return None


def read_permissions(response: httpx.Response, *, what: str, org_id: str | None, now: float) -> frozenset[str]:
    """The ZITADEL permissions ``permissions/zitadel/me`` lists for the org context ``org_id``."""
    if response.status_code != 200:
        raise classify(API_RULES, response, f"{what} in org {org_id}" if org_id else what, now)
    body = json_object(response)
    result = body.get("result", []) if body is not None else None  # omitted when empty: `{}` is no permission
    if not isinstance(result, list) or not all(isinstance(item, str) for item in result):
        raise StepError(KIND_BAD_RESPONSE, "fatal", f"{what} returned a malformed result list")
    return frozenset(result)


def read_user_ids(response: httpx.Response, *, what: str, user_name: str, now: float) -> tuple[str, ...]:
    """The ids of the users named ``user_name`` (ignoring case) in a ``users/_search`` answer."""
    if response.status_code != 200:
        raise classify(API_RULES, response, what, now)
    body = json_object(response)
    result = body.get("result", []) if body is not None else None  # omitted when empty
    if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
        raise StepError(KIND_BAD_RESPONSE, "fatal", f"{what} returned a malformed result list")
    return tuple(
        str(user["id"])
        for user in result
        if user.get("id") and str(user.get("userName", "")).lower() == user_name.lower()
    )
