"""The suite's own rule (tests/conftest.py): a required extra that does not import fails the run, never skips.

Each case runs pytest in a child process on a one-test file that ``importorskip``s flwr, with a
stand-in ``flwr`` package first on the path: one that raises the way a broken install does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
BROKEN = 'raise ModuleNotFoundError("No module named \'grpc\'", name="grpc")\n'  # a dependency of flwr is gone


def _run(tmp_path: Path, broken: bool, require: str = "") -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_uses_flower.py").write_text(
        "import pytest\n\npytest.importorskip('flwr', reason='flwr is not installed')\n\n\ndef test_it():\n    pass\n"
    )
    path = [str(TESTS)]
    if broken:
        (tmp_path / "site" / "flwr").mkdir(parents=True)
        (tmp_path / "site" / "flwr" / "__init__.py").write_text(BROKEN)
        path.insert(0, str(tmp_path / "site"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "FEDMKT_REQUIRE_EXTRAS": require}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider", "test_uses_flower.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("require", ["", "flower"])
def test_a_broken_flower_install_fails_instead_of_skipping(tmp_path: Path, require: str) -> None:
    result = _run(tmp_path, broken=True, require=require)
    assert result.returncode != 0, result.stdout
    assert "the flower extra is required" in result.stdout and "No module named 'grpc'" in result.stdout
    assert "skipped" not in result.stdout.splitlines()[-1]


def test_a_working_flower_install_runs_the_test(tmp_path: Path) -> None:
    pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")
    result = _run(tmp_path, broken=False, require="flower")
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout
