"""``fedmkt deploy``: certificates, node keys, the Flower app folder, and a local test federation.

Every command needs the ``flower`` extra (``pip install 'fedmkt[flower]'``); without it each one
stops with a one-line error, and ``fedmkt --help`` still works (imports happen inside commands).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fedmkt.errors import FedMKTError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console()

Experiment = Annotated[str, typer.Option(help="preset:<name> or an experiment YAML file.")]
ExperimentName = Annotated[str, typer.Option(
    help="Which experiment of a suite (empty: the file's only one; tiny-heterogeneous for preset:tiny).")]
Method = Annotated[str, typer.Option(help="FedMKT, FedMKT-FedAvg, or the federated baselines LLM2SLM, FedAvg.")]
Timeout = Annotated[float, typer.Option(help="Seconds the server waits for the replies of one step.")]
MinClients = Annotated[int, typer.Option(help="Stop the run when fewer clients are left in a step.")]
ClientKeysOption = Annotated[str, typer.Option(
    "--client-keys", help="Folder on the SuperLink host with each client's public key as <client>.pub: a node "
                          "serves only the client whose key it holds (required unless --trust-client-names).")]
TrustNames = Annotated[bool, typer.Option(
    "--trust-client-names", help="Register nodes by the client they claim, unverified (no --client-keys).")]


def _need_flower() -> None:
    try:
        import flwr  # noqa: F401
    except ImportError:
        raise FedMKTError("fedmkt deploy needs the flower extra: pip install 'fedmkt[flower]'") from None


@app.command()
def certs(
    folder: Annotated[Path, typer.Argument(help="Where to write ca.crt, ca.key, server.pem, server.key.")],
    host: Annotated[list[str] | None, typer.Option(help="SuperLink address (repeat); default 127.0.0.1, localhost.")]
    = None,
    days: Annotated[int, typer.Option(help="Validity in days.")] = 365,
) -> None:
    """A CA and the SuperLink's TLS certificate for the addresses nodes dial."""
    _need_flower()
    from fedmkt.deploy.certs import make_tls_files

    files = make_tls_files(folder, host or ["127.0.0.1", "localhost"], days=days)
    console.print(f"CA {files.ca_cert} (give it to every node), server certificate {files.server_cert}, "
                  f"key {files.server_key} (stay on the SuperLink host)")


@app.command("node-key")
def node_key(
    folder: Annotated[Path, typer.Argument(help="Where to write NAME.key and NAME.pub.")],
    name: Annotated[str, typer.Argument(help="The node's name (file names and key comment).")],
) -> None:
    """A SuperNode's key pair: the private key stays on the node, the .pub file gets registered."""
    _need_flower()
    from fedmkt.deploy.certs import make_node_keys

    keys = make_node_keys(folder, name)
    console.print(f"private key {keys.private} (node only); register {keys.public} with "
                  f"`flwr supernode register {keys.public} <connection>`")


@app.command("app")
def app_folder(
    folder: Annotated[Path, typer.Argument(help="The app folder to write (a pyproject.toml).")],
    experiment: Experiment = "preset:tiny",
    experiment_name: ExperimentName = "",
    method: Method = "FedMKT",
    out: Annotated[str, typer.Option(help="Run folder on the SuperLink host (empty: runs/flower-<run id>).")] = "",
    min_clients: MinClients = 2,
    timeout: Timeout = 600.0,
    client_keys: ClientKeysOption = "",
    trust_client_names: TrustNames = False,
) -> None:
    """The Flower app folder that `flwr run FOLDER <connection>` submits, checked as the ServerApp will check it.

    Write it on the SuperLink host: the experiment, the client keys and the run folder are stored as
    absolute paths there, and whatever the ServerApp would refuse stops this command instead.
    """
    _need_flower()
    from fedmkt.deploy.flower.project import write_app
    from fedmkt.deploy.run_config import checked_run_config

    if not client_keys and not trust_client_names:
        raise FedMKTError("--client-keys: not set; a Flower run refuses to start without the folder (on the "
                          "SuperLink host) of each client's public key as <client>.pub, or --trust-client-names "
                          "to register nodes by the client they claim, unverified")
    checked = checked_run_config(experiment=experiment, experiment_name=experiment_name, method=method, out=out,
                                 min_clients=min_clients, timeout=timeout, client_keys_folder=client_keys,
                                 trust_client_names=trust_client_names, show_progress=console.is_terminal)
    write_app(folder, checked.values)
    config = checked.config
    console.print(f"wrote {folder.resolve() / 'pyproject.toml'}: {method} of experiment {config.name!r} "
                  f"({_count(len(config.clients), 'client')}, {_count(config.fedmkt.rounds, 'round')}), checked as "
                  f"the ServerApp will check it; run it with: flwr run {folder} <connection> --stream")
    if trust_client_names:
        console.print("[yellow]--trust-client-names: nodes are registered by the client they claim, unverified[/]")


@app.command()
def local(
    workdir: Annotated[Path, typer.Option(help="Certificates, keys, logs and node caches go here.")]
    = Path("runs/flower-local"),
    experiment: Experiment = "preset:tiny",
    experiment_name: ExperimentName = "",
    method: Method = "FedMKT",
    timeout: Timeout = 600.0,
    min_clients: MinClients = 2,
) -> None:
    """A whole federation on 127.0.0.1: SuperLink + one SuperNode per client, TLS and node auth, one run.

    Each client's node gets its own key pair (keys/<client>.key/.pub): registered with the SuperLink and
    named as that client's key in the run config (client-keys), so a node serves only its own client.
    The run's phases and rounds show on the console; the run folder gets results and plots/.
    """
    _need_flower()
    from rich.markdown import Markdown

    from fedmkt.deploy.flower.project import write_app
    from fedmkt.deploy.local import LocalFederation
    from fedmkt.deploy.run_config import checked_run_config
    from fedmkt.deploy.watch import watch
    from fedmkt.report.model_card import write_adapter_cards
    from fedmkt.report.run_plots import plots_from_results

    workdir = workdir.resolve()
    out = workdir / "run"
    checked = checked_run_config(experiment=experiment, experiment_name=experiment_name, method=method,
                                 out=str(out), min_clients=min_clients, timeout=timeout, keys_required=False,
                                 show_progress=console.is_terminal)
    config = checked.config
    console.print(f"{method} of experiment {config.name!r}: {_count(len(config.clients), 'client')}, "
                  f"{_count(config.fedmkt.rounds, 'round')}; workdir {workdir}")
    app_dir = write_app(workdir / "app")
    start = time.perf_counter()
    with LocalFederation(workdir) as fed:
        with console.status("starting the SuperLink (TLS, node authentication)"):
            fed.start_superlink()
        for client in config.clients:
            with console.status(f"registering {client.name}'s key and starting its SuperNode"):
                keys = fed.node_keys(client.name)
                fed.register(keys)
                fed.start_supernode(client.name, keys, {"client": client.name,
                                                        "cache": str(workdir / "nodes" / client.name / "cache")})
        console.print(f"SuperLink on {fed.address}, {len(config.clients)} SuperNodes; logs in {fed.logs}")
        run = fed.run_app(app_dir, {**checked.values, "client-keys": str(fed.keys_folder)})
        code = watch(run, out / "metrics.jsonl", console, config.fedmkt.rounds)
    if code != 0 or not (out / "results.json").is_file():
        raise FedMKTError(f"the Flower run failed (flwr run exit {code}){_server_error(workdir / 'logs')}; "
                          f"see {workdir / 'logs'}")
    plots = plots_from_results(out)
    write_adapter_cards(out)
    console.print(Markdown((out / "results.md").read_text(encoding="utf-8")))
    console.print(f"done in {time.perf_counter() - start:.0f} s; results in {out / 'results.md'}, "
                  f"{len(plots)} plots in {out / 'plots'}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _server_error(logs: Path) -> str:
    """The ServerApp's own one-line error from the ``flwr run --stream`` log, if it logged one."""
    log = logs / "flwr-run.log"
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    found = [line.split("fedmkt: ", 1)[1].strip() for line in text.splitlines()
             if "ERROR" in line and "fedmkt: " in line]
    return f": {found[-1]}" if found else ""


@app.command()
def prune(
    cache: Annotated[Path, typer.Argument(help="The SuperNode's cache folder (its `cache` node-config key).")],
    older_than: Annotated[float, typer.Option(help="Remove runs whose files are unchanged for this many days.")]
    = 30.0,
    keep: Annotated[int, typer.Option(help="Always keep this many of the newest runs.")] = 1,
    dry_run: Annotated[bool, typer.Option(help="List what would be removed, remove nothing.")] = False,
) -> None:
    """List a node's run state folders and remove the stale ones (the alignment cache stays)."""
    from datetime import timedelta

    from rich.table import Table

    from fedmkt.assets.progress import human_bytes
    from fedmkt.deploy.node_runs import node_runs, remove_runs, stale_runs

    if older_than < 0:
        raise FedMKTError(f"--older-than: expected 0 or more days, got {older_than}")
    runs = node_runs(cache)
    stale = stale_runs(runs, timedelta(days=older_than), keep)
    table = Table("run key", "clients", "last change (UTC)", "size", "action")
    for run in runs:
        action = ("would remove" if dry_run else "removed") if run in stale else "kept"
        table.add_row(run.key, ", ".join(run.clients), f"{run.last_change:%Y-%m-%d %H:%M}",
                      human_bytes(run.size_bytes), action)
    freed = sum(run.size_bytes for run in stale) if dry_run else remove_runs(stale)
    console.print(table if runs else f"no run state under {cache / 'runs'}")
    console.print(f"{len(stale)} of {len(runs)} runs {'would be ' if dry_run else ''}removed, "
                  f"{human_bytes(freed)} {'to free' if dry_run else 'freed'}")
