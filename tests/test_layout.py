"""The layout rules that keep the folder tree the architecture diagram (docs/ARCHITECTURE.md).

import-linter checks the layering (``pyproject.toml``); these check what it cannot: how many
modules sit directly in ``agent/``, that every subsystem is a package with a public surface,
and that nothing reaches into another package's private modules or names.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = ("agent", "graphs", "tools")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files() -> Iterator[Path]:
    for top in CODE:
        yield from sorted((ROOT / top).rglob("*.py"))


def imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, names) of every import, deferred ones included."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            yield node.lineno, module, [a.name for a in node.names]


def owner(private_module: str) -> str:
    """The package a ``_private`` module belongs to: ``agent.store._x`` -> ``agent.store``."""
    parts = private_module.split(".")
    first_private = next(i for i, p in enumerate(parts) if p.startswith("_"))
    return ".".join(parts[:first_private])


def test_agent_has_at_most_12_modules_and_at_least_6_subpackages() -> None:
    modules = sorted(p.name for p in (ROOT / "agent").glob("*.py"))
    packages = sorted(p.parent.name for p in (ROOT / "agent").glob("*/__init__.py"))
    assert len(modules) <= 12, modules
    assert len(packages) >= 6, packages


@pytest.mark.parametrize(
    "init", sorted((ROOT / "agent").glob("*/__init__.py")), ids=lambda p: p.parent.name
)
def test_every_subpackage_has_a_short_documented_public_surface(init: Path) -> None:
    tree = ast.parse(init.read_text())
    assert ast.get_docstring(tree), f"{init}: say in a docstring what the package owns"
    names = [
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    ]
    assert "__all__" in names, f"{init}: list the public names in __all__"
    assert len(init.read_text().splitlines()) <= 80, f"{init}: keep the surface small"


def test_no_module_imports_another_packages_private_modules_or_names() -> None:
    offences = []
    for path in python_files():
        me = module_name(path)
        for line, module, names in imports(path):
            if module.split(".")[0] not in CODE:
                continue
            targets = [module] + [f"{module}.{n}" for n in names]
            for target in targets:
                if not any(p.startswith("_") and p != "__init__" for p in target.split(".")):
                    continue
                home = owner(target)
                if me != home and not me.startswith(home + "."):
                    offences.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not offences, "\n".join(offences)


def test_graphs_and_tools_use_public_surfaces_only() -> None:
    """They import packages (``agent.tooling``) or top-level modules (``agent.errors``), never a
    package's inner modules."""
    offences = []
    for top in ("graphs", "tools"):
        for path in sorted((ROOT / top).rglob("*.py")):
            for line, module, _names in imports(path):
                parts = module.split(".")
                if parts[0] != "agent" or len(parts) < 3:
                    continue
                offences.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not offences, "\n".join(offences)


def test_import_linter_contracts_hold() -> None:
    """The layering in pyproject.toml: front ends > API > graphs, tools > subsystems > base."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.fail("lint-imports is missing: install the dev extra (pip install -e '.[dev]')")
    done = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
