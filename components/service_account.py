"""The ServiceAccount component: one automation identity in ZITADEL, declared and proven.

Children (named from the component name, all ``parent=self``): ``<name>-user`` MachineUser,
``<name>-key-rotation`` (the key's schedule), ``<name>-key`` MachineKey (JSON), one member resource per grant
level (``<name>-org-member``, ``<name>-instance-member``, ``<name>-project-member-<projectId>``,
``<name>-project-grant-member-<grantId>``) and ``<name>-verification``, which runs the JWT-bearer exchange with
the key and checks the grants on ZITADEL's API once the key and every grant exist.

A key due for rotation gets a new expiry date from its schedule, which replaces the MachineKey. Pulumi replaces
create-before-delete, and the verification depends on the key: so the new key is created, then verified, and
the old key is deleted only at the end of a successful update. A failed verification leaves the old key working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi
import pulumiverse_zitadel as zitadel

from components.key_rotation import KeyRotation
from components.rotation import KeyPolicy
from components.settings import ServiceAccountSettings, VerificationSettings
from components.verification.provider import JwtBearerVerification

RESOURCE_TYPE = "zitadel-bootstrap:index:ServiceAccount"


class ServiceAccountArgs(TypedDict):
    """What a ServiceAccount needs: the validated account, its org, and how to verify it."""

    account: ServiceAccountSettings
    """The service account's validated stack config entry."""
    org_id: pulumi.Input[str]
    """The owning org's id: the account's ``orgId``, or the id of the org the program declares for it."""
    issuer: str
    """ZITADEL's issuer (origin) used for the token exchange and the API proof."""
    insecure: bool
    """Allow a plain-http issuer (local instances only)."""
    verification: VerificationSettings
    """Deadlines of the verification; ``enabled=False`` declares the identity without proving it."""


def key_policy(account: ServiceAccountSettings) -> KeyPolicy:
    return KeyPolicy(
        lifetime_days=account.key_lifetime_days,
        fixed_expiration=account.key_expiration,
        rotate_before_days=account.rotate_before_days,
        generation=account.key_generation,
    )


def declare_verification(
    resource_name: str,
    account: ServiceAccountSettings,
    *,
    org_id: pulumi.Input[str],
    key_json: pulumi.Input[str],
    issuer: str,
    insecure: bool,
    settings: VerificationSettings,
    opts: pulumi.ResourceOptions | None = None,
) -> JwtBearerVerification:
    """The proof of one account's key and grants, as every ServiceAccount declares it."""
    return JwtBearerVerification(
        resource_name,
        issuer=issuer,
        key_json=key_json,
        grants=pulumi.Output.from_input(org_id).apply(account.grants_for),
        org_id=org_id,
        audience=account.audience,
        insecure=insecure,
        deadline_seconds=settings.deadline_seconds,
        refresh_settle_seconds=settings.refresh_settle_seconds,
        opts=opts,
    )


def verification_summary(proof: JwtBearerVerification) -> pulumi.Output[dict[str, Any]]:
    """The non-secret facts of a proof, in the camelCase of stack outputs."""
    return pulumi.Output.all(
        proof.roles_found,
        proof.token_type,
        proof.token_format,
        proof.expires_in,
        proof.attempts,
        proof.elapsed_seconds,
        proof.failure_kind,
        proof.failure,
        proof.checked_at,
    ).apply(
        lambda v: {
            "rolesFound": v[0],
            "tokenType": v[1],
            "tokenFormat": v[2],
            "expiresIn": v[3],
            "attempts": v[4],
            "elapsedSeconds": v[5],
            "failureKind": v[6],
            "failure": v[7],
            "checkedAt": v[8],
        }
    )


def key_summary(key: zitadel.MachineKey, rotation: KeyRotation) -> pulumi.Output[dict[str, Any]]:
    """The key's id and schedule, in the camelCase of stack outputs."""
    return pulumi.Output.all(key.id, rotation.expires_at, rotation.days_left, rotation.rotate_at, rotation.due).apply(
        lambda v: {"id": v[0], "expiresAt": v[1], "daysLeft": v[2], "rotateAt": v[3], "rotationDue": v[4]}
    )


class ServiceAccount(pulumi.ComponentResource):
    """A ZITADEL machine user with a JSON key and manager grants, verified by a real token exchange."""

    user_id: pulumi.Output[str]
    """The machine user's id (also the ``sub`` of its assertions)."""
    key_id: pulumi.Output[str]
    """The machine key's id (the ``kid`` of its assertions)."""
    org_id: pulumi.Output[str]
    """The organization that owns the user."""
    login_name: pulumi.Output[str]
    """The user's preferred login name."""
    key_json: pulumi.Output[str]
    """The machine key file (ZITADEL's JSON format). Always a secret."""
    key: pulumi.Output[Mapping[str, Any]]
    """The key's id, expiration, days left, rotation date and whether its rotation is due."""
    verified: pulumi.Output[bool | None]
    """True when the token exchange and the API proof succeeded (None when verification is disabled)."""
    verification: pulumi.Output[Mapping[str, Any] | None]
    """Non-secret facts of the last verification: roles found, token type, attempts, failure reason."""

    def __init__(
        self,
        name: str,
        args: ServiceAccountArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        account = args["account"]
        # Renaming an account keeps its resources: children are named from the component's name, and Pulumi
        # carries a parent's alias over to children whose names start with it.
        aliases = [pulumi.Alias(name=former) for former in account.former_names]
        super().__init__(
            RESOURCE_TYPE, name, None, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=aliases))
        )
        org_id = args["org_id"]
        child = pulumi.ResourceOptions(parent=self)

        user = zitadel.MachineUser(
            f"{name}-user",
            org_id=org_id,
            user_name=account.user_name,
            name=account.display_name,
            description=account.description,
            access_token_type=account.access_token_type,
            opts=child,
        )
        rotation = KeyRotation(f"{name}-key-rotation", account=name, policy=key_policy(account), opts=child)
        rotation.rotation_reason.apply(lambda reason: pulumi.log.warn(reason, resource=self) if reason else None)
        key = zitadel.MachineKey(
            f"{name}-key",
            org_id=org_id,
            user_id=user.id,
            key_type="KEY_TYPE_JSON",
            expiration_date=rotation.expires_at,
            opts=child,
        )
        members = self._members(name, account, org_id, user.id, child)

        self.user_id = user.id
        self.key_id = key.id
        self.org_id = pulumi.Output.from_input(org_id)
        self.login_name = user.preferred_login_name
        self.key_json = pulumi.Output.secret(key.key_details)
        self.key = key_summary(key, rotation)

        settings = args["verification"]
        if settings.enabled:
            proof = declare_verification(
                f"{name}-verification",
                account,
                org_id=org_id,
                key_json=self.key_json,
                issuer=args["issuer"],
                insecure=args["insecure"],
                settings=settings,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[key, *members]),
            )
            self.verified = proof.verified
            self.verification = verification_summary(proof)
        else:
            self.verified = pulumi.Output.from_input(None)
            self.verification = pulumi.Output.from_input(None)

        self.register_outputs(
            {
                "userId": self.user_id,
                "keyId": self.key_id,
                "orgId": self.org_id,
                "loginName": self.login_name,
                "keyJson": self.key_json,
                "key": self.key,
                "verified": self.verified,
                "verification": self.verification,
            }
        )

    @staticmethod
    def _members(
        name: str,
        account: ServiceAccountSettings,
        org_id: pulumi.Input[str],
        user_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> list[pulumi.CustomResource]:
        """One member resource per grant; ``org_id`` is set on each, so reads never fill it in and force a replace."""
        members: list[pulumi.CustomResource] = []
        if account.roles:
            members.append(
                zitadel.OrgMember(
                    f"{name}-org-member", org_id=org_id, user_id=user_id, roles=list(account.roles), opts=opts
                )
            )
        if account.instance_roles:
            members.append(
                zitadel.InstanceMember(
                    f"{name}-instance-member", user_id=user_id, roles=list(account.instance_roles), opts=opts
                )
            )
        for project_id, roles in account.project_roles:
            members.append(
                zitadel.ProjectMember(
                    f"{name}-project-member-{project_id}",
                    org_id=org_id,
                    project_id=project_id,
                    user_id=user_id,
                    roles=list(roles),
                    opts=opts,
                )
            )
        for project_id, grant_id, roles in account.project_grant_roles:
            members.append(
                zitadel.ProjectGrantMember(
                    f"{name}-project-grant-member-{grant_id}",
                    org_id=org_id,
                    project_id=project_id,
                    grant_id=grant_id,
                    user_id=user_id,
                    roles=list(roles),
                    opts=opts,
                )
            )
        return members
