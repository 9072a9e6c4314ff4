"""The import contracts in pyproject.toml ([tool.importlinter]) hold, and they catch what they name.

The positive check runs ``lint-imports`` on the real package; each negative one copies the package
to a temporary folder, adds one import that breaks a rule, and runs the same contracts on the copy
(the copy comes first on PYTHONPATH). The added modules are new files that no list names, so a
passing negative test also shows the contracts cover a whole package, not chosen modules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "fedmkt"

LAYERS = "fedmkt layers: nothing imports upward"
CORE = "fedmkt.core is a library: no Flower, drivers, UI or asset registry"
CORE_MATHS = "The exchange maths (top-k, messages, selection, losses) import no model library"
FLOWER = "Only fedmkt.deploy imports Flower"
FEDERATION = "fedmkt.federation is transport-free: no Flower, drivers, log or ledger"
CONTRACTS = (LAYERS, CORE, CORE_MATHS, FLOWER, FEDERATION)


def lint_imports(src: Path, config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the venv's import-linter on the package under ``src`` with the contracts in ``config``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run(
        [sys.executable, "-c", code, "--no-cache", "--no-logo", str(config)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


def verdict(output: str, contract: str) -> str:
    """KEPT or BROKEN as the summary line for ``contract`` reports it."""
    lines = [line for line in output.splitlines() if line.startswith(contract + " ")]
    assert lines, f"contract {contract!r} was not checked:\n{output}"
    return "BROKEN" if "BROKEN" in lines[0] else "KEPT"


def test_the_real_package_keeps_every_contract():
    result = lint_imports(ROOT / "src", ROOT / "pyproject.toml", ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for contract in CONTRACTS:
        assert verdict(result.stdout, contract) == "KEPT"


# case: (text appended to files of the copied package, created if new; contracts that must break; what the report names)
VIOLATIONS: dict[str, tuple[dict[str, str], set[str], str]] = {
    "core imports a runner": (
        {"core/alignment/new_step.py": "from fedmkt.runners import progress\n"},
        {LAYERS, CORE}, "fedmkt.core.alignment.new_step -> fedmkt.runners.progress",
    ),
    "core reaches the CLI through a lower module": (
        {"training/new_helper.py": "import fedmkt.cli\n",
         "core/new_step.py": "from fedmkt.training import new_helper\n"},
        {LAYERS, CORE}, "fedmkt.core.new_step -> fedmkt.training.new_helper",
    ),
    "the exchange maths import transformers": (
        {"core/topk.py": "\nimport transformers\n"},
        {CORE_MATHS}, "fedmkt.core.topk -> transformers",
    ),
    "data imports Flower": (
        {"data/new_loader.py": "import flwr\n"},
        {FLOWER}, "fedmkt.data.new_loader -> flwr",
    ),
    "a round step imports the runner that drives it": (
        {"federation/new_step.py": "from fedmkt.runners import checkpoint\n"},
        {LAYERS, FEDERATION}, "fedmkt.federation.new_step -> fedmkt.runners.checkpoint",
    ),
    "a round step writes the run's log itself": (
        {"federation/new_step.py": "from fedmkt.report import events\n"},
        {FEDERATION}, "fedmkt.federation.new_step -> fedmkt.report.events",
    ),
    "a package no layer places": (
        {"plugins/__init__.py": ""},
        {LAYERS}, "fedmkt.plugins",
    ),
}


@pytest.mark.parametrize("case", list(VIOLATIONS))
def test_a_deliberate_violation_breaks_the_contract_that_names_it(tmp_path: Path, case: str):
    edits, broken, named = VIOLATIONS[case]
    copy = tmp_path / "src" / "fedmkt"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for relative, text in edits.items():
        target = copy / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a") as handle:
            handle.write(text)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")

    result = lint_imports(tmp_path / "src", tmp_path / "pyproject.toml", tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for contract in CONTRACTS:
        assert verdict(result.stdout, contract) == ("BROKEN" if contract in broken else "KEPT"), output
    assert named in output, output
