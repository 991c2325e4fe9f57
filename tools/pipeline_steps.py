"""The shell steps of the CI templates in pipelines/, per job and in the order CI runs them.

GitHub Actions (pipelines/github-actions.yml): each step with a ``run:`` script, its name, its ``if:``, and the
environment it gets (the workflow's, the job's and the step's ``env:``, raw: values may hold ``${{ }}`` expressions,
which :func:`resolve_expressions` fills in). GitLab CI (pipelines/gitlab-ci.yml): each job's ``before_script``,
``script`` and ``after_script`` lines and its ``variables`` after ``extends:`` and ``default:``. The e2e tests run
these scripts; the unit tests (tests/unit/test_pipeline_templates.py) check them without CI.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
GITHUB_TEMPLATE = ROOT / "pipelines" / "github-actions.yml"
GITLAB_TEMPLATE = ROOT / "pipelines" / "gitlab-ci.yml"

#: How GitHub runs a ``run:`` script under ``shell: bash`` ({0} is the script's file).
GITHUB_BASH = ("bash", "--noprofile", "--norc", "-eo", "pipefail")
#: How GitLab Runner's bash runs the lines of before_script and script: in one shell, stopping at the first failure.
GITLAB_BASH = ("bash", "-eo", "pipefail")

OPERATIONS_COMMAND = "zitadel-bootstrap"
_SHELL_OPERATORS = {"||", "&&", ";", "|", "&", ";;"}
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
_GITLAB_KEYWORDS = {"default", "include", "stages", "variables", "workflow", "image", "services", "cache"}
_GITLAB_KEYWORDS |= {"before_script", "after_script", "spec"}


@dataclass(frozen=True)
class GitHubStep:
    job: str
    name: str
    script: str
    #: The workflow's, the job's and the step's env (later ones win), values as written.
    env: dict[str, str]
    job_env: tuple[str, ...]
    step_env: tuple[str, ...]
    condition: str | None
    shell: str | None


@dataclass(frozen=True)
class GitLabJob:
    name: str
    variables: dict[str, str]
    before_script: tuple[str, ...]
    script: tuple[str, ...]
    after_script: tuple[str, ...]
    #: parallel:matrix: one mapping of variable -> values per entry.
    matrix: tuple[dict[str, tuple[str, ...]], ...]
    rules: tuple[dict[str, Any], ...]

    @property
    def shell(self) -> str:
        """before_script and script as the one shell script GitLab Runner runs."""
        return "\n".join((*self.before_script, *self.script))


def load_github(path: Path = GITHUB_TEMPLATE) -> dict[str, Any]:
    """The workflow as a mapping; YAML 1.1 reads the key ``on`` as True, put back here."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a mapping")
    if True in data:
        data["on"] = data.pop(True)
    return data


def load_gitlab(path: Path = GITLAB_TEMPLATE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a mapping")
    return data


def _strings(mapping: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(key): str(value) for key, value in (mapping or {}).items()}


def github_steps(path: Path = GITHUB_TEMPLATE) -> dict[str, list[GitHubStep]]:
    """job id -> its ``run:`` steps in order (steps with ``uses:`` are left out)."""
    workflow = load_github(path)
    workflow_env = _strings(workflow.get("env"))
    default_shell = ((workflow.get("defaults") or {}).get("run") or {}).get("shell")
    jobs: dict[str, list[GitHubStep]] = {}
    for job_id, job in (workflow.get("jobs") or {}).items():
        job_env = _strings(job.get("env"))
        job_shell = ((job.get("defaults") or {}).get("run") or {}).get("shell", default_shell)
        steps = []
        for number, step in enumerate(job.get("steps") or [], start=1):
            if "run" not in step:
                continue
            step_env = _strings(step.get("env"))
            steps.append(
                GitHubStep(
                    job=job_id,
                    name=str(step.get("name") or f"step {number}"),
                    script=str(step["run"]),
                    env={**workflow_env, **job_env, **step_env},
                    job_env=tuple(job_env),
                    step_env=tuple(step_env),
                    condition=step.get("if"),
                    shell=step.get("shell", job_shell),
                )
            )
        jobs[job_id] = steps
    return jobs


def github_step(job: str, name: str, path: Path = GITHUB_TEMPLATE) -> GitHubStep:
    found = [step for step in github_steps(path)[job] if step.name == name]
    if len(found) != 1:
        raise KeyError(f"{path}: job {job}: {len(found)} steps named {name!r}")
    return found[0]


def resolve_expressions(env: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """env with each ``${{ expr }}`` replaced by ``values[expr]`` (e.g. ``secrets.PULUMI_BACKEND_URL``); an
    expression without a value raises KeyError, so a test names every value the step gets."""
    return {key: _EXPRESSION.sub(lambda match: values[match[1]], value) for key, value in env.items()}


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """GitLab's merge for ``extends``: mappings merge key by key, anything else (lists too) is replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resolved(config: Mapping[str, Any], name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if name in seen:
        raise ValueError(f"extends loop: {' -> '.join((*seen, name))}")
    job = dict(config[name])
    parents = job.pop("extends", [])
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = _merge(merged, _resolved(config, parent, (*seen, name)))
    return _merge(merged, job)


def _lines(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    lines: list[str] = []
    for item in value:  # GitLab flattens nested lists (from !reference) one level deep
        lines.extend(_lines(item))
    return tuple(lines)


def gitlab_jobs(path: Path = GITLAB_TEMPLATE) -> dict[str, GitLabJob]:
    """job name -> its scripts and variables, for each job GitLab would run (hidden ``.jobs`` left out)."""
    config = load_gitlab(path)
    default = config.get("default") or {}
    global_variables = _strings(
        {
            key: value["value"] if isinstance(value, Mapping) else value
            for key, value in (config.get("variables") or {}).items()
        }
    )
    jobs = {}
    for name in config:
        if name in _GITLAB_KEYWORDS or name.startswith("."):
            continue
        job = _resolved(config, name)
        parallel = job.get("parallel")
        matrix = parallel.get("matrix", []) if isinstance(parallel, Mapping) else []
        jobs[name] = GitLabJob(
            name=name,
            variables={**global_variables, **_strings(job.get("variables"))},
            before_script=_lines(job.get("before_script", default.get("before_script"))),
            script=_lines(job.get("script")),
            after_script=_lines(job.get("after_script", default.get("after_script"))),
            matrix=tuple(
                {
                    key: tuple(str(v) for v in (values if isinstance(values, list) else [values]))
                    for key, values in entry.items()
                }
                for entry in matrix
            ),
            rules=tuple(job.get("rules") or ()),
        )
    return jobs


def _logical_lines(script: str) -> Iterable[str]:
    """The script's lines, with backslash-continued lines joined."""
    pending = ""
    for line in script.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def operations_commands(script: str, variables: Mapping[str, str]) -> list[list[str]]:
    """The arguments of each ``zitadel-bootstrap`` command in a shell script, with ``$NAME`` and ``${NAME}`` taken
    from ``variables`` (a variable not given raises KeyError): what the real parser gets in CI."""
    commands = []
    for line in _logical_lines(script):
        if OPERATIONS_COMMAND not in line:
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words = list(lexer)
        for start, word in enumerate(words):
            if word.rsplit("/", 1)[-1] != OPERATIONS_COMMAND:
                continue
            args = []
            for arg in words[start + 1 :]:
                if arg in _SHELL_OPERATORS:
                    break
                args.append(_VARIABLE.sub(lambda match: variables[match[1]], arg))
            commands.append(args)
    return commands
