"""Small records of what each workflow step did, for the run log (``metrics.jsonl``).

Every step of a round (paper section 3.2) returns one of these. Seconds are wall-clock
(``time.perf_counter``), split so the overhead of the method (alignment, selection,
(de)serialisation) can be set against model compute. ``to_dict`` gives a JSON-ready dict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from fedmkt.privacy.budget import PrivacyLedger, noise_to_signal


@dataclass(frozen=True)
class _Record:
    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PhaseReport(_Record):
    """One training phase (private SFT, or public SFT+KD) of one participant.

    ``metrics`` holds the step-averaged ``sft_loss``, ``kd_loss`` and ``kd_positions`` (share of
    answer positions with a KD weight) when the loss reports them; ``skipped`` says why a phase
    did not train (e.g. the frozen LLM of the LLM2SLM baseline).
    """

    participant: str
    phase: str
    examples: int
    steps: int
    tokens: int
    seconds: float
    mean_loss: float
    metrics: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None


@dataclass(frozen=True)
class MessageReport(_Record):
    """One outgoing message: its size and what it cost to compute and encode."""

    sender: str
    round: int
    n_samples: int
    n_positions: int
    nbytes: int
    compute_seconds: float
    encode_seconds: float
    reused: bool = False
    gold_top1: float | None = None  # share of answer positions whose top-1 is the gold token (gold_agreement)
    gold_prob: float | None = None  # mean probability on the gold token


@dataclass(frozen=True)
class ReceiveReport(_Record):
    """A receiver's intake of one round's messages: the server's of the clients', or a client's refusal
    of the server's (:meth:`refusal`).

    Attributes:
        accepted: clients whose message validated, in registration order.
        rejected: client -> one-line reason (bad bytes, failed validation, unknown sender).
        missing: registered clients that sent nothing.
        nbytes: bytes received per sender.
        decode_seconds: size checks, decoding and validation, all senders together.
    """

    receiver: str
    round: int
    accepted: list[str]
    rejected: dict[str, str]
    missing: list[str]
    nbytes: dict[str, int]
    decode_seconds: float

    @classmethod
    def refusal(cls, receiver: str, round: int, sender: str, reason: str, nbytes: int) -> ReceiveReport:
        """``receiver`` refused ``sender``'s one message of ``round`` (e.g. a client, the server's)."""
        return cls(receiver=receiver, round=round, accepted=[], rejected={sender: reason}, missing=[],
                   nbytes={sender: nbytes}, decode_seconds=0.0)


@dataclass(frozen=True)
class AlignReport(_Record):
    """DualMinCE selection and alignment of the chosen teachers' rows, on one side.

    Attributes:
        counts: samples per teacher (server: per client plus ``"none"``; client: ``"llm"``/``"none"``).
        aligned_samples / rows / matched_rows: samples whose rows were aligned, their answer
            positions, and how many of those came from a teacher row (the rest: one-hot fallback).
        cache_hits / cache_misses: sequence-alignment cache use during this step.
        decode_seconds: receiving the message (clients only; the server reports it in
            :class:`ReceiveReport`).
    """

    receiver: str
    round: int
    counts: dict[str, int]
    aligned_samples: int
    rows: int
    matched_rows: int
    select_seconds: float
    align_seconds: float
    cache_hits: int
    cache_misses: int
    decode_seconds: float = 0.0


@dataclass(frozen=True)
class PrivacyReport(_Record):
    """What a client's DP-SGD has spent after a private phase: (epsilon, delta) over every phase so far.

    ``steps`` are this phase's noisy steps, ``total_steps`` and ``phases`` every one so far; epsilon is the
    accountant's for the whole history (docs/privacy.md: everything the client sends is covered by it).
    """

    participant: str
    epsilon: float
    delta: float
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps: int
    total_steps: int
    phases: int
    accountant: str
    noise_to_signal: float | None = None  # a step's noise over its largest signal (docs/privacy.md)

    @classmethod
    def of(cls, ledger: PrivacyLedger, participant: str, steps: int, *, trainable: int | None = None,
           n_private: int | None = None) -> PrivacyReport:
        """What ``ledger`` has spent, after a phase of ``steps`` noisy steps; with the adapter's ``trainable``
        parameters and the private set's size, also how far the noise outweighed the signal."""
        s, history = ledger.settings, ledger.history
        rate = history[-1][1] if history else 0.0
        ratio = (noise_to_signal(s.noise_multiplier, trainable, rate * n_private)
                 if trainable and n_private and rate else None)
        return cls(participant=participant, epsilon=ledger.spent(), delta=s.delta, noise_multiplier=s.noise_multiplier,
                   max_grad_norm=s.max_grad_norm, sample_rate=rate, steps=steps, total_steps=ledger.steps,
                   phases=ledger.phases, accountant=s.accountant, noise_to_signal=ratio)
