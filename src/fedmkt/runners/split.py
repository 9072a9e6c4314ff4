"""From a config to the run's data: the task's examples split into public, private and eval."""

from __future__ import annotations

from fedmkt.config import ExperimentConfig
from fedmkt.data.partition import FederatedSplit, make_federated_split
from fedmkt.data.tasks import get_task


def build_split(config: ExperimentConfig) -> FederatedSplit:
    """Load the task and split it as ``config.data`` says (seeded, reproducible)."""
    task = get_task(config.task)
    train = task.load(task.train_split)
    eval_pool = task.load(task.eval_split)
    d = config.data
    return make_federated_split(
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


def infer_scenario(config: ExperimentConfig) -> str:
    """The paper's three settings: one client, identical clients, or different clients."""
    if len(config.clients) == 1:
        return "one-to-one"
    if len({c.model for c in config.clients}) == 1:
        return "homogeneous"
    return "heterogeneous"
