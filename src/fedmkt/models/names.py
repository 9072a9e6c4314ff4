"""What a config's ``model:`` string names, decided before anything is fetched or loaded.

A name is one of, checked in this order (the order :mod:`fedmkt.models.loading` resolves them):

1. a tiny model, ``tiny-<arch>-<tok>[-<size>]`` (anything starting ``tiny-`` must parse as one);
2. a packaged short name (``fedmkt assets list``: ``gemma3-270m``, ``smollm2-135m``);
3. a model folder (an existing directory; a name written as a path, ``./x``, ``/x``, ``~/x``, must exist);
4. a Hugging Face hub id, ``org/name`` (or a legacy bare id such as ``gpt2``).

Without this, a typo of a packaged name (``smollm-135m``) is taken for a hub id and fails only
after the hub client's retries (about 50 s offline), naming neither the field nor the name meant.
So a string that is none of 1-3 and reads like a near miss of a packaged or tiny name is refused
at once with did-you-mean, before any network; a hub id is looked up once with a short timeout
(:func:`check_hub_ids`): missing on the hub is one line naming the field; an unreachable hub is
one line too unless the model is in the local hub cache, and then the process is switched to the
hub's offline mode so loading reads the cache instead of retrying the network for each file.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fedmkt.assets.registry import MODEL_ASSETS
from fedmkt.errors import FedMKTError, shown
from fedmkt.models.tiny import TINY_ARCHS, TINY_SIZES, TINY_TOKENIZERS, TinySpec, is_tiny_name, parse_tiny_name

Kind = Literal["tiny", "packaged", "folder", "hub"]

HUB_TIMEOUT_S = 5.0
"""Seconds one hub look-up may take; a hub that does not answer in time counts as unreachable."""

_NEAR_MISS = 0.7
"""difflib ratio above which a name that is nothing else is taken for a typo of a known name."""


@dataclass(frozen=True)
class ModelName:
    """A classified ``model:`` value and the config field it came from."""

    field: str
    name: str
    kind: Kind


def tiny_names() -> list[str]:
    """Every valid tiny model name (architectures x tokenizers x sizes)."""
    return [TinySpec(a, t, s).name for a in TINY_ARCHS for t in TINY_TOKENIZERS for s in TINY_SIZES]


def known_names() -> str:
    """The forms a name may take, for messages."""
    return (f"a packaged short name ({', '.join(MODEL_ASSETS)}), tiny-<arch>-<tokenizer>[-<size>], "
            "a model folder or a hub id org/name")


def near_miss(name: str) -> str | None:
    """The packaged or tiny name ``name`` most likely meant (case ignored), or None."""
    candidates = [*MODEL_ASSETS, *tiny_names()]
    lowered = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=_NEAR_MISS)
    return lowered[found[0]] if found else None


def _is_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", ".\\", "..\\")) or name in (".", "..")


def classify(name: str, field: str) -> ModelName:
    """Which kind of name ``name`` is; a one-line `FedMKTError` naming ``field`` if it can be none.

    No network and no file is read beyond asking whether a folder exists.
    """
    if is_tiny_name(name):
        try:
            parse_tiny_name(name)
        except FedMKTError as error:
            hint = near_miss(name)
            raise FedMKTError(f"'{field}': {error}" + (f" (did you mean {hint!r}?)" if hint else "")) from None
        return ModelName(field, name, "tiny")
    if name in MODEL_ASSETS:
        return ModelName(field, name, "packaged")
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelName(field, name, "folder")
    if _is_path(name) or path.exists():
        raise FedMKTError(f"'{field}': model folder {shown(str(path))} does not exist (or is not a folder); "
                          f"expected {known_names()}")
    hint = near_miss(name) if "/" not in name else None
    if hint is not None:
        raise FedMKTError(f"'{field}': unknown model {shown(name)} (did you mean {hint!r}?); expected "
                          f"{known_names()}")
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        raise FedMKTError(f"'{field}': {shown(name)} is not a model name; expected {known_names()}") from None
    return ModelName(field, name, "hub")


def classify_all(fields: Iterable[tuple[str, str]]) -> list[ModelName]:
    """:func:`classify` each ``(field, name)``, in order; the first bad one stops."""
    return [classify(name, field) for field, name in fields]


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _cached(repo_id: str) -> bool:
    """Whether the local hub cache holds ``repo_id``'s config (what loading reads first)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def _lookup(repo_id: str, timeout: float) -> str | None:
    """None when the hub knows ``repo_id``; ``"missing"`` when it answers that it does not; else why it is
    unreachable (a connection failure, a timeout, a server error)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    try:
        HfApi().model_info(repo_id, timeout=timeout)
    except GatedRepoError:
        return None  # it exists; loading it needs `hf auth login`, which loading says
    except RepositoryNotFoundError:
        return "missing"
    except HfHubHTTPError as error:
        if error.response is not None and error.response.status_code == 404:
            return "missing"
        return f"HTTP {error.response.status_code if error.response is not None else 'error'}"
    except Exception as error:  # noqa: BLE001 - httpx/OS/HTTP errors of any kind mean "could not ask"
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        return lines[0] if lines else type(error).__name__
    return None


def go_offline() -> None:
    """Switch this process (and the processes it starts) to the hub's offline mode: cache only, no retries."""
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True
    os.environ["HF_HUB_OFFLINE"] = "1"


def check_hub_ids(names: Iterable[ModelName], timeout: float = HUB_TIMEOUT_S) -> bool:
    """Look each hub id up once; a one-line `FedMKTError` naming its field when it cannot be used.

    A hub id the hub does not know is refused. With the hub unreachable (``HF_HUB_OFFLINE`` set, or
    the look-up failing) a hub id is accepted only from the local hub cache, and the process then
    reads the cache alone (:func:`go_offline`). Returns whether it switched to offline mode.
    """
    hub = list({n.name: n for n in names if n.kind == "hub"}.values())
    if not hub:
        return False
    offline = _offline()
    switched = False
    for model in hub:
        reason = "HF_HUB_OFFLINE is set" if offline else _lookup(model.name, timeout)
        if reason is None:
            continue
        if reason == "missing":
            raise FedMKTError(f"'{model.field}': {shown(model.name)} is not a model on the Hugging Face hub (a "
                              f"private or gated one needs `hf auth login`); expected {known_names()}")
        if not _cached(model.name):
            raise FedMKTError(f"'{model.field}': hub id {shown(model.name)} cannot be fetched: the Hugging Face "
                              f"hub is unreachable ({reason}) and the local hub cache does not hold it; expected "
                              f"{known_names()}, or run where the hub is reachable once to cache it")
        offline = True  # the rest can only come from the cache too; no more look-ups
        if not _offline():
            go_offline()
            switched = True
    return switched
