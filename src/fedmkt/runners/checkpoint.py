"""Crash-safe checkpoints inside a federated phase: committed after every step of every round.

A federated phase (``runners.federated``) is a list of named steps per round: each client's
private SFT, each client's upload, the server's receive + select + align, its KD training, its
message, each client's align + KD training, FedAvg, the end of the round, each scoring. After
each one, :meth:`PhaseCheckpoint.commit` records in ``checkpoints/<phase>/`` what the rest of
the phase needs, and nothing else:

- the LoRA adapters that step changed (peft's format, ``blobs/r<round>-<step>-adapter-<name>/``); a
  participant with none saved still has its fresh adapter, which ``attach_lora`` rebuilds
  identically from the seed;
- the round's messages as the bytes that went over the wire (the clients' uploads, the server's
  payload): replaying them through ``Server.receive`` / ``Server.select_and_align`` rebuilds the
  server's KD targets exactly and cheaply (alignments are cached when the peers are built);
- the clients' own answer NLLs of the round (what ``Client.receive_llm`` compares against);
- each DP-SGD client's privacy ledger (its noise secret, the accountant's history, its phases:
  ``PrivacyLedger.state``), so a resumed run spends and reports exactly what an uninterrupted one does;
- the result rows scored so far, the round's timing breakdown, the global RNG states
  (python, numpy, torch: ``runners.rng_state``), and the :class:`~fedmkt.report.watermark.Watermark` of the logs.

There is no optimizer or scheduler state to save: ``training.loop.train`` builds a fresh AdamW
and schedule in every call (as the reference does), so none survives a finished step, and a step
that did not finish is redone from its start.

Order of a commit: blobs are written and fsynced under names no committed manifest uses, the
logs are fsynced, then ``manifest.json`` is replaced atomically, last; only then are blobs the new
manifest does not name deleted. A kill at any moment leaves the previous manifest and every file
it names intact, so a torn checkpoint is never taken as complete.

The manifest records each blob file's length and sha256; :meth:`PhaseCheckpoint.load` checks them,
so a file damaged after its commit (cut short, overwritten) is refused in one line naming it,
not loaded (or met as a ``SafetensorError`` traceback).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save
from torch import nn

from fedmkt.errors import FedMKTError
from fedmkt.io import atomic_write_bytes, atomic_write_text, fsync_file, writing
from fedmkt.models.lora import as_peft, get_adapter_state
from fedmkt.privacy.budget import checked_state
from fedmkt.report.results import ResultRow
from fedmkt.report.watermark import current_watermark
from fedmkt.runners.rng_state import capture_rng, check_rng

FORMAT = 1

Changed = dict[str, nn.Module | bytes]
"""What a step changed: ``adapter/<participant>`` -> its peft model, ``upload/<client>`` or
``server_payload`` -> message bytes."""


class StepFailed(FedMKTError):
    """A step of a phase failed; finished work (the last checkpoint included) is kept for ``--resume``."""


class CheckpointDamaged(FedMKTError):
    """A checkpoint that cannot be used (damaged, or saved for other participants): the line says what to delete."""


@dataclass
class PhaseState:
    """Where a federated phase stands, in memory: what the next step needs and what a resume restores.

    ``done`` lists the completed steps of ``round``; ``uploads`` and ``own_nll`` belong to ``round``
    (client name -> bytes, client name -> uid -> NLL); ``server_payload`` is the server's latest
    message (a frozen LLM2SLM server re-sends it); ``timings`` and ``round_seconds`` are the round's
    breakdown and wall time so far; ``phase_seconds`` the phase's time over all sessions.
    """

    round: int = 1
    done: list[str] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    own_nll: dict[str, dict[str, float]] = field(default_factory=dict)
    server_payload: bytes | None = None
    rows: list[ResultRow] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    round_seconds: float = 0.0
    phase_seconds: float = 0.0
    privacy: dict[str, dict] = field(default_factory=dict)  # client -> PrivacyLedger.state(), kept across rounds

    def start_round(self, round_: int) -> None:
        """Forget the finished round's per-round state (rows and the server's message stay)."""
        self.round, self.done, self.uploads, self.own_nll = round_, [], {}, {}
        self.timings, self.round_seconds = {}, 0.0


@dataclass
class Saved:
    """A loaded checkpoint: the state, the RNG states and the folder of each saved adapter."""

    state: PhaseState
    rng: dict
    adapters: dict[str, Path]


Digests = dict[str, dict[str, int | str]]
"""A blob file's path under the checkpoint folder -> its ``bytes`` and ``sha256``."""


def _digest(data: bytes) -> dict[str, int | str]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _save_adapter(model: nn.Module, folder: Path) -> dict[str, bytes]:
    """The adapter in peft's format (``adapter_config.json`` + ``adapter_model.safetensors``), fsynced.

    Returns each file's name and content (for the manifest's digests). ``save_adapter`` would also
    render a model card (most of its 60 ms); a checkpoint needs none.
    """
    with writing(folder):
        shutil.rmtree(folder, ignore_errors=True)  # a leftover of this step's killed attempt
        folder.mkdir(parents=True)
        peft = as_peft(model)
        peft.peft_config[peft.active_adapter].save_pretrained(str(folder))
        fsync_file(folder / "adapter_config.json")
        config = (folder / "adapter_config.json").read_bytes()
    weights = save(get_adapter_state(model), metadata={"format": "pt"})
    atomic_write_bytes(folder / "adapter_model.safetensors", weights)
    return {"adapter_config.json": config, "adapter_model.safetensors": weights}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


class PhaseCheckpoint:
    """``checkpoints/<phase>/``: ``manifest.json`` (the commit record) and ``blobs/`` (the files it names)."""

    def __init__(self, run_dir: Path, phase: str) -> None:
        self.folder = run_dir / "checkpoints" / _slug(phase.replace("/", "__"))
        self.run_dir = run_dir
        self.phase = phase
        self.files: dict[str, str] = {}  # "adapter/<name>", "upload/<name>", "server_payload" -> blob name
        self.digests: Digests = {}  # "blobs/<blob>[/<file>]" -> length and sha256

    @property
    def manifest(self) -> Path:
        return self.folder / "manifest.json"

    def exists(self) -> bool:
        return self.manifest.is_file()

    def discard(self) -> None:
        """Delete the checkpoint (the phase finished, or starts over)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def commit(
        self, state: PhaseState, step: str, participants: list[str], new: Changed
    ) -> float:
        """Write ``new`` (key -> peft model or message bytes), then the manifest; returns the seconds taken.

        ``step`` is the step just finished (already in ``state.done``). Keys of ``new``:
        ``adapter/<participant>`` (a model whose adapter changed), ``upload/<client>``,
        ``server_payload``. Call it only when the logs hold every event of the finished steps.
        Blob names carry the round and step, so no committed manifest's file is ever rewritten.
        """
        start = time.perf_counter()
        blobs = self.folder / "blobs"
        for key, value in new.items():
            name = _slug(f"r{state.round}-{step}-{key}".replace("/", "-"))
            path = blobs / (name if not isinstance(value, bytes) else name + ".bin")
            if isinstance(value, bytes):
                atomic_write_bytes(path, value)
                self.digests[f"blobs/{path.name}"] = _digest(value)
            else:
                for file, data in _save_adapter(value, path).items():
                    self.digests[f"blobs/{path.name}/{file}"] = _digest(data)
            self.files[key] = path.name
        self.files = {k: v for k, v in self.files.items()
                      if not k.startswith("upload/") or k.removeprefix("upload/") in state.uploads}
        kept = set(self.files.values())
        self.digests = {k: v for k, v in self.digests.items() if k.split("/")[1] in kept}
        record = {
            "format": FORMAT, "phase": self.phase, "participants": participants,
            **asdict(current_watermark(self.run_dir)),
            "round": state.round, "done": state.done, "files": self.files, "digests": self.digests,
            "own_nll": state.own_nll, "privacy": state.privacy,
            "rows": [asdict(r) for r in state.rows], "timings": state.timings,
            "round_seconds": state.round_seconds, "phase_seconds": state.phase_seconds,
            "rng": capture_rng(),
        }
        atomic_write_text(self.manifest, json.dumps(record))
        self._collect(blobs)
        return time.perf_counter() - start

    def _collect(self, blobs: Path) -> None:
        """Delete blobs and temporary files the committed manifest does not name."""
        keep = set(self.files.values())
        for path in blobs.iterdir() if blobs.is_dir() else []:
            if path.name not in keep:
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        for path in self.folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)

    def phase_seconds(self) -> float | None:
        """Seconds the phase ran before its last commit (None: no checkpoint)."""
        if not self.exists():
            return None
        try:
            return float(self._record()["phase_seconds"])
        except (KeyError, TypeError, ValueError) as error:
            raise self._damaged(f"manifest field missing or malformed ({type(error).__name__}: {error})") from None

    def _record(self) -> dict:
        try:
            record = json.loads(self.manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise self._damaged(f"unreadable manifest ({error})") from None
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise self._damaged(f"manifest format {record.get('format') if isinstance(record, dict) else None!r}, "
                                f"expected {FORMAT}")
        return record

    def _damaged(self, what: str) -> CheckpointDamaged:
        return CheckpointDamaged(f"checkpoint {self.folder}: {what}; delete that folder to redo phase "
                           f"{self.phase} from its first round")

    def _check_blobs(self, files: dict[str, str], digests: Digests) -> None:
        """Every file the manifest names exists, with the length and sha256 it recorded."""
        for key, name in files.items():
            if not (self.folder / "blobs" / name).exists():
                raise self._damaged(f"{key} file blobs/{name} is missing")
        for relative, expected in digests.items():
            path = self.folder / relative
            if not path.is_file():
                raise self._damaged(f"{relative} is missing")
            data = path.read_bytes()
            if len(data) != expected["bytes"]:
                raise self._damaged(f"{relative} is {len(data)} bytes, the manifest recorded {expected['bytes']} "
                                    f"(cut short or damaged)")
            if hashlib.sha256(data).hexdigest() != expected["sha256"]:
                raise self._damaged(f"{relative} does not match the sha256 the manifest recorded (damaged)")
        if not digests:  # a manifest of an older fedmkt: at least the adapters must parse
            for key, name in files.items():
                weights = self.folder / "blobs" / name / "adapter_model.safetensors"
                if key.startswith("adapter/"):
                    try:
                        with safe_open(str(weights), framework="pt") as handle:
                            list(handle.keys())
                    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
                        raise self._damaged(f"blobs/{name}/adapter_model.safetensors is unreadable "
                                            f"({' '.join(str(error).split())[:120]})") from None

    def load(self, participants: list[str]) -> Saved:
        """The committed state; raises a one-line FedMKTError if it does not fit this run or is damaged."""
        record = self._record()
        try:
            if record["participants"] != participants:
                raise self._damaged(f"saved for participants {record['participants']}, the config has {participants}")
            files: dict[str, str] = {str(k): str(v) for k, v in dict(record["files"]).items()}
            digests: Digests = dict(record.get("digests") or {})  # none in manifests of older fedmkt
            self._check_blobs(files, digests)
            read = lambda key: (self.folder / "blobs" / files[key]).read_bytes()  # noqa: E731
            state = PhaseState(
                round=int(record["round"]), done=list(record["done"]),
                uploads={k.removeprefix("upload/"): read(k) for k in files if k.startswith("upload/")},
                own_nll={c: {u: float(x) for u, x in nll.items()} for c, nll in record["own_nll"].items()},
                server_payload=read("server_payload") if "server_payload" in files else None,
                rows=[ResultRow.from_dict(r) for r in record["rows"]], timings=dict(record["timings"]),
                round_seconds=float(record["round_seconds"]), phase_seconds=float(record["phase_seconds"]),
                privacy={str(c): checked_state(ledger) for c, ledger in dict(record.get("privacy") or {}).items()},
            )
            check_rng(record["rng"])
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as error:
            raise self._damaged(f"manifest field missing or malformed ({type(error).__name__}: "
                                f"{' '.join(str(error).split())[:120]})") from None
        self.files, self.digests = files, digests
        adapters = {k.removeprefix("adapter/"): self.folder / "blobs" / v for k, v in files.items()
                    if k.startswith("adapter/")}
        return Saved(state, record["rng"], adapters)

