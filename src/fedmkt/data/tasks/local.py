"""Your own data as a task: ``task: ./my-data.jsonl`` or ``task: ./my-data/`` in a config.

A task name that looks like a path (it contains ``/``, starts with ``.`` or ``~``, or has a
file suffix; no packaged task name does) is read from disk. Relative paths in a config file are
relative to that file (``fedmkt.config.load_configs`` resolves them); elsewhere, to the working
directory. The full guide with examples is ``docs/data.md``.

Layout:

- one ``.jsonl`` file: train and eval pools are the same file, and the partitioner carves
  the eval set out of it first (as for RTE), so nothing is trained on and scored;
- a folder holding ``train.jsonl`` and optionally ``test.jsonl`` and ``validation.jsonl``:
  the eval set comes from ``test.jsonl``, else ``validation.jsonl``, else out of ``train.jsonl``.

Records: one JSON object per line, UTF-8 (a byte-order mark is allowed), blank lines skipped.
Every record of a task is the same kind, decided by the first record of ``train.jsonl``:

- multiple choice (it has ``choices``): ``question`` or ``prompt``, ``choices`` (at least two
  non-empty strings), ``answer`` (the 0-based index of the correct choice, or its exact text);
- generation: ``question`` or ``prompt``, and ``target`` (a non-empty string) and/or
  ``references`` (a list of strings; Rouge-L takes the best; the first is the training target
  when there is no ``target``);
- both kinds may add ``id`` (a string or integer, unique within the file; default the line
  number) and ``group`` (a string used by ``partition: dirichlet``; default the gold choice's
  index for multiple choice, none for generation).

Prompt format, as the packaged tasks use it: ``question`` becomes ``"Question: {question}\\nAnswer:"``;
``prompt`` is used as written (trailing whitespace dropped), so it should end right before the
answer. Choices and targets are continuations with one leading space (``" Paris"``); multiple
choice is scored by each choice's log-likelihood (acc), generation by Rouge-L.

Bad records stop loading with one line, ``<file>:<line>: <problem>; expected <what>``: a line
that is not JSON or not an object, non-UTF-8 bytes, a missing, unknown or mistyped field, an
empty answer, an answer index out of range, a duplicated id, a record of the other kind, a file
with no records.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

from fedmkt.data.example import Example
from fedmkt.data.tasks.base import Task, TaskKind, clean_references, mc_choices
from fedmkt.errors import FedMKTError

SPLIT_FILES = {"train": "train.jsonl", "validation": "validation.jsonl", "test": "test.jsonl"}
MC_FIELDS = ("question", "prompt", "choices", "answer", "id", "group")
GEN_FIELDS = ("question", "prompt", "target", "references", "id", "group")
_MC_NEEDS = "expected a multiple-choice record: question or prompt, choices, answer (see docs/data.md)"
_GEN_NEEDS = "expected a generation record: question or prompt, target or references (see docs/data.md)"
_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt", ".parquet")


def looks_like_path(name: str) -> bool:
    """Whether a ``task:`` value names a file or folder rather than a packaged task."""
    return "/" in name or "\\" in name or name.startswith((".", "~")) or name.lower().endswith(_SUFFIXES)


def task_label(name: str) -> str:
    """How tables name a task: a packaged task by its name, a local dataset by its file stem or folder name
    (the full path is in the run's ``config.yaml``)."""
    if not looks_like_path(name):
        return name
    path = Path(name.rstrip("/\\"))
    return path.stem if path.suffix.lower() in _SUFFIXES else path.name


def resolve_task_path(name: str, base: Path) -> Path:
    """``name`` as an absolute path: ``~`` expanded, relative paths taken from ``base`` (the config's folder)."""
    path = Path(name).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def split_files(path: Path) -> dict[str, Path]:
    """split -> file for a ``.jsonl`` file (``{"train": path}``) or a folder of split files."""
    if path.is_file():
        if path.suffix.lower() != ".jsonl":
            raise FedMKTError(f"{path}: dataset files must be JSON lines (.jsonl), one record per line; "
                              f"see docs/data.md")
        return {"train": path}
    if path.is_dir():
        files = {split: path / name for split, name in SPLIT_FILES.items() if (path / name).is_file()}
        if "train" not in files:
            raise FedMKTError(f"dataset folder {path} has no train.jsonl; expected train.jsonl and optionally "
                              f"test.jsonl and validation.jsonl")
        return files
    raise FedMKTError(f"dataset not found: {path} (expected a .jsonl file or a folder holding train.jsonl)")


def iter_records(path: Path) -> Generator[tuple[int, dict[str, Any]], None, None]:
    """``(line number, object)`` for every non-blank line of a JSON-lines file, read lazily.

    Raises one-line errors for bytes that are not UTF-8, lines that are not JSON objects and a
    file with no records.
    """
    found = False
    try:
        with path.open("rb") as handle:
            for line_no, line in enumerate(handle, start=1):
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise FedMKTError(f"{path}:{line_no}: not UTF-8 text ({exc.reason} at byte {exc.start} of "
                                      f"the line); expected UTF-8 JSON lines") from None
                text = (text.removeprefix("\ufeff") if line_no == 1 else text).rstrip("\r\n")
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise FedMKTError(f"{path}:{line_no}: not valid JSON ({exc.msg} at column {exc.colno}); "
                                      f"expected one JSON object per line") from None
                if not isinstance(record, dict):
                    raise FedMKTError(f"{path}:{line_no}: a JSON {type(record).__name__}; expected one JSON "
                                      f"object per line")
                found = True
                yield line_no, record
    except OSError as exc:
        raise FedMKTError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not found:
        raise FedMKTError(f"{path}: no records (the file is empty); expected one JSON object per line")


def record_kind(record: dict[str, Any]) -> TaskKind:
    """Multiple choice when the record lists ``choices``, else generation."""
    return "multiple_choice" if "choices" in record else "generation"


def _text(record: dict[str, Any], key: str, where: str) -> str:
    value = record[key]
    if not isinstance(value, str):
        raise FedMKTError(f"{where}: field '{key}' is a {type(value).__name__}; expected a string")
    if not value.strip():
        raise FedMKTError(f"{where}: field '{key}' is empty; expected non-empty text")
    return value


def _check_fields(record: dict[str, Any], kind: TaskKind, where: str) -> None:
    allowed, needs = (MC_FIELDS, _MC_NEEDS) if kind == "multiple_choice" else (GEN_FIELDS, _GEN_NEEDS)
    for key in record:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise FedMKTError(f"{where}: unknown field '{key}'{hint}; {needs}")
    if "question" in record and "prompt" in record:
        raise FedMKTError(f"{where}: has both 'question' and 'prompt'; expected one of them")
    if "question" not in record and "prompt" not in record:
        raise FedMKTError(f"{where}: missing field 'question' (or 'prompt'); {needs}")


def _prompt(record: dict[str, Any], where: str) -> str:
    if "question" in record:
        return f"Question: {_text(record, 'question', where).strip()}\nAnswer:"
    return _text(record, "prompt", where).rstrip()


def _gold_index(record: dict[str, Any], choices: list[str], where: str) -> int:
    if "answer" not in record:
        raise FedMKTError(f"{where}: missing field 'answer'; {_MC_NEEDS}")
    answer = record["answer"]
    if isinstance(answer, int) and not isinstance(answer, bool):
        if not 0 <= answer < len(choices):
            raise FedMKTError(f"{where}: answer index {answer} out of range; expected 0 to {len(choices) - 1} "
                              f"(0-based) for {len(choices)} choices")
        return answer
    if isinstance(answer, str):
        if not answer.strip():
            raise FedMKTError(f"{where}: field 'answer' is empty; expected a choice index or a choice's text")
        wanted = " ".join(answer.split())
        normal = [" ".join(c.split()) for c in choices]
        if wanted not in normal:
            raise FedMKTError(f"{where}: answer {answer!r} is not one of the choices; expected a 0-based index "
                              f"or the exact text of a choice")
        return normal.index(wanted)
    raise FedMKTError(f"{where}: field 'answer' is a {type(answer).__name__}; expected a 0-based choice index "
                      f"or the text of a choice")


def _choices(record: dict[str, Any], where: str) -> list[str]:
    choices = record["choices"]
    if not isinstance(choices, list) or len(choices) < 2:
        raise FedMKTError(f"{where}: field 'choices' is {choices!r}; expected a list of at least two strings")
    for i, choice in enumerate(choices):
        if not isinstance(choice, str) or not choice.strip():
            raise FedMKTError(f"{where}: choice {i} is {choice!r}; expected non-empty text")
    return choices


def _references(record: dict[str, Any], where: str) -> tuple[str, ...]:
    targets: list[str] = []
    if "target" in record:
        targets.append(_text(record, "target", where))
    if "references" in record:
        refs = record["references"]
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise FedMKTError(f"{where}: field 'references' is {refs!r}; expected a list of strings")
        targets += refs
    if "target" not in record and "references" not in record:
        raise FedMKTError(f"{where}: missing field 'target' (or 'references'); {_GEN_NEEDS}")
    references = clean_references(targets)
    if not references:
        raise FedMKTError(f"{where}: every reference is empty; expected at least one non-empty answer")
    return references


def _record_id(record: dict[str, Any], line_no: int, where: str) -> str:
    if "id" not in record:
        return f"line{line_no}"
    value = record["id"]
    if isinstance(value, bool) or not isinstance(value, str | int) or (isinstance(value, str) and not value):
        raise FedMKTError(f"{where}: field 'id' is {value!r}; expected a non-empty string or an integer")
    return str(value)


def _group(record: dict[str, Any], default: str, where: str) -> str:
    if "group" not in record:
        return default
    value = record["group"]
    if not isinstance(value, str):
        raise FedMKTError(f"{where}: field 'group' is a {type(value).__name__}; expected a string")
    return value


def parse_record(record: dict[str, Any], kind: TaskKind, uid_prefix: str, line_no: int, where: str) -> Example:
    """One checked record as an `Example`; ``where`` (``file:line``) starts every error."""
    if record_kind(record) != kind:
        other = "multiple-choice" if kind == "generation" else "generation"
        raise FedMKTError(f"{where}: a {other} record in a {kind.replace('_', ' ')} dataset (the first "
                          f"record of train.jsonl decides); expected every record of one kind")
    _check_fields(record, kind, where)
    prompt = _prompt(record, where)
    uid = f"{uid_prefix}/{_record_id(record, line_no, where)}"
    if kind == "multiple_choice":
        raw = _choices(record, where)
        choices, gold = mc_choices(raw, _gold_index(record, raw, where), where)
        return Example(uid=uid, prompt=prompt, target=choices[gold], choices=choices, gold=gold,
                       group=_group(record, str(gold), where))
    references = _references(record, where)
    return Example(uid=uid, prompt=prompt, target=" " + references[0], references=references,
                   group=_group(record, "", where))


def load_jsonl(path: Path, kind: TaskKind, uid_prefix: str) -> list[Example]:
    """Every record of ``path`` as an `Example` of ``kind``, in file order; ids must be unique."""
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for line_no, record in iter_records(path):
        where = f"{path}:{line_no}"
        example = parse_record(record, kind, uid_prefix, line_no, where)
        if example.uid in seen:
            raise FedMKTError(f"{where}: id {example.uid.rsplit('/', 1)[1]!r} already used on line "
                              f"{seen[example.uid]}; expected unique ids")
        seen[example.uid] = line_no
        examples.append(example)
    return examples


def local_task(path: Path) -> Task:
    """The task of a ``.jsonl`` file or a folder of split files (see the module docstring).

    Reads the first record of the train file, to know the task's kind; the rest is read by
    ``Task.load``.
    """
    path = path.expanduser().resolve()
    files = split_files(path)
    records = iter_records(files["train"])
    kind = record_kind(next(records)[1])
    records.close()
    name = task_label(str(path))
    eval_split = "test" if "test" in files else "validation" if "validation" in files else "train"
    return Task(
        name=name,
        kind=kind,
        metric="acc" if kind == "multiple_choice" else "rougeL",
        description=f"local {kind.replace('_', ' ')} data from {path}",
        splits=tuple(files),
        train_split="train",
        eval_split=eval_split,
        requires="none",
        source=str(path),
        loader=lambda split: load_jsonl(files[split], kind, f"{name}/{split}"),
        data_path=lambda: path,
    )


def load_examples(path: Path, uid_prefix: str) -> list[Example]:
    """One ``.jsonl`` file in this format, its first record deciding the kind: a Flower node's private data,
    written exactly as a ``task:`` file is (one format everywhere, docs/data.md)."""
    path = path.expanduser()
    if not path.is_file():
        raise FedMKTError(f"{path}: not a file; expected a JSON-lines file of examples (docs/data.md)")
    records = iter_records(path)
    kind = record_kind(next(records)[1])
    records.close()
    return load_jsonl(path, kind, uid_prefix)
