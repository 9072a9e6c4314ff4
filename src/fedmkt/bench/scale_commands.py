"""``fedmkt bench scale``: peak memory and time per round as a federation grows, in one process."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fedmkt.errors import FedMKTError

Sizes = Annotated[str, typer.Option(help="Client counts, comma-separated ('' skips the family).")]


def _sizes(text: str, option: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise FedMKTError(f"bench scale {option}: {text!r} is not a comma-separated list of client counts") from None
    if any(n < 1 for n in sizes):
        raise FedMKTError(f"bench scale {option}: client counts must be at least 1, got {text!r}")
    return sizes


def _per_round(text: str | None) -> int | float | None:
    if text is None:
        return None
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise FedMKTError(f"bench scale --per-round: {text!r} is neither a count nor a fraction") from None


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f}"


def scale(
    tiny: Sizes = "1,4,16,64",
    smollm2: Sizes = "1,4,16",
    per_round: Annotated[str | None, typer.Option(
        help="fedmkt.clients_per_round of every point: a count or a fraction (default: all clients).")] = None,
    public: Annotated[int, typer.Option(min=1, help="Public samples.")] = 8,
    private: Annotated[int, typer.Option(min=1, help="Private samples per client.")] = 4,
    share_base: Annotated[bool, typer.Option(help="runtime.share_base (--no-share-base: a copy per participant).")
                          ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object on the last line.")
                       ] = False,
) -> None:
    """Peak tensor bytes and RSS, time per round per sampled client, the server's non-model overhead: 1 to 64 clients.

    Each point runs two rounds of FedMKT in its own process: round 1 timed, round 2 counting tensors
    (``fedmkt.bench.scale``). A quick look: ``--tiny 1,4 --smollm2 ''``.
    """
    import json

    from fedmkt.bench.scale import bench_scale

    asked = {"tiny": _sizes(tiny, "--tiny"), "smollm2": _sizes(smollm2, "--smollm2")}
    points = {name: sizes for name, sizes in asked.items() if sizes}
    if not points:
        raise FedMKTError("bench scale: no client counts given (--tiny and --smollm2 are both empty)")
    result = bench_scale(points, per_round=_per_round(per_round), public=public, private=private, share=share_base)
    table = Table("family", "clients", "drawn", "tensor peak MiB", "RSS peak MiB", "round s", "s / client",
                  "server overhead s", "share", title=f"FedMKT, {public} public, {private} private per client")
    for name, family in result["families"].items():
        for p in family["points"]:
            table.add_row(name, str(p["clients"]), str(p["sampled"]), _mib(p["tensor_peak_bytes"]),
                          _mib(p["peak_rss_bytes"]), f"{p['round_seconds']:.2f}",
                          f"{p['seconds_per_sampled_client']:.3f}", f"{p['server_overhead_seconds']:.3f}",
                          f"{p['server_overhead_share']:.1%}")
    Console().print(table)
    if as_json:
        print(json.dumps(result))
