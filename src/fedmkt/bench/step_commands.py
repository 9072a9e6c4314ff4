"""``fedmkt bench step``, ``eval`` and ``precision``: the cost of KD (``step --dp``: of DP-SGD), the savings of
selected logits, bf16 autocast.

Each prints a table and, with ``--json``, one JSON object as its last line (for scripts). Options share
their names across ``fedmkt bench`` (``--batch-size`` as in the config's ``batch_size``, ``--top-k``,
``--device``, ``--json``).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fedmkt.errors import FedMKTError

app = typer.Typer(help="Benchmarks of a training step and of scoring.", no_args_is_help=True)

ModelOpt = Annotated[str, typer.Option("--model", help="Model: short name, folder or tiny-<arch>-<tok>.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object on the last line.")]
DeviceOpt = Annotated[str, typer.Option(help="Torch device (cpu, cuda).")]
BatchOpt = Annotated[int, typer.Option(help="Examples in the training batch.", min=1)]
SeqOpt = Annotated[int, typer.Option(help="Tokens per training example (prompts are cut to fit).", min=4)]
TopKOpt = Annotated[int, typer.Option("--top-k", help="KD target ids per answer position.", min=1)]
RepeatsOpt = Annotated[int, typer.Option(help="Timed steps per variant (median), after one warm-up.", min=1)]


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _show(headline: str, table: Table, figures: dict, as_json: bool) -> None:
    """A benchmark's headline and table, and with ``--json`` its figures as the last line (for scripts)."""
    console = Console()
    console.print(headline)
    console.print(table)
    if as_json:
        print(json.dumps(figures))


def _fmt(value: float | None, target: float | None = None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" + (f" (target <= {target:.2f})" if target is not None else "")


@app.command()
def step(
    model: ModelOpt,
    batch_size: BatchOpt = 8,
    seq: SeqOpt = 64,
    top_k: TopKOpt = 128,
    repeats: RepeatsOpt = 3,
    device: DeviceOpt = "cpu",
    as_json: JsonOpt = False,
    dp: Annotated[bool, typer.Option("--dp", help="Instead: a private SFT step without and with DP-SGD "
                                     "(per-example clipping and noise; needs the privacy extra).")] = False,
    noise_multiplier: Annotated[float, typer.Option(help="With --dp: the noise multiplier.", min=0.0)] = 1.0,
    max_grad_norm: Annotated[float, typer.Option(help="With --dp: the per-example clipping bound.", min=0.0)] = 1.0,
) -> None:
    """One LoRA SFT optimizer step against one SFT+KD step on the same batch: time and peak memory (``--dp``: a
    private step without and with DP-SGD)."""
    from fedmkt.models.loading import load_model_and_tokenizer
    from fedmkt.models.lora import attach_lora

    if dp:
        from fedmkt.privacy import require_opacus

        require_opacus("bench step --dp")
    base, tokenizer = load_model_and_tokenizer(model, device=device)
    lm = attach_lora(base, r=8, alpha=16, dropout=0.0)
    if dp:
        _dp_step(lm, tokenizer, model, batch_size, seq, repeats, noise_multiplier, max_grad_norm, as_json)
        return
    from fedmkt.bench.step import bench_step

    result = bench_step(lm, tokenizer, model, batch=batch_size, seq=seq, top_k=top_k, repeats=repeats)
    table = Table("", "SFT", "SFT + KD", "ratio")
    table.add_row("seconds (median)", f"{result.sft_seconds:.4f}", f"{result.kd_seconds:.4f}",
                  _fmt(result.time_ratio, result.time_ratio_target))
    table.add_row(f"peak memory ({result.memory_kind})", _mib(result.sft_peak_bytes), _mib(result.kd_peak_bytes),
                  _fmt(result.memory_ratio, result.memory_ratio_target))
    _show(f"[bold]{model}[/] on {result.task}: batch {result.batch} x {result.seq} tokens, "
          f"{result.answer_positions} answer positions, top-{result.top_k} KD targets",
          table, result.as_dict(), as_json)


def _dp_step(lm, tokenizer, model: str, batch_size: int, seq: int, repeats: int, noise: float, clip: float,
             as_json: bool) -> None:
    """``bench step --dp``: the figures of :func:`fedmkt.bench.dp_step.bench_dp_step`, as a table (and JSON)."""
    from fedmkt.bench.dp_step import bench_dp_step

    result = bench_dp_step(lm, tokenizer, model, batch=batch_size, seq=seq, repeats=repeats, noise_multiplier=noise,
                           max_grad_norm=clip)
    table = Table("", "plain SFT", "DP-SGD", "ratio")
    table.add_row("seconds per private step (median)", f"{result.plain_seconds:.4f}", f"{result.dp_seconds:.4f}",
                  _fmt(result.time_ratio))
    table.add_row(f"peak memory ({result.memory_kind})", _mib(result.plain_peak_bytes), _mib(result.dp_peak_bytes),
                  _fmt(result.memory_ratio))
    _show(f"[bold]{model}[/] on {result.task}: batch {result.batch} x {result.seq} tokens, DP-SGD with noise "
          f"multiplier {result.noise_multiplier:g}, clipping bound {result.max_grad_norm:g}",
          table, result.as_dict(), as_json)


@app.command(name="eval")
def eval_(
    model: ModelOpt,
    task: Annotated[str, typer.Option(help="Multiple-choice task (tiny_qa, arc_easy, ...).")] = "arc_easy",
    n: Annotated[int, typer.Option(help="Questions to score (the first n of the test split).", min=1)] = 40,
    batch_size: Annotated[int, typer.Option(help="Questions per forward pass.", min=1)] = 8,
    device: DeviceOpt = "cpu",
    as_json: JsonOpt = False,
) -> None:
    """Log-likelihood scoring with logits only at continuation positions against full-vocabulary logits."""
    from fedmkt.bench.eval import bench_eval
    from fedmkt.data.tasks import get_task
    from fedmkt.models.loading import load_model_and_tokenizer

    examples = get_task(task).load("test")[:n]
    if not examples:
        raise FedMKTError(f"bench eval: task {task!r} has an empty test split")
    lm, tokenizer = load_model_and_tokenizer(model, device=device)
    result = bench_eval(lm, tokenizer, examples, model_name=model, task=task, batch_size=batch_size)
    table = Table("variant", "seconds", "ratio to full vocab", f"peak memory ({result.memory_kind})", "acc %")
    table.add_row("selected logits", f"{result.selected_seconds:.3f}", _fmt(result.selected_time_ratio),
                  _mib(result.selected_peak_bytes), f"{result.selected_accuracy:.1f}")
    table.add_row("selected + prefix cache", f"{result.selected_cached_seconds:.3f}",
                  _fmt(result.selected_cached_time_ratio), _mib(result.selected_cached_peak_bytes),
                  f"{result.selected_cached_accuracy:.1f}")
    table.add_row("full vocabulary", f"{result.full_vocab_seconds:.3f}", "1.000", _mib(result.full_vocab_peak_bytes),
                  f"{result.full_vocab_accuracy:.1f}")
    _show(f"[bold]{model}[/] on {task}: {result.n} questions; identical accuracy: "
          f"{result.identical_accuracy}",
          table, result.as_dict(), as_json)


@app.command()
def precision(
    model: ModelOpt,
    n: Annotated[int, typer.Option(help="Questions to score in each precision.", min=1)] = 40,
    batch_size: BatchOpt = 8,
    seq: SeqOpt = 128,
    top_k: TopKOpt = 128,
    repeats: RepeatsOpt = 3,
    device: DeviceOpt = "cpu",
    as_json: JsonOpt = False,
) -> None:
    """fp32 against bf16 autocast: SFT+KD step time, scoring time, accuracy and agreement."""
    from fedmkt.bench.precision import bench_precision
    from fedmkt.bench.step import bench_task_name
    from fedmkt.data.tasks import get_task
    from fedmkt.models.loading import load_model_and_tokenizer
    from fedmkt.models.lora import attach_lora

    task = get_task(bench_task_name(model))
    examples = task.load("test")[:n]
    base, tokenizer = load_model_and_tokenizer(model, device=device)
    lm = attach_lora(base, r=8, alpha=16, dropout=0.0)
    result = bench_precision(lm, tokenizer, model, task.load("train"), examples, batch=batch_size, seq=seq,
                             top_k=top_k, repeats=repeats)
    table = Table("", "fp32", "bf16 autocast", "speed-up")
    table.add_row("SFT+KD step seconds (median)", f"{result.step_seconds_fp32:.3f}",
                  f"{result.step_seconds_autocast:.3f}", _fmt(result.step_speedup))
    table.add_row(f"scoring {result.n} questions, seconds", f"{result.eval_seconds_fp32:.3f}",
                  f"{result.eval_seconds_autocast:.3f}", _fmt(result.eval_speedup))
    table.add_row("accuracy %", f"{result.accuracy_fp32:.1f}", f"{result.accuracy_autocast:.1f}", "")
    _show(f"[bold]{model}[/]: batch {result.batch} x {result.seq} tokens, top-{result.top_k}; "
          f"same choice on {result.prediction_agreement:.1f}% of questions",
          table, result.as_dict(), as_json)
