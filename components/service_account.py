"""The ServiceAccount component: one automation identity in ZITADEL, declared and proven.

Children (named from the component name, all ``parent=self``):
``<name>-user`` MachineUser, ``<name>-key`` MachineKey (JSON), one member resource per grant level
(``<name>-org-member``, ``<name>-instance-member``, ``<name>-project-member-<projectId>``,
``<name>-project-grant-member-<grantId>``) and ``<name>-verification``, which runs the JWT-bearer exchange with
the new key and checks the grants on ZITADEL's API once the key and every grant exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi
import pulumiverse_zitadel as zitadel

from components.settings import ServiceAccountSettings, VerificationSettings
from components.verification.model import Grant
from components.verification.provider import JwtBearerVerification

RESOURCE_TYPE = "zitadel-bootstrap:index:ServiceAccount"


class ServiceAccountArgs(TypedDict):
    """What a ServiceAccount needs: the validated account and how to verify it."""

    account: ServiceAccountSettings
    """The service account's validated stack config entry."""
    issuer: str
    """ZITADEL's issuer (origin) used for the token exchange and the API proof."""
    insecure: bool
    """Allow a plain-http issuer (local instances only)."""
    verification: VerificationSettings
    """Deadlines of the verification; ``enabled=False`` declares the identity without proving it."""


def declare_verification(
    resource_name: str,
    account: ServiceAccountSettings,
    *,
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
        grants=account.grants,
        org_id=account.org_id,
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
        super().__init__(RESOURCE_TYPE, name, None, opts)
        account = args["account"]
        child = pulumi.ResourceOptions(parent=self)

        user = zitadel.MachineUser(
            f"{name}-user",
            org_id=account.org_id,
            user_name=account.user_name,
            name=account.display_name,
            description=account.description,
            access_token_type=account.access_token_type,
            opts=child,
        )

        key_opts = child
        if account.key_expiration_is_relative:
            # A lifetime in days yields a new date every run; pin the one chosen at creation instead of
            # replacing the key on every `pulumi up`. Rotation is explicit: `pulumi up --replace <key urn>`.
            key_opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(ignore_changes=["expiration_date"]))
        key = zitadel.MachineKey(
            f"{name}-key",
            org_id=account.org_id,
            user_id=user.id,
            key_type="KEY_TYPE_JSON",
            expiration_date=account.key_expiration,
            opts=key_opts,
        )

        members = [self._member(name, grant, account.org_id, user.id, child) for grant in account.grants]

        self.user_id = user.id
        self.key_id = key.id
        self.org_id = pulumi.Output.from_input(account.org_id)
        self.login_name = user.preferred_login_name
        self.key_json = pulumi.Output.secret(key.key_details)

        settings = args["verification"]
        if settings.enabled:
            proof = declare_verification(
                f"{name}-verification",
                account,
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
                "verified": self.verified,
                "verification": self.verification,
            }
        )

    @staticmethod
    def _member(
        name: str,
        grant: Grant,
        org_id: str,
        user_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> pulumi.CustomResource:
        roles = list(grant.roles)
        if grant.level == "org":
            return zitadel.OrgMember(f"{name}-org-member", org_id=org_id, user_id=user_id, roles=roles, opts=opts)
        if grant.level == "instance":
            return zitadel.InstanceMember(f"{name}-instance-member", user_id=user_id, roles=roles, opts=opts)
        if grant.level == "project":
            return zitadel.ProjectMember(
                f"{name}-project-member-{grant.resource_id}",
                org_id=org_id,
                project_id=grant.resource_id,
                user_id=user_id,
                roles=roles,
                opts=opts,
            )
        assert grant.project_id is not None, "settings guarantee a project id for project grants"  # noqa: S101
        return zitadel.ProjectGrantMember(
            f"{name}-project-grant-member-{grant.resource_id}",
            org_id=org_id,
            project_id=grant.project_id,
            grant_id=grant.resource_id,
            user_id=user_id,
            roles=roles,
            opts=opts,
        )
