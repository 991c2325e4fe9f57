"""ZITADEL's management and admin API over its REST gateway, with the provider's admin key.

Login is the project's own JWT-bearer library (zitadel_bootstrap.verification: ``parse_key_file``, ``build_assertion``)
against the token endpoint that OIDC discovery names, with the scopes the provider asks for (``openid`` and the
ZITADEL API audience). Only what the recovery needs: users by org and user name, a user's machine keys, the
members of an org, the instance, a project or a project grant, orgs by name, and the removals. Routes and JSON
shapes are those of ZITADEL's management.proto / admin.proto gateway annotations. Transient answers (429, 5xx,
connection errors) are retried for a while; a TLS failure is not (it fails at once, naming the certificate problem).
Nothing here prints key or token material.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from zitadel_bootstrap.verification import JWT_BEARER_GRANT_TYPE, MachineKey, build_assertion, parse_key_file
from zitadel_bootstrap.verification.http import build_client, is_tls_failure, tls_failure
from zitadel_bootstrap.verification.redaction import redact

from .model import MemberSpec, ZitadelKey, ZitadelMember, ZitadelOrg, ZitadelUser

SCOPE = "openid urn:zitadel:iam:org:project:id:zitadel:aud"
ORG_HEADER = "x-zitadel-orgid"
PAGE = 100
#: How long transient failures (429, 5xx, connection errors) are retried, and the longest wait between tries.
RETRY_SECONDS = 30.0
MAX_WAIT_SECONDS = 5.0
TRANSIENT = frozenset({429, 500, 502, 503, 504})


class ZitadelApiError(RuntimeError):
    """A call failed for good; the message names the call and ZITADEL's answer (redacted)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ZitadelApi:
    """A logged-in admin session. Build it with :meth:`login`."""

    issuer: str
    client: httpx.Client
    token: str = field(repr=False)
    admin_user_id: str = ""
    admin_key_id: str = ""
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    @classmethod
    def login(
        cls,
        issuer: str,
        key_text: str,
        *,
        insecure: bool,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> ZitadelApi:
        key = parse_key_file(key_text)
        if issuer.startswith("http://") and not insecure:
            raise ZitadelApiError(f"{issuer} is plain http; only zitadel:insecure allows that")
        # One client for the issuer and the token endpoint that discovery names, which may be https behind an
        # http issuer: it checks certificates whatever the schemes (``insecure`` only allows plain http).
        client = build_client(transport)
        api = cls(issuer, client, "", key.user_id, key.key_id, sleep, monotonic)
        try:
            api._log_in(key, insecure=insecure)
        except BaseException:
            client.close()
            raise
        return api

    def _log_in(self, key: MachineKey, *, insecure: bool) -> None:
        """Discovery, then the JWT-bearer exchange at the token endpoint it names; keeps the access token."""
        discovery = self._send("GET", "/.well-known/openid-configuration", "OIDC discovery", auth=False)
        token_endpoint = discovery.get("token_endpoint")
        advertised = discovery.get("issuer")
        if not isinstance(token_endpoint, str) or not token_endpoint.startswith(("https://", "http://")):
            raise ZitadelApiError(f"OIDC discovery at {self.issuer} names no usable token endpoint")
        if token_endpoint.startswith("http://") and not insecure:
            raise ZitadelApiError(f"the token endpoint {token_endpoint} is plain http; refused without insecure")
        audience = advertised if isinstance(advertised, str) and advertised else self.issuer
        form = {
            "grant_type": JWT_BEARER_GRANT_TYPE,
            "assertion": build_assertion(key, audience, time.time()),
            "scope": SCOPE,
        }
        answer = self._send(
            "POST", token_endpoint, f"the token exchange of admin user {key.user_id}", data=form, auth=False
        )
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise ZitadelApiError(f"the token exchange of admin user {key.user_id} returned no access token")
        self.token = token

    def close(self) -> None:
        self.client.close()

    # -- transport ------------------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        org_id: str = "",
        json: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        auth: bool = True,
        not_found_ok: bool = False,
    ) -> dict[str, Any]:
        url = path if path.startswith(("https://", "http://")) else self.issuer + path
        headers = {}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        if org_id:
            headers[ORG_HEADER] = org_id
        deadline = self.monotonic() + RETRY_SECONDS
        wait = 0.5
        while True:
            problem: str
            try:
                response = self.client.request(method, url, headers=headers, json=json, data=data, timeout=15.0)
            except httpx.TransportError as error:
                if is_tls_failure(error):
                    # A certificate that does not verify now will not in 30 s either: name it, with the way out.
                    failure, way_out = tls_failure(error, urlsplit(url).netloc)
                    raise ZitadelApiError(f"{what} ({method} {path}) failed: {failure}. {way_out}") from None
                problem, status, retry_after = f"failed in transit ({type(error).__name__})", 0, None
            else:
                if response.status_code == 200:
                    return _json(response)
                if response.status_code == 404 and not_found_ok:
                    return {}
                status = response.status_code
                problem = f"answered {status}: {_message(response, self.token)}"
                retry_after = _retry_after(response)
                if status not in TRANSIENT:
                    raise ZitadelApiError(f"{what} ({method} {path}) {problem}", status)
            delay = min(retry_after if retry_after is not None else wait, MAX_WAIT_SECONDS)
            if self.monotonic() + delay > deadline:
                raise ZitadelApiError(f"{what} ({method} {path}) {problem}, still after {RETRY_SECONDS:.0f} s", status)
            self.sleep(delay)
            wait = min(wait * 2, MAX_WAIT_SECONDS)

    def _search(self, path: str, what: str, body: Mapping[str, Any], org_id: str = "") -> list[dict[str, Any]]:
        """Every result of a list call, page by page."""
        results: list[dict[str, Any]] = []
        while True:
            page = self._send(
                "POST",
                path,
                what,
                org_id=org_id,
                json={**body, "query": {"offset": str(len(results)), "limit": PAGE}},
            )
            batch = page.get("result") or []  # omitted when empty
            if not isinstance(batch, list):
                raise ZitadelApiError(f"{what} returned a malformed result list")
            results += [item for item in batch if isinstance(item, dict)]
            total = _int(page.get("details", {}).get("totalResult"))
            if not batch or len(batch) < PAGE or (total is not None and len(results) >= total):
                return results

    # -- reads ----------------------------------------------------------------------------------------------------

    def users_named(self, org_id: str, user_name: str) -> tuple[ZitadelUser, ...]:
        """Users of that user name (ignoring case, as ZITADEL keeps them unique) in the org."""
        query = {"userNameQuery": {"userName": user_name, "method": "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE"}}
        found = self._search(
            "/management/v1/users/_search",
            f"the user search for {user_name!r} in org {org_id}",
            {"queries": [query]},
            org_id,
        )
        return tuple(
            ZitadelUser(str(u.get("id", "")), org_id, str(u.get("userName", "")), str(u.get("state", "")))
            for u in found
            if str(u.get("userName", "")).lower() == user_name.lower() and u.get("id")
        )

    def keys_of(self, org_id: str, user_id: str) -> tuple[ZitadelKey, ...]:
        found = self._search(
            f"/management/v1/users/{user_id}/keys/_search", f"the key list of user {user_id}", {}, org_id
        )
        return tuple(ZitadelKey(str(k["id"]), user_id, str(k.get("expirationDate", ""))) for k in found if k.get("id"))

    def member(self, spec: MemberSpec, user_id: str) -> ZitadelMember | None:
        """The user's membership of the spec's kind and target, if ZITADEL has it."""
        body = {"queries": [{"userIdQuery": {"userId": user_id}}]}
        what = f"the {spec.describe()} list of user {user_id}"
        found = self._search(_members_path(spec), what, body, "" if spec.kind == "instance" else spec.org_id)
        for m in found:
            if m.get("userId") == user_id:
                roles = m.get("roles") or []
                return ZitadelMember(user_id, tuple(str(r) for r in roles if isinstance(r, str)))
        return None

    def orgs_named(self, name: str) -> tuple[ZitadelOrg, ...]:
        query = {"nameQuery": {"name": name, "method": "TEXT_QUERY_METHOD_EQUALS"}}
        found = self._search("/admin/v1/orgs/_search", f"the org search for {name!r}", {"queries": [query]})
        return tuple(ZitadelOrg(str(o["id"]), str(o.get("name", ""))) for o in found if o.get("name") == name)

    # -- removals (an object already gone counts as removed) -----------------------------------------------------

    def remove_key(self, org_id: str, user_id: str, key_id: str) -> None:
        self._send(
            "DELETE",
            f"/management/v1/users/{user_id}/keys/{key_id}",
            f"removing key {key_id} of user {user_id}",
            org_id=org_id,
            not_found_ok=True,
        )

    def remove_user(self, org_id: str, user_id: str) -> None:
        self._send(
            "DELETE", f"/management/v1/users/{user_id}", f"removing user {user_id}", org_id=org_id, not_found_ok=True
        )

    def remove_member(self, spec: MemberSpec, user_id: str) -> None:
        self._send(
            "DELETE",
            f"{_members_path(spec).removesuffix('/_search')}/{user_id}",
            f"removing the {spec.describe()} of user {user_id}",
            org_id="" if spec.kind == "instance" else spec.org_id,
            not_found_ok=True,
        )


def _members_path(spec: MemberSpec) -> str:
    if spec.kind == "org":
        return "/management/v1/orgs/me/members/_search"
    if spec.kind == "instance":
        return "/admin/v1/members/_search"
    if spec.kind == "project":
        return f"/management/v1/projects/{spec.project_id}/members/_search"
    return f"/management/v1/projects/{spec.project_id}/grants/{spec.grant_id}/members/_search"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(response: httpx.Response, token: str) -> str:
    """ZITADEL's words, redacted: its patterns, and the session's own token by value (whatever its length)."""
    body = _json(response)
    text = body.get("message") or body.get("error_description") or body.get("error") or response.text
    return redact(str(text), 200, known=(token,))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def _int(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
