"""What the validated stack config is: frozen dataclasses, built only by the parser, read by the program."""

from __future__ import annotations

from dataclasses import dataclass, field

from zitadel_bootstrap import limits
from zitadel_bootstrap.verification.model import Grant


@dataclass(frozen=True)
class ProviderSettings:
    domain: str
    insecure: bool
    port: int
    #: Path given as ``zitadel:jwtProfileFile`` (the JSON form is secret and never kept here).
    jwt_profile_file: str | None


@dataclass(frozen=True)
class VerificationSettings:
    enabled: bool = True
    deadline_seconds: float = limits.DEFAULT_DEADLINE_SECONDS
    #: 0 reports drift at once.
    refresh_settle_seconds: float = limits.DEFAULT_REFRESH_SETTLE_SECONDS


@dataclass(frozen=True)
class OrganizationSettings:
    """An organization the program declares (``zitadel-bootstrap:organizations``)."""

    #: Logical name: names the Pulumi resource; service accounts refer to it with ``org``.
    name: str
    #: The organization's name in ZITADEL (unique in the instance), without surrounding blanks.
    display_name: str


@dataclass(frozen=True)
class ServiceAccountSettings:
    """One entry of ``zitadel-bootstrap:serviceAccounts``.

    The account's organization is ``org_id`` (a numeric id from the config) or ``org`` (the logical name of an
    organization the program declares, whose id exists only once it is created); exactly one is set. The
    roles are kept apart from any org id: ``grants_for`` builds the grants once the id is known.
    """

    name: str
    org_id: str | None
    user_name: str
    display_name: str
    description: str | None
    access_token_type: str
    #: Org-level roles (may be empty when another level grants something).
    roles: tuple[str, ...]
    org: str | None = None
    instance_roles: tuple[str, ...] = ()
    #: ``(project_id, roles)`` per project membership.
    project_roles: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: ``(project_id, grant_id, roles)`` per project-grant membership.
    project_grant_roles: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    audience: str = "zitadel"
    #: ``keyLifetimeDays``: each key lives this long from its creation (the program's clock dates it).
    key_lifetime_days: int | None = None
    #: ``keyExpiration``: a fixed date, always ``YYYY-MM-DDTHH:MM:SSZ`` in UTC; None when absent.
    key_expiration: str | None = None
    #: Days before expiry at which the key is rotated (the effective value); None when the key never expires.
    rotate_before_days: int | None = None
    #: Raising it rotates the key at the next ``pulumi up``.
    key_generation: int = limits.DEFAULT_KEY_GENERATION
    #: Earlier logical names of this account: Pulumi aliases, so a rename keeps the user and its key.
    former_names: tuple[str, ...] = field(default_factory=tuple)

    def grants_for(self, org_id: str) -> tuple[Grant, ...]:
        """The memberships to declare and prove, for the account's resolved org id: org, instance, project,
        project grant, in that order."""
        grants: list[Grant] = []
        if self.roles:
            grants.append(Grant(level="org", resource_id=org_id, roles=self.roles))
        if self.instance_roles:
            grants.append(Grant(level="instance", resource_id="", roles=self.instance_roles))
        grants += [Grant(level="project", resource_id=project, roles=roles) for project, roles in self.project_roles]
        grants += [
            Grant(level="project_grant", resource_id=grant, roles=roles, project_id=project)
            for project, grant, roles in self.project_grant_roles
        ]
        return tuple(grants)

    @property
    def grants(self) -> tuple[Grant, ...]:
        """``grants_for(org_id)`` for an account with a numeric ``orgId``."""
        if self.org_id is None:
            raise ValueError(
                f"service account {self.name!r} belongs to the organization {self.org!r} declared in the config, "
                "whose id is known only once it exists: use grants_for(org_id)"
            )
        return self.grants_for(self.org_id)


@dataclass(frozen=True)
class Settings:
    provider: ProviderSettings
    issuer: str
    verification: VerificationSettings
    service_accounts: tuple[ServiceAccountSettings, ...] = field(default_factory=tuple)
    organizations: tuple[OrganizationSettings, ...] = field(default_factory=tuple)
    #: ``zitadel-bootstrap:preflight``: check the provider's access before declaring anything.
    preflight: bool = True
    #: ``zitadel-bootstrap:fleet``: the fleet this stack is an org of (written by `zitadel-bootstrap fleet`), exported
    #: as the stack output ``fleet`` so that a stack whose org left the fleet file is still known as the fleet's.
    fleet: str | None = None
