"""The package layout holds: one package per stage over a small shared base (docs/architecture.md).

Read from the source with ``ast`` (nothing is imported), every import statement counted, those
inside functions too:

- a stage (``ingest``, ``transform``, ``gate``, ``publish``, ``serve``, and the ``sample``
  generator) imports only ``orchestration.base`` and itself; stages link through asset keys;
- ``orchestration.base`` imports only itself;
- nothing in the package imports the command (``orchestration.cli``; its console script aside);
- Dagster is imported only where Dagster objects are defined: the top-level modules, each
  stage's ``assets.py`` and ``checks.py``, and three base modules (the resources, the review-year
  partitions, the run lineage); every other module is plain Python, tested without Dagster;
- no module is over 600 lines.

The last test runs the same checks on a small made-up package, so they are seen to fail.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "orchestration"
BASE = "base"
STAGES = ("ingest", "transform", "gate", "publish", "serve", "sample")
COMMAND = "orchestration.cli"
DAGSTER_ROOTS = ("dagster", "dagster_dbt", "dagster_duckdb", "dagster_webserver")
DAGSTER_MODULES_IN_PACKAGES = ("assets.py", "checks.py")
DAGSTER_MODULES_IN_BASE = ("resources.py", "partitions.py", "run_lineage.py")
MAX_LINES = 600


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. orchestration.publish.exports
    target: str  # what it imports, e.g. orchestration.base.settings
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, package: Path) -> list[Import]:
    """Every import of the file, relative ones resolved against its package."""
    name = module_name(path, package)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from orchestration.publish import exports` imports the module exports.
            found += [Import(name, f"{base}.{alias.name}", node.lineno) for alias in node.names]
            found.append(Import(name, base, node.lineno))
    return found


def modules(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


def owner(path: Path, package: Path) -> str | None:
    """The package directly under ``orchestration`` that holds ``path``; None at the top."""
    parts = path.relative_to(package).parts
    return parts[0] if len(parts) > 1 else None


def _is_in(target: str, package: str) -> bool:
    return target == package or target.startswith(package + ".")


def unknown_packages(package: Path) -> list[str]:
    return sorted(
        p.name
        for p in package.iterdir()
        if p.is_dir() and p.name != "__pycache__" and any(p.glob("*.py"))
        if p.name not in (BASE, *STAGES)
    )


def boundary_violations(package: Path) -> list[str]:
    root = package.name
    wrong = []
    for path in modules(package):
        home = owner(path, package)
        if home not in (BASE, *STAGES):
            continue
        allowed = (f"{root}.{BASE}",) if home == BASE else (f"{root}.{BASE}", f"{root}.{home}")
        for found in imports(path, package):
            inside = _is_in(found.target, root) and found.target != root
            if inside and not any(_is_in(found.target, a) for a in allowed):
                wrong.append(str(found))
    return sorted(set(wrong))


def command_importers(package: Path) -> list[str]:
    command = f"{package.name}.cli"
    return sorted(
        {
            str(found)
            for path in modules(package)
            for found in imports(path, package)
            if _is_in(found.target, command)
        }
    )


def dagster_outside_definitions(package: Path) -> list[str]:
    wrong = set()
    for path in modules(package):
        home = owner(path, package)
        if home is None:
            continue  # the top: definitions, jobs, sensors, schedules and the command
        if path.name in DAGSTER_MODULES_IN_PACKAGES and path.parent.parent == package:
            continue
        if home == BASE and path.name in DAGSTER_MODULES_IN_BASE:
            continue
        for found in imports(path, package):
            if any(_is_in(found.target, d) for d in DAGSTER_ROOTS):
                wrong.add(str(found))
    return sorted(wrong)


def oversized(package: Path) -> list[str]:
    return sorted(
        f"{path.relative_to(package.parent)}: {lines} lines"
        for path in modules(package)
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    )


def test_every_package_is_the_base_or_a_stage() -> None:
    assert unknown_packages(PACKAGE) == [], "add the package to BASE or STAGES with its rule"


def test_a_stage_imports_only_the_base_and_itself() -> None:
    assert boundary_violations(PACKAGE) == []


def test_nothing_imports_the_command() -> None:
    assert command_importers(PACKAGE) == []


def test_dagster_is_imported_only_where_dagster_objects_are_defined() -> None:
    assert dagster_outside_definitions(PACKAGE) == []


def test_no_module_is_over_600_lines() -> None:
    assert oversized(PACKAGE) == []


def test_the_console_script_is_the_only_way_in_to_the_command() -> None:
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert f'poverty-warehouse = "{COMMAND}:entry_point"' in pyproject


@pytest.fixture
def made_up_package(tmp_path: Path) -> Path:
    """A package that breaks every rule once."""
    package = tmp_path / "orchestration"
    files = {
        "__init__.py": "",
        "cli.py": "import dagster\n",
        "jobs.py": "from orchestration.cli import main\n",
        "base/__init__.py": "",
        "base/settings.py": "from orchestration.jobs import job\n",
        "base/resources.py": "import dagster\n",
        "ingest/__init__.py": "",
        "ingest/assets.py": "import dagster\nfrom orchestration.base import settings\n",
        "ingest/layout.py": "def f():\n    from dagster_dbt import dbt_assets\n",
        "publish/__init__.py": "",
        "publish/assets.py": "from orchestration.gate.assets import KEY\n",
        "publish/exports.py": "from ..gate import validation\n" + "x = 1\n" * MAX_LINES,
        "gate/__init__.py": "",
        "gate/validation.py": "from orchestration.publish import exports\n",
        "extras/__init__.py": "",
        "extras/thing.py": "",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    return package


def test_the_checks_find_what_they_forbid(made_up_package: Path) -> None:
    package = made_up_package
    assert unknown_packages(package) == ["extras"]
    assert boundary_violations(package) == [
        "orchestration.base.settings:1 imports orchestration.jobs",
        "orchestration.base.settings:1 imports orchestration.jobs.job",
        "orchestration.gate.validation:1 imports orchestration.publish",
        "orchestration.gate.validation:1 imports orchestration.publish.exports",
        "orchestration.publish.assets:1 imports orchestration.gate.assets",
        "orchestration.publish.assets:1 imports orchestration.gate.assets.KEY",
        "orchestration.publish.exports:1 imports orchestration.gate",
        "orchestration.publish.exports:1 imports orchestration.gate.validation",
    ]
    assert command_importers(package) == [
        "orchestration.jobs:1 imports orchestration.cli",
        "orchestration.jobs:1 imports orchestration.cli.main",
    ]
    assert dagster_outside_definitions(package) == [
        "orchestration.ingest.layout:2 imports dagster_dbt",
        "orchestration.ingest.layout:2 imports dagster_dbt.dbt_assets",
    ]
    assert oversized(package) == [f"orchestration/publish/exports.py: {MAX_LINES + 1} lines"]
