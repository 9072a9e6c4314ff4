"""``fedmkt bench gpu-check`` (``make gpu-check``): the tiny preset and the default models, one round each, on the
GPU in bf16 against the CPU in fp32."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fedmkt.errors import FedMKTError


def gpu_check(
    out: Annotated[Path | None, typer.Option(help="Keep the four runs' folders here (default: a temporary one).")
                   ] = None,
    tolerance: Annotated[float, typer.Option(min=0.0, help="Points a trained row may differ by.")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object on the last line.")
                       ] = False,
) -> None:
    """Score rows of one round on the GPU (bf16, runtime.device cuda) within tolerance of the CPU's (fp32).

    Exits 2 with one line when torch sees no GPU, and when any row is out of tolerance.
    """
    from fedmkt.bench.gpu_check import gpu_check as check
    from fedmkt.bench.gpu_check import require_gpu

    require_gpu()  # before a temporary folder or a model
    with tempfile.TemporaryDirectory(prefix="fedmkt-gpu-check-") as folder:
        result = check(out or Path(folder), tolerance)
    table = Table("run", "method", "participant", "metric", "CPU fp32", "GPU bf16", "tolerance", "ok",
                  title=f"gpu-check on {result['gpu']}")
    for name, run in result["runs"].items():
        for row in run["rows"]:
            gpu = "missing" if row["gpu"] is None else f"{row['gpu']:.2f}"
            table.add_row(name, row["method"], row["participant"], row["metric"], f"{row['cpu']:.2f}", gpu,
                          f"{row['tolerance']:g}", "yes" if row["ok"] else "NO")
    Console().print(table)
    if as_json:
        print(json.dumps(result))
    if not result["ok"]:
        bad = [f"{n}/{r['method']}/{r['participant']}/{r['metric']}" for n, run in result["runs"].items()
               for r in run["rows"] if not r["ok"]]
        raise FedMKTError(f"bench gpu-check: {len(bad)} row(s) out of tolerance on the GPU: {', '.join(bad[:4])}")
