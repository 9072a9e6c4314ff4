"""Differential privacy for a client's private training: DP-SGD with Opacus and its accountant.

:mod:`fedmkt.privacy.budget` holds the settings, the Poisson schedule of a private phase and the
ledger of what a client has spent (Opacus's RDP or PRV accountant over its history);
:mod:`fedmkt.privacy.dp_sgd` trains a LoRA adapter with per-sample clipping and Gaussian noise.
Both need the ``privacy`` extra (``pip install 'fedmkt[privacy]'``); :func:`require_opacus` says so
in one line. Why everything a client sends is covered: ``docs/privacy.md``.
"""

from __future__ import annotations

from types import ModuleType

from fedmkt.errors import FedMKTError

EXTRA = "pip install 'fedmkt[privacy]'"


def require_opacus(field: str = "privacy") -> ModuleType:
    """The ``opacus`` module, or one line naming ``field`` and the pip command when it is not installed."""
    try:
        import opacus
    except ImportError:
        raise FedMKTError(f"'{field}' asks for differential privacy, which needs Opacus: {EXTRA}") from None
    return opacus
