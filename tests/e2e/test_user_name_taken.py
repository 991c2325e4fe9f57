"""A user name that ZITADEL holds already, outside the stack: the preview fails naming the adopt command.

Before, `pulumi up` went ahead and the plugin failed halfway with `AlreadyExists desc = Errors.User.AlreadyExisting
(COMMAND-k2sIe)` and no way out. The preflight looks up the user name of every account whose user the plan
creates (its id is unknown in the preview) with the provider's admin key.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.stacks import E2EStack
from tests.e2e.test_management_faults import pipeline
from tools.pulumi_cli import EXIT_FAILED
from tools.standin import StandIn


def test_a_user_name_taken_outside_the_stack_fails_the_preview_naming_adopt_user(
    standin: StandIn, tmp_path: Path
) -> None:
    org = standin.default_org_id
    existing = standin.create_machine_user(org, "made-by-hand")
    stack = E2EStack.create(tmp_path, "taken", standin, [{"name": "ci", "orgId": org, "userName": "made-by-hand"}])

    failed = stack.cli.up(label="up with a user name ZITADEL holds", expect=(EXIT_FAILED,))
    assert f"ZITADEL holds a user named 'made-by-hand' in org {org} already (id {existing})" in failed.output
    assert f"zitadel-bootstrap adopt-user --stack taken ci {existing}" in failed.output, failed.output[-3000:]
    assert "AlreadyExists desc" not in failed.output, "the update must stop at its preview"
    assert not any(r["type"] == "zitadel:index/machineKey:MachineKey" for r in stack.cli.resources())

    pipeline(stack, "adopt-user", "ci", existing, label="adopt the user made by hand")
    stack.cli.up(label="up after adopting")
    assert stack.cli.outputs()["serviceAccounts"]["ci"]["userId"] == existing
    stack.cli.drift_check(label="drift check after adopting")
    stack.cli.destroy()
