"""Who sees which example: the public set, each client's private set, a dev slice and the eval set.

FedMKT needs a public set every party holds, one private set per client, and an eval set
nobody trains on. `make_federated_split` draws them from a task's train and eval pools:

* eval comes from ``eval_pool``; everything else comes from ``train`` minus the eval
  examples (matched by uid). When the two pools share uids (tasks such as RTE and XSum
  whose only labelled split serves as both) this carves the eval set out of the one pool;
* ``dev`` (``dev_size`` examples, default none) is held out of ``train`` for tuning and is
  disjoint from everything else, so tuning never touches the eval set;
* public and dev are uniform draws; private sets are IID chunks, or non-IID with a
  per-client Dirichlet(alpha) mix over ``Example.group`` (labels or subtasks); with no
  clients (a domain no client holds, ``fedmkt.data.domains``) there are none;
* a size of ``None`` means "share what is left evenly" among the parts left as ``None``:
  with both ``public_size`` and ``private_size`` unset, the public set and each client get
  ``len(train) // (n_clients + 1)`` examples: with four clients, one fifth each, the
  reference implementation's default. ``eval_size=None`` takes the whole eval pool, or,
  when the pools are one, an equal share alongside the other unset parts.

Everything depends only on the pools' contents (they are sorted by uid first), the sizes
and ``seed``. The eval draw uses its own random stream, so changing the public or private
sizes never changes the eval set.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError

Scheme = Literal["iid", "dirichlet"]
_EVAL_STREAM, _TRAIN_STREAM, _DIRICHLET_STREAM = 1, 2, 3


@dataclass(frozen=True)
class FederatedSplit:
    """The data of one federated run; the lists are pairwise disjoint (by uid).

    ``domains`` is empty for one task; in a domain federation (``fedmkt.data.domains``) it holds
    each domain's own split, and the lists above are their union.
    """

    public: list[Example]
    private: list[list[Example]]  # one list per client
    eval: list[Example]
    dev: list[Example] = field(default_factory=list)
    domains: tuple[DomainPart, ...] = ()

    @property
    def n_clients(self) -> int:
        return len(self.private)

    def eval_sets(self, task_label: str) -> dict[str, list[Example]]:
        """Domain -> its eval set, each scored on its own with its metric (one task: ``{task_label: eval}``)."""
        if not self.domains:
            return {task_label: self.eval}
        return {part.label: part.split.eval for part in self.domains}

    def sizes(self) -> dict[str, int | list[int]]:
        """``{"public": n, "private": [n per client], "eval": n, "dev": n}``."""
        return {
            "public": len(self.public),
            "private": [len(p) for p in self.private],
            "eval": len(self.eval),
            "dev": len(self.dev),
        }

    def client_groups(self) -> list[dict[str, int]]:
        """Per client, how many private examples each group has (to see the non-IID skew)."""
        return [dict(Counter(e.group for e in p)) for p in self.private]


@dataclass(frozen=True)
class DomainPart:
    """One domain of a domain federation: its own split, whose private sets belong to ``holders``
    (client indices, in the order of ``split.private``)."""

    label: str
    split: FederatedSplit
    holders: tuple[int, ...]


class NotEnoughData(FedMKTError):
    """The pools cannot give the requested sizes.

    ``pool`` is ``"eval"`` or ``"train"``; ``requested`` and ``available`` count examples,
    ``detail`` is how ``requested`` adds up, and ``held_out`` how many eval examples were taken
    out of the train pool first (tasks whose one labelled split serves both). Callers that know
    the config (``runners.split``) reword it in terms of its fields.
    """

    def __init__(self, message: str, *, pool: str, requested: int, available: int, detail: str = "",
                 held_out: int = 0) -> None:
        super().__init__(message)
        self.pool, self.requested, self.available = pool, requested, available
        self.detail, self.held_out = detail, held_out


def _check_unique(examples: list[Example], what: str) -> None:
    seen: set[str] = set()
    for e in examples:
        if e.uid in seen:
            raise FedMKTError(f"{what}: uid {e.uid!r} appears twice; uids must be unique")
        seen.add(e.uid)


def _check_args(
    seed: int,
    n_clients: int,
    sizes: dict[str, int | None],
    dev_size: int,
    scheme: str,
    alpha: float,
) -> None:
    if seed < 0:
        raise FedMKTError(f"seed: expected 0 or more, got {seed}")
    if n_clients < 0:
        raise FedMKTError(f"n_clients: expected 0 or more, got {n_clients}")
    for name, value in sizes.items():
        if value is not None and value < (0 if name == "public_size" else 1):
            raise FedMKTError(f"{name}: expected a positive number or None, got {value}")
    if dev_size < 0:
        raise FedMKTError(f"dev_size: expected 0 or more, got {dev_size}")
    if scheme not in ("iid", "dirichlet"):
        raise FedMKTError(f"scheme: expected 'iid' or 'dirichlet', got {scheme!r}")
    if not alpha > 0:
        raise FedMKTError(f"alpha: the Dirichlet concentration must be > 0, got {alpha}")


def _even_share(pool_size: int, fixed: int, parts: int, what: str, held_out: int = 0) -> int:
    """Equal share of what the fixed sizes leave, for each of ``parts`` unset sets (0 if none)."""
    if not parts:
        return 0
    share = (pool_size - fixed) // parts
    if share < 1:
        raise NotEnoughData(
            f"not enough data: {pool_size} examples, {fixed} taken by the given sizes, "
            f"cannot give each of {parts} {what} at least one",
            pool="train", requested=fixed + parts, available=pool_size,
            detail=f"{fixed} for the sizes given + 1 for each of {parts} {what}", held_out=held_out,
        )
    return share


def _dirichlet_chunks(
    pool: list[Example], n_clients: int, size: int, alpha: float, rng: np.random.Generator
) -> list[list[Example]]:
    """``n_clients`` lists of exactly ``size`` examples, each client's groups drawn from its own mix.

    Each client draws a mix ``q_c ~ Dirichlet(alpha * 1_G)`` over the G groups, then clients
    take turns (in a random order each round) drawing a group from ``q_c`` restricted to the
    groups not yet used up, and taking that group's next example. Small ``alpha`` gives each
    client few groups; large ``alpha`` tends to IID.
    """
    members: dict[str, list[Example]] = {}
    for e in pool:
        members.setdefault(e.group, []).append(e)
    groups = sorted(members)
    by_group = [members[g] for g in groups]
    left = np.array([len(b) for b in by_group], dtype=float)
    taken = [0] * len(groups)
    mixes = rng.dirichlet(np.full(len(groups), alpha), size=n_clients)  # (n_clients, G)
    clients: list[list[Example]] = [[] for _ in range(n_clients)]
    for _ in range(size):
        for c in rng.permutation(n_clients):
            weights = mixes[c] * (left > 0)
            if weights.sum() <= 0:  # the client's groups are used up: draw from what is left
                weights = left.copy()
            cumulative = np.cumsum(weights)
            g = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
            g = min(g, len(groups) - 1)
            while left[g] <= 0:  # rounding at the top of the range: step down to a live group
                g -= 1
            clients[c].append(by_group[g][taken[g]])
            taken[g] += 1
            left[g] -= 1
    return clients


def make_federated_split(
    train: list[Example],
    eval_pool: list[Example],
    n_clients: int,
    public_size: int | None = None,
    private_size: int | None = None,
    eval_size: int | None = None,
    scheme: Scheme = "iid",
    alpha: float = 0.5,
    seed: int = 0,
    dev_size: int = 0,
) -> FederatedSplit:
    """Split a task's pools into public, per-client private, dev and eval sets (see the module doc).

    Raises FedMKTError when the pools cannot give the requested sizes, saying how many
    examples are available and how many were asked for.
    """
    sizes = {"public_size": public_size, "private_size": private_size, "eval_size": eval_size}
    _check_args(seed, n_clients, sizes, dev_size, scheme, alpha)
    _check_unique(train, "train pool")
    _check_unique(eval_pool, "eval pool")
    train = sorted(train, key=lambda e: e.uid)
    eval_pool = sorted(eval_pool, key=lambda e: e.uid)
    one_pool = bool({e.uid for e in train} & {e.uid for e in eval_pool})

    fixed = (public_size or 0) + n_clients * (private_size or 0) + dev_size
    unset = (public_size is None) + n_clients * (private_size is None)
    share = 0
    if eval_size is None and one_pool:
        share = _even_share(len(train), fixed, unset + 1, "unset sets (eval, public, private)")
        eval_size = share
    elif eval_size is None:
        eval_size = len(eval_pool)
    if eval_size > len(eval_pool):
        raise NotEnoughData(
            f"not enough eval data: eval_size {eval_size} requested, {len(eval_pool)} available",
            pool="eval", requested=eval_size, available=len(eval_pool),
        )
    eval_rng = np.random.default_rng([seed, _EVAL_STREAM])
    evals = [eval_pool[i] for i in eval_rng.permutation(len(eval_pool))[:eval_size]]

    eval_uids = {e.uid for e in evals}
    candidates = [e for e in train if e.uid not in eval_uids]
    if not share:
        share = _even_share(len(candidates), fixed, unset, "unset sets (public, private)",
                            held_out=eval_size if one_pool else 0)
    public_n = share if public_size is None else public_size
    private_n = share if private_size is None else private_size
    needed = dev_size + public_n + n_clients * private_n
    if needed > len(candidates):
        detail = f"dev {dev_size} + public {public_n} + {n_clients} clients x {private_n} private"
        after = f" after removing the {eval_size} eval examples" if one_pool else ""
        raise NotEnoughData(
            f"not enough training data: {detail} = {needed} examples requested, {len(candidates)} available{after}",
            pool="train", requested=needed, available=len(candidates), detail=detail,
            held_out=eval_size if one_pool else 0,
        )

    train_rng = np.random.default_rng([seed, _TRAIN_STREAM])
    shuffled = [candidates[i] for i in train_rng.permutation(len(candidates))]
    dev = shuffled[:dev_size]
    public = shuffled[dev_size : dev_size + public_n]
    rest = shuffled[dev_size + public_n :]
    if scheme == "iid":
        private = [rest[c * private_n : (c + 1) * private_n] for c in range(n_clients)]
    else:
        dirichlet_rng = np.random.default_rng([seed, _DIRICHLET_STREAM])
        private = _dirichlet_chunks(rest, n_clients, private_n, alpha, dirichlet_rng)
    return FederatedSplit(public=public, private=private, eval=evals, dev=dev)
