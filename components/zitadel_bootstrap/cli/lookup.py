"""How `adopt-user` finds a machine user that ZITADEL holds: by org and user name, with the provider's admin key."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zitadel_bootstrap.cli.run import Pipeline


def find_user_by_name(pipeline: Pipeline, account: str) -> str | None:
    """The id of ``account``'s machine user in ZITADEL: searched by org and user name (management ListUsers over
    the REST gateway) with the provider's own admin key, through the recovery step's client. Searched again for up
    to ``settle`` seconds while ZITADEL's read model does not show it; None (and why) when it cannot be found."""
    try:
        from zitadel_bootstrap.cli.recover.cli import admin_key_text  # noqa: PLC0415
        from zitadel_bootstrap.cli.recover.pulumi_ops import Project, Pulumi  # noqa: PLC0415
        from zitadel_bootstrap.cli.recover.zitadel_api import ZitadelApi  # noqa: PLC0415
        from zitadel_bootstrap.config import load_settings_file  # noqa: PLC0415 - only this command needs them
    except ImportError as error:
        pipeline.say(f"cannot look the user up in ZITADEL ({error}): give its id to adopt-user")
        return None
    stack = pipeline.stack_name()
    if stack is None:
        pipeline.say("no stack selected: pass --stack")
        return None
    try:
        project = Project.load(Path.cwd())
        settings = load_settings_file(project.stack_file(stack))
        entry = next(a for a in settings.service_accounts if a.name == account)
        org_id = entry.org_id or pipeline.account_org(account)
        if not org_id:
            return None
        key_text, _ = admin_key_text(Pulumi(project, stack), project.stack_file(stack), None)
        api = ZitadelApi.login(settings.issuer, key_text, insecure=settings.provider.insecure)
        del key_text
        try:
            deadline = pipeline.clock() + pipeline.settle
            while True:
                found = api.users_named(str(org_id), entry.user_name)
                if len(found) == 1:
                    pipeline.say(f"found user {found[0].id} ({entry.user_name}) in org {org_id}")
                    return found[0].id
                if len(found) > 1 or pipeline.clock() >= deadline:
                    pipeline.say(f"{len(found)} users named {entry.user_name!r} in org {org_id}: give the id")
                    return None
                pipeline.sleep(1.0)
        finally:
            api.close()
    except Exception as error:  # any failure leaves the manual way out, and says why
        pipeline.say(f"looking up the user of {account!r} in ZITADEL failed: {error}")
        return None
