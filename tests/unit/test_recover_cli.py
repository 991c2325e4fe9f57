"""`zitadel-bootstrap recover` around its decisions (zitadel_bootstrap.cli.recover.cli): usage, where the admin key
comes from, looking again while ZITADEL's reads trail, the stack lock, and the order of the changes. Fakes stand for
`pulumi` and ZITADEL; nothing here starts a process or opens a connection."""

from __future__ import annotations

import io
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from zitadel_bootstrap.cli.recover import cli
from zitadel_bootstrap.cli.recover.model import (
    MACHINE_KEY,
    MACHINE_USER,
    ORG_MEMBER,
    MemberSpec,
    ZitadelKey,
    ZitadelMember,
    ZitadelUser,
)
from zitadel_bootstrap.cli.recover.pulumi_ops import Project, Pulumi, PulumiCommandError
from zitadel_bootstrap.cli.recover.zitadel_api import ZitadelApi

from tests.unit.test_recover_plan import (
    ORG_ID,
    ORPHAN_KEY_ID,
    USER_ID,
    account,
    base_resources,
    child,
    export,
    settings,
    user_inputs,
)

LOCKED = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the "
    "lock file with `pulumi cancel`.\n  file:///x/lock.json: created by root@{host} (pid {pid}) at 2026-11-29T19:25:28Z"
)


@dataclass
class FakePulumi:
    project: Project
    locked_by: tuple[str, int] | None = None
    calls: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)

    def refresh_stack_resource(self, stack_urn: str | None, *, clear_pending_creates: bool) -> None:
        self.calls.append("refresh --clear-pending-creates" if clear_pending_creates else "refresh")
        if self.locked_by is not None:
            host, pid = self.locked_by
            raise PulumiCommandError(["refresh"], 255, LOCKED.format(host=host, pid=pid))

    def cancel(self) -> None:
        self.calls.append("cancel")
        self.locked_by = None

    def import_resources(self, adoptions: Any) -> str:
        self.calls.append(f"import {' '.join(a.name for a in adoptions)}")
        return ""

    def secret_config(self, key: str) -> str:
        self.calls.append(f"config get {key}")
        return self.secrets[key]


@dataclass
class FakeZitadel:
    users: dict[tuple[str, str], tuple[ZitadelUser, ...]] = field(default_factory=dict)
    keys: dict[str, tuple[ZitadelKey, ...]] = field(default_factory=dict)
    members: dict[tuple[str, str], ZitadelMember] = field(default_factory=dict)
    appear_after: int = 0
    """The users show only from this look on (ZITADEL's reads trailing its writes)."""
    looks: int = 0
    calls: list[str] = field(default_factory=list)

    def users_named(self, org_id: str, user_name: str) -> tuple[ZitadelUser, ...]:
        self.looks += 1
        return self.users.get((org_id, user_name.lower()), ()) if self.looks > self.appear_after else ()

    def keys_of(self, org_id: str, user_id: str) -> tuple[ZitadelKey, ...]:
        return self.keys.get(user_id, ())

    def member(self, spec: MemberSpec, user_id: str) -> ZitadelMember | None:
        return self.members.get((user_id, spec.resource_name))

    def orgs_named(self, name: str) -> tuple[()]:
        return ()

    def remove_key(self, org_id: str, user_id: str, key_id: str) -> None:
        self.calls.append(f"remove key {key_id}")

    def remove_user(self, org_id: str, user_id: str) -> None:
        self.calls.append(f"remove user {user_id}")

    def remove_member(self, spec: MemberSpec, user_id: str) -> None:
        self.calls.append(f"remove member {spec.resource_name}")


def project(tmp_path: Path) -> Project:
    (tmp_path / "stacks").mkdir(exist_ok=True)
    return Project(tmp_path, "zitadel-bootstrap", tmp_path / "stacks")


def test_help_names_the_command_and_its_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "zitadel-bootstrap recover" in text
    assert "--dry-run" in text
    assert "Exit status: 0 ready for `pulumi up`; 3" in text


def test_a_missing_stack_or_an_invalid_config_is_bad_usage(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: zitadel-bootstrap\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    err = io.StringIO()
    assert cli.main(["--stack", "nope", "--cwd", str(tmp_path)], io.StringIO(), err) == cli.EXIT_USAGE
    assert "stacks/Pulumi.nope.yaml does not exist" in err.getvalue()
    (tmp_path / "stacks" / "Pulumi.bad.yaml").write_text("config:\n  zitadel:domain: https://x\n")
    err = io.StringIO()
    assert cli.main(["--stack", "bad", "--cwd", str(tmp_path)], io.StringIO(), err) == cli.EXIT_USAGE
    assert "zitadel:domain" in err.getvalue()


def test_the_admin_key_comes_from_the_secret_config_or_the_key_file(tmp_path: Path) -> None:
    stack_file = tmp_path / "stacks" / "Pulumi.s.yaml"
    fake = FakePulumi(project(tmp_path), secrets={"zitadel:jwtProfileJson": '{"type": "serviceaccount"}'})
    pulumi = cast(Pulumi, fake)
    stack_file.write_text("config:\n  zitadel:jwtProfileJson:\n    secure: v1:abc\n")
    assert cli.admin_key_text(pulumi, stack_file, None) == ('{"type": "serviceaccount"}', "zitadel:jwtProfileJson")
    assert fake.calls == ["config get zitadel:jwtProfileJson"]
    (tmp_path / "admin.json").write_text("KEY FILE")
    stack_file.write_text("config:\n  zitadel:jwtProfileFile: admin.json\n")
    assert cli.admin_key_text(pulumi, stack_file, None) == ("KEY FILE", "zitadel:jwtProfileFile")
    (tmp_path / "other.json").write_text("OTHER")
    assert cli.admin_key_text(pulumi, stack_file, tmp_path / "other.json")[0] == "OTHER"
    stack_file.write_text("config:\n  zitadel:jwtProfileFile: missing.json\n")
    with pytest.raises(cli.RecoveryError, match="cannot be read"):
        cli.admin_key_text(pulumi, stack_file, None)


def test_interrupted_creates_that_show_nothing_yet_are_looked_up_again_until_they_do() -> None:
    state = export(base_resources("ci"), [("creating", child(MACHINE_USER, "ci-user", **user_inputs()))])
    zitadel = FakeZitadel(users={(ORG_ID, "ci-bot"): (ZitadelUser(USER_ID, ORG_ID, "ci-bot"),)}, appear_after=2)
    lines: list[str] = []
    sleeps: list[float] = []
    plan = cli.build_plan(
        cast(ZitadelApi, zitadel), settings(account()), state,
        adopt_unknown=False, settle_seconds=60, echo=lines.append, sleep=sleeps.append,
    )  # fmt: skip
    assert [a.verb for a in plan.actions] == ["adopt", "clear"]
    assert sleeps == [1.0, 1.0]
    assert all("looking again" in line for line in lines)


def no_sleep(seconds: float) -> None:
    pytest.fail(f"slept {seconds} s")


def test_without_settle_time_an_unresolved_create_is_just_cleared() -> None:
    state = export(base_resources("ci"), [("creating", child(MACHINE_USER, "ci-user", **user_inputs()))])
    plan = cli.build_plan(
        cast(ZitadelApi, FakeZitadel()), settings(account()), state,
        adopt_unknown=False, settle_seconds=0, echo=print, sleep=no_sleep,
    )  # fmt: skip
    assert [a.verb for a in plan.actions] == ["clear"]


def test_a_lock_of_a_dead_process_here_is_broken_and_a_live_one_stops_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "vm")
    monkeypatch.setattr(cli, "pid_alive", lambda pid: pid == 1)
    lines: list[str] = []
    dead = FakePulumi(project(tmp_path), locked_by=("vm", 4242))
    cli.take_lock(cast(Pulumi, dead), None, break_lock=False, echo=lines.append)
    assert dead.calls == ["refresh", "cancel", "refresh"]
    assert "its process is gone: break" in lines[0]

    live = FakePulumi(project(tmp_path), locked_by=("vm", 1))
    with pytest.raises(cli.RecoveryError) as stopped:
        cli.take_lock(cast(Pulumi, live), None, break_lock=False, echo=lines.append)
    assert stopped.value.status == cli.EXIT_NEEDS_HUMAN
    assert live.calls == ["refresh"], "nothing is changed while a live run may hold the stack"
    assert "still runs: kept" in lines[-1]

    elsewhere = FakePulumi(project(tmp_path), locked_by=("ci-runner-7", 4242))
    with pytest.raises(cli.RecoveryError, match="--break-lock"):
        cli.take_lock(cast(Pulumi, elsewhere), None, break_lock=False, echo=lines.append)
    cli.take_lock(cast(Pulumi, elsewhere), None, break_lock=True, echo=lines.append)
    assert elsewhere.calls == ["refresh", "refresh", "cancel", "refresh"]
    assert "broken on request" in lines[-1]


def test_apply_takes_the_lock_deletes_imports_then_clears(tmp_path: Path) -> None:
    resources = [*base_resources("ci"), child(MACHINE_USER, "ci-user", USER_ID, **user_inputs())]
    key_op = child(MACHINE_KEY, "ci-key", orgId=ORG_ID, userId=USER_ID)
    member_op = child(ORG_MEMBER, "ci-org-member", orgId=ORG_ID, userId=USER_ID, roles=["ORG_OWNER"])
    state = export(resources, [("creating", key_op), ("creating", member_op)])
    zitadel = FakeZitadel(
        users={(ORG_ID, "ci-bot"): (ZitadelUser(USER_ID, ORG_ID, "ci-bot"),)},
        keys={USER_ID: (ZitadelKey(ORPHAN_KEY_ID, USER_ID),)},
        members={(USER_ID, "ci-org-member"): ZitadelMember(USER_ID, ("ORG_OWNER",))},
    )
    api = cast(ZitadelApi, zitadel)
    plan = cli.build_plan(api, settings(account()), state, adopt_unknown=False, settle_seconds=0, echo=print)
    pulumi = FakePulumi(project(tmp_path))
    lines: list[str] = []
    cli.apply(plan, api, cast(Pulumi, pulumi), state, break_lock=False, echo=lines.append)
    assert pulumi.calls == ["refresh", "import ci-org-member", "refresh --clear-pending-creates"]
    assert zitadel.calls == [f"remove key {ORPHAN_KEY_ID}"]
    assert [line.split(" ", 1)[0] for line in lines] == ["done", "done", "done"]
