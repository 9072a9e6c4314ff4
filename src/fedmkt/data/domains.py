"""The split of a domain federation: each client's private data from its own task(s).

Each domain (one task) is split on its own by :func:`~fedmkt.data.partition.make_federated_split`,
its private sets going to the clients that hold it (in client order), with the run's seed: a
domain's eval set, public share and private chunks are the ones a one-task run of that task with
the same sizes and seed would draw, so a domain run is scored on the same questions as the
one-task runs beside it. A domain no client holds gives only its public share and its eval set.

The run's split is the union: the public set is every domain's share (domain order), a client's
private data is its chunks of the domains it holds, the eval set every domain's; ``domains``
keeps each domain's own split, so scoring can take each domain on its own with its metric.
Every part stays disjoint: within a domain by construction, across domains by uid (checked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fedmkt.data.example import Example
from fedmkt.data.partition import DomainPart, FederatedSplit, NotEnoughData, Scheme, make_federated_split
from fedmkt.errors import FedMKTError


@dataclass(frozen=True)
class DomainPools:
    """One domain's data and sizes as the config gives them (``None``: an even share, as for one task)."""

    label: str
    train: list[Example]
    eval_pool: list[Example]
    public_size: int | None
    private_size: int | None
    eval_size: int | None


class DomainShort(NotEnoughData):
    """A domain's pools cannot give its sizes; ``index`` is the domain's place in the run's list."""

    def __init__(self, short: NotEnoughData, index: int, label: str) -> None:
        super().__init__(str(short), pool=short.pool, requested=short.requested, available=short.available,
                         detail=short.detail, held_out=short.held_out)
        self.index, self.label = index, label


def make_domain_split(
    domains: Sequence[DomainPools], holdings: Sequence[Sequence[int]], *, dev_size: int = 0,
    scheme: Scheme = "iid", alpha: float = 0.5, seed: int = 0,
) -> FederatedSplit:
    """Split each domain among the clients that hold it; ``holdings[c]`` lists client ``c``'s domain indices.

    Raises :class:`DomainShort` (naming the domain) when a domain's pools cannot give its sizes.
    """
    parts: list[DomainPart] = []
    for index, pools in enumerate(domains):
        holders = tuple(c for c, held in enumerate(holdings) if index in held)
        try:
            split = make_federated_split(
                pools.train, pools.eval_pool, n_clients=len(holders), public_size=pools.public_size,
                private_size=pools.private_size, eval_size=pools.eval_size, scheme=scheme, alpha=alpha, seed=seed,
                dev_size=dev_size,
            )
        except NotEnoughData as short:
            raise DomainShort(short, index, pools.label) from None
        parts.append(DomainPart(pools.label, split, holders))
    return combine(parts, len(holdings))


def combine(parts: Sequence[DomainPart], n_clients: int) -> FederatedSplit:
    """The run's split from each domain's (see the module doc); uids must not repeat across domains."""
    private: list[list[Example]] = [[] for _ in range(n_clients)]
    for part in parts:
        for chunk, client in zip(part.split.private, part.holders, strict=True):
            private[client] += chunk
    split = FederatedSplit(
        public=[e for p in parts for e in p.split.public], private=private,
        eval=[e for p in parts for e in p.split.eval], dev=[e for p in parts for e in p.split.dev],
        domains=tuple(parts),
    )
    owner: dict[str, str] = {}
    for part in parts:
        for example in (*part.split.public, *part.split.eval, *part.split.dev, *(e for c in part.split.private
                                                                                  for e in c)):
            if owner.setdefault(example.uid, part.label) != part.label:
                raise FedMKTError(f"domains {owner[example.uid]!r} and {part.label!r} both hold uid {example.uid!r}; "
                                  "expected each domain's examples to have their own uids (two copies of one "
                                  "dataset?)")
    return split
