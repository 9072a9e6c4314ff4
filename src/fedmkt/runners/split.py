"""From a config to the run's data: the task's examples split into public, private and eval.

One task (``task:``) is split among the clients (``fedmkt.data.partition``); a domain federation
(``domains:``) splits each domain among the clients that list it (``fedmkt.data.domains``).
"""

from __future__ import annotations

from dataclasses import replace

from fedmkt.config import DataConfig, DomainConfig, ExperimentConfig
from fedmkt.data.domains import DomainPools, DomainShort, make_domain_split
from fedmkt.data.partition import DomainPart, FederatedSplit, NotEnoughData, make_federated_split
from fedmkt.data.tasks import Task, get_task
from fedmkt.errors import FedMKTError


def build_split(config: ExperimentConfig) -> FederatedSplit:
    """Load the task (or each domain's) and split it as ``config.data`` says (seeded, reproducible).

    With ``eval.split: dev`` the dev slice (held out of the training data) is what gets scored, so
    hyperparameters are chosen without ever looking at the eval set. A size the task cannot give
    is one line naming the config fields and what the task's split holds.
    """
    if config.eval.split == "dev" and config.data.dev_size == 0:
        raise FedMKTError("eval.split: dev needs a dev slice; set data.dev_size to 1 or more")
    split = _domain_split(config) if config.domains else _task_split(config)
    return _dev_scored(split) if config.eval.split == "dev" else split


def _task_split(config: ExperimentConfig) -> FederatedSplit:
    assert config.task is not None  # the config has task or domains
    task = get_task(config.task)
    d = config.data
    try:
        return make_federated_split(
            task.load(task.train_split),
            task.load(task.eval_split),
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
        raise FedMKTError(_in_config_terms(short, config.task_label, task, ("data.",) * 3, "null shares "
                                           "what is left")) from None


def _pools(domain: DomainConfig, data: DataConfig) -> DomainPools:
    task = get_task(domain.task)
    size = lambda own, default: default if own is None else own  # noqa: E731
    return DomainPools(domain.label, task.load(task.train_split), task.load(task.eval_split),
                       size(domain.public_size, data.public_size), size(domain.private_size, data.private_size),
                       size(domain.eval_size, data.eval_size))


def _domain_split(config: ExperimentConfig) -> FederatedSplit:
    labels = [d.label for d in config.domains]
    holdings = [[labels.index(name) for name in client.domains] for client in config.clients]
    d = config.data
    try:
        return make_domain_split([_pools(domain, d) for domain in config.domains], holdings, dev_size=d.dev_size,
                                 scheme=d.partition, alpha=d.dirichlet_alpha, seed=config.seed)
    except DomainShort as short:
        domain = config.domains[short.index]
        fields = tuple(f"domains.{short.index}." if own is not None else "data." for own in
                       (domain.public_size, domain.private_size, domain.eval_size))
        text = _in_config_terms(short, short.label, get_task(domain.task), fields,
                                "a domain's null size is data's, null there shares what is left")
        raise FedMKTError(f"domains.{short.index} ({short.label}): {text}") from None


def _in_config_terms(short: NotEnoughData, label: str, task: Task, prefixes: tuple[str, ...], null: str) -> str:
    """``short`` as the config's fields and the task's split: what was asked, what there is, what fits.

    ``prefixes`` says where each of public_size, private_size and eval_size was set (``data.`` or a domain's).
    """
    public, private, eval_ = (f"{p}{name}" for p, name in zip(prefixes, ("public_size", "private_size", "eval_size"),
                                                              strict=True))
    where = f"in {label}'s {task.eval_split if short.pool == 'eval' else task.train_split} split"
    if short.pool == "eval":
        return (f"{eval_}: {short.requested} requested, {short.available} available {where}; "
                f"expected at most {short.available} (null takes them all)")
    held = f" once the {short.held_out} eval examples are taken out of it" if short.held_out else ""
    return (f"{public}, {private}, data.dev_size: {short.detail} = {short.requested} examples "
            f"requested, {short.available} available {where}{held}; expected sizes that add up to at most "
            f"{short.available} ({null})")


def _dev_scored(split: FederatedSplit) -> FederatedSplit:
    """The split whose eval set is its dev slice (each domain's, in a domain federation)."""
    parts = tuple(DomainPart(p.label, replace(p.split, eval=p.split.dev), p.holders) for p in split.domains)
    return replace(split, eval=split.dev, domains=parts)


def infer_scenario(config: ExperimentConfig) -> str:
    """The paper's three settings: one client, identical clients, or different clients."""
    if len(config.clients) == 1:
        return "one-to-one"
    if len({c.model for c in config.clients}) == 1:
        return "homogeneous"
    return "heterogeneous"
