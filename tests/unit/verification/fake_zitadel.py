"""A local HTTP stand-in for the ZITADEL endpoints the verifier calls, for offline unit tests.

By default it behaves like ZITADEL: it validates the JWT assertion with the registered public key (aud = its own
issuer, iss = sub = user, kid lookup, iat/exp), issues an opaque or JWT access token, and serves users/me and
memberships/me/_search from its state with ZITADEL's JSON shapes and error bodies. Tests script deviations per
route (``fake.script("token", Reply(...), ...)``): scripted replies are served first, in order.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IAM_PROJECT_ID = "100000000000000001"
ROUTES = {
    ("GET", "/.well-known/openid-configuration"): "discovery",
    ("POST", "/oauth/v2/token"): "token",
    ("GET", "/auth/v1/users/me"): "users_me",
    ("POST", "/auth/v1/memberships/me/_search"): "memberships",
}

INVALID_GRANT = {"error": "invalid_grant", "error_description": "invalid assertion"}
LEGACY_INTERNAL = {"error": "server_error", "error_description": "Errors.Internal"}
NOT_ACTIVE = {"error": "invalid_request", "error_description": "Errors.User.NotActive"}
TOKEN_INVALID = {"code": 16, "message": "Errors.Token.Invalid (AUTH-7fs1e)", "details": []}
MEMBERSHIP_NOT_FOUND = {"code": 5, "message": "membership not found (AUTHZ-cdgFk)", "details": []}
NO_PERMISSION = {"code": 7, "message": "No matching permissions found (AUTH-5mWD2)", "details": []}
ORG_UNKNOWN = {"code": 7, "message": "Organisation doesn't exist (AUTH-Bs7Ds)", "details": []}


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to stall before answering (the test's release event cuts it short at teardown).
    delay: float = 0.0
    #: Send the body as-is (for malformed JSON or text/plain answers).
    raw: bool = False


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int

    @property
    def form(self) -> dict[str, str]:
        return {name: values[0] for name, values in parse_qs(self.body.decode()).items()}

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Token:
    value: str
    user_id: str
    zitadel_audience: bool


class FakeZitadel:
    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], rsa.RSAPublicKey | ec.EllipticCurvePublicKey] = {}
        self.user_id = ""
        self.user_state = "USER_STATE_ACTIVE"
        self.me_user_id: str | None = None  # override what users/me reports
        self.legacy = False  # old servers answer assertion problems with 500 Errors.Internal
        self.echo_secrets = False  # a careless server that quotes the assertion or token in its errors
        self.access_token_type = "opaque"
        self.memberships: list[dict[str, Any]] = []
        self.grant_types = ["authorization_code", "refresh_token", JWT_BEARER]
        self.scripted: dict[str, deque[Reply]] = {}
        self.requests: list[Seen] = []
        self.tokens: dict[str, Token] = {}
        self.issued_assertions: list[str] = []
        self.clock: Callable[[], float] = time.time
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._jwt_secret = secrets.token_bytes(32)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    # lifecycle

    def start(self) -> FakeZitadel:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # set-up helpers

    def register_key(self, key_id: str, user_id: str, public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> None:
        self.keys[(key_id, user_id)] = public_key
        self.user_id = user_id

    def add_membership(self, roles: list[str], **kind: Any) -> None:
        self.memberships.append({"userId": self.user_id, "roles": roles, "displayName": "acme", **kind})

    def script(self, route: str, *replies: Reply) -> None:
        self.scripted.setdefault(route, deque()).extend(replies)

    def seen(self, route: str) -> list[Seen]:
        wanted = {path for (_, path), name in ROUTES.items() if name == route}
        return [request for request in self.requests if request.path in wanted]

    # default behaviour

    def answer(self, route: str, request: Seen) -> Reply:
        with self._lock:
            queue = self.scripted.get(route)
            if queue:
                return queue.popleft()
        if route == "discovery":
            return Reply(
                200,
                {
                    "issuer": self.url,
                    "token_endpoint": f"{self.url}/oauth/v2/token",
                    "jwks_uri": f"{self.url}/oauth/v2/keys",
                    "userinfo_endpoint": f"{self.url}/oidc/v1/userinfo",
                    "grant_types_supported": self.grant_types,
                },
            )
        if route == "token":
            return self._token(request)
        token = self._bearer(request)
        if token is None or not token.zitadel_audience:
            if self.echo_secrets and token is not None:
                return Reply(401, {**TOKEN_INVALID, "message": f"{TOKEN_INVALID['message']} for {token.value}"})
            return Reply(401, TOKEN_INVALID)
        if route == "users_me":
            user: dict[str, Any] = {"id": self.me_user_id or token.user_id, "userName": "svc", "machine": {}}
            if self.user_state:
                user["state"] = self.user_state
            return Reply(200, {"details": {"sequence": "7"}, "user": user})
        if route == "memberships":
            query = (request.json or {}).get("query", {})
            offset = int(query.get("offset", "0"))
            limit = int(query.get("limit", 0)) or len(self.memberships)
            page = self.memberships[offset : offset + limit]
            body: dict[str, Any] = {"details": {"totalResult": str(len(self.memberships))}}
            if page:
                body["result"] = page
            return Reply(200, body)
        return Reply(404, {"code": 5, "message": "Not Found"})

    def _refuse_assertion(self, assertion: str = "") -> Reply:
        body = dict(LEGACY_INTERNAL if self.legacy else INVALID_GRANT)
        if self.echo_secrets:
            body["error_description"] += f": {assertion}"
        return Reply(500 if self.legacy else 400, body)

    def _token(self, request: Seen) -> Reply:
        form = request.form
        if form.get("grant_type") != JWT_BEARER:
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "grant_type unsupported"})
        scope = form.get("scope", "").split()
        if not scope:
            return Reply(400, {"error": "invalid_request", "error_description": "The scope of your request is missing"})
        assertion = form.get("assertion", "")
        self.issued_assertions.append(assertion)
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            public_key = self.keys[(header["kid"], unverified["sub"])]
            claims = jwt.decode(
                assertion,
                public_key,
                algorithms=["RS256", "ES256", "PS256"],
                audience=self.url,
                options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_exp": False, "verify_iat": False},
            )
        except (jwt.PyJWTError, KeyError):
            return self._refuse_assertion(assertion)
        # zitadel/oidc's JWT profile rules: exp after now + 1 s, iat at most 1 s ahead and at most 1 h old.
        now = self.clock()
        if not now + 1 < claims["exp"] or claims["iat"] > now + 1 or claims["iat"] < now - 3600:
            return self._refuse_assertion(assertion)
        if claims["iss"] != claims["sub"]:
            return self._refuse_assertion(assertion)
        if self.user_state not in ("USER_STATE_ACTIVE", ""):
            return Reply(400, NOT_ACTIVE)
        zitadel_audience = any(
            item in (f"urn:zitadel:iam:org:project:id:{project}:aud" for project in ("zitadel", IAM_PROJECT_ID))
            for item in scope
        )
        if self.access_token_type == "jwt":
            value = jwt.encode(
                {"iss": self.url, "sub": claims["sub"], "aud": ["x"], "jti": secrets.token_hex(8)},
                self._jwt_secret,
                algorithm="HS256",
            )
        else:
            value = "opq" + secrets.token_urlsafe(48)
        self.tokens[value] = Token(value, claims["sub"], zitadel_audience)
        body = {"access_token": value, "token_type": "Bearer", "expires_in": 43199}
        if "openid" in scope:
            body["id_token"] = jwt.encode({"sub": claims["sub"]}, self._jwt_secret, algorithm="HS256")
        return Reply(200, body)

    def _bearer(self, request: Seen) -> Token | None:
        value = request.headers.get("authorization", "")
        if not value.startswith("Bearer "):
            return None
        return self.tokens.get(value.removeprefix("Bearer "))


def _handler_for(fake: FakeZitadel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable
        disable_nagle_algorithm = True  # small writes on a kept-alive socket would wait for delayed ACKs

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Seen(
                method=self.command,
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                client_port=self.client_address[1],
            )
            fake.requests.append(request)
            route = ROUTES.get((self.command, self.path.split("?")[0]))
            reply = fake.answer(route, request) if route else Reply(404, {"code": 5, "message": "Not Found"})
            if reply.delay:
                fake.release.wait(reply.delay)
            if reply.raw:
                payload = reply.body.encode() if isinstance(reply.body, str) else bytes(reply.body or b"")
                content_type = reply.headers.get("Content-Type", "text/plain; charset=utf-8")
            else:
                payload = json.dumps(reply.body).encode() if reply.body is not None else b""
                content_type = "application/json"
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    if name != "Content-Type":
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout tests)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
