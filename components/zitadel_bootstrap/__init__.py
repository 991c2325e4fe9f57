"""zitadel-bootstrap: ZITADEL service accounts as Pulumi components, each proven by a real JWT-bearer exchange.

The public API::

    from zitadel_bootstrap import ServiceAccount, ServiceAccountArgs

One folder per job: ``component`` (ServiceAccount and its inputs), ``verification`` (the pure verifier: JWT-bearer
exchange and API proof, no Pulumi imports), ``provider`` (the package's Pulumi provider: the verification resource
and the server that serves the package to every language), ``key_schedule`` (key expiry and rotation), ``config``
(the stack-config program's settings, and its preflight), ``cli`` (the ``zitadel-bootstrap`` command).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zitadel_bootstrap.component import (
        ProjectGrantRolesArgs,
        ProjectRolesArgs,
        ServiceAccount,
        ServiceAccountArgs,
        ServiceAccountInputError,
    )

__version__ = "0.3.0"
_COMPONENT_NAMES = frozenset(
    {"ProjectGrantRolesArgs", "ProjectRolesArgs", "ServiceAccount", "ServiceAccountArgs", "ServiceAccountInputError"}
)


def __getattr__(name: str) -> Any:
    # The component imports Pulumi and the zitadel SDK (about a second); the command line and the verifier need
    # neither, so they are loaded on first use of a component name.
    if name in _COMPONENT_NAMES:
        from zitadel_bootstrap import component  # noqa: PLC0415

        return getattr(component, name)
    raise AttributeError(f"module 'zitadel_bootstrap' has no attribute {name!r}")


__all__ = [
    "ProjectGrantRolesArgs",
    "ProjectRolesArgs",
    "ServiceAccount",
    "ServiceAccountArgs",
    "ServiceAccountInputError",
    "__version__",
]
