"""The fleet file, shards, the report and the reason of a failed org (no engine; `tests/e2e/test_fleet*.py` run it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from zitadel_bootstrap.cli.fleet import report
from zitadel_bootstrap.cli.fleet.migrate import plan_moves
from zitadel_bootstrap.cli.fleet.runner import FleetRun, OrgResult, reason_from_log
from zitadel_bootstrap.cli.fleet.spec import FleetError, Shard, dropped, load_fleet, parse_fleet, select
from zitadel_bootstrap.cli.main import build_parser
from zitadel_bootstrap.cli.recover.pulumi_ops import Project

NOW = datetime(2026, 12, 5, tzinfo=UTC)
PATH = Path("stacks/fleet.yaml")
SHARED = {"zitadel:domain": "id.example.com", "zitadel:jwtProfileFile": "admin-key.json"}


def fleet_doc(*orgs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"fleet": "customers", "config": dict(SHARED), "orgs": list(orgs), **extra}


def org(name: str, *accounts: str, org_id: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "serviceAccounts": [{"name": a, "userName": a} for a in accounts]}
    if org_id:
        entry["orgId"] = org_id
    return entry


def problems_of(document: Any) -> str:
    with pytest.raises(FleetError) as raised:
        parse_fleet(document, PATH, now=NOW)
    return str(raised.value)


def test_each_org_gets_the_shared_config_its_accounts_and_the_fleet_name() -> None:
    fleet = parse_fleet(fleet_doc(org("acme", "ci", "audit"), org("home", "ci", org_id="42")), PATH, now=NOW)
    acme, home = (o.stack_config(fleet) for o in fleet.orgs)
    assert fleet.stack_name("acme") == "customers-acme"
    assert acme["zitadel:domain"] == "id.example.com"
    assert acme["zitadel-bootstrap:fleet"] == "customers"
    assert acme["zitadel-bootstrap:organizations"] == [{"name": "acme", "displayName": "acme"}]
    assert [a["org"] for a in acme["zitadel-bootstrap:serviceAccounts"]] == ["acme", "acme"]
    assert "zitadel-bootstrap:organizations" not in home
    assert home["zitadel-bootstrap:serviceAccounts"] == [{"name": "ci", "userName": "ci", "orgId": "42"}]


def test_every_problem_of_the_fleet_file_is_named_at_once() -> None:
    text = problems_of(
        {
            "fleet": "Bad Name",
            "config": {
                "zitadel-bootstrap:serviceAccounts": [],
                "domain": "x",
                "zitadel:jwtProfileJson": {"secure": "v1:x"},
            },
            "orgs": [org("acme", "ci"), org("acme", "ci"), {"name": "x", "orgId": "12a", "serviceAccounts": []}],
            "extra": 1,
        }
    )
    for expected in (
        "stacks/fleet.yaml: extra: is not a key of a fleet file",
        "stacks/fleet.yaml: fleet: the fleet's name must be",
        "config.zitadel-bootstrap:serviceAccounts: is written by the fleet for each org",
        "config.domain: must be a namespaced stack config key",
        "config.zitadel:jwtProfileJson: holds an encrypted value",
        "orgs[1].name: 'acme' is listed twice",
        "orgs[2].orgId: must be the numeric id of an existing org, got '12a'",
        "orgs[2].serviceAccounts: must be a non-empty list",
    ):
        assert expected in text, text


def test_an_org_config_mistake_is_named_by_the_org_and_the_program_key() -> None:
    bad = org("globex", "ci")
    bad["serviceAccounts"][0]["roles"] = ["IAM_OWNER"]
    text = problems_of(fleet_doc(org("acme", "ci"), bad))
    assert "orgs[1] (globex): zitadel-bootstrap:serviceAccounts[0].roles: IAM_OWNER" in text, text
    placed = org("acme", "ci")
    placed["serviceAccounts"][0]["orgId"] = "1"
    assert "orgs[0].serviceAccounts[0].orgId: is set by the fleet from the org entry" in problems_of(fleet_doc(placed))


def test_the_same_account_name_in_two_orgs_is_fine_since_each_org_is_its_own_stack() -> None:
    fleet = parse_fleet(fleet_doc(org("a", "ci"), org("b", "ci")), PATH, now=NOW)
    assert [o.name for o in fleet.orgs] == ["a", "b"]


def test_a_missing_fleet_file_says_where_it_looked_and_how_to_give_another(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match=r"no fleet file there; write one \(docs/fleet.md\) or pass --fleet PATH"):
        load_fleet(tmp_path / "fleet.yaml")


def test_shards_split_the_orgs_disjointly_and_completely_and_by_name_only() -> None:
    names = [f"org{i}" for i in range(200)]
    fleet = parse_fleet(fleet_doc(*(org(n, "ci") for n in names)), PATH, now=NOW)
    shards = [Shard.parse(f"{i}/4") for i in range(1, 5)]
    taken = [[o.name for o in select(fleet, shard)] for shard in shards]
    assert sorted(name for part in taken for name in part) == sorted(names)
    assert all(20 <= len(part) <= 80 for part in taken), [len(part) for part in taken]
    # Adding an org moves no other org to another runner.
    bigger = parse_fleet(fleet_doc(*(org(n, "ci") for n in [*names, "newcomer"])), PATH, now=NOW)
    for shard, before in zip(shards, taken, strict=True):
        assert [o.name for o in select(bigger, shard) if o.name != "newcomer"] == before


@pytest.mark.parametrize("text", ["0/4", "5/4", "1-4", "x/y", "", "1/0"])
def test_a_bad_shard_is_refused_naming_the_form(text: str) -> None:
    with pytest.raises(FleetError, match=r"--shard: expected I/N with 1 <= I <= N"):
        Shard.parse(text)


def test_select_refuses_an_unknown_org_and_dropped_finds_only_the_fleets_stacks() -> None:
    fleet = parse_fleet(fleet_doc(org("acme", "ci")), PATH, now=NOW)
    with pytest.raises(FleetError, match="--org: ghost is not an org of the fleet file"):
        select(fleet, None, ["ghost"])
    stacks = [
        "customers-acme",
        "customers-gone",
        "other-x",
        "customers-",
        "organization/zitadel-bootstrap/customers-old",
    ]
    assert dropped(fleet, stacks, None) == ["customers-gone", "organization/zitadel-bootstrap/customers-old"]


def test_the_reason_is_the_last_pipeline_message_redacted() -> None:
    log = "Previewing update\n error: boom\npipeline: first try failed\npipeline: `pulumi up` failed:\n  x: y\n"
    assert reason_from_log(log) == "`pulumi up` failed: x: y"
    assert reason_from_log("a\n\nb\nc\nd\n") == "b c d"
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
    assert token not in reason_from_log(f"pipeline: failed with {token}")


def results(*kinds: str) -> list[OrgResult]:
    return [
        OrgResult(f"o{i}", f"f-o{i}", kind, 1 if kind == "failed" else 0, 1.25, "why" if kind != "ok" else "")
        for i, kind in enumerate(kinds)
    ]


@pytest.mark.parametrize(
    ("action", "kinds", "code"),
    [
        ("up", ("ok", "ok"), 0),
        ("up", ("ok", "failed"), 1),
        ("up", ("ok", "dropped"), 0),
        ("drift-check", ("ok", "drift"), 7),
        ("drift-check", ("ok", "dropped"), 7),
        ("drift-check", ("drift", "failed"), 1),
        ("destroy", ("destroyed", "absent"), 0),
    ],
)
def test_the_exit_code_says_failed_over_drift_over_done(action: str, kinds: tuple[str, ...], code: int) -> None:
    assert report.exit_code(action, results(*kinds)) == code


def test_the_table_and_the_json_say_the_same() -> None:
    document = report.document("customers", "drift-check", "1/2", results("ok", "drift", "failed"), 12.34)
    assert json.loads(json.dumps(document))["counts"] == {
        "ok": 1,
        "drift": 1,
        "failed": 1,
        "dropped": 0,
        "destroyed": 0,
        "absent": 0,
    }
    table = report.table(document)
    assert (
        table.splitlines()[0]
        == "fleet customers, drift-check, shard 1/2: 3 org(s): 1 ok, 1 drift, 1 failed in 12.3 s (exit 1)"
    )
    assert [line.split()[:3] for line in table.splitlines()[1:5]] == [
        ["ORG", "STACK", "RESULT"],
        ["o0", "f-o0", "ok"],
        ["o1", "f-o1", "drift"],
        ["o2", "f-o2", "failed"],
    ]


def test_the_org_stack_config_file_is_written_whole_keeping_the_encryption_salt(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: zitadel-bootstrap\nruntime: python\nstackConfigDir: stacks\n")
    fleet = parse_fleet(fleet_doc(org("acme", "ci")), PATH, now=NOW)
    run = FleetRun(fleet, Project.load(tmp_path), "up", fleet.orgs)
    path = tmp_path / "stacks" / "Pulumi.customers-acme.yaml"
    path.parent.mkdir()
    path.write_text("encryptionsalt: v1:abc\nconfig:\n  zitadel:domain: old\n  stale:key: 1\n")
    run.write_stack_config(fleet.orgs[0])
    written = yaml.safe_load(path.read_text())
    assert written["encryptionsalt"] == "v1:abc"
    assert written["config"] == fleet.orgs[0].stack_config(fleet)
    assert path.read_text().startswith("# Written by `zitadel-bootstrap fleet`")


def test_migration_moves_each_orgs_components_with_their_children_and_its_declared_org() -> None:
    fleet = parse_fleet(fleet_doc(org("north", "a"), org("south", "b", org_id="7")), PATH, now=NOW)
    stack = "urn:pulumi:one::p::"
    resources: list[dict[str, Any]] = [
        {"urn": f"{stack}zitadel:index/org:Org::north", "type": "zitadel:index/org:Org"},
        {"urn": f"{stack}zitadel-bootstrap:index:ServiceAccount::a", "type": "zitadel-bootstrap:index:ServiceAccount"},
        {
            "urn": f"{stack}zitadel-bootstrap:index:ServiceAccount$zitadel:index/machineUser:MachineUser::a-user",
            "type": "zitadel:index/machineUser:MachineUser",
            "parent": f"{stack}zitadel-bootstrap:index:ServiceAccount::a",
            "dependencies": [f"{stack}zitadel:index/org:Org::north"],
        },
        {"urn": f"{stack}zitadel-bootstrap:index:ServiceAccount::b", "type": "zitadel-bootstrap:index:ServiceAccount"},
    ]
    moves = plan_moves(fleet, fleet.orgs, resources)
    assert moves["north"] == [resources[1]["urn"], resources[2]["urn"], resources[0]["urn"]]
    assert moves["south"] == [resources[3]["urn"]]
    # An account the stack puts in its declared org "north", listed by the fleet under the org with id 7: refused.
    swapped = parse_fleet(fleet_doc(org("north", "b"), org("south", "a", org_id="7")), PATH, now=NOW)
    with pytest.raises(ValueError, match=r"account 'a' is in the org north that the stack declares"):
        plan_moves(swapped, swapped.orgs, resources)
    lonely = parse_fleet(fleet_doc(org("north", "a")), PATH, now=NOW)
    with pytest.raises(ValueError, match=r"account 'b' of the stack is in no org of the fleet file"):
        plan_moves(lonely, lonely.orgs, resources)


def test_the_fleet_command_line_parses_as_documented() -> None:
    args = build_parser("fleet").parse_args(
        ["fleet", "up", "--shard", "2/4", "--parallel", "3", "--report", "r.json", "--destroy-dropped", "--org", "a"]
    )
    assert (args.fleet_action, args.shard, args.parallel, args.report, args.destroy_dropped, args.org) == (
        "up",
        "2/4",
        3,
        "r.json",
        True,
        ["a"],
    )
    migrate = build_parser("fleet").parse_args(["fleet", "migrate", "--from", "one"])
    assert migrate.source == "one"


def test_the_shipped_example_fleet_file_is_valid() -> None:
    fleet = load_fleet(Path(__file__).resolve().parents[2] / "stacks" / "fleet.example.yaml", now=NOW)
    assert [org.name for org in fleet.orgs] == ["acme", "globex"]
    assert fleet.orgs[1].stack_config(fleet)["zitadel-bootstrap:organizations"] == [
        {"name": "globex", "displayName": "Globex Corporation"}
    ]
