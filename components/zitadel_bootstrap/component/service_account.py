"""The ServiceAccount component: one automation identity in ZITADEL, declared and proven.

Children (named from the component name, all ``parent=self``): ``<name>-user`` MachineUser,
``<name>-key-rotation`` (the key's schedule), ``<name>-key`` MachineKey (JSON), one member resource per grant
level (``<name>-org-member``, ``<name>-instance-member``, ``<name>-project-member-<projectId>``,
``<name>-project-grant-member-<grantId>``) and ``<name>-verification``, which runs the JWT-bearer exchange with
the key and checks the grants on ZITADEL's API once the key and every grant exist.

The inputs are checked before any child is registered (``inputs.check_inputs``): an invalid one fails the preview,
naming it, and nothing is created. The verification and the key schedule are custom resources of this package's
own provider (``zitadel_bootstrap.provider``), so programs in any language run them without extra set-up.

A key due for rotation gets a new expiry date from its schedule, which replaces the MachineKey. Pulumi replaces
create-before-delete, and the verification depends on the key: so the new key is created, then verified, and
the old key is deleted only at the end of a successful update. A failed verification leaves the old key working.

No ``from __future__ import annotations`` here: the schema analyzer reads the output annotations as objects.
"""

from collections.abc import Mapping
from typing import Any, Optional

import pulumi
import pulumiverse_zitadel as zitadel

from zitadel_bootstrap import clock
from zitadel_bootstrap.config.model import ServiceAccountSettings
from zitadel_bootstrap.key_schedule.plan import KeyPolicy
from zitadel_bootstrap.key_schedule.resource import KeyRotation
from zitadel_bootstrap.provider.verification import JwtBearerVerification
from zitadel_bootstrap.values import deep_any

from .args import ServiceAccountArgs
from .inputs import (
    PENDING_ORG_ID,
    ProviderDefaults,
    ServiceAccountInputError,
    ServiceAccountSpec,
    check_inputs,
    input_label,
)

RESOURCE_TYPE = "zitadel-bootstrap:index:ServiceAccount"


def _contains_output(value: Any) -> bool:
    return deep_any(value, lambda item: isinstance(item, pulumi.Output))


def provider_defaults() -> ProviderDefaults:
    """The program's own ``zitadel:domain``, ``port`` and ``insecure``: where the default issuer comes from."""
    config = pulumi.Config("zitadel")
    port = config.get("port")
    insecure = (config.get("insecure") or "").strip().lower() == "true"
    return ProviderDefaults(
        domain=config.get("domain"), port=int(port) if port and port.isdigit() else None, insecure=insecure
    )


def check_args(name: str, args: Mapping[str, Any]) -> tuple[ServiceAccountSpec, pulumi.Input[str]]:
    """The validated inputs, and the org id (an Output when another resource computes it)."""
    values = {key: value for key, value in dict(args).items() if value is not None}
    org_id = values.get("org_id")
    late = sorted(key for key, value in values.items() if key != "org_id" and _contains_output(value))
    if late:
        raise ServiceAccountInputError(
            name,
            [
                f"{input_label(key)}: must be a value known when the program runs, not another resource's output "
                "(only orgId may come from another resource)"
                for key in late
            ],
        )
    pending = isinstance(org_id, pulumi.Output)
    known = {**values, "org_id": PENDING_ORG_ID} if pending else values
    spec = check_inputs(name, known, provider=provider_defaults(), now=clock.current().utcnow())
    if not pending:
        return spec, str(spec.account.org_id)

    def checked(value: Any) -> str:
        text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
        if not text.isdigit():
            raise ServiceAccountInputError(name, [f"{input_label('org_id')}: must be a numeric org id, got {value!r}"])
        return text

    return spec, pulumi.Output.from_input(org_id).apply(checked)


def key_policy(account: ServiceAccountSettings) -> KeyPolicy:
    return KeyPolicy(
        lifetime_days=account.key_lifetime_days,
        fixed_expiration=account.key_expiration,
        rotate_before_days=account.rotate_before_days,
        generation=account.key_generation,
    )


def verification_summary(proof: JwtBearerVerification) -> pulumi.Output[dict[str, Any]]:
    """The non-secret facts of a proof, in the camelCase of stack outputs.

    Only what stays the same while nothing changes, and from one output that is never null, so that a clean drift
    check shows no change: when it was checked, how many requests and how long it took move with every refresh and
    stay on the verification resource (``checked_at``, ``attempts``, ``elapsed_seconds``).
    """
    return proof.summary


def key_summary(key: zitadel.MachineKey, rotation: KeyRotation) -> pulumi.Output[dict[str, Any]]:
    """The key's id and schedule, in the camelCase of stack outputs.

    Days left would move every day and show a nightly drift check a change; they are on the KeyRotation resource
    (``days_left``) and follow from ``expiresAt``.
    """
    return pulumi.Output.all(key.id, rotation.summary).apply(lambda v: {"id": v[0], **(v[1] or {})})


class ServiceAccount(pulumi.ComponentResource):
    """A ZITADEL machine user with a JSON key and manager grants, verified by a real token exchange."""

    user_id: pulumi.Output[str]
    """The machine user's id (also the sub of its assertions)."""
    key_id: pulumi.Output[str]
    """The machine key's id (the kid of its assertions)."""
    org_id: pulumi.Output[str]
    """The organization that owns the user."""
    login_name: pulumi.Output[str]
    """The user's preferred login name."""
    key_json: pulumi.Output[str]
    """The machine key file (ZITADEL's JSON format). Always a secret."""
    key: pulumi.Output[dict[str, Any]]
    """The key's id, expiresAt, rotateAt and rotationDue."""
    verified: pulumi.Output[Optional[bool]]  # noqa: UP045 - the schema analyzer reads Optional, not unions
    """True when the token exchange and the API proof succeeded (null when verify is false)."""
    verification: pulumi.Output[Optional[dict[str, Any]]]  # noqa: UP045
    """Non-secret facts of the verification: rolesFound, tokenType, tokenFormat, expiresIn, failureKind, failure."""

    def __init__(self, name: str, args: ServiceAccountArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:  # noqa: UP045
        # Checked before anything is registered, the component included: an invalid input creates nothing.
        spec, org_id = check_args(name, args)
        super().__init__(RESOURCE_TYPE, name, None, opts)
        account = spec.account
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
        key = zitadel.MachineKey(
            f"{name}-key",
            org_id=org_id,
            user_id=user.id,
            key_type="KEY_TYPE_JSON",
            expiration_date=rotation.expires_at,
            # A new schedule is a new key, also when its expiry date stays (a fixed keyExpiration, or none, with a
            # raised keyGeneration): the date alone would leave such a key in place.
            opts=pulumi.ResourceOptions(parent=self, replacement_trigger=rotation.issued_at),
        )
        members = self._members(name, account, org_id, user.id, child)

        self.user_id = user.id
        self.key_id = key.id
        self.org_id = pulumi.Output.from_input(org_id)
        self.login_name = user.preferred_login_name
        self.key_json = pulumi.Output.secret(key.key_details)
        self.key = key_summary(key, rotation)

        if spec.verification.enabled:
            proof = JwtBearerVerification(
                f"{name}-verification",
                issuer=spec.issuer,
                key_json=self.key_json,
                grants=pulumi.Output.from_input(org_id).apply(account.grants_for),
                org_id=org_id,
                audience=account.audience,
                insecure=spec.insecure,
                deadline_seconds=spec.verification.deadline_seconds,
                refresh_settle_seconds=spec.verification.refresh_settle_seconds,
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
