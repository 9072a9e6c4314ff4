"""Keep a run's record without its weights, so a results file can be regenerated after the run is gone.

A run folder mixes the record (config, logs, results, per-example scores, plots: a few hundred
kilobytes) with weights (``adapters/`` and ``checkpoints/``: megabytes per round). ``fedmkt archive``
copies the record alone, to a folder that can be committed next to ``RESULTS.md``; ``fedmkt report``
reads an archived folder exactly as it reads the run folder. ``archive.json`` names where the run
was made, so the reproduce command still writes the rerun there and not into the archive. A
damaged run (``report.damage``) is not archived: a kept record must be one that can be trusted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from fedmkt.errors import FedMKTError
from fedmkt.io import atomic_write_text, writing

WEIGHT_FOLDERS = ("adapters", "checkpoints")  # everything else in a run folder is the record, but for
NOT_RECORD = (*WEIGHT_FOLDERS, ".lock")  # the lock file of the process that ran it
ARCHIVE_RECORD = "archive.json"


def archive_run(run_dir: Path, dest_root: Path, *, replace: bool = False) -> Path:
    """Copy ``run_dir``'s record (no weights) to ``dest_root/<run folder name>``; return that folder.

    Raises FedMKTError if ``run_dir`` is not a run folder, or the destination already holds files
    and ``replace`` is false.
    """
    from fedmkt.report.damage import check_figures, folder_damage, summary
    from fedmkt.report.run_section import experiment_folders

    if not (run_dir / "config.yaml").is_file():
        raise FedMKTError(f"{run_dir}: no config.yaml, so it is not a fedmkt run folder")
    for folder in experiment_folders(run_dir):
        check_figures(folder)
        if problems := folder_damage(folder):
            raise FedMKTError(f"{folder}: damaged, not archived: {summary(problems)}")
    if dest_root.exists() and not dest_root.is_dir():
        raise FedMKTError(f"--to {dest_root} is a file; expected a folder to keep archived runs in")
    dest = dest_root / run_dir.resolve().name
    if dest.resolve() == run_dir.resolve():
        raise FedMKTError(f"{dest}: the archive would overwrite the run folder itself; pick another --to")
    if dest.exists() and any(dest.iterdir()):
        if not replace:
            raise FedMKTError(f"{dest} already holds files; pass --replace to overwrite it")
        shutil.rmtree(dest)
    with writing(dest):
        shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns(*NOT_RECORD), dirs_exist_ok=True)
    atomic_write_text(dest / ARCHIVE_RECORD, json.dumps({"run_dir": str(run_dir)}, indent=2) + "\n")
    return dest


def original_run_dir(folder: Path) -> Path:
    """Where the run in ``folder`` was made: the path ``archive.json`` names, else the folder itself.

    For an experiment inside an archived suite, the suite's record names the suite's folder.
    """
    for candidate, suffix in ((folder, None), (folder.parent, folder.name)):
        record = candidate / ARCHIVE_RECORD
        if record.is_file():
            source = Path(json.loads(record.read_text(encoding="utf-8"))["run_dir"])
            return source if suffix is None else source / suffix
    return folder


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
