"""One training phase of one participant, as every role and baseline runs it.

Paper section 3.2, workflow steps 1, 4 and 8 (and the baselines' fine-tuning): the model's
adapter trained on encoded examples with a loss, length-bucketed and shuffled by the seed, and a
:class:`~fedmkt.core.reports.PhaseReport` of what it did. A plain function: training needs a
model and examples, not a participant over the public set. :func:`private_phase` is step 1, with
DP-SGD when the client has a privacy ledger (``fedmkt.privacy``); :func:`public_phase` is steps 4 and 8,
the run's exchange settings deciding the loss and which public samples it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from torch import nn

from fedmkt.core.exchange_settings import ExchangeSettings
from fedmkt.core.kd_training import KDTargets, make_kd_loss, public_examples
from fedmkt.core.reports import PhaseReport
from fedmkt.errors import FedMKTError
from fedmkt.privacy.budget import PrivacyLedger, phase_schedule
from fedmkt.privacy.dp_sgd import train_dp
from fedmkt.training.batching import BucketedBatches
from fedmkt.training.encode import EncodedExample
from fedmkt.training.loop import LossFn, ProgressCallback, TrainArgs, TrainStats, train
from fedmkt.training.sft import sft_loss

Log = Callable[[dict], None]


def train_phase(
    participant: str, model: nn.Module, pad_id: int, encoded: Sequence[EncodedExample], loss_fn: LossFn,
    args: TrainArgs, phase: str, progress: ProgressCallback | None = None, log: Log | None = None,
) -> PhaseReport:
    """Train ``model``'s trainable parameters on ``encoded`` (batches padded with ``pad_id``).

    ``phase`` names the data (``private``, ``public``) in the report and in each step's ``log``
    record (which also names the ``participant``). The encodings fix the length; ``args.max_length``
    is not read.
    """
    batches = BucketedBatches(encoded, args.batch_size, pad_id, seed=args.seed)
    return _reported(participant, encoded, phase, log,
                     lambda record: train(model, batches, loss_fn, args, progress, record))


def private_phase(
    participant: str, model: nn.Module, pad_id: int, encoded: Sequence[EncodedExample], args: TrainArgs,
    privacy: PrivacyLedger | None = None, progress: ProgressCallback | None = None, log: Log | None = None,
) -> PhaseReport:
    """Workflow step 1 (and a baseline's fine-tuning): SFT on the private data; DP-SGD when ``privacy`` is given
    (its ledger then holds this phase's steps too)."""
    if privacy is None:
        return train_phase(participant, model, pad_id, encoded, sft_loss, args, "private", progress, log)
    schedule = phase_schedule(len(encoded), args.batch_size, args.grad_accum, args.epochs, args.max_steps)
    return _reported(participant, encoded, "private", log,
                     lambda record: train_dp(model, encoded, pad_id, args, privacy, schedule, progress, record))


def _reported(participant: str, encoded: Sequence[EncodedExample], phase: str, log: Log | None,
              run: Callable[[Log], TrainStats]) -> PhaseReport:
    """Run a phase (``run`` gets the per-step callback) and report it, its losses averaged over the steps."""
    if not encoded:
        raise FedMKTError(f"{participant}: nothing to train on in phase {phase}")
    metrics: dict[str, list[float]] = {}

    def record(step: dict) -> None:
        for key in ("sft_loss", "kd_loss", "kd_positions", "clipped"):
            if key in step:
                metrics.setdefault(key, []).append(float(step[key]))
        if log is not None:
            log({"participant": participant, "phase": phase, **step})

    stats = run(record)
    return PhaseReport(
        participant=participant, phase=phase, examples=len(encoded), steps=stats.steps,
        tokens=stats.tokens, seconds=stats.seconds, mean_loss=stats.mean_loss,
        metrics={key: sum(v) / len(v) for key, v in metrics.items()},
    )


def public_phase(
    participant: str, model: nn.Module, pad_id: int, encoded: Sequence[EncodedExample],
    targets: Mapping[int, KDTargets], settings: ExchangeSettings, args: TrainArgs,
    progress: ProgressCallback | None = None, log: Log | None = None,
) -> PhaseReport:
    """Workflow steps 4 and 8: the public set with the run's public-phase loss toward ``targets``.

    With public SFT (the default) every public sample is trained on; without it only the samples
    with a teacher row (``public_examples``), and with none the phase is skipped: a KD-alone loss
    would be zero, yet AdamW's weight decay would still move the adapter.
    """
    examples = public_examples(encoded, targets, settings.public_sft)
    if not examples:
        return PhaseReport(participant=participant, phase="public", examples=0, steps=0, tokens=0, seconds=0.0,
                           mean_loss=float("nan"), skipped="no teacher row to distil (public_sft false)")
    loss_fn = make_kd_loss(targets, settings.kd_weight, settings.temperature, public_sft=settings.public_sft,
                           kd_positions=settings.kd_positions)
    return train_phase(participant, model, pad_id, examples, loss_fn, args, "public", progress, log)
