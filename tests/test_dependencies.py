"""Every third-party module that fedmkt imports is declared in pyproject.toml, where it is needed.

A module imported under a part of the package that needs an extra (``fedmkt.deploy``: the
flower extra; ``fedmkt.tracking``: the tracking extra) may be declared in that extra or in the
core dependencies; anywhere else it must be a core dependency, or a plain ``pip install fedmkt``
would break on import. Modules are mapped to their distributions with ``importlib.metadata.packages_distributions``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # the dev extra declares tomli for Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "fedmkt"
# extra -> subpackages of fedmkt that may import it
EXTRA_PARTS = {"flower": ("deploy",), "tracking": ("tracking",), "privacy": ("privacy",)}


def _imported_modules(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file, function-level ones included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {canonicalize_name(Requirement(r).name) for r in requirements}

    extras = {extra: names(reqs) for extra, reqs in project["optional-dependencies"].items()}
    return names(project["dependencies"]), extras


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> the fedmkt subpackages (first path part) that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        part = path.relative_to(PACKAGE).with_suffix("").parts[0]
        for module in _imported_modules(path):
            if module != "fedmkt" and module not in sys.stdlib_module_names:
                found.setdefault(module, set()).add(part)
    return found


def test_every_imported_third_party_module_is_declared_where_it_is_needed() -> None:
    core, extras = _declared()
    distributions = importlib.metadata.packages_distributions()
    problems = []
    for module, parts in sorted(_third_party_imports().items()):
        providers = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not providers:
            problems.append(f"{module} (imported by fedmkt.{', fedmkt.'.join(sorted(parts))}) is not installed")
            continue
        allowed = set(core)
        for extra, extra_parts in EXTRA_PARTS.items():
            if parts <= set(extra_parts):
                allowed |= extras[extra]
        if not providers & allowed:
            where = ", ".join(f"fedmkt.{p}" for p in sorted(parts))
            problems.append(f"{module} (distribution {', '.join(sorted(providers))}, imported by {where})")
    assert not problems, "imported but not declared in pyproject.toml: " + "; ".join(problems)


def test_the_import_scan_sees_function_level_imports() -> None:
    """``fedmkt.deploy.certs`` imports cryptography at module level, commands import flwr inside functions."""
    found = _third_party_imports()
    assert found["cryptography"] == {"deploy"} and "deploy" in found["flwr"]
    assert {"torch", "transformers", "numpy", "yaml"} <= set(found)
