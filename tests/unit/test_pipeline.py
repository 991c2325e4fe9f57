"""`zitadel-bootstrap run` and `adopt-user` (zitadel_bootstrap.cli.run, .diagnosis) without pulumi: what it reads
from pulumi's output (the texts are the plugin's and the CLI's own, copied from e2e runs against the stand-in) and
what it does next: run again, wait, or stop with a way out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from zitadel_bootstrap.cli.diagnosis import diagnose, resource_errors
from zitadel_bootstrap.cli.main import main
from zitadel_bootstrap.cli.run import Pipeline
from zitadel_bootstrap.cli.runs import Run

URN = "urn:pulumi:s::zitadel-bootstrap::zitadel-bootstrap:index:ServiceAccount$zitadel:index/machineUser:MachineUser"
TAIL = "Resources:\n    + 3 created\n    2 errored\n\nDuration: 3s\n"


def failed_run(*blocks: tuple[str, str]) -> str:
    """The end of a failed `pulumi up`: the stack's follow-up errors and each resource's diagnostics."""
    text = (
        "Updating (s):\n + zitadel:index:MachineUser ci-user **creating failed** error: 1 error occurred:\n\n"
        "Diagnostics:\n  pulumi:pulumi:Stack (zitadel-bootstrap-s):\n    error: update failed\n"
        "    error: Resource monitor has terminated, shutting down\n\n"
    )
    for resource, message in blocks:
        text += f"  {resource}:\n" + "".join(f"    {line}\n" for line in message.splitlines()) + "\n"
    return text + TAIL


UNAVAILABLE = failed_run(
    (
        "zitadel:index:MachineUser (ci-user)",
        "error: 1 error occurred:\n\t* failed to create machine user: rpc error: code = Unavailable desc = "
        "fault injected by stand-in: Service Unavailable",
    )
)
EXHAUSTED = failed_run(
    (
        "zitadel:index:MachineKey (ci-key)",
        "error: 1 error occurred:\n\t* rpc error: code = ResourceExhausted desc = fault injected by stand-in: "
        "Too Many Requests",
    )
)
LOST_USER = failed_run(
    (
        "zitadel:index:MachineUser (ci-user)",
        f"error: expected non-nil error with nil state during Create of {URN}::ci-user",
    )
)
ALREADY = failed_run(
    (
        "zitadel:index:MachineUser (ci-user)",
        "error: 1 error occurred:\n\t* failed to create machine user: rpc error: code = AlreadyExists desc = "
        "Errors.User.AlreadyExisting (COMMAND-k2sIe)",
    )
)
READ_FAILED = (
    "Diagnostics:\n  zitadel:index:MachineUser (ci-user):\n    error: Preview failed: refreshing "
    f"{URN}::ci-user: 1 error occurred:\n    \t* failed to get user\n\n"
    "  pulumi:pulumi:Stack (zitadel-bootstrap-s):\n    error: preview failed\n\n"
)
LOCKED = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete "
    "the lock file with `pulumi cancel`.\n  file:///p/.pulumi-state/.pulumi/locks/organization/zitadel-bootstrap/s/"
    "b5ed.json?no_tmp_dir=true: created by root@vm (pid 30451) at 2026-11-29T19:27:21Z\n"
)
INVALID_CONFIG = failed_run(
    (
        "pulumi:pulumi:Stack (zitadel-bootstrap-t)",
        "error: invalid stack configuration (1 problem(s)); nothing was created:\n"
        "  - zitadel-bootstrap:serviceAccounts[0].name: must be a logical name\n"
        "error: an unhandled error occurred: program exited with non-zero exit code: 1",
    )
)
PROOF_OUT_OF_TIME = failed_run(
    (
        "zitadel-bootstrap:index:JwtBearerVerification (ci-verification)",
        "error: Exception: Verification of user 1 did not finish: the API proof still failed after 9 attempts "
        "and 4.0 s. Last answer: 503 Service Unavailable.",
    )
)


def test_resource_errors_are_read_per_resource_without_the_stacks_follow_ups() -> None:
    (error,) = resource_errors(UNAVAILABLE)
    assert error.resource == "zitadel:index:MachineUser (ci-user)"
    assert error.name == "ci-user"
    assert error.one_line() == (
        "zitadel:index:MachineUser (ci-user): failed to create machine user: rpc error: code = Unavailable "
        "desc = fault injected by stand-in: Service Unavailable"
    )


@pytest.mark.parametrize(
    ("output", "kind"),
    [
        (UNAVAILABLE, "transient"),
        (EXHAUSTED, "transient"),
        (READ_FAILED, "transient"),  # the plugin drops ZITADEL's error on reads: unknown, and reads are safe to repeat
        (PROOF_OUT_OF_TIME, "transient"),
        (LOST_USER, "lost_create"),
        (ALREADY, "already_exists"),
        (LOCKED, "locked"),
        (INVALID_CONFIG, "failed"),
        ("error: something nobody expected\n", "failed"),
    ],
)
def test_failures_are_classified(output: str, kind: str) -> None:
    assert diagnose(1, output).kind == kind


def test_a_run_with_one_permanent_error_among_transient_ones_is_not_retried() -> None:
    mixed = failed_run(
        ("zitadel:index:MachineKey (ci-key)", "error: rpc error: code = Unavailable desc = down"),
        (
            "zitadel:index:OrgMember (ci-org-member)",
            "error: failed to create orgmember: rpc error: code = PermissionDenied",
        ),
    )
    assert diagnose(1, mixed).kind == "failed"


class FakePulumi:
    """Answers each pulumi command from a script of (returncode, output) and records the commands."""

    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers = list(answers)
        self.commands: list[list[str]] = []

    def __call__(self, args: Sequence[str], _echo: bool) -> Run:
        self.commands.append(list(args))
        code, output = self.answers.pop(0)
        return Run(code, output)


def pipeline(
    fake: FakePulumi, said: list[str], slept: list[float], recovered: list[str] | None = None, **policy: float
) -> Pipeline:
    clock = iter(range(0, 10_000, 1))  # each look at the clock: one second later
    recoveries = recovered if recovered is not None else []

    def recover(stack: str) -> Run:
        recoveries.append(stack)
        return Run(0, "ok     nothing to do")

    return Pipeline(
        stack="s",
        run_pulumi=fake,
        sleep=slept.append,
        say=said.append,
        clock=lambda: float(next(clock)),
        run_recovery=recover,
        **policy,  # type: ignore[arg-type]
    )


def test_up_runs_again_after_transient_errors_without_refreshing_again() -> None:
    fake = FakePulumi((0, "nothing in the state"), (1, UNAVAILABLE), (1, EXHAUSTED), (0, "ok"))
    said: list[str] = []
    slept: list[float] = []
    recovered: list[str] = []
    assert pipeline(fake, said, slept, recovered, retry_wait=2).up(refresh=True) == 0
    assert fake.commands == [
        ["refresh", "--run-program", "--preview-only", "--expect-no-changes", "--stack", "s"],
        ["up", "--yes", "--stack", "s"],  # the check found nothing to refresh
        ["up", "--yes", "--stack", "s"],
        ["up", "--yes", "--stack", "s"],
    ]
    assert slept == [2, 4]
    assert "code = Unavailable" in said[1]
    assert "`pulumi up` succeeded on attempt 3" in said
    assert recovered == ["s"], "after reruns the recovery step looks for what a lost answer left"
    assert said[-1].startswith("the update needed more than one run: the recovery step checks")


def test_the_recovery_step_runs_only_after_reruns_and_its_findings_fail_the_job() -> None:
    recovered: list[str] = []
    assert pipeline(FakePulumi((0, "ok")), [], [], recovered).up() == 0
    assert recovered == []

    said: list[str] = []
    runner = pipeline(FakePulumi((1, UNAVAILABLE), (0, "ok")), said, [], retry_wait=0)
    runner.run_recovery = lambda _stack: Run(3, "leave  ...")
    assert runner.up() == 1
    assert "`pulumi up` converged, but the recovery step exited 3 (lines marked `leave` need a person)" in said[-1]

    skipped: list[str] = []
    runner = pipeline(FakePulumi((1, UNAVAILABLE), (0, "ok")), [], [], skipped, retry_wait=0)
    runner.recover = False
    assert runner.up() == 0
    assert skipped == []


def test_up_gives_up_after_its_attempts_naming_the_resource_and_zitadels_error() -> None:
    fake = FakePulumi((1, UNAVAILABLE), (1, UNAVAILABLE))
    said: list[str] = []
    assert pipeline(fake, said, [], attempts=2).up() == 1
    assert len(fake.commands) == 2
    assert "still failed after 2 attempt(s) with transient ZITADEL errors" in said[-1]
    assert (
        "zitadel:index:MachineUser (ci-user): failed to create machine user: rpc error: code = Unavailable" in said[-1]
    )


def test_up_refreshes_only_what_a_second_check_still_finds() -> None:
    fake = FakePulumi((7, "- ci-key delete"), (7, "- ci-key delete"), (1, UNAVAILABLE), (0, "ok"))
    slept: list[float] = []
    assert pipeline(fake, [], slept, settle=5, retry_wait=1).up(refresh=True) == 0
    assert [c[0] for c in fake.commands] == ["refresh", "refresh", "up", "up"]
    assert fake.commands[2] == ["up", "--yes", "--refresh", "--run-program", "--stack", "s"]
    assert fake.commands[3] == ["up", "--yes", "--stack", "s"], "a rerun must not refresh what was just created"
    assert slept == [5, 1]


PARENT = "urn:pulumi:s::zitadel-bootstrap::zitadel-bootstrap:index:ServiceAccount::ci"
EXPORT = json.dumps({"deployment": {"resources": [{"urn": PARENT, "type": "zitadel-bootstrap:index:ServiceAccount"}]}})
CONFIG = json.dumps({"objectValue": [{"name": "ci", "orgId": "42", "userName": "ci"}]})


def test_a_user_lost_to_read_lag_is_looked_up_adopted_and_the_update_run_again() -> None:
    fake = FakePulumi((1, LOST_USER), (0, EXPORT), (0, CONFIG), (0, "imported"), (0, "ok"))
    said: list[str] = []
    runner = pipeline(fake, said, [])
    runner.find_user = lambda _pipeline, account: "123" if account == "ci" else None
    assert runner.up() == 0
    assert [c[0] for c in fake.commands] == ["up", "stack", "config", "import", "up"]
    assert fake.commands[3][:4] == ["import", "zitadel:index/machineUser:MachineUser", "ci-user", "123:false:42"]
    assert "ZITADEL created the machine user of 'ci' but its read model did not show it" in said[0]
    assert "`pulumi up` succeeded on attempt 2" in said


def test_a_lost_user_that_cannot_be_adopted_stops_with_the_way_out() -> None:
    fake = FakePulumi((1, LOST_USER), (0, EXPORT), (0, CONFIG))
    said: list[str] = []
    runner = pipeline(fake, said, [])
    runner.find_user = lambda _pipeline, _account: None  # e.g. the user search is not allowed
    assert runner.up() == 1
    assert "machine user of account(s) 'ci'" in said[-1]
    assert "A plain rerun can only meet AlreadyExists" in said[-1]
    assert "zitadel-bootstrap adopt-user --stack s <ACCOUNT>" in said[-1]

    stopped = FakePulumi((1, LOST_USER))
    said = []
    runner = pipeline(stopped, said, [])
    runner.adopt = False
    assert runner.up() == 1
    assert len(stopped.commands) == 1, "--no-adopt: not retried"


def test_already_exists_after_a_transient_error_stops_with_the_way_out() -> None:
    fake = FakePulumi((1, UNAVAILABLE), (1, ALREADY))
    said: list[str] = []
    assert pipeline(fake, said, [], retry_wait=0).up() == 1
    assert "Errors.User.AlreadyExisting (COMMAND-k2sIe)" in said[-1]
    assert "zitadel-bootstrap recover --stack s --dry-run" in said[-1]
    assert "zitadel-bootstrap adopt-user --stack s <ACCOUNT>" in said[-1]


def test_a_lock_fails_at_once_or_is_waited_for() -> None:
    said: list[str] = []
    assert pipeline(FakePulumi((1, LOCKED)), said, []).up() == 1
    assert "`pulumi cancel --stack s --yes`" in said[-1]

    fake = FakePulumi((1, LOCKED), (1, LOCKED), (0, "ok"))
    slept: list[float] = []
    assert pipeline(fake, [], slept, lock_wait=30, attempts=1).up() == 0
    assert len(fake.commands) == 3, "waiting for a lock does not use up attempts"
    assert slept == [2.0, 2.0]


def test_drift_is_reported_only_when_the_second_check_agrees() -> None:
    lagging = FakePulumi((7, "+ ci-user create"), (0, "7 unchanged"))
    slept: list[float] = []
    assert pipeline(lagging, [], slept, settle=3).drift_check() == 0
    assert slept == [3]
    assert lagging.commands[0] == ["preview", "--refresh", "--run-program", "--expect-no-changes", "--stack", "s"]

    drifted = FakePulumi((7, "+ ci-org-member create"), (7, "+ ci-org-member create"))
    said: list[str] = []
    assert pipeline(drifted, said, [], settle=3).drift_check() == 7
    assert "drift found, and still there 3 s later" in said[-1]

    clean = FakePulumi((0, "7 unchanged"))
    assert pipeline(clean, [], []).drift_check() == 0
    assert len(clean.commands) == 1


def test_a_drift_check_retries_failed_reads_and_then_reports_an_error_not_drift() -> None:
    retried = FakePulumi((1, READ_FAILED), (0, "ok"))
    assert pipeline(retried, [], [], retry_wait=0).drift_check() == 0
    failing = FakePulumi((1, READ_FAILED), (1, READ_FAILED), (1, READ_FAILED))
    said: list[str] = []
    assert pipeline(failing, said, [], retry_wait=0).drift_check() == 1
    assert "the drift check still failed after 3 attempt(s)" in said[-1]
    assert "failed to get user" in said[-1]


def test_destroy_is_retried_like_up() -> None:
    fake = FakePulumi((1, UNAVAILABLE), (0, "ok"))
    assert pipeline(fake, [], [], retry_wait=0).destroy() == 0
    assert fake.commands == [["destroy", "--yes", "--stack", "s"]] * 2


KEY_URN = f"{URN.rsplit('$', 1)[0]}$zitadel:index/machineKey:MachineKey::ci-key"
KEY_GONE = failed_run(
    (
        "zitadel:index:MachineKey (ci-key)",
        f"error: deleting {KEY_URN}: 1 error occurred:\n\t* failed to delete machine key: rpc error: code = NotFound "
        "desc = Errors.User.Machine.Key.NotFound (COMMAND-4m77G)",
    )
)


def test_destroy_drops_what_zitadel_deleted_already_from_the_state_and_destroys_the_rest() -> None:
    """A key deleted in the console made `pulumi destroy` fail on its NotFound for ever (found by the pipeline
    templates' e2e test: the nightly job's drifted org could not be destroyed)."""
    said: list[str] = []
    fake = FakePulumi((1, KEY_GONE), (0, "state delete"), (0, "destroyed"))
    assert pipeline(fake, said, [], retry_wait=0).destroy() == 0
    assert fake.commands == [
        ["destroy", "--yes", "--stack", "s"],
        ["state", "delete", KEY_URN, "--yes", "--stack", "s"],
        ["destroy", "--yes", "--stack", "s"],
    ]
    assert "ZITADEL no longer holds ci-key (deleted outside the stack): removing it from the state" in said


def test_a_delete_that_meets_not_found_during_up_is_not_taken_for_gone() -> None:
    fake = FakePulumi((1, KEY_GONE))
    said: list[str] = []
    assert pipeline(fake, said, [], retry_wait=0).up() == 1
    assert len(fake.commands) == 1
    assert diagnose(1, KEY_GONE).lost_urns == (KEY_URN,)


def test_adopt_user_imports_the_user_under_its_account() -> None:
    fake = FakePulumi((0, EXPORT), (0, CONFIG), (1, "error: resource does not exist"), (0, "imported"))
    slept: list[float] = []
    assert pipeline(fake, [], slept, settle=4).adopt_user("ci", "123") == 0
    assert fake.commands[-1] == [
        *("import", "zitadel:index/machineUser:MachineUser", "ci-user", "123:false:42"),
        *("--parent", f"parent={PARENT}", "--protect=false", "--generate-code=false", "--yes", "--stack", "s"),
    ]
    assert slept == [4], "an import that meets read lag is tried again"


def test_adopt_user_refuses_what_it_cannot_adopt() -> None:
    said: list[str] = []
    assert pipeline(FakePulumi(), said, []).adopt_user("ci", "not-an-id") == 2
    empty = json.dumps({"deployment": {"resources": []}})
    assert pipeline(FakePulumi((0, empty), (255, "error: boom")), said, []).adopt_user("ci", "123") == 1
    assert "could not create the component of 'ci'" in said[-1]


def test_adopt_user_in_a_stack_without_the_account_creates_the_bare_component_then_imports_under_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A user name taken outside a new stack: the preview refuses it, naming adopt-user, which must then work.
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # the project directory, with its Pulumi.yaml
    empty = json.dumps({"deployment": {"resources": []}})
    fake = FakePulumi((0, empty), (0, "created"), (0, "imported"))
    said: list[str] = []
    assert pipeline(fake, said, []).adopt_user("ci", "123", org_id="456") == 0
    component = "urn:pulumi:s::zitadel-bootstrap::zitadel-bootstrap:index:ServiceAccount::ci"
    assert fake.commands[1] == ["up", "--yes", "--target", component, "--stack", "s"]
    assert fake.commands[2][:4] == ["import", "zitadel:index/machineUser:MachineUser", "ci-user", "123:false:456"]
    assert f"parent={component}" in fake.commands[2]
    assert "adopted user 123 as ci-user" in said[-1]


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "up", "--attempts", "0"]) == 2
    with pytest.raises(SystemExit) as exited:
        main(["run", "sideways"])
    assert exited.value.code == 2
    capsys.readouterr()
