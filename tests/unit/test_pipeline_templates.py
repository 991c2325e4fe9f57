"""The CI templates in pipelines/ without CI: their `zitadel-bootstrap` command lines against the real parser, no
`${{ }}` inside a GitHub `run:` script, the drift job's exit code and summary (its script run by bash against a stand-in
`zitadel-bootstrap`), the skip of an installed plugin, the admin key's file mode and the cache keys' versions."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from zitadel_bootstrap.cli.fleet.spec import Shard
from zitadel_bootstrap.cli.main import build_parser

from tools.pipeline_steps import (
    GITHUB_BASH,
    GITHUB_TEMPLATE,
    GITLAB_BASH,
    GitHubStep,
    github_step,
    github_steps,
    gitlab_jobs,
    load_github,
    load_gitlab,
    operations_commands,
    resolve_expressions,
)

ROOT = Path(__file__).resolve().parents[2]
#: job -> the fleet action it runs.
ACTIONS = {"up": "up", "drift-check": "drift-check", "fleet-up": "up", "fleet-drift-check": "drift-check"}
#: The shell variables of the fleet steps' own scripts.
SCRIPT_VARIABLES = {"report": ".zitadel-bootstrap/fleet-report.json"}
SECRETS = ("PULUMI_BACKEND_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PULUMI_CONFIG_PASSPHRASE")
ORGS = [
    {
        "org": "acme",
        "stack": "f-acme",
        "result": "drift",
        "exitCode": 7,
        "seconds": 1.0,
        "reason": "1 change",
        "log": "a.log",
    },
    {"org": "globex", "stack": "f-globex", "result": "ok", "exitCode": 0, "seconds": 1.0, "reason": "", "log": "g.log"},
    {
        "org": "initech",
        "stack": "f-initech",
        "result": "dropped",
        "exitCode": 7,
        "seconds": 0.0,
        "reason": "",
        "log": "",
    },
    {
        "org": "umbrella",
        "stack": "f-umbrella",
        "result": "failed",
        "exitCode": 1,
        "seconds": 2.0,
        "reason": "x",
        "log": "",
    },
]


def versions() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / "tools" / "versions.env").read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.lstrip().startswith("#")}


def github_values(shard: str) -> dict[str, str]:
    """A value for each ${{ }} expression the fleet steps' env may hold."""
    return {
        "matrix.shard": shard,
        "vars.AWS_REGION": "eu-test-1",
        **{f"secrets.{name}": f"x-{name}" for name in SECRETS},
    }


def github_shards() -> list[str]:
    shards: dict[str, list[str]] = {}
    for job_id, job in load_github()["jobs"].items():
        shards[job_id] = [str(shard) for shard in job["strategy"]["matrix"]["shard"]]
    assert len({tuple(values) for values in shards.values()}) == 1, shards
    return next(iter(shards.values()))


# ---------------------------------------------------------------------------------------------------------------
# What the e2e tests run: each job's shell steps.


def test_both_templates_give_the_shell_steps_of_each_job() -> None:
    github = github_steps()
    assert set(github) == {"up", "drift-check"}
    for job, steps in github.items():
        names = [step.name for step in steps]
        assert names == ["Install Pulumi", "Install the zitadel plugin", "Create .venv", "Write the admin key",
                         f"fleet {job}", "Remove the admin key"], names  # fmt: skip
        assert all(step.script.strip() for step in steps), names
    gitlab = gitlab_jobs()
    assert set(gitlab) == {"fleet-up", "fleet-drift-check"}
    for gitlab_job in gitlab.values():
        assert len(gitlab_job.before_script) >= 5, gitlab_job
        assert gitlab_job.script, gitlab_job
        assert all(line.strip() for line in (*gitlab_job.before_script, *gitlab_job.script)), gitlab_job
        assert gitlab_job.after_script == ("rm -f admin-key.json",), gitlab_job
        assert gitlab_job.variables["PULUMI_HOME"] == "$CI_PROJECT_DIR/.pulumi-home", gitlab_job.variables


# ---------------------------------------------------------------------------------------------------------------
# Every `zitadel-bootstrap` command line parses with the real parser, for every shard of the matrix.


def parse(args: Sequence[str]) -> Any:
    try:
        return build_parser().parse_args(list(args))
    except SystemExit as exit_:
        pytest.fail(f"zitadel-bootstrap {' '.join(args)}: the parser exits {exit_.code}")


def check_command(job: str, scripts: Sequence[str], shards: Sequence[str]) -> int:
    """Each shard's commands of a job parse, the fleet ones take that shard of len(shards); the count of commands."""
    count = 0
    for shard in shards:
        commands = [
            args for script in scripts for args in operations_commands(script, {"SHARD": shard, **SCRIPT_VARIABLES})
        ]
        fleet = [args for args in commands if args[:1] == ["fleet"]]
        assert len(fleet) == 1, (job, commands)
        for args in commands:
            parsed = parse(args)
            if args[:1] == ["fleet"]:
                assert parsed.fleet_action == ACTIONS[job], (job, args)
                assert Shard.parse(parsed.shard) == Shard(int(shard), len(shards)), (job, args)
                assert parsed.report == SCRIPT_VARIABLES["report"], (job, args)
        count += len(commands)
    return count


def test_each_command_line_of_the_github_template_parses() -> None:
    shards = github_shards()
    assert shards == ["1", "2", "3", "4"]
    for job, steps in github_steps().items():
        assert check_command(job, [step.script for step in steps], shards) >= len(shards)


def test_each_command_line_of_the_gitlab_template_parses() -> None:
    for name, job in gitlab_jobs().items():
        (matrix,) = job.matrix
        assert check_command(name, [*job.before_script, *job.script], matrix["SHARD"]) >= 4


# ---------------------------------------------------------------------------------------------------------------
# zizmor's template-injection rule, kept here too: values reach a run: script through env: only.


def test_no_expression_inside_a_github_run_script() -> None:
    steps = [step for job in github_steps().values() for step in job]
    assert steps
    assert [step.name for step in steps if "${{" in step.script] == []
    # and every run: of the file is among the steps looked at
    run_keys = re.findall(r"^ +(?:- )?run:", GITHUB_TEMPLATE.read_text(), flags=re.MULTILINE)
    assert len(run_keys) - 1 == len(steps)  # the one extra is `defaults: run:`


# ---------------------------------------------------------------------------------------------------------------
# The fleet steps run by bash against a stand-in `zitadel-bootstrap` that writes a report and exits as told.


def standin_command(directory: Path) -> Path:
    """.venv/bin/zitadel-bootstrap in ``directory``: records its arguments, writes STUB_ORGS as its --report and
    exits with STUB_EXIT (no report when STUB_ORGS is unset)."""
    command = directory / ".venv" / "bin" / "zitadel-bootstrap"
    command.parent.mkdir(parents=True)
    command.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        "open('args.json', 'w').write(json.dumps(args))\n"
        "if 'STUB_ORGS' in os.environ:\n"
        "    orgs = json.loads(os.environ['STUB_ORGS'])\n"
        "    open(args[args.index('--report') + 1], 'w').write(json.dumps({'orgs': orgs}))\n"
        "sys.exit(int(os.environ['STUB_EXIT']))\n"
    )
    command.chmod(0o755)
    return command


def run_script(
    prefix: Sequence[str], script: str, directory: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    path = directory / "step.sh"
    path.write_text(script)
    base = {"PATH": os.environ["PATH"], "HOME": str(directory)}
    return subprocess.run(
        [*prefix, str(path)],
        cwd=directory,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_github_fleet_step(job: str, directory: Path, code: int, orgs: list[dict[str, Any]] | None) -> tuple[int, str]:
    step = github_step(job, f"fleet {job}")
    env = resolve_expressions(step.env, github_values("3"))
    env |= {"GITHUB_STEP_SUMMARY": str(directory / "summary.md"), "STUB_EXIT": str(code)}
    if orgs is not None:
        env["STUB_ORGS"] = json.dumps(orgs)
    standin_command(directory)
    done = run_script(GITHUB_BASH, step.script, directory, env)
    assert json.loads((directory / "args.json").read_text())[:3] == ["fleet", job, "--shard"], done
    assert "3/4" in json.loads((directory / "args.json").read_text()), done
    summary = directory / "summary.md"
    return done.returncode, summary.read_text() if summary.exists() else ""


def run_gitlab_fleet_job(job: str, directory: Path, code: int, orgs: list[dict[str, Any]] | None) -> tuple[int, str]:
    env = {"SHARD": "3", "STUB_EXIT": str(code)}
    if orgs is not None:
        env["STUB_ORGS"] = json.dumps(orgs)
    standin_command(directory)
    done = run_script(GITLAB_BASH, "\n".join(gitlab_jobs()[job].script), directory, env)
    assert "3/4" in json.loads((directory / "args.json").read_text()), done
    summary = directory / ".zitadel-bootstrap" / "fleet-summary.md"
    assert summary.exists(), done
    assert summary.read_text() in done.stdout, done  # printed in the job log too
    return done.returncode, summary.read_text()


RUNNERS = {
    "github": (run_github_fleet_step, "drift-check", "up"),
    "gitlab": (run_gitlab_fleet_job, "fleet-drift-check", "fleet-up"),
}


@pytest.mark.parametrize("template", sorted(RUNNERS))
def test_the_drift_job_fails_on_exit_7_and_names_the_drifted_orgs(template: str, tmp_path: Path) -> None:
    run, drift_job, _ = RUNNERS[template]
    code, summary = run(drift_job, tmp_path, 7, ORGS[:3])
    assert code == 7, summary
    assert "exit 7" in summary
    drifted = next(line for line in summary.splitlines() if line.startswith("**drift**"))
    assert "`acme`" in drifted, summary
    assert "globex" not in drifted, summary
    dropped = next(line for line in summary.splitlines() if line.startswith("**dropped**"))
    assert "`initech`" in dropped, summary
    assert "`globex`" not in summary, summary


@pytest.mark.parametrize("template", sorted(RUNNERS))
def test_the_drift_job_passes_when_clean_and_fails_on_a_failed_org_or_no_report(template: str, tmp_path: Path) -> None:
    run, drift_job, _ = RUNNERS[template]
    clean = [org for org in ORGS if org["result"] == "ok"]
    (tmp_path / "clean").mkdir()
    assert run(drift_job, tmp_path / "clean", 0, clean) == (
        0,
        "### fleet drift-check, shard 3/4: exit 0\n\n1 org(s), 1 ok\n",
    )
    (tmp_path / "failed").mkdir()
    code, summary = run(drift_job, tmp_path / "failed", 1, ORGS)
    assert code == 1, summary
    assert "**failed** (1): `umbrella`" in summary, summary
    (tmp_path / "usage").mkdir()
    code, summary = run(drift_job, tmp_path / "usage", 2, None)
    assert code == 2, summary
    assert "no report" in summary, summary


@pytest.mark.parametrize("template", sorted(RUNNERS))
def test_the_up_job_fails_when_an_org_fails(template: str, tmp_path: Path) -> None:
    run, _, up_job = RUNNERS[template]
    code, summary = run(up_job, tmp_path, 1, [ORGS[1], ORGS[3]])
    assert code == 1, summary
    assert "**failed** (1): `umbrella`" in summary, summary


# ---------------------------------------------------------------------------------------------------------------
# The plugin is installed only when `pulumi plugin ls` lacks it; the admin key's file is the owner's alone.

PLUGIN_LS = "NAME     KIND      VERSION  SIZE   INSTALLED    LAST USED\n{rows}\nTOTAL plugin cache size: 37 MB\n"


def plugin_scripts() -> dict[str, tuple[Sequence[str], str, dict[str, str]]]:
    """template/job -> (bash, the plugin step's script, its env)."""
    scripts: dict[str, tuple[Sequence[str], str, dict[str, str]]] = {}
    for job in github_steps():
        step = github_step(job, "Install the zitadel plugin")
        scripts[f"github/{job}"] = (GITHUB_BASH, step.script, step.env)
    for name, gitlab in gitlab_jobs().items():
        (script,) = [line for line in gitlab.before_script if "plugin ls" in line]
        scripts[f"gitlab/{name}"] = (GITLAB_BASH, script, gitlab.variables)
    return scripts


@pytest.mark.parametrize(
    ("installed", "expect_install"),
    [
        ("zitadel  resource  0.2.0    37 MB  1 day ago  1 day ago", False),
        ("zitadel  resource  0.1.9    37 MB  x  x", True),
        ("", True),
    ],
)
def test_the_plugin_is_installed_only_when_missing(installed: str, expect_install: bool, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pulumi = bin_dir / "pulumi"
    pulumi.write_text(
        "#!/bin/sh\n"
        'echo "$*" >> "$CALLS"\n'
        f'if [ "$1 $2" = "plugin ls" ]; then printf \'%s\' "{PLUGIN_LS.format(rows=installed)}"; fi\n'
    )
    pulumi.chmod(0o755)
    for label, (bash, script, env) in plugin_scripts().items():
        calls = tmp_path / f"{label.replace('/', '-')}.calls"
        run_env = {"ZITADEL_PLUGIN_VERSION": env["ZITADEL_PLUGIN_VERSION"], "CALLS": str(calls)}
        run_env["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
        done = run_script(bash, script, tmp_path, run_env)
        assert done.returncode == 0, (label, done)
        install = "plugin install resource zitadel 0.2.0 --server github://api.github.com/pulumiverse"
        assert (install in calls.read_text()) is expect_install, (label, calls.read_text())


def admin_key_scripts() -> dict[str, tuple[Sequence[str], str]]:
    scripts: dict[str, tuple[Sequence[str], str]] = {}
    for job in github_steps():
        scripts[f"github/{job}"] = (GITHUB_BASH, github_step(job, "Write the admin key").script)
    for name, gitlab in gitlab_jobs().items():
        (script,) = [line for line in gitlab.before_script if "admin-key.json" in line]
        scripts[f"gitlab/{name}"] = (GITLAB_BASH, script)
    return scripts


def test_the_admin_key_file_is_written_for_the_owner_alone(tmp_path: Path) -> None:
    key = '{"type": "serviceaccount", "keyId": "1", "key": "-----BEGIN RSA PRIVATE KEY-----\\nx\\n"}'
    as_file = tmp_path / "variable-file"
    as_file.write_text(key + "\n")
    for label, (bash, script) in admin_key_scripts().items():
        values = [key] + ([str(as_file)] if label.startswith("gitlab/") else [])  # GitLab: a File variable too
        for value in values:
            directory = tmp_path / f"{label.replace('/', '-')}-{len(value)}"
            directory.mkdir()
            done = run_script(
                ("bash", "-c", 'umask 022 && exec "$@"', "-", *bash), script, directory, {"ZITADEL_ADMIN_KEY": value}
            )
            assert done.returncode == 0, (label, done)
            written = directory / "admin-key.json"
            assert json.loads(written.read_text()) == json.loads(key), label
            assert stat.S_IMODE(written.stat().st_mode) == 0o600, (label, oct(written.stat().st_mode))
        missing = run_script(bash, script, tmp_path, {})
        assert missing.returncode != 0, (label, missing)
        assert not (tmp_path / "admin-key.json").exists(), (label, missing)


# ---------------------------------------------------------------------------------------------------------------
# The caches: keyed by the Pulumi and plugin versions, the ones of tools/versions.env.


def test_the_github_cache_key_names_the_pulumi_and_plugin_versions() -> None:
    workflow = load_github()
    assert workflow["env"]["PULUMI_VERSION"] == versions()["PULUMI_VERSION"]
    assert workflow["env"]["ZITADEL_PLUGIN_VERSION"] == versions()["ZITADEL_PLUGIN_VERSION"]
    caches = [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("actions/cache@")
    ]
    assert len(caches) == len(workflow["jobs"]), caches
    for cache in caches:
        assert "${{ env.PULUMI_VERSION }}" in cache["with"]["key"], cache
        assert "${{ env.ZITADEL_PLUGIN_VERSION }}" in cache["with"]["key"], cache
        assert all(path.startswith("~/.pulumi/") for path in cache["with"]["path"].split()), cache


def test_the_gitlab_cache_key_names_the_versions_and_caches_inside_the_project() -> None:
    template = load_gitlab()[".zitadel-bootstrap-fleet"]
    assert template["variables"]["PULUMI_VERSION"] == versions()["PULUMI_VERSION"]
    assert template["variables"]["ZITADEL_PLUGIN_VERSION"] == versions()["ZITADEL_PLUGIN_VERSION"]
    assert "$PULUMI_VERSION" in template["cache"]["key"], template["cache"]
    assert "$ZITADEL_PLUGIN_VERSION" in template["cache"]["key"], template["cache"]
    assert template["variables"]["PULUMI_HOME"] == "$CI_PROJECT_DIR/.pulumi-home"
    assert all(path.startswith(".pulumi-home/") for path in template["cache"]["paths"]), template["cache"]


def test_every_github_step_env_has_a_value_in_the_tests() -> None:
    """resolve_expressions names each expression the fleet steps get: a new secret shows up here first."""
    for job in github_steps():
        step: GitHubStep = github_step(job, f"fleet {job}")
        assert set(step.step_env) == {"SHARD", "AWS_REGION", *SECRETS}, step.step_env
        resolve_expressions(step.env, github_values("1"))
