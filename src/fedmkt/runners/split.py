"""From a config to the run's data: the task's examples split into public, private and eval."""

from __future__ import annotations

from dataclasses import replace

from fedmkt.config import ExperimentConfig
from fedmkt.data.partition import FederatedSplit, make_federated_split
from fedmkt.data.tasks import get_task
from fedmkt.errors import FedMKTError


def build_split(config: ExperimentConfig) -> FederatedSplit:
    """Load the task and split it as ``config.data`` says (seeded, reproducible).

    With ``eval.split: dev`` the dev slice (held out of the training data) is what gets scored, so
    hyperparameters are chosen without ever looking at the eval set.
    """
    if config.eval.split == "dev" and config.data.dev_size == 0:
        raise FedMKTError("eval.split: dev needs a dev slice; set data.dev_size to 1 or more")
    task = get_task(config.task)
    train = task.load(task.train_split)
    eval_pool = task.load(task.eval_split)
    d = config.data
    split = make_federated_split(
        train,
        eval_pool,
        n_clients=len(config.clients),
        public_size=d.public_size,
        private_size=d.private_size,
        eval_size=d.eval_size,
        dev_size=d.dev_size,
        scheme=d.partition,
        alpha=d.dirichlet_alpha,
        seed=config.seed,
    )
    return replace(split, eval=split.dev) if config.eval.split == "dev" else split


def infer_scenario(config: ExperimentConfig) -> str:
    """The paper's three settings: one client, identical clients, or different clients."""
    if len(config.clients) == 1:
        return "one-to-one"
    if len({c.model for c in config.clients}) == 1:
        return "homogeneous"
    return "heterogeneous"
