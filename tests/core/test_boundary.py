"""The algorithm core stays a library: no CLI, UI or federated-runtime imports."""

from __future__ import annotations

import subprocess
import sys

MODULES = ("topk", "messages", "message_checks", "selection", "losses")
FORBIDDEN = ("typer", "rich", "flwr", "fedmkt.runners", "fedmkt.cli", "transformers")


def test_core_modules_import_no_cli_runtime_or_model_library():
    imports = "; ".join(f"import fedmkt.core.{name}" for name in MODULES)
    code = f"import sys; {imports}; print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
