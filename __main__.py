"""zitadel-bootstrap: the organizations and one verified ServiceAccount per entry of the stack config."""

import pulumi
import pulumiverse_zitadel as zitadel

from components.preflight import run_preflight
from components.service_account import ServiceAccount, ServiceAccountArgs
from components.settings import load_settings

settings = load_settings()
run_preflight(settings)

orgs = {org.name: zitadel.Org(org.name, name=org.display_name) for org in settings.organizations}
accounts = {
    account.name: ServiceAccount(
        account.name,
        ServiceAccountArgs(
            account=account,
            org_id=orgs[account.org].id if account.org else str(account.org_id),
            issuer=settings.issuer,
            insecure=settings.provider.insecure,
            verification=settings.verification,
        ),
    )
    for account in settings.service_accounts
}

pulumi.export("issuer", settings.issuer)
pulumi.export("organizations", {name: org.id for name, org in orgs.items()})
pulumi.export(
    "serviceAccounts",
    {
        name: {
            "userId": sa.user_id,
            "keyId": sa.key_id,
            "orgId": sa.org_id,
            "loginName": sa.login_name,
            "key": sa.key,
            "verified": sa.verified,
            "verification": sa.verification,
        }
        for name, sa in accounts.items()
    },
)
# Key files leave the stack only as a secret: `pulumi stack output machineKeys --show-secrets`.
pulumi.export("machineKeys", pulumi.Output.secret({name: sa.key_json for name, sa in accounts.items()}))
