"""Where the instance is and how the program reaches it: the ``zitadel:`` keys and the issuer.

The issuer has one rule, the verifier's ``validate_issuer``: the override ``zitadel-bootstrap:issuer`` is checked
by it (plain http only with ``zitadel:insecure``), and its refusal becomes a problem naming the key.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from zitadel_bootstrap import limits
from zitadel_bootstrap.verification.errors import InvalidInputError
from zitadel_bootstrap.verification.model import validate_issuer

from .errors import Problems
from .fields import as_bool, as_int, show
from .keys import project_key, provider_key
from .model import ProviderSettings

_HOST_LABEL = re.compile(rf"(?!-)[A-Za-z0-9-]{{1,{limits.HOST_LABEL_MAX_LENGTH}}}(?<!-)")
_ISSUER_EXAMPLE = "https://my-instance.zitadel.cloud"


def derive_issuer(domain: str, port: int, insecure: bool) -> str:
    """ZITADEL's issuer for a provider config: the origin, with the port only when it is not the default."""
    scheme = "http" if insecure else "https"
    default_port = limits.DEFAULT_HTTP_PORT if insecure else limits.DEFAULT_HTTPS_PORT
    host = f"[{domain}]" if ":" in domain else domain
    return f"{scheme}://{host}" if port == default_port else f"{scheme}://{host}:{port}"


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    labels = host.rstrip(".").split(".")
    return len(host) <= limits.HOST_NAME_MAX_LENGTH and all(_HOST_LABEL.fullmatch(label) for label in labels)


def _parse_domain(value: Any, problems: Problems) -> str:
    key = provider_key("domain")
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.add(
            key,
            "is required: the bare host name of your ZITADEL instance, e.g. "
            "`pulumi config set zitadel:domain my-instance.zitadel.cloud`",
        )
        return ""
    if not isinstance(value, str):
        problems.add(key, f"must be a host name string, got {show(value)}")
        return ""
    domain = value.strip()
    if "://" in domain:
        problems.add(
            key,
            f"must be a bare host name without a scheme, got {show(domain)}; drop the 'http(s)://' "
            "(use zitadel:insecure for plain http)",
        )
        return ""
    if "/" in domain or "?" in domain or "#" in domain:
        problems.add(key, f"must be a bare host name without a path, got {show(domain)}")
        return ""
    if ":" in domain and not _valid_host(domain):
        problems.add(key, f"must not contain a port, got {show(domain)}; set the port with zitadel:port")
        return ""
    if not _valid_host(domain):
        problems.add(key, f"is not a valid host name, got {show(domain)}")
        return ""
    return domain


def parse_provider(zitadel: Mapping[str, Any], problems: Problems) -> ProviderSettings:
    domain = _parse_domain(zitadel.get("domain"), problems)
    insecure = as_bool(zitadel.get("insecure"), provider_key("insecure"), problems, default=False)
    port = limits.DEFAULT_HTTP_PORT if insecure else limits.DEFAULT_HTTPS_PORT
    if zitadel.get("port") is not None:
        parsed = as_int(
            zitadel.get("port"), provider_key("port"), problems, minimum=limits.MIN_PORT, maximum=limits.MAX_PORT
        )
        port = port if parsed is None else parsed
    profile_file = zitadel.get("jwtProfileFile")
    has_json = zitadel.get("jwtProfileJson") not in (None, "")
    has_token = zitadel.get("token") not in (None, "")
    if profile_file in (None, "") and not has_json and not has_token:
        problems.add(
            provider_key("jwtProfileFile"),
            "the provider needs credentials: set zitadel:jwtProfileFile to the path of an instance or org "
            "admin's machine key file, or `pulumi config set --secret zitadel:jwtProfileJson < key.json`",
        )
    if profile_file not in (None, "") and has_json:
        problems.add(
            provider_key("jwtProfileJson"), "set either zitadel:jwtProfileFile or zitadel:jwtProfileJson, not both"
        )
    return ProviderSettings(
        domain=domain,
        insecure=insecure,
        port=port,
        jwt_profile_file=str(profile_file) if profile_file not in (None, "") else None,
    )


def _sentence(error: InvalidInputError) -> str:
    return error.message[:1].lower() + error.message[1:]


def parse_issuer(override: Any, provider: ProviderSettings, problems: Problems) -> str:
    """The override, checked by the verifier's rule, or the issuer derived from the provider keys."""
    if override in (None, ""):
        if not provider.domain:
            return ""  # zitadel:domain is reported already
        derived = derive_issuer(provider.domain, provider.port, provider.insecure)
        try:
            return validate_issuer(derived, insecure=provider.insecure)
        except InvalidInputError as error:
            problems.add(provider_key("domain"), f"gives no usable issuer ({_sentence(error)}); check the host name")
            return ""
    key = project_key("issuer")
    if not isinstance(override, str):
        problems.add(key, f"must be an absolute http(s) URL such as {_ISSUER_EXAMPLE}, got {show(override)}")
        return ""
    try:
        validate_issuer(override, insecure=None)  # the shape alone, to give the fix that fits
    except InvalidInputError as error:
        problems.add(
            key,
            f"{_sentence(error)} Set it to the instance origin (ZITADEL's issuer) without a path, query or fragment, "
            f"e.g. {_ISSUER_EXAMPLE}, or leave it unset to derive it from zitadel:domain",
        )
        return ""
    try:
        return validate_issuer(override, insecure=provider.insecure)
    except InvalidInputError as error:
        problems.add(key, f"{_sentence(error)} Use https, or set zitadel:insecure to true for a local instance")
        return ""
