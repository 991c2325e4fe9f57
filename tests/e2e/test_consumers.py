"""The package adopted by a team's own program, in Python, Pulumi YAML and TypeScript, each in its own directory
with its own state, through the plain CLI: up with its preview, the drift check (0), a drift (7), the repair,
destroy. None of them sets up Python for the package's resources: the package's provider serves them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.consumer import CONSUMERS, Consumer, package_copy, python_venv, run
from tools.standin import StandIn


@pytest.fixture(scope="module", autouse=True)
def language_hosts() -> None:
    """The YAML and Node.js language hosts and npm; fails (never skips) with the command that provides them."""
    missing = [tool for tool in ("pulumi-language-yaml", "pulumi-language-nodejs", "npm") if not shutil.which(tool)]
    if missing:
        pytest.fail(
            f'{", ".join(missing)} not on PATH: source "$(ZB_LANGUAGE_HOSTS=1 tools/engine.sh)" (make test-e2e does); '
            "that; npm comes with Node.js",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package_copy(tmp_path_factory.mktemp("package") / "zitadel-bootstrap")


def test_consumer_python_program_with_the_package_pip_installed(
    tmp_path: Path, package: Path, standin: StandIn
) -> None:
    project = tmp_path / "python-consumer"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        "name: zb-consumer-python\n"
        "runtime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: venv\n"
        "stackConfigDir: stacks\n"
        "backend:\n  url: file://./state\n"
        "plugins:\n  providers:\n    - name: zitadel-bootstrap\n      path: venv/bin\n"
    )
    shutil.copy(CONSUMERS / "python__main__.py", project / "__main__.py")
    venv = python_venv(project, package)
    # The program imports the installed package, not this checkout.
    where = run(
        [str(venv / "bin" / "python"), "-c", "import zitadel_bootstrap; print(zitadel_bootstrap.__file__)"], project
    )
    assert str(venv) in where, where
    Consumer.create(project, standin, "py-robot", project="zb-consumer-python").lifecycle()


def test_consumer_yaml_program_with_pulumi_package_add(tmp_path: Path, package: Path, standin: StandIn) -> None:
    project = tmp_path / "yaml-consumer"
    project.mkdir()
    template = (CONSUMERS / "yaml-Pulumi.yaml").read_text()
    (project / "Pulumi.yaml").write_text(template.replace("@ORG_ID@", standin.default_org_id))
    consumer = Consumer.create(project, standin, "yaml-robot", project="zb-consumer-yaml")
    consumer.cli.run("package", "add", str(package), label="package add", with_stack=False, timeout=900)
    assert str(package) in (project / "Pulumi.yaml").read_text(), "package add records the package in Pulumi.yaml"
    consumer.lifecycle()


def test_consumer_typescript_program_with_pulumi_package_add(tmp_path: Path, package: Path, standin: StandIn) -> None:
    project = tmp_path / "ts-consumer"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        "name: zb-consumer-ts\nruntime: nodejs\nstackConfigDir: stacks\nbackend:\n  url: file://./state\n"
    )
    (project / "package.json").write_text(
        json.dumps(
            {
                "name": "zb-consumer-ts",
                "main": "index.ts",
                "dependencies": {"@pulumi/pulumi": "3.270.0"},
                "devDependencies": {"typescript": "^5", "@types/node": "^20"},
            },
            indent=2,
        )
    )
    shutil.copy(CONSUMERS / "index.ts", project / "index.ts")
    run(["npm", "install", "--no-audit", "--no-fund"], project)
    consumer = Consumer.create(project, standin, "ts-robot", project="zb-consumer-ts")
    consumer.cli.run("package", "add", str(package), label="package add", with_stack=False, timeout=900)
    consumer.lifecycle()


def test_consumer_schema_of_the_package_as_pulumi_reads_it(package: Path, engine: str) -> None:
    """`pulumi package get-schema` on the package folder: the component, its inputs, and the key file secret."""
    done = subprocess.run(
        [engine, "package", "get-schema", str(package)], capture_output=True, text=True, check=False, timeout=600
    )
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    account = schema["resources"]["zitadel-bootstrap:index:ServiceAccount"]
    assert account["isComponent"] is True
    assert {"userName", "orgId", "roles"} <= set(account["inputProperties"])
    assert set(account["requiredInputs"]) == {"userName", "orgId"}
    assert account["properties"]["keyJson"].get("secret") is True
    assert account["properties"]["keyJson"]["type"] == "string"
