"""``fedmkt bench``: performance figures. Each command is a thin shell over its module's ``bench_*``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fedmkt.errors import FedMKTError

app = typer.Typer(no_args_is_help=True,
                  help="Benchmarks: alignment, communication, training step, scoring, scale; the GPU check.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object as the last line.")]


def _emit(result: dict[str, Any], as_json: bool) -> None:
    """The machine-readable result: one JSON object on the last line of output."""
    if as_json:
        print(json.dumps(result))


@app.command()
def align(
    model_a: Annotated[str, typer.Option("--model-a", help="First model: short name, tiny-..., or folder.")],
    model_b: Annotated[str, typer.Option("--model-b", help="Second model: short name, tiny-..., or folder.")],
    task: Annotated[
        str | None, typer.Option(help="Public samples' task (default: arc_easy; tiny_qa for tiny models).")
    ] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Public samples to align.")] = 200,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Entries per distribution row.")] = 128,
    max_length: Annotated[int, typer.Option(min=8, help="Encoding length of the public samples.")] = 256,
    workers: Annotated[int, typer.Option(help="Threads for the edit-distance search (-1: all cores).")] = -1,
    as_json: JsonOption = False,
) -> None:
    """Vocabulary maps from an empty cache, then cold and warm alignment of N samples, both ways."""
    from fedmkt.bench.align import bench_align

    console = Console()
    r = bench_align(model_a, model_b, task=task, n=n, top_k=top_k, max_length=max_length, workers=workers)
    table = Table("", "map s", "cold s", "cold /s", "warm s", "warm /s", "hit ms", "exact/edit", "matched",
                  title=f"{r['samples']} {r['task']} samples, top-{r['top_k']}",
                  caption=f"A = {model_a}, B = {model_b}; /s: samples per second; hit ms: warm ms per sample")
    for d, label in (("a_to_b", "A->B"), ("b_to_a", "B->A")):
        cold, warm, cov = r["align_cold_seconds"][d], r["align_warm_seconds"][d], r["coverage"][d]
        table.add_row(
            label, f"{r['vocab_map_seconds'][d]:.2f}", f"{cold:.3f}", f"{r['samples'] / max(cold, 1e-9):,.0f}",
            f"{warm:.3f}", f"{r['samples'] / max(warm, 1e-9):,.0f}", f"{r['cache_hit_ms_per_sample'][d]:.3f}",
            f"{cov['exact']} / {cov['edit']}", f"{r['matched_rows'][d]:.1%}",
        )
    console.print(table)
    _emit(r, as_json)


@app.command()
def comm(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Experiment YAML.")] = None,
    preset: Annotated[str | None, typer.Option(help="A packaged preset instead of --config.")] = None,
    experiment: Annotated[
        str | None, typer.Option(help="Which experiment of a multi-experiment file (default: the first).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Bytes per round of our top-k messages vs LoRA, full model and FATE-LLM's pickled logits."""
    from fedmkt.bench.comm import bench_comm
    from fedmkt.config import load_configs, load_preset

    if (config is None) == (preset is None):
        raise FedMKTError("bench comm: give exactly one of --config or --preset")
    configs = load_configs(config) if config is not None else load_preset(preset or "")
    chosen = [c for c in configs if experiment in (None, c.name)]
    if not chosen:
        raise FedMKTError(f"bench comm: no experiment {experiment!r}; have {[c.name for c in configs]}")
    r = bench_comm(chosen[0])
    console = Console()
    table = Table("direction", "ours", "FATE-LLM pickle", "reference / ours", "LoRA (FedAvg)", "full model",
                  "ours, answer positions", "ours, all positions",
                  title=f"{r['name']}: {r['public_size']} public samples, top-{r['top_k']}, {r['clients']} clients, "
                        f"kd_positions {r['kd_positions']}")
    for d in ("up", "down", "round"):
        b = r[d]
        table.add_row(d, _size(b["ours"]), _size(b["reference"]), f"{b['ratio']:.1f}x",
                      _size(b["lora"]), _size(b["model"]), _size(b["ours_answer"]), _size(b["ours_all"]))
    console.print(table)
    _emit(r, as_json)


def _size(nbytes: int) -> str:
    n = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def _register_step_and_eval() -> None:
    """``step``, ``eval``, ``precision``, ``scale`` and ``gpu-check`` live in their own modules (they load models);
    one ``fedmkt bench`` group."""
    from fedmkt.bench.gpu_commands import gpu_check
    from fedmkt.bench.scale_commands import scale
    from fedmkt.bench.step_commands import eval_, precision, step

    app.command(name="step")(step)
    app.command(name="eval")(eval_)
    app.command(name="precision")(precision)
    app.command(name="scale")(scale)
    app.command(name="gpu-check")(gpu_check)


_register_step_and_eval()
