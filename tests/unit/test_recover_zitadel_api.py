"""The recovery's ZITADEL client (zitadel_bootstrap.cli.recover.zitadel_api) against a fake gateway
(httpx.MockTransport): the JWT-bearer login, the REST routes, headers and JSON bodies it sends, paging, retries of
transient answers, removals of what is already gone, and errors without token material."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from zitadel_bootstrap.cli.recover.model import MemberSpec
from zitadel_bootstrap.cli.recover.zitadel_api import SCOPE, ZitadelApi, ZitadelApiError

from tests.e2e.leaks import JWT_SHAPE, pem_slices
from tests.unit.verification.helpers import key_file_text

ISSUER = "https://acme.zitadel.cloud"
ORG_ID = "300000000000000001"
TOKEN = "opaque-admin-token-5f2b"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(scope="module")
def key_text() -> str:
    return key_file_text(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def gateway(routes: dict[str, Handler], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "token_endpoint": f"{ISSUER}/oauth/v2/token"})
        if request.url.path == "/oauth/v2/token":
            return httpx.Response(200, json={"access_token": TOKEN, "token_type": "Bearer", "expires_in": 43199})
        handler = routes.get(f"{request.method} {request.url.path}")
        if handler is None:
            return httpx.Response(404, json={"code": 5, "message": "Not Found"})
        return handler(request)

    return httpx.MockTransport(handle)


def login(key_text: str, routes: dict[str, Handler], seen: list[httpx.Request], sleeps: list[float]) -> ZitadelApi:
    return ZitadelApi.login(
        ISSUER, key_text, insecure=False, transport=gateway(routes, seen), sleep=sleeps.append, monotonic=lambda: 0.0
    )


def test_login_is_the_jwt_bearer_grant_with_the_provider_s_scopes(key_text: str) -> None:
    seen: list[httpx.Request] = []
    api = login(key_text, {}, seen, [])
    form = dict(httpx.QueryParams(seen[1].content.decode()))
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert form["scope"] == SCOPE
    claims = jwt.decode(form["assertion"], options={"verify_signature": False})
    assert claims["aud"] == ISSUER
    assert claims["iss"] == claims["sub"] == api.admin_user_id
    assert TOKEN not in repr(api)


def test_users_are_searched_by_name_in_the_org_and_filtered_exactly(key_text: str) -> None:
    seen: list[httpx.Request] = []

    def users(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"details": {"totalResult": "2"}, "result": [
            {"id": "1", "userName": "CI-Bot", "state": "USER_STATE_ACTIVE"},
            {"id": "2", "userName": "ci-bot-2"},
        ]})  # fmt: skip

    api = login(key_text, {"POST /management/v1/users/_search": users}, seen, [])
    found = api.users_named(ORG_ID, "ci-bot")
    assert [(u.id, u.user_name, u.org_id) for u in found] == [("1", "CI-Bot", ORG_ID)]
    request = seen[-1]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-zitadel-orgid"] == ORG_ID
    body = json.loads(request.content)
    assert body["queries"] == [
        {"userNameQuery": {"userName": "ci-bot", "method": "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE"}}
    ]
    assert body["query"] == {"offset": "0", "limit": 100}


def test_lists_are_read_page_by_page(key_text: str) -> None:
    seen: list[httpx.Request] = []
    keys = [{"id": str(n), "type": "KEY_TYPE_JSON"} for n in range(150)]

    def page(request: httpx.Request) -> httpx.Response:
        query = json.loads(request.content)["query"]
        start = int(query["offset"])
        batch = keys[start : start + query["limit"]]
        return httpx.Response(200, json={"details": {"totalResult": "150"}, **({"result": batch} if batch else {})})

    api = login(key_text, {"POST /management/v1/users/7/keys/_search": page}, seen, [])
    assert [k.id for k in api.keys_of(ORG_ID, "7")] == [str(n) for n in range(150)]
    assert len([r for r in seen if r.url.path.endswith("/keys/_search")]) == 2


def test_member_routes_per_kind_and_an_empty_list_means_none(key_text: str) -> None:
    seen: list[httpx.Request] = []
    member = {"result": [{"userId": "7", "roles": ["PROJECT_GRANT_OWNER"]}]}
    routes: dict[str, Handler] = {
        "POST /management/v1/orgs/me/members/_search": lambda r: httpx.Response(200, json={"details": {}}),
        "POST /management/v1/projects/8/grants/9/members/_search": lambda r: httpx.Response(200, json=member),
        "POST /admin/v1/members/_search": lambda r: httpx.Response(200, json={}),
    }
    api = login(key_text, routes, seen, [])
    assert api.member(MemberSpec("org", "ci-org-member", ORG_ID), "7") is None
    grant = api.member(MemberSpec("project_grant", "g", ORG_ID, "8", "9"), "7")
    assert grant is not None
    assert grant.roles == ("PROJECT_GRANT_OWNER",)
    assert api.member(MemberSpec("instance", "i", ORG_ID), "7") is None
    assert "x-zitadel-orgid" not in seen[-1].headers, "instance members are listed without an org context"
    assert json.loads(seen[-1].content)["queries"] == [{"userIdQuery": {"userId": "7"}}]


def test_transient_answers_are_retried_and_honour_retry_after(key_text: str) -> None:
    seen: list[httpx.Request] = []
    sleeps: list[float] = []
    answers = iter([
        httpx.Response(429, headers={"Retry-After": "2"}, json={"message": "slow down"}),
        httpx.Response(503, text="unavailable"),
        httpx.Response(200, json={}),
    ])  # fmt: skip
    api = login(key_text, {"DELETE /management/v1/users/7/keys/8": lambda r: next(answers)}, seen, sleeps)
    api.remove_key(ORG_ID, "7", "8")
    assert sleeps == [2.0, 1.0]


def test_removing_what_is_gone_succeeds_and_refusals_fail_without_token_material(key_text: str) -> None:
    seen: list[httpx.Request] = []
    refused = {"code": 7, "message": f"No matching permissions found (AUTH-5mWD2) {TOKEN}"}
    routes: dict[str, Handler] = {
        "DELETE /management/v1/users/7": lambda r: httpx.Response(404, json={"code": 5, "message": "gone"}),
        "DELETE /management/v1/orgs/me/members/7": lambda r: httpx.Response(403, json=refused),
    }
    api = login(key_text, routes, seen, [])
    api.remove_user(ORG_ID, "7")
    with pytest.raises(ZitadelApiError) as failed:
        api.remove_member(MemberSpec("org", "m", ORG_ID), "7")
    assert failed.value.status == 403
    assert "AUTH-5mWD2" in str(failed.value)
    # ZITADEL quoted the token: neither it nor any key or token-shaped text is in the error or its printed chain.
    printed = "".join(traceback.format_exception(failed.value))
    assert TOKEN not in printed
    assert JWT_SHAPE.findall(printed) == []
    for piece in pem_slices(key_text):
        assert piece not in printed
        assert piece.replace("/", "\\/") not in printed
    assert "PRIVATE KEY" not in printed


def test_plain_http_needs_insecure(key_text: str) -> None:
    with pytest.raises(ZitadelApiError, match="plain http"):
        ZitadelApi.login("http://127.0.0.1:8080", key_text, insecure=False, transport=gateway({}, []))
