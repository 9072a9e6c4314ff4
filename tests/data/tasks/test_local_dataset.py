"""Local JSON-lines datasets as tasks: the schema, the layouts, and one line per bad record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedmkt.config import load_configs
from fedmkt.data.tasks import get_task
from fedmkt.data.tasks.local import local_task, looks_like_path, task_label
from fedmkt.errors import FedMKTError

MC = [
    {"question": "What colour is the sky?", "choices": ["blue", "green", "red"], "answer": 0},
    {"question": "Which is a fruit?", "choices": ["stone", "apple"], "answer": "apple", "id": "q2", "group": "food"},
    {"prompt": "Capital of France:", "choices": ["Paris", "Rome"], "answer": 0},
]
GEN = [
    {"prompt": "Reverse: a b\nOutput:", "target": "b a"},
    {"question": "Name a colour.", "references": ["red", "blue", " "], "id": 7},
    {"prompt": "Say hi", "target": "hi", "references": ["hello", "hi"]},
]


def write_jsonl(path: Path, records: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_multiple_choice_file_maps_onto_examples_with_the_packaged_prompt_format(tmp_path):
    path = write_jsonl(tmp_path / "quiz.jsonl", MC)
    task = get_task(str(path))
    assert (task.name, task.kind, task.metric, task.splits) == ("quiz", "multiple_choice", "acc", ("train",))
    assert task.train_split == task.eval_split == "train"  # one file: the eval set is carved out of it
    first, second, third = task.load("train")
    assert first.prompt == "Question: What colour is the sky?\nAnswer:"
    assert first.choices == (" blue", " green", " red") and first.gold == 0 and first.target == " blue"
    assert (first.uid, first.group) == ("quiz/train/line1", "0")
    assert (second.gold, second.target, second.uid, second.group) == (1, " apple", "quiz/train/q2", "food")
    assert third.prompt == "Capital of France:" and third.target == " Paris"


def test_generation_folder_with_train_and_test(tmp_path):
    write_jsonl(tmp_path / "gen" / "train.jsonl", GEN)
    write_jsonl(tmp_path / "gen" / "test.jsonl", GEN[:1])
    task = local_task(tmp_path / "gen")
    assert (task.kind, task.metric, task.eval_split, set(task.splits)) == (
        "generation", "rougeL", "test", {"train", "test"})
    first, second, third = task.load("train")
    assert first.target == " b a" and first.references == ("b a",) and not first.is_multiple_choice
    assert second.prompt == "Question: Name a colour.\nAnswer:" and second.references == ("red", "blue")
    assert second.target == " red" and second.uid == "gen/train/7"
    assert third.target == " hi" and third.references == ("hi", "hello")
    assert task.load("test")[0].uid == "gen/test/line1"


def test_blank_lines_and_a_byte_order_mark_are_fine(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(MC[0]).encode() + b"\n\n   \n" + json.dumps(MC[2]).encode())
    assert [e.uid for e in local_task(path).load("train")] == ["bom/train/line1", "bom/train/line4"]


def test_paths_are_recognised_and_relative_to_the_config_file(tmp_path, monkeypatch):
    assert all(looks_like_path(p) for p in ("./d", "d/train.jsonl", "~/d", "data.jsonl", "/abs/d", "x.csv"))
    assert not any(looks_like_path(p) for p in ("arc_easy", "tiny_qa", "super_natural_instructions"))
    write_jsonl(tmp_path / "exp" / "data" / "train.jsonl", MC)
    config = tmp_path / "exp" / "c.yaml"
    config.write_text("task: ./data\nserver: {model: tiny-llama-unigram}\nclients: [{model: tiny-gpt2-bpe}]\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    (loaded,) = load_configs(config)
    assert loaded.task == str((tmp_path / "exp" / "data").resolve())
    assert len(get_task(loaded.task).load("train")) == 3
    assert loaded.task_label == get_task(loaded.task).name == "data"  # tables show the name, not the path
    config.write_text(config.read_text().replace("./data", "./nothere.jsonl"))
    with pytest.raises(FedMKTError, match=r"c.yaml: 'task': dataset not found at .*exp/nothere.jsonl"):
        load_configs(config)


def _line(record) -> bytes:
    return record if isinstance(record, bytes) else json.dumps(record).encode()


BAD_RECORDS = [  # (case, the bad line, words the error must hold)
    ("not json", b'{"question": "q", "choices": ["a", "b"], "answer": 0', "not valid JSON"),
    ("not an object", b'["q", ["a", "b"], 0]', "a JSON list; expected one JSON object"),
    ("non-UTF-8", b'{"question": "caf\xe9", "choices": ["a", "b"], "answer": 0}', "not UTF-8 text"),
    ("missing answer", {"question": "q", "choices": ["a", "b"]}, "missing field 'answer'"),
    ("missing question", {"choices": ["a", "b"], "answer": 0}, "missing field 'question' (or 'prompt')"),
    ("both prompt kinds", {"question": "q", "prompt": "p", "choices": ["a", "b"], "answer": 0}, "both"),
    ("empty question", {"question": "  ", "choices": ["a", "b"], "answer": 0}, "field 'question' is empty"),
    ("index out of range", {"question": "q", "choices": ["a", "b"], "answer": 2}, "answer index 2 out of range"),
    ("negative index", {"question": "q", "choices": ["a", "b"], "answer": -1}, "answer index -1 out of range"),
    ("answer not a choice", {"question": "q", "choices": ["a", "b"], "answer": "c"}, "not one of the choices"),
    ("empty answer text", {"question": "q", "choices": ["a", "b"], "answer": ""}, "field 'answer' is empty"),
    ("boolean answer", {"question": "q", "choices": ["a", "b"], "answer": True}, "'answer' is a bool"),
    ("empty choice", {"question": "q", "choices": ["a", ""], "answer": 0}, "choice 1 is ''"),
    ("one choice", {"question": "q", "choices": ["a"], "answer": 0}, "expected a list of at least two strings"),
    ("typo in a field", {"question": "q", "choices": ["a", "b"], "anwser": 0}, "did you mean 'answer'"),
    ("bad id", {"question": "q", "choices": ["a", "b"], "answer": 0, "id": 1.5}, "field 'id' is 1.5"),
    ("duplicate id", {"question": "q", "choices": ["a", "b"], "answer": 0, "id": "q2"}, "already used on line 2"),
    ("other kind", {"prompt": "p", "target": "t"}, "a generation record in a multiple choice dataset"),
]


@pytest.mark.parametrize("case, bad, words", BAD_RECORDS, ids=[c[0] for c in BAD_RECORDS])
def test_each_bad_record_is_one_line_naming_file_and_line(tmp_path, case, bad, words):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"\n".join([_line(MC[0]), _line(MC[1]), b"", _line(bad), _line(MC[2])]) + b"\n")
    with pytest.raises(FedMKTError) as caught:
        local_task(path).load("train")
    message = str(caught.value)
    assert message.startswith(f"{path}:4: ") and words in message and "\n" not in message
    assert "expected" in message


BAD_GENERATION = [
    ("no target", {"prompt": "p"}, "missing field 'target' (or 'references')"),
    ("empty target", {"prompt": "p", "target": ""}, "field 'target' is empty"),
    ("only blank references", {"prompt": "p", "references": [" ", ""]}, "every reference is empty"),
    ("references not a list", {"prompt": "p", "references": "r"}, "expected a list of strings"),
    ("target not text", {"prompt": "p", "target": 3}, "field 'target' is a int; expected a string"),
    ("other kind", {"prompt": "p", "choices": ["a", "b"], "answer": 0}, "a multiple-choice record"),
]


@pytest.mark.parametrize("case, bad, words", BAD_GENERATION, ids=[c[0] for c in BAD_GENERATION])
def test_bad_generation_records(tmp_path, case, bad, words):
    write_jsonl(tmp_path / "g" / "train.jsonl", GEN)
    test_file = write_jsonl(tmp_path / "g" / "test.jsonl", [GEN[0], bad])
    task = local_task(tmp_path / "g")
    assert len(task.load("train")) == 3
    with pytest.raises(FedMKTError, match=f"^{test_file}:2: .*{words}".replace("(", r"\(").replace(")", r"\)")):
        task.load("test")


def test_bad_files_and_folders(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")
    with pytest.raises(FedMKTError, match=r"empty.jsonl: no records \(the file is empty\)"):
        get_task(str(empty))
    (tmp_path / "folder").mkdir()
    with pytest.raises(FedMKTError, match="has no train.jsonl"):
        get_task(str(tmp_path / "folder"))
    with pytest.raises(FedMKTError, match="dataset not found"):
        get_task(str(tmp_path / "missing.jsonl"))
    csv = tmp_path / "data.csv"
    csv.write_text("question,answer\n")
    with pytest.raises(FedMKTError, match=r"must be JSON lines \(.jsonl\)"):
        get_task(str(csv))


def test_tables_name_a_local_dataset_by_its_file_or_folder_not_its_path():
    assert [task_label(t) for t in ("/home/me/exp/quiz.jsonl", "./data/", "~/d/mine", "arc_easy")] == [
        "quiz", "data", "mine", "arc_easy"]
