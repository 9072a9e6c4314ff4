"""The alignment core stays a library: no CLI, UI or federated-runtime imports."""

from __future__ import annotations

import subprocess
import sys


def test_core_alignment_imports_no_cli_or_runtime():
    code = (
        "import sys, fedmkt.core.alignment\n"
        "bad = [m for m in ('typer', 'rich', 'flwr', 'fedmkt.runners', 'fedmkt.cli') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
