"""zitadel_bootstrap.config is a package of modules with one job each, and zitadel_bootstrap.limits is pure constants.

The jobs are pinned here: the modules that exist, the public functions and classes each defines, which modules
each may import, and that only the loader touches Pulumi or YAML. A new job needs a new module and a line here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import zitadel_bootstrap.config as settings_package
from zitadel_bootstrap import limits

PACKAGE = Path(settings_package.__file__).parent
LIMITS = Path(limits.__file__)

#: module -> (its job, the public functions and classes it defines, the package modules it may import).
JOBS: dict[str, tuple[str, set[str], set[str]]] = {
    "errors": ("how problems are collected and reported", {"SettingsError", "Problems"}, set()),
    "keys": ("the namespaces and full key paths", {"project_key", "provider_key"}, set()),
    "model": (
        "the frozen dataclasses",
        {"ProviderSettings", "VerificationSettings", "OrganizationSettings", "ServiceAccountSettings", "Settings"},
        set(),
    ),
    "fields": (
        "primitive values",
        {
            "show",
            "unknown_keys",
            "as_bool",
            "as_int",
            "as_seconds",
            "as_id",
            "as_name",
            "as_moment",
            "format_expiration",
        },
        {"errors"},
    ),
    "provider": (
        "the zitadel: keys and the issuer",
        {"derive_issuer", "parse_provider", "parse_issuer"},
        {"errors", "fields", "keys", "model"},
    ),
    "verification": ("the verification object", {"parse_verification"}, {"errors", "fields", "keys", "model"}),
    "organizations": ("the organizations list", {"parse_organizations"}, {"errors", "fields", "keys", "model"}),
    "roles": (
        "the manager roles per level",
        {"parse_roles", "parse_project_roles", "parse_project_grant_roles"},
        {"errors", "fields"},
    ),
    "key_lifecycle": (
        "a key's expiry, rotation window and generation",
        {"KeyLifecycle", "default_rotate_before_days", "parse_key_lifecycle"},
        {"errors", "fields"},
    ),
    "accounts": (
        "the serviceAccounts list",
        {"parse_accounts"},
        {"errors", "fields", "keys", "model", "roles", "key_lifecycle"},
    ),
    "parser": (
        "parse_settings",
        {"parse_settings"},
        {"errors", "fields", "keys", "model", "provider", "verification", "organizations", "accounts"},
    ),
    "loader": (
        "load_settings and load_settings_file",
        {"load_settings", "load_settings_file"},
        {"errors", "keys", "model", "parser"},
    ),
}


def tree_of(module: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{module}.py").read_text())


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_package_holds_exactly_the_modules_with_a_job() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(JOBS)
    assert not (PACKAGE.parent / "settings.py").exists(), "the old one-module settings must be gone"


@pytest.mark.parametrize("module", sorted(JOBS))
def test_each_module_defines_only_the_functions_and_classes_of_its_job(module: str) -> None:
    tree = tree_of(module)
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")
    }
    assert defined == JOBS[module][1]
    assert ast.get_docstring(tree), f"{module} says what its job is"


@pytest.mark.parametrize("module", sorted(JOBS))
def test_each_module_imports_only_the_modules_below_it(module: str) -> None:
    local = {name.lstrip(".") for name in imported(tree_of(module)) if name.startswith(".")}
    assert local <= JOBS[module][2], f"{module} imports {sorted(local - JOBS[module][2])}"


@pytest.mark.parametrize("module", sorted(JOBS))
def test_only_the_loader_touches_pulumi_or_yaml(module: str) -> None:
    outside = {name.split(".")[0] for name in imported(tree_of(module))} & {"pulumi", "yaml"}
    assert outside == ({"pulumi", "yaml"} if module == "loader" else set())


def test_the_package_docstring_lists_every_module() -> None:
    doc = settings_package.__doc__ or ""
    assert all(f"``{module}``" in doc for module in JOBS)


def test_the_pydantic_decision_is_written_down() -> None:
    assert "Why not pydantic" in (settings_package.__doc__ or "")


def test_limits_is_pure_constants_importing_nothing_of_the_program() -> None:
    tree = ast.parse(LIMITS.read_text())
    assert imported(tree) <= {"__future__", "typing"}
    assert not [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)]


def test_importing_settings_and_limits_imports_neither_pulumi_nor_yaml() -> None:
    code = (
        "import sys, zitadel_bootstrap.limits, zitadel_bootstrap.config; "
        "print(sorted(m for m in ('pulumi', 'yaml') if m in sys.modules))"
    )
    root = PACKAGE.parent.parent
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert result.stdout.strip() == "[]"
