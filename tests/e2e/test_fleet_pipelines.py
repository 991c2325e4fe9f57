"""The pipeline templates' shell steps, run as their CI would run them, against the stand-in and SeaweedFS.

tools/pipeline_steps.py reads each step out of pipelines/github-actions.yml and pipelines/gitlab-ci.yml; this test
runs them in order in a checkout-like directory with bash, with the values CI would give (secrets as environment,
GITHUB_STEP_SUMMARY and GITHUB_PATH as files, GitLab's variables, the matrix's SHARD), so a template step that
rots fails here. What a runner has before the steps: this machine's engine on PATH (the cached engine of a warm
runner; the steps then skip the download, which needs the internet), the plugin in PULUMI_HOME (GitLab's cache:
.pulumi-home in the project), python3 with pip. The steps make their own .venv, as on a fresh runner.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import yaml

from tests.e2e.fleet import org_entry
from tests.e2e.stacks import PASSPHRASE, standin_config
from tools.pipeline_steps import GITHUB_BASH, GITLAB_BASH, github_steps, gitlab_jobs, resolve_expressions
from tools.pulumi_cli import REPO
from tools.seaweedfs import SeaweedFS
from tools.standin import StandIn

ORGS = ("amber", "birch", "cedar", "delta")  # shard 1 of 2 takes amber; of 4, `fleet list` tells


def checkout(directory: Path, standin: StandIn) -> Path:
    """A checkout as CI has it: the project files (no .venv) and a fleet file whose admin key is admin-key.json."""
    directory.mkdir(parents=True)
    shutil.copy2(REPO / "Pulumi.yaml", directory / "Pulumi.yaml")
    for name in ("__main__.py", "components", "requirements.txt"):
        (directory / name).symlink_to(REPO / name)
    (directory / "stacks").mkdir()
    shared = standin_config(standin, [])
    shared.pop("zitadel-bootstrap:serviceAccounts")
    shared["zitadel:jwtProfileFile"] = "admin-key.json"  # written by the pipeline's step from its secret
    orgs = [org_entry(org, ["ci"]) for org in ORGS]
    (directory / "stacks" / "fleet.yaml").write_text(yaml.safe_dump({"fleet": "ci", "config": shared, "orgs": orgs}))
    return directory


def run_script(
    shell: tuple[str, ...], script: str, cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*shell, "-c", script], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=900, check=False
    )


def test_fleet_pipeline_templates_shell_steps_run_against_the_standin_and_seaweedfs(
    tls_standin: StandIn, seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    standin = tls_standin
    assert standin.ca_path is not None
    bucket = seaweedfs.create_bucket("fleet-pipelines")
    project = checkout(tmp_path / "checkout", standin)
    secrets = {
        "secrets.PULUMI_BACKEND_URL": seaweedfs.backend_url(bucket),
        "secrets.AWS_ACCESS_KEY_ID": seaweedfs.env["AWS_ACCESS_KEY_ID"],
        "secrets.AWS_SECRET_ACCESS_KEY": seaweedfs.env["AWS_SECRET_ACCESS_KEY"],
        "vars.AWS_REGION": seaweedfs.env.get("AWS_REGION", "us-east-1"),
        "secrets.PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "secrets.ZITADEL_ADMIN_KEY": standin.admin_key_json,
    }
    runner = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_CONFIG_PASSPHRASE", "AWS_"))}
    runner.pop("PULUMI_BACKEND_URL", None)
    # The runner's trust store holds the instance's CA, as it would for a ZITADEL behind a private CA.
    runner["SSL_CERT_FILE"] = str(standin.ca_path)
    summary = tmp_path / "step-summary.md"

    def github_job(job: str, shard: str) -> list[tuple[str, int, str]]:
        """Run the job's run: steps in order, as GitHub would (an always() step even after a failure)."""
        done: list[tuple[str, int, str]] = []
        failed = False
        for step in github_steps()[job]:
            if failed and "always()" not in (step.condition or ""):
                continue
            values = {**secrets, "matrix.shard": shard}
            env = {**runner, **resolve_expressions(step.env, values)}
            env.update(GITHUB_STEP_SUMMARY=str(summary), GITHUB_PATH=str(tmp_path / "github-path"))
            ran = run_script(GITHUB_BASH, step.script, project, env)
            done.append((step.name, ran.returncode, ran.stdout + ran.stderr))
            failed = failed or ran.returncode != 0
        return done

    def gitlab_job(name: str, shard: str) -> tuple[int, str]:
        job = gitlab_jobs()[name]
        assert {"SHARD": ("1", "2", "3", "4")} in job.matrix
        env = {**runner, "CI_PROJECT_DIR": str(project), "SHARD": shard}
        env["PULUMI_BACKEND_URL"] = secrets["secrets.PULUMI_BACKEND_URL"]
        env.update({k: seaweedfs.env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")})
        env.update(PULUMI_CONFIG_PASSPHRASE=PASSPHRASE, ZITADEL_ADMIN_KEY=standin.admin_key_json)
        for key, value in job.variables.items():
            env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m[1], ""), value)
        ran = run_script(GITLAB_BASH, job.shell, project, env)
        after = run_script(GITLAB_BASH, "\n".join(job.after_script), project, env)
        assert after.returncode == 0, after.stderr
        return ran.returncode, ran.stdout + ran.stderr

    # GitHub: `up` on every shard (the first step of the first shard makes .venv from requirements.txt).
    for shard in ("1", "2", "3", "4"):
        steps = github_job("up", shard)
        assert [code for _, code, _ in steps] == [0] * len(steps), "\n".join(
            f"{n}: {c}\n{o[-3000:]}" for n, c, o in steps
        )
        assert not (project / "admin-key.json").exists(), "the admin key file is left on the runner"
    assert (project / ".venv" / "bin" / "zitadel-bootstrap").exists()
    written = summary.read_text()
    assert written.count("### fleet up, shard") == 4
    assert written.count(" org(s), ") == 4
    users = {u["userName"] for u in standin.state()["users"]}
    assert {f"{org}-ci" for org in ORGS} <= users

    # GitLab's cache: the plugin in .pulumi-home, where its job keeps PULUMI_HOME; then its `up` on one shard.
    (project / ".pulumi-home").mkdir()
    (project / ".pulumi-home" / "plugins").symlink_to(Path(os.environ["PULUMI_HOME"]) / "plugins")
    code, output = gitlab_job("fleet-up", "2")
    assert code == 0, output[-4000:]
    assert "### fleet up, shard 2/4: exit 0" in output

    # Someone deletes an org's key: the nightly drift jobs of its shard fail and name it.
    shard_of = {org: s for s in "1234" for org in ORGS if re.search(rf"^{org}\t", run_list(project, s), re.MULTILINE)}
    assert sorted(shard_of) == sorted(ORGS)
    victim = "birch"
    user = next(u for u in standin.state()["users"] if u["userName"] == f"{victim}-ci")
    standin.remove_key(user["id"], user["keys"][0]["id"])
    summary.write_text("")
    steps = github_job("drift-check", shard_of[victim])
    codes = {name: code for name, code, _ in steps}
    assert codes["fleet drift-check"] == 7, "\n".join(o[-3000:] for _, _, o in steps)
    assert codes["Remove the admin key"] == 0
    assert f"`{victim}`" in summary.read_text(), summary.read_text()
    assert "**drift** (1)" in summary.read_text()
    code, output = gitlab_job("fleet-drift-check", shard_of[victim])
    assert code == 7, output[-4000:]
    assert f"`{victim}`" in output
    other = next(s for s in "1234" if s != shard_of[victim] and any(shard_of[o] == s for o in ORGS))
    steps = github_job("drift-check", other)
    assert [code for _, code, _ in steps] == [0] * len(steps), "\n".join(o[-2000:] for _, _, o in steps)

    # Clean up (not a template step): the admin key again, then the whole fleet destroyed.
    (project / "admin-key.json").write_text(standin.admin_key_json)
    destroyed = subprocess.run(
        [str(project / ".venv" / "bin" / "zitadel-bootstrap"), "fleet", "destroy", "--parallel", "4"],
        cwd=project,
        env={**runner, **destroy_env(secrets)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr


def run_list(project: Path, shard: str) -> str:
    return subprocess.run(
        [str(project / ".venv" / "bin" / "zitadel-bootstrap"), "fleet", "list", "--shard", f"{shard}/4"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def destroy_env(secrets: Mapping[str, str]) -> dict[str, str]:
    return {
        "PULUMI_BACKEND_URL": secrets["secrets.PULUMI_BACKEND_URL"],
        "AWS_ACCESS_KEY_ID": secrets["secrets.AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": secrets["secrets.AWS_SECRET_ACCESS_KEY"],
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
    }
