"""zitadel-bootstrap's stack-config program: the organizations and one verified ServiceAccount per config entry.

The package's first consumer: everything it declares comes from ``zitadel_bootstrap`` (installed from ./components).
"""

import pulumi
import pulumiverse_zitadel as zitadel
from zitadel_bootstrap import ServiceAccount
from zitadel_bootstrap.config import load_settings
from zitadel_bootstrap.config.component_args import service_account_args
from zitadel_bootstrap.config.preflight import claim_user_names, run_preflight

settings = load_settings()
run_preflight(settings)

orgs = {org.name: zitadel.Org(org.name, name=org.display_name) for org in settings.organizations}
accounts = {
    account.name: ServiceAccount(
        account.name,
        service_account_args(account, settings, orgs[account.org].id if account.org else str(account.org_id)),
        # Renaming an account keeps its resources: children are named from the component's name, and Pulumi
        # carries a parent's alias over to children whose names start with it.
        pulumi.ResourceOptions(aliases=[pulumi.Alias(name=former) for former in account.former_names]),
    )
    for account in settings.service_accounts
}

# At preview: a user name ZITADEL holds already, for a user this update would create, fails here with the adopt
# command, not at ZITADEL's AlreadyExists halfway through the update.
claim_user_names(settings, {name: account.user_id for name, account in accounts.items()})

pulumi.export("issuer", settings.issuer)
if settings.fleet:
    pulumi.export("fleet", settings.fleet)
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
