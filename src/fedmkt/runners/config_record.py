"""``run.json``: the config a run started with, so ``--resume`` can refuse one edited since.

A resumed run reads its settings from the folder's ``config.yaml``; an edit there between two
sessions would silently mix settings (round 1 with one ``kd_weight``, round 2 with another).
At the start the resolved config (every default written out) and its sha256 are recorded; a
resume recomputes the digest of the config as loaded now and, if it differs, refuses in one line
naming the keys that differ (``report.config_diff``). The ``tracking`` section is left out: trackers
change nothing a run computes, so a resume may switch them on. Folders written before this record
existed are accepted with a note, and get the record from then on.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fedmkt.config import ExperimentConfig, parse_config
from fedmkt.errors import FedMKTError
from fedmkt.io import atomic_write_text
from fedmkt.report.config_diff import Difference, shown_value
from fedmkt.report.config_diff import differences as config_differences

RECORD = "run.json"
FORMAT = 1
_SHOWN = 4  # differences named in the error; the rest are counted


UNRECORDED = {"tracking"}
"""Sections that change nothing a run computes, left out of the record: a resume may switch trackers on."""


def config_data(configs: list[ExperimentConfig]) -> dict[str, Any]:
    """The resolved config as plain data (less :data:`UNRECORDED`): one experiment, or a suite as
    ``{"experiments": [...]}``."""
    if len(configs) == 1:
        return configs[0].model_dump(mode="json", exclude=UNRECORDED)
    return {"experiments": [c.model_dump(mode="json", exclude=UNRECORDED) for c in configs]}


def config_digest(data: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``data`` (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def record_start(run_dir: Path, configs: list[ExperimentConfig], *, since: str = "start") -> str:
    """Write ``run.json`` (the config and its digest); returns the digest."""
    data = config_data(configs)
    digest = config_digest(data)
    record = {"format": FORMAT, "config_sha256": digest, "recorded_at": since, "config": data}
    atomic_write_text(run_dir / RECORD, json.dumps(record, indent=1) + "\n")
    return digest


def _line(d: Difference) -> str:
    if d.order:
        return f"{d.path}: in the order {', '.join(d.before)} at start, {', '.join(d.after)} now"
    return f"{d.path}: {shown_value(d.before)} at start, {shown_value(d.after)} now"


def differences(start: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``"fedmkt.kd_weight: 0.1 at start, 0.5 now"`` for each place that differs, in the config's order.

    A suite that became one experiment (or the reverse) is one difference: the experiments' names.
    """
    if ("experiments" in start) != ("experiments" in now):
        names = lambda d: [str(e.get("name")) for e in d["experiments"]] if "experiments" in d else [d.get("name")]  # noqa: E731
        return [f"experiments: {', '.join(names(start))} at start, {', '.join(names(now))} now"]
    return [_line(d) for d in config_differences(start, now)]


def _as_read_now(start: dict[str, Any], path: Path) -> dict[str, Any] | None:
    """The recorded config as this fedmkt reads it (keys added since filled with their defaults), or None
    if it no longer reads (a key renamed or dropped since: then it differs)."""
    try:
        experiments = start["experiments"] if "experiments" in start else [start]
        return config_data([parse_config(dict(e), str(path)) for e in experiments])
    except (FedMKTError, TypeError):
        return None


def check_unchanged(run_dir: Path, configs: list[ExperimentConfig]) -> str | None:
    """Refuse (one line) a config that differs from the one ``run_dir`` started with.

    Returns a note when the folder has no record (an older fedmkt wrote it): the config is then
    taken as it is and recorded, so later resumes are checked.
    """
    path = run_dir / RECORD
    if not path.is_file():
        record_start(run_dir, configs, since="resume")
        return (f"{run_dir} has no {RECORD} (written by an older fedmkt): its config.yaml is taken as it is and "
                f"recorded now")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        recorded, start = str(record["config_sha256"]), record.get("config")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FedMKTError(f"{path}: unreadable ({' '.join(str(error).split())}); it records the config the run "
                          f"started with, so the run cannot be resumed safely without it") from None
    now = config_data(configs)
    if config_digest(now) == recorded:
        return None
    if isinstance(start, dict) and config_digest(start) == recorded and _as_read_now(start, path) == now:
        return (f"{path} was recorded by an earlier fedmkt: the keys added since take their defaults, and the "
                f"config is otherwise the one the run started with")
    found = differences(start, now) if isinstance(start, dict) and config_digest(start) == recorded else []
    what = "; ".join(found[:_SHOWN]) + (f"; and {len(found) - _SHOWN} more" if len(found) > _SHOWN else "")
    detail = f" ({what})" if what else " (its sha256 differs from the one recorded at the start)"
    raise FedMKTError(f"{run_dir / 'config.yaml'} was changed after the run started{detail}; resuming would mix "
                      f"settings: restore it, or start a new run with --out")
