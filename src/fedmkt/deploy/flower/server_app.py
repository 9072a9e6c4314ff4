"""The FedMKT ServerApp: ``main(grid, context)`` runs the rounds of ``FlowerFederation``.

The SuperLink starts it (``flwr-serverapp``) for each ``flwr run``; it reads the run config
(``fedmkt.deploy.flower.settings``), builds the server LLM exactly as the in-process runner
does, and writes the run folder (``metrics.jsonl``, ``comm.jsonl``, ``results.json``,
``results.md``, the server's adapters) on the SuperLink host.
"""

from __future__ import annotations

from logging import ERROR, INFO

from flwr.app import Context
from flwr.common import log as flwr_log
from flwr.serverapp import Grid, ServerApp

from fedmkt.deploy.flower.federation import FlowerFederation
from fedmkt.deploy.flower.settings import Settings
from fedmkt.errors import FedMKTError

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run FedMKT over the grid's SuperNodes; a ``FedMKTError`` ends the run with one logged line."""
    settings = Settings.from_run_config(context.run_config, grid.run.run_id)
    flwr_log(INFO, "fedmkt: %s of %s, run folder %s", settings.method, settings.experiment, settings.out)
    try:
        rows = FlowerFederation(grid, settings).run()
    except FedMKTError as err:
        flwr_log(ERROR, "fedmkt: %s", err)
        raise
    flwr_log(INFO, "fedmkt: finished with %d result rows in %s", len(rows), settings.out)
