"""From a config to the run's data: the task's examples split into public, private and eval."""

from __future__ import annotations

from dataclasses import replace

from fedmkt.config import ExperimentConfig
from fedmkt.data.partition import FederatedSplit, NotEnoughData, make_federated_split
from fedmkt.data.tasks import Task, get_task
from fedmkt.errors import FedMKTError


def build_split(config: ExperimentConfig) -> FederatedSplit:
    """Load the task and split it as ``config.data`` says (seeded, reproducible).

    With ``eval.split: dev`` the dev slice (held out of the training data) is what gets scored, so
    hyperparameters are chosen without ever looking at the eval set. A size the task cannot give
    is one line naming the config fields and what the task's split holds.
    """
    if config.eval.split == "dev" and config.data.dev_size == 0:
        raise FedMKTError("eval.split: dev needs a dev slice; set data.dev_size to 1 or more")
    task = get_task(config.task)
    train = task.load(task.train_split)
    eval_pool = task.load(task.eval_split)
    d = config.data
    try:
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
    except NotEnoughData as short:
        raise FedMKTError(_in_config_terms(short, config, task)) from None
    return replace(split, eval=split.dev) if config.eval.split == "dev" else split


def _in_config_terms(short: NotEnoughData, config: ExperimentConfig, task: Task) -> str:
    """``short`` as the config's fields and the task's split: what was asked, what there is, what fits."""
    where = f"in {config.task_label}'s {task.eval_split if short.pool == 'eval' else task.train_split} split"
    if short.pool == "eval":
        return (f"data.eval_size: {short.requested} requested, {short.available} available {where}; "
                f"expected at most {short.available} (null takes them all)")
    held = f" once the {short.held_out} eval examples are taken out of it" if short.held_out else ""
    return (f"data.public_size, data.private_size, data.dev_size: {short.detail} = {short.requested} examples "
            f"requested, {short.available} available {where}{held}; expected sizes that add up to at most "
            f"{short.available} (null shares what is left)")


def infer_scenario(config: ExperimentConfig) -> str:
    """The paper's three settings: one client, identical clients, or different clients."""
    if len(config.clients) == 1:
        return "one-to-one"
    if len({c.model for c in config.clients}) == 1:
        return "homogeneous"
    return "heterogeneous"
