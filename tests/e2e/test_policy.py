"""The guardrails policy pack (policy/) under the plain CLI: `pulumi preview --policy-pack policy`.

A mandatory violation fails the preview (and `pulumi up`, whose preview runs first) with a message naming the
account and the rule, and nothing is created; an advisory one is printed and the run goes on; a compliant stack
passes and `up` creates it. `--policy-pack-config` switches levels and options (maxDays, allow-lists).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.e2e.stacks import E2EStack
from tools.pulumi_cli import EXIT_FAILED, REPO, CommandRun
from tools.standin import StandIn

PACK = "policy"


def account(standin: StandIn, name: str, **settings: Any) -> dict[str, Any]:
    return {"name": name, "orgId": standin.default_org_id, "userName": name, **settings}


def with_pack(stack: E2EStack) -> E2EStack:
    """The pack beside the program, as in the checkout, so that the command is the documented one."""
    (stack.cli.project_dir / PACK).symlink_to(REPO / PACK)
    return stack


def pack_config(tmp_path: Path, config: dict[str, Any]) -> str:
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps(config))
    return str(path)


def violations(run: CommandRun) -> dict[tuple[str, str], list[str]]:
    """(level, rule) -> the messages the CLI printed under "Policies:"."""
    found: dict[tuple[str, str], list[str]] = {}
    lines = run.output.splitlines()
    for index, line in enumerate(lines):
        header = re.match(r"^\s+- \[(mandatory|advisory)\]\s+(\S+)\s+\(", line)
        if header:
            # The description, then the message (the CLI prints one line each).
            found.setdefault((header[1], header[2]), []).append(lines[index + 2].strip())
    return found


def assert_nothing_created(stack: E2EStack, *names: str) -> None:
    assert stack.cli.resources() == [], "a blocked run left resources in state"
    for name in names:
        assert stack.user(name) is None, f"a blocked run created the user {name} in ZITADEL"


def test_compliant_stack_passes_the_pack_and_up_creates_it(standin: StandIn, tmp_path: Path) -> None:
    accounts = [
        account(standin, "deployer", keyLifetimeDays=90),
        account(standin, "reader", roles=[], instanceRoles=["IAM_OWNER_VIEWER"], keyLifetimeDays=30),
    ]
    stack = with_pack(E2EStack.create(tmp_path, "compliant", standin, accounts))
    # up runs the preview (both policy kinds), the update, and the stack policies again on the real outputs.
    done = stack.cli.up("--policy-pack", PACK, label="up with the policy pack")
    assert "zitadel-bootstrap-guardrails@v0.1.0" in done.output, done.output[-3000:]
    assert violations(done) == {}, done.output[-3000:]
    for name in ("deployer", "reader"):
        assert stack.user(name) is not None
    assert stack.types_in_state()["zitadel:index/machineKey:MachineKey"] == 2
    assert stack.cli.outputs()["machineKeys"] == "[secret]"


def test_mandatory_violations_block_preview_and_up_naming_account_and_rule(standin: StandIn, tmp_path: Path) -> None:
    accounts = [
        account(standin, "long-lived", keyLifetimeDays=400),
        account(standin, "forever"),
        account(standin, "root", keyLifetimeDays=30, instanceRoles=["IAM_OWNER"]),
        account(standin, "fine", keyLifetimeDays=365),
    ]
    stack = with_pack(E2EStack.create(tmp_path, "blocked", standin, accounts))
    preview = stack.cli.preview("--policy-pack", PACK, label="preview: violations", expect=(EXIT_FAILED,))
    found = violations(preview)
    assert set(found) == {("mandatory", "machine-key-expiry"), ("mandatory", "no-instance-iam-owner")}, found
    expiry = sorted(found["mandatory", "machine-key-expiry"])
    assert len(expiry) == 2, expiry
    assert expiry[0].startswith('service account "forever": machine key forever-key never expires'), expiry
    assert "machine-key-expiry allows at most 365 days" in expiry[0]
    assert re.match(r'service account "long-lived": machine key long-lived-key expires \S+Z, in 400 days', expiry[1])
    (owner,) = found["mandatory", "no-instance-iam-owner"]
    assert owner.startswith('service account "root": instance member root-instance-member grants IAM_OWNER')
    assert 'add "root" to allowedAccounts of no-instance-iam-owner' in owner
    assert "error: preview failed" in preview.output

    blocked = stack.cli.up("--policy-pack", PACK, label="up: violations", expect=(EXIT_FAILED,))
    assert set(violations(blocked)) == set(found)
    assert_nothing_created(stack, "long-lived", "forever", "root", "fine")


def test_config_file_switches_levels_and_options(standin: StandIn, tmp_path: Path) -> None:
    accounts = [
        account(standin, "long-lived", keyLifetimeDays=400),
        account(standin, "forever"),
        account(standin, "root", keyLifetimeDays=30, instanceRoles=["IAM_OWNER"]),
    ]
    stack = with_pack(E2EStack.create(tmp_path, "configured", standin, accounts))
    config = pack_config(
        tmp_path,
        {
            # 400 days now pass; the key that never expires still violates the rule, now only as a warning.
            "machine-key-expiry": {"enforcementLevel": "advisory", "maxDays": 500},
            "no-instance-iam-owner": {"allowedAccounts": ["root"]},
        },
    )
    run = stack.cli.preview("--policy-pack", PACK, "--policy-pack-config", config, label="preview: configured")
    found = violations(run)
    assert set(found) == {("advisory", "machine-key-expiry")}, found
    (message,) = found["advisory", "machine-key-expiry"]
    assert message.startswith('service account "forever": machine key forever-key never expires'), message
    assert "at most 500 days" in message

    bad = pack_config(tmp_path, {"machine-key-expiry": {"maxDays": "soon"}, "no-instance-iam-owner": "strict"})
    refused = stack.cli.preview(
        "--policy-pack", PACK, "--policy-pack-config", bad, label="preview: bad config", expect=(EXIT_FAILED,)
    )
    assert '"strict" is not a valid enforcement level' in refused.output, refused.output[-2000:]
    bad = pack_config(tmp_path, {"machine-key-expiry": {"maxDays": "soon"}})
    refused = stack.cli.preview(
        "--policy-pack", PACK, "--policy-pack-config", bad, label="preview: bad option", expect=(EXIT_FAILED,)
    )
    assert "machine-key-expiry: maxDays: Invalid type. Expected: integer, given: string" in refused.output


def test_unverified_accounts_block_unless_allow_listed_and_warn_when_advisory(standin: StandIn, tmp_path: Path) -> None:
    accounts = [account(standin, "batch", keyLifetimeDays=30), account(standin, "legacy", keyLifetimeDays=30)]
    stack = with_pack(E2EStack.create(tmp_path, "unverified", standin, accounts, verification={"enabled": False}))
    allow_legacy = pack_config(tmp_path, {"service-account-verified": {"allowedAccounts": ["legacy"]}})
    blocked = stack.cli.preview(
        "--policy-pack", PACK, "--policy-pack-config", allow_legacy, label="preview: unverified", expect=(EXIT_FAILED,)
    )
    found = violations(blocked)
    assert set(found) == {("mandatory", "service-account-verified")}, found
    (message,) = found["mandatory", "service-account-verified"]
    assert message.startswith('service account "batch" is not verified'), message
    assert "(service-account-verified)" in message
    assert "(zitadel-bootstrap:index:ServiceAccount: batch)" in blocked.output

    advisory = pack_config(tmp_path, {"service-account-verified": "advisory"})
    warned = stack.cli.preview("--policy-pack", PACK, "--policy-pack-config", advisory, label="preview: advisory")
    warnings = sorted(violations(warned)["advisory", "service-account-verified"])
    assert [w.split(" is not verified")[0] for w in warnings] == ['service account "batch"', 'service account "legacy"']
    assert_nothing_created(stack, "batch", "legacy")


#: The real program, then two leaks of key material that rule 3 must catch: the MachineKey and the verification
#: lose `additionalSecretOutputs`, and `machineKeys` is exported again without its secret.
LEAKY_PROGRAM = """
import runpy

import pulumi

LEAKY = ("zitadel:index/machineKey:MachineKey", "zitadel-bootstrap:index:JwtBearerVerification")


def without_secret_outputs(args):
    if args.type_ not in LEAKY:
        return None
    args.opts.additional_secret_outputs = []
    return pulumi.ResourceTransformationResult(args.props, args.opts)


pulumi.runtime.register_stack_transformation(without_secret_outputs)
program = runpy.run_path("program.py")
pulumi.export(
    "machineKeys", {name: pulumi.Output.unsecret(sa.key_json) for name, sa in program["accounts"].items()}
)
"""


def test_key_material_outside_secrets_blocks_preview(standin: StandIn, tmp_path: Path) -> None:
    stack = with_pack(E2EStack.create(tmp_path, "leaky", standin, [account(standin, "leaky", keyLifetimeDays=30)]))
    main = stack.cli.project_dir / "__main__.py"
    main.rename(stack.cli.project_dir / "program.py")  # the link to the real program
    main.write_text(LEAKY_PROGRAM)
    blocked = stack.cli.preview("--policy-pack", PACK, label="preview: leaky", expect=(EXIT_FAILED,))
    found = violations(blocked)
    assert set(found) == {("mandatory", "key-material-secret")}, found
    messages = sorted(found["mandatory", "key-material-secret"])
    assert len(messages) == 3, messages
    assert messages[0].startswith('service account "leaky": machine key leaky-key does not list keyDetails'), messages
    assert messages[1].startswith('service account "leaky": verification leaky-verification does not list key_json')
    assert messages[2].startswith('stack output machineKeys is not a secret: the key files of service account "leaky"')
    assert all(message.endswith("(key-material-secret)") for message in messages), messages

    disabled = pack_config(tmp_path, {"key-material-secret": "disabled"})
    passed = stack.cli.preview("--policy-pack", PACK, "--policy-pack-config", disabled, label="preview: disabled")
    assert violations(passed) == {}, passed.output[-3000:]
    assert_nothing_created(stack, "leaky")
