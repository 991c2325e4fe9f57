"""From a validated stack-config entry to the ServiceAccount component's inputs (the stack-config program's use)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi

from .model import ServiceAccountSettings, Settings

if TYPE_CHECKING:
    from zitadel_bootstrap.component.args import ServiceAccountArgs


def service_account_args(
    account: ServiceAccountSettings, settings: Settings, org_id: pulumi.Input[str]
) -> ServiceAccountArgs:
    """The inputs that declare ``account`` as the stack config describes it, in the org ``org_id``."""
    args: dict[str, Any] = {
        "user_name": account.user_name,
        "org_id": org_id,
        "display_name": account.display_name,
        "access_token_type": account.access_token_type,
        "roles": list(account.roles),
        "instance_roles": list(account.instance_roles) or None,
        "project_roles": [{"project_id": p, "roles": list(roles)} for p, roles in account.project_roles] or None,
        "project_grant_roles": [
            {"project_id": project, "grant_id": grant, "roles": list(roles)}
            for project, grant, roles in account.project_grant_roles
        ]
        or None,
        "audience": account.audience,
        "key_lifetime_days": account.key_lifetime_days,
        "key_expiration": account.key_expiration,
        "rotate_before_days": account.rotate_before_days,
        "key_generation": account.key_generation,
        "verify": settings.verification.enabled,
        "verify_deadline_seconds": settings.verification.deadline_seconds,
        "verify_refresh_settle_seconds": settings.verification.refresh_settle_seconds,
        "issuer": settings.issuer,
        "insecure": settings.provider.insecure,
    }
    if account.description is not None:
        args["description"] = account.description
    return {key: value for key, value in args.items() if value is not None}  # type: ignore[return-value]
