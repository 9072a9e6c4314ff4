"""bigbench as a user gets it: an sdist put by hand in ``$FEDMKT_HOME/wheels/bigbench/`` (no index
serves 1.0.0), unpacked by the real registry entry and read by both loaders.

The sdist written here is small but has the real layout (top folder ``bigbench-1.0.0/``, 61
Natural-Instructions subtasks, GEM tasks next to XSum, files outside the unpacked members), so
the checks of the real-data tests run on it: every prompt in its format, every example once,
one group per subtask, about a tenth held out, empty outputs and repeated articles dropped.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from fedmkt.assets.fetch import ensure_data, is_present
from fedmkt.assets.manifest import read_manifest
from fedmkt.assets.pins import sha256_file
from fedmkt.assets.registry import bigbench_tasks_root, data_dir, downloads_dir
from fedmkt.data.tasks import get_task

SUBTASKS = [f"subtask{i:03d}_task{i}" for i in range(1, 62)]
PER_SUBTASK = 40


def _subtask(name: str) -> dict:
    examples = [
        {"input": f" {name} input {i}. ", "target": [f" Output {i} of {name}. ", "", "another output"]}
        for i in range(PER_SUBTASK)
    ]
    if name.startswith("subtask044"):
        examples.append({"input": "an example with no output", "target": [""]})  # dropped, as in the real set
    prefix = f"Definition: answer like {name}.\n\nThings to avoid: -\n\nPrompt: do it."
    return {"name": name, "task_prefix": prefix, "examples": examples}


def _xsum() -> dict:
    rows = [{"input": f"Article number {i} says something.\nIt goes on.", "target": f" Summary {i}. ",
             "comment": f"xsum-{i}"} for i in range(30)]  # fmt: skip
    rows.append({"input": rows[0]["input"], "target": "a repeat of article 0", "comment": "xsum-dup"})
    rows.append({"input": "An article without a summary.", "target": "  ", "comment": "xsum-empty"})
    return {"name": "xsum", "examples": rows}


def write_bigbench_sdist(folder: Path) -> Path:
    """``bigbench-1.0.0.tar.gz`` with the layout of the real sdist (a small part of its files)."""
    tasks = "bigbench-1.0.0/bigbench/benchmark_tasks"
    files = {f"{tasks}/natural_instructions/{name}/task.json": json.dumps(_subtask(name)) for name in SUBTASKS}
    files[f"{tasks}/gem/xsum/task.json"] = json.dumps(_xsum())
    files[f"{tasks}/gem/wikilingua_en/task.json"] = json.dumps({"name": "wikilingua_en", "examples": []})
    files[f"{tasks}/arithmetic/task.json"] = "{}"  # outside the unpacked members
    files["bigbench-1.0.0/setup.py"] = "from setuptools import setup\nsetup(name='bigbench', version='1.0.0')\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bigbench-1.0.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def bigbench(fake_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hand-placed sdist, fetched through the registry's ``bigbench`` entry (pip is never asked)."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    sdist = write_bigbench_sdist(downloads_dir("bigbench"))
    assert ensure_data("bigbench", progress=False) == data_dir("bigbench")
    return sdist


def test_a_hand_placed_sdist_is_unpacked_to_where_the_loaders_read(bigbench: Path) -> None:
    root = bigbench_tasks_root()
    assert len(list((root / "natural_instructions").glob("subtask*/task.json"))) == 61
    assert (root / "gem" / "xsum" / "task.json").is_file() and (root / "gem" / "wikilingua_en").is_dir()
    assert not (root / "arithmetic").exists()  # only the registry's members are unpacked
    assert is_present("bigbench")
    (source,) = read_manifest(data_dir("bigbench"))["archives"]  # unpinned: the file used is recorded
    assert source == {"requirement": "bigbench==1.0.0", "file": bigbench.name, "sha256": sha256_file(bigbench)}


def test_natural_instructions_reads_every_subtask_once_in_its_format(bigbench: Path) -> None:
    task = get_task("natural_instructions")
    assert task.is_available()
    train, test = task.load("train"), task.load("test")
    assert len(train) + len(test) == 61 * PER_SUBTASK  # the example without an output is dropped
    assert 0.07 < len(test) / (len(train) + len(test)) < 0.13  # about a tenth held out, by uid hash
    assert len({e.uid for e in train + test}) == len(train) + len(test)
    assert {e.group for e in train} == set(SUBTASKS) and {e.group for e in test} <= set(SUBTASKS)
    for e in train + test:
        assert e.prompt.startswith("Definition:") and "\n\nInput: " in e.prompt and e.prompt.endswith("\nOutput:")
        assert e.references[1:] == ("another output",) and e.target == " " + e.references[0]
    first = next(e for e in train + test if e.uid == "natural_instructions/subtask001_task1/0")
    assert first.prompt.endswith("\n\nInput: subtask001_task1 input 0.\nOutput:")
    assert first.references[0] == "Output 0 of subtask001_task1."


def test_xsum_reads_each_article_once_with_its_summary(bigbench: Path) -> None:
    examples = get_task("xsum").load("test")
    assert len(examples) == 30  # the repeated article and the empty summary are dropped
    assert len({e.uid for e in examples}) == 30 and examples[0].uid == "xsum/test/xsum-0"
    assert all(e.references and e.target.strip() and e.prompt.endswith("\nSummary:") for e in examples)
    assert examples[3].prompt.endswith("Article: Article number 3 says something. It goes on.\nSummary:")
    assert examples[3].target == " Summary 3."
