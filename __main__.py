"""zitadel-bootstrap: one verified ServiceAccount per entry of the stack config."""

import pulumi

from components.service_account import ServiceAccount, ServiceAccountArgs
from components.settings import load_settings

settings = load_settings()

accounts = {
    account.name: ServiceAccount(
        account.name,
        ServiceAccountArgs(
            account=account,
            issuer=settings.issuer,
            insecure=settings.provider.insecure,
            verification=settings.verification,
        ),
    )
    for account in settings.service_accounts
}

pulumi.export("issuer", settings.issuer)
pulumi.export(
    "serviceAccounts",
    {
        name: {
            "userId": sa.user_id,
            "keyId": sa.key_id,
            "orgId": sa.org_id,
            "loginName": sa.login_name,
            "verified": sa.verified,
            "verification": sa.verification,
        }
        for name, sa in accounts.items()
    },
)
# Key files leave the stack only as a secret: `pulumi stack output machineKeys --show-secrets`.
pulumi.export("machineKeys", pulumi.Output.secret({name: sa.key_json for name, sa in accounts.items()}))
