"""The package's layout: its folders import one another in one direction, and each config module has one job.

zitadel_bootstrap is one folder per job (component, verification, provider, key_schedule, config, cli) and two
pure modules (limits, clock). Pinned here: which folders each folder may import, that no two modules import each
other (even through others), and that the verifier library and the key arithmetic import no Pulumi.

zitadel_bootstrap.config is a package of modules with one job each, and zitadel_bootstrap.limits is pure
constants. The jobs are pinned here: the modules that exist, the public functions and classes each defines, which
modules each may import, and which of them touch Pulumi or YAML. A new job needs a new module and a line here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import zitadel_bootstrap
import zitadel_bootstrap.config as settings_package
from zitadel_bootstrap import limits

PACKAGE = Path(settings_package.__file__).parent
LIMITS = Path(limits.__file__)
ROOT = Path(zitadel_bootstrap.__file__).parent

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
        "the serviceAccounts list, and one entry of it (the component checks its inputs as an entry)",
        {"parse_accounts", "parse_account"},
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
    "component_args": ("a validated entry as the component's inputs", {"service_account_args"}, {"model"}),
    "preflight": (
        "can the provider's admin do what the plan needs",
        {
            "PreflightError",
            "Need",
            "needs",
            "problems",
            "admin_key_text",
            "dead_key_fix",
            "check",
            "taken_names",
            "claim_user_names",
            "run_preflight",
        },
        {"model"},
    ),
}
#: The config modules that touch Pulumi or YAML, and what they touch: reading the stack config, the component's
#: ``pulumi.Input`` types, and the preflight's own config read (inside ``run_preflight`` only).
TOUCHES_PULUMI_OR_YAML = {"loader": {"pulumi", "yaml"}, "component_args": {"pulumi"}, "preflight": {"pulumi"}}


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
def test_only_the_loader_the_component_args_and_the_preflight_touch_pulumi_or_yaml(module: str) -> None:
    outside = {name.split(".")[0] for name in imported(tree_of(module))} & {"pulumi", "yaml"}
    assert outside == TOUCHES_PULUMI_OR_YAML.get(module, set())


def test_the_preflight_imports_pulumi_only_when_it_runs() -> None:
    module_level = {
        name.split(".")[0]
        for node in tree_of("preflight").body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in imported(ast.Module(body=[node], type_ignores=[]))
    }
    assert "pulumi" not in module_level, "needs() and problems() must stay testable without the Pulumi runtime"


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


# --- the package's folders ----------------------------------------------------------------------------------------

#: folder (or top-level module) -> the folders and modules of zitadel_bootstrap it may import at run time. A new
#: direction needs a line here. ``__init__`` is the package itself (``__version__``, and the component names it
#: loads on first use). The command line reaches neither the component nor the provider: it runs without Pulumi's SDK.
LAYERS: dict[str, set[str]] = {
    "limits": set(),
    "clock": set(),
    "values": set(),
    "verification": {"limits"},
    "key_schedule": {"clock", "limits"},
    "config": {"clock", "limits", "verification"},
    "component": {"clock", "config", "key_schedule", "provider", "values", "verification"},
    "provider": {"__init__", "clock", "component", "key_schedule", "values", "verification"},
    "cli": {"__init__", "clock", "config", "limits", "verification"},
    "__init__": {"component"},
}
#: Imports for type hints only (under ``if TYPE_CHECKING``), which would be cycles at run time.
TYPE_ONLY: dict[str, set[str]] = {"config": {"component"}}
#: What is never imported where no Pulumi program runs: the verifier library and the key arithmetic are pure.
PULUMI_PACKAGES = {"pulumi", "pulumiverse_zitadel", "grpc", "google", "yaml"}


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def folder_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _exists(module: str) -> bool:
    path = ROOT.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _is_type_checking(node: ast.If) -> bool:
    return ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _import_nodes(node: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement, lazy ones inside functions included, and whether it is for type hints only."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, type_only
        elif isinstance(child, ast.If) and _is_type_checking(child):
            for statement in child.body:
                yield from _import_nodes(ast.Module(body=[statement], type_ignores=[]), True)
            for statement in child.orelse:
                yield from _import_nodes(ast.Module(body=[statement], type_ignores=[]), type_only)
        else:
            yield from _import_nodes(child, type_only)


def package_imports(path: Path) -> tuple[set[str], set[str], set[str]]:
    """The modules of zitadel_bootstrap ``path`` imports at run time, those it imports for type hints only, and the
    top-level names of everything else it imports."""
    module = module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    runtime: set[str] = set()
    type_only: set[str] = set()
    outside: set[str] = set()
    for node, for_types in _import_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # ``from zitadel_bootstrap import clock`` imports a module; ``from ... import name`` its package.
            targets = {
                f"{source}.{alias.name}" if _exists(f"{source}.{alias.name}") else source for alias in node.names
            }
        else:
            targets = {alias.name for alias in node.names}
        for target in targets:
            if target.split(".")[0] != "zitadel_bootstrap":
                outside.add(target.split(".")[0])
            elif target != module:
                (type_only if for_types else runtime).add(target)
    return runtime, type_only, outside


SOURCES = sorted(ROOT.rglob("*.py"))


def test_the_layers_name_every_folder_of_the_package() -> None:
    assert {folder_of(module_of(path)) for path in SOURCES} == set(LAYERS)


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: module_of(path))
def test_each_module_imports_only_the_folders_below_its_own(path: Path) -> None:
    module = module_of(path)
    folder = folder_of(module)
    runtime, type_only, _ = package_imports(path)
    reached = {folder_of(target) for target in runtime} - {folder}
    assert reached <= LAYERS[folder], f"{module} imports {sorted(reached - LAYERS[folder])}"
    hinted = {folder_of(target) for target in type_only} - {folder}
    assert hinted <= LAYERS[folder] | TYPE_ONLY.get(folder, set()), f"{module} imports {sorted(hinted)} for types"


def test_no_two_modules_import_each_other_even_through_others() -> None:
    graph = {module_of(path): package_imports(path)[0] for path in SOURCES}
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            pytest.fail("import cycle: " + " -> ".join([*trail[trail.index(module) :], module]))
        if module in done or module not in graph:
            return
        for target in sorted(graph[module]):
            visit(target, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_the_component_reaches_the_verification_resource_but_never_the_server_that_serves_it() -> None:
    reached = set().union(*(package_imports(path)[0] for path in (ROOT / "component").glob("*.py")))
    assert "zitadel_bootstrap.provider.verification" in reached
    assert not {"zitadel_bootstrap.provider.server", "zitadel_bootstrap.provider.main"} & reached


@pytest.mark.parametrize(
    "path",
    [*sorted((ROOT / "verification").glob("*.py")), ROOT / "key_schedule" / "plan.py", LIMITS, ROOT / "clock.py"],
    ids=lambda path: module_of(path),
)
def test_the_verifier_library_and_the_key_arithmetic_import_no_pulumi(path: Path) -> None:
    _, _, outside = package_imports(path)
    assert not outside & PULUMI_PACKAGES, f"{module_of(path)} imports {sorted(outside & PULUMI_PACKAGES)}"
