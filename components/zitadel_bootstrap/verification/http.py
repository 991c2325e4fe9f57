"""The HTTP client of the verifier: one per process and scheme, reused by every verification.

Building an httpx client loads the CA bundle into an SSL context (about 20 ms); a plain-http issuer (a local
instance) never needs it. So there is one client for http and one, built on first use, for https. TLS
verification is always on: there is deliberately no switch to turn it off, and the client for http checks
certificates too (it trusts no CA at all, so an https URL that reached it would fail, never pass unchecked).
Redirects are never followed, so credentials never travel to another origin.
"""

from __future__ import annotations

import ssl
import threading

import httpx

USER_AGENT = "zitadel-bootstrap-verifier/1"

_clients: dict[str, httpx.Client] = {}
_lock = threading.Lock()


def build_client(transport: httpx.BaseTransport | None = None, *, tls: bool = True) -> httpx.Client:
    """A new client; ``tls=False`` builds one for http:// URLs only, without loading the CA bundle."""
    if transport is None and not tls:
        # Meant for http:// URLs only (client_for() picks clients by the URL's scheme). Plain http needs no
        # certificate check turned off: this context checks certificates and host names like any other, and
        # trusts no CA, so an https URL sent through it fails closed.
        transport = httpx.HTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    return httpx.Client(
        transport=transport,
        verify=True,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )


def client_for(url: str) -> httpx.Client:
    """The process's client for ``url``'s scheme (thread-safe: the package's provider serves calls in threads)."""
    scheme = "https" if url.startswith("https://") else "http"
    with _lock:
        client = _clients.get(scheme)
        if client is None or client.is_closed:
            client = _clients[scheme] = build_client(tls=scheme == "https")
        return client


def is_tls_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def tls_failure(exc: BaseException, netloc: str) -> tuple[str, str]:
    """(what went wrong, the way out) for a TLS failure at ``netloc``: the certificate problem by name, or a server
    that does not speak TLS at all."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            problem = getattr(current, "verify_message", None) or str(current)
            return (
                f"the TLS certificate of {netloc} could not be verified: {problem}",
                "If the certificate is right, trust the CA that issued it: point SSL_CERT_FILE at a PEM bundle that "
                "holds it (the provider plugin reads the same variable); if the name is wrong, use a domain the "
                "certificate names in zitadel:domain.",
            )
        if isinstance(current, ssl.SSLError):
            return (
                f"{netloc} did not answer in TLS ({current.reason or current}): it may serve plain http",
                "Use the instance's https address; a local instance that serves plain http needs zitadel:insecure "
                "true (never for a remote instance).",
            )
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return (
        f"the TLS connection to {netloc} failed ({exc})",
        "Check the certificate and the CA in SSL_CERT_FILE.",
    )
