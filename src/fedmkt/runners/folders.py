"""Names that become folders: a run folder never lands outside where it was asked to go.

An experiment's name becomes a suite's subfolder and the default run folder's label, and each
participant's name a folder under ``adapters/``; a name such as ``../../x`` (or one holding a
NUL, which no file system accepts) would otherwise place files outside the run folder or fail
with a traceback. Suite and participant names are checked before anything is written; the
default folder's label is made safe instead, since it is only a label.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from fedmkt.config import ExperimentConfig
from fedmkt.errors import FedMKTError

_MAX_BYTES = 200  # under every file system's 255-byte name limit, with room for a suffix


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be one folder name inside a run folder, or None if it can."""
    if name.strip() in ("", ".", ".."):
        return "is empty or a relative folder ('.', '..')"
    if re.search(r"[/\\\x00-\x1f\x7f]", name):
        return "holds a '/', a '\\' or a control character"
    if len(name.encode("utf-8")) > _MAX_BYTES:
        return f"is longer than {_MAX_BYTES} bytes"
    return None


def check_names(configs: list[ExperimentConfig]) -> None:
    """Refuse, in one line, a suite experiment's or a participant's name that is no safe folder name."""
    for config in configs:
        named = [("server.name", config.server.name)] + [(f"clients.{i}.name", c.name)
                                                          for i, c in enumerate(config.clients)]
        if len(configs) > 1:  # a suite's experiment gets its own subfolder
            named.insert(0, ("name", config.name))
        for field, name in named:
            problem = name_problem(name or "")
            if problem:
                where = f"experiment {config.name!r}: " if len(configs) > 1 and field != "name" else ""
                shown = repr(name) if len(name) <= 60 else repr(name[:57]) + "..."
                raise FedMKTError(f"{where}'{field}' {shown} {problem}; it names a folder of the run, so use "
                                  f"letters, digits, '-', '_' or '.'")


def safe_label(name: str) -> str:
    """``name`` reduced to letters, digits, ``-``, ``_`` and ``.`` (at most 80), never empty or dots only."""
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:80]
    return label or "run"


def default_run_dir(label: str, now: datetime | None = None) -> Path:
    """``runs/<safe label>-<time>``: the run folder when ``--out`` is not given."""
    return Path("runs") / f"{safe_label(label)}-{(now or datetime.now()):%Y%m%d-%H%M%S}"
