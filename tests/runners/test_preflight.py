"""Every size check `run` makes, made up front by `preflight`: `validate` and `run` refuse the same configs.

Tiny models (1024 positions, vocabularies of about a thousand tokens) and the tiny tasks, or a
JSON-lines task written by the test, make each limit cheap to reach.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedmkt.config import parse_config
from fedmkt.errors import FedMKTError
from fedmkt.evaluation import evaluate
from fedmkt.models.loading import load_model_and_tokenizer, load_tokenizer
from fedmkt.models.tiny import MAX_POSITIONS
from fedmkt.runners.local import run_experiment, run_suite
from fedmkt.runners.preflight import preflight, validated_text

BASE = {
    "task": "tiny_qa",
    "server": {"model": "tiny-llama-unigram"},
    "clients": [{"model": "tiny-gpt2-bpe"}, {"model": "tiny-opt-unigram"}],
    "data": {"public_size": 8, "private_size": 8, "eval_size": 8},
    "methods": ["SLM-ZS", "FedMKT-SLM", "FedMKT-LLM"],
}


def _config(**changes) -> object:
    data = {**BASE}
    for key, value in changes.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    return parse_config(data, "test.yaml")


def _refused(config, *words: str) -> str:
    with pytest.raises(FedMKTError) as info:
        preflight(config, show_progress=False)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    return message


def _mc_data(path: Path, n: int, long_choice: str | None = None, at: int = 0) -> Path:
    """A JSON-lines multiple-choice task of ``n`` records; record ``at`` gets ``long_choice`` as a wrong choice."""
    records = [{"question": f"What is {i} plus 1?", "choices": [str(i + 1), str(i + 2)], "answer": 0, "id": f"q{i}"}
               for i in range(n)]
    if long_choice is not None:
        records[at]["choices"][1] = long_choice
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


# -- what passes, and what the report says --------------------------------------------------------

def test_a_config_that_fits_passes_and_the_report_is_the_split_the_run_uses():
    config = _config()
    report = preflight(config, show_progress=False)
    assert [len(p) for p in report.split.private] == [8, 8] and len(report.split.eval) == 8
    names = [m.name for m in report.models]
    assert names == ["tiny-llama-unigram", "tiny-gpt2-bpe", "tiny-opt-unigram"]
    tokenizer = load_tokenizer("tiny-gpt2-bpe")
    gpt2 = report.models[1]
    assert gpt2.vocab_size == len(tokenizer) and gpt2.positions == MAX_POSITIONS
    longest = max(len(tokenizer(c, add_special_tokens=False)["input_ids"]) for ex in report.split.eval
                  for c in ex.choices)
    assert gpt2.longest_answer == longest  # the answers it will score, measured with its own tokenizer
    text = "\n".join(report.summary())
    assert f"public {len(report.split.public)}, private 8/8, dev 0" in text
    assert f"fedmkt.top_k 128 within every vocabulary (smallest: tiny-gpt2-bpe, {len(tokenizer)} tokens)" in text


def test_validate_text_is_the_resolved_yaml_followed_by_what_was_checked():
    import yaml

    text = validated_text([_config()], show_progress=False)
    assert yaml.safe_load(text)["data"]["eval_size"] == 8  # still YAML: the summary lines are comments
    checked = [line for line in text.splitlines() if line.startswith("# checked: experiment: ")]
    assert len(checked) == 5  # data, top_k, three models


def test_only_the_participants_a_method_uses_are_held_to_its_limits():
    """SLM-ZS alone: the server is neither scored nor trained, and nothing exchanges top-k rows."""
    config = _config(methods=["SLM-ZS"], fedmkt={"top_k": 10**6}, server={"train": {"max_length": 4096}})
    report = preflight(config, show_progress=False)
    assert [m.name for m in report.models] == ["tiny-gpt2-bpe", "tiny-opt-unigram"]
    _refused(_config(fedmkt={"top_k": 10**6}), "'fedmkt.top_k' is 1000000")  # with the exchange it matters


# -- each size check ------------------------------------------------------------------------------

def test_top_k_wider_than_a_vocabulary():
    smallest = len(load_tokenizer("tiny-gpt2-bpe"))
    preflight(_config(fedmkt={"top_k": smallest}), show_progress=False)  # equal: the whole distribution
    _refused(_config(fedmkt={"top_k": smallest + 1}), f"'fedmkt.top_k' is {smallest + 1}", "'tiny-gpt2-bpe'",
             f"expected at most {smallest}")


def test_eval_size_larger_than_the_eval_split():
    assert len(preflight(_config(data={"eval_size": 200}), show_progress=False).split.eval) == 200
    message = _refused(_config(data={"eval_size": 201}))
    assert message == ("data.eval_size: 201 requested, 200 available in tiny_qa's test split; expected at most 200 "
                       "(null takes them all)")


def test_private_and_public_sizes_larger_than_the_train_split():
    _refused(_config(data={"private_size": 197, "public_size": 7}),  # 7 + 2 x 197 = 401 > 400
             "data.public_size, data.private_size, data.dev_size: dev 0 + public 7 + 2 clients x 197 private = 401 "
             "examples requested, 400 available in tiny_qa's train split")
    preflight(_config(data={"private_size": 197, "public_size": 6}), show_progress=False)  # 400: fits
    _refused(_config(data={"public_size": 399, "private_size": None}),
             "399 for the sizes given + 1 for each of 2 unset sets (public, private) = 401 examples requested")
    _refused(_config(data={"dev_size": 390}), "dev 390 + public 8")


def test_sizes_of_a_one_file_task_count_the_eval_examples_taken_out_of_it(tmp_path):
    data = _mc_data(tmp_path / "mine.jsonl", 30)
    _refused(_config(task=str(data), data={"eval_size": 10, "public_size": 8, "private_size": 7}),
             "= 22 examples requested, 20 available in mine's train split once the 10 eval examples are taken out")


def test_train_max_length_past_a_models_positions():
    preflight(_config(clients=[{"model": "tiny-gpt2-bpe", "train": {"max_length": MAX_POSITIONS}}]),
              show_progress=False)
    _refused(_config(clients=[{"model": "tiny-gpt2-bpe"}, {"model": "tiny-opt-unigram",
                                                           "train": {"max_length": MAX_POSITIONS + 1}}]),
             f"'clients[1].train.max_length' is {MAX_POSITIONS + 1}, more than the {MAX_POSITIONS} positions of "
             "model 'tiny-opt-unigram'")


def test_generation_length_that_leaves_no_room_for_a_prompt():
    config = _config(task="tiny_gen", eval={"max_new_tokens": MAX_POSITIONS})
    _refused(config, f"'eval.max_new_tokens' is {MAX_POSITIONS}: scoring model", "leaves no room for the prompt")
    preflight(_config(task="tiny_gen", eval={"max_new_tokens": MAX_POSITIONS - 2}), show_progress=False)


def _words_for(tokenizer, tokens: int) -> str:
    """A choice text that is exactly ``tokens`` tokens under ``tokenizer`` (" cat" is one token)."""
    assert len(tokenizer(" cat cat", add_special_tokens=False)["input_ids"]) == 2
    return " ".join(["cat"] * tokens)


def _long_answer_task(folder: Path, answer_tokens: int, tokenizer) -> Path:
    """A task folder: ordinary train.jsonl, and a test.jsonl of one question with a long wrong choice.

    One question: the prefix-cached scoring batches contexts and answers of different examples into
    one width, so a long answer beside a longer prompt overruns the positions (a separate problem).
    """
    folder.mkdir()
    _mc_data(folder / "train.jsonl", 12)
    _mc_data(folder / "test.jsonl", 1, _words_for(tokenizer, answer_tokens))
    return folder


def test_an_answer_longer_than_the_context_is_refused_exactly_where_evaluation_would_refuse_it(tmp_path):
    """The boundary is evaluation's own: the longest answer it can score passes, one token more fails in both."""
    from fedmkt.runners.split import build_split

    model, tokenizer = load_model_and_tokenizer("tiny-gpt2-bpe")  # no BOS: an answer may fill all but 1 position

    def config(folder: Path):
        return _config(task=str(folder), clients=[{"model": "tiny-gpt2-bpe"}], methods=["SLM-ZS"],
                       data={"eval_size": 1, "public_size": 2, "private_size": 2})

    fits = config(_long_answer_task(tmp_path / "fits", MAX_POSITIONS - 1, tokenizer))
    report = preflight(fits, show_progress=False)
    assert report.models[0].longest_answer == MAX_POSITIONS - 1
    assert evaluate(model, tokenizer, report.split.eval, n_bootstrap=100).n == 1  # evaluation scores it too

    too_long = config(_long_answer_task(tmp_path / "long", MAX_POSITIONS, tokenizer))
    _refused(too_long, "'task' 'long': scoring model 'tiny-gpt2-bpe' would fail: example long/test/q0",
             f"longest continuation ({MAX_POSITIONS} tokens) leaves no room")
    with pytest.raises(FedMKTError, match="leaves no room for the prompt"):  # what a run met only after training
        evaluate(model, tokenizer, build_split(too_long).eval, n_bootstrap=100)


def _domains(*tasks: str, **changes) -> object:
    """A domain federation: client-1 holds the first task, client-2 the others."""
    data = {k: v for k, v in BASE.items() if k != "task"}
    data["domains"] = [{"task": t} for t in tasks]
    data["clients"] = [{**BASE["clients"][0], "domains": [_label(tasks[0])]},
                       {**BASE["clients"][1], "domains": [_label(t) for t in tasks[1:]]}]
    return parse_config({**data, **changes}, "test.yaml")


def _label(task: str) -> str:
    return Path(task).stem if "/" in task else task


def test_a_domain_federation_is_checked_domain_by_domain(tmp_path):
    """Each domain's sizes, each domain's eval answers against each scoring model; the field is the domain's."""
    report = preflight(_domains("tiny_qa", "tiny_gen"), show_progress=False)
    lines = report.summary()
    assert lines[:2] == ["experiment: tiny_qa (multiple_choice): public 8, private 8, dev 0 from the train split; "
                         "eval 8 from the test split",
                         "experiment: tiny_gen (generation): public 8, private 8, dev 0 from the train split; eval 8 "
                         "from the test split"]
    _refused(_domains("tiny_qa", "tiny_gen", domains=[{"task": "tiny_qa"}, {"task": "tiny_gen",
                                                                          "private_size": 393}]),
             "domains.1 (tiny_gen): data.public_size, domains.1.private_size, data.dev_size: dev 0 + public 8 + 1 "
             "clients x 393 private = 401 examples requested, 400 available in tiny_gen's train split")
    tokenizer = load_tokenizer("tiny-gpt2-bpe")
    long = _long_answer_task(tmp_path / "long", MAX_POSITIONS, tokenizer)
    config = _domains("tiny_qa", str(long), methods=["SLM-ZS"],
                      domains=[{"task": "tiny_qa"}, {"task": str(long), "eval_size": 1, "public_size": 2,
                                                     "private_size": 2}])
    _refused(config, "'domains.1.task' 'long': scoring model 'tiny-gpt2-bpe' would fail: example long/test/q0")


# -- run refuses the same, before it writes or trains anything -----------------------------------

@pytest.mark.parametrize("change, words", [
    ({"fedmkt": {"top_k": 5000}}, "'fedmkt.top_k' is 5000"),
    ({"data": {"eval_size": 500}}, "data.eval_size: 500 requested"),
    ({"data": {"private_size": 300}}, "data.public_size, data.private_size"),
    ({"clients": [{"model": "tiny-gpt2-bpe", "train": {"max_length": 2048}}]}, "'clients[0].train.max_length'"),
])
def test_run_refuses_before_the_run_folder_exists(tmp_path, change, words):
    out = tmp_path / "out"
    with pytest.raises(FedMKTError, match=words.replace("[", r"\[").replace("]", r"\]")):
        run_experiment(_config(**change), out, show_progress=False)
    assert not out.exists()  # no phase started, nothing to resume, nothing in the way of the next attempt


def test_run_refuses_a_long_answer_before_training(tmp_path):
    tokenizer = load_tokenizer("tiny-gpt2-bpe")
    config = _config(task=str(_long_answer_task(tmp_path / "d", 1100, tokenizer)), methods=["Standalone"],
                     data={"eval_size": 1, "public_size": 4, "private_size": 4})
    with pytest.raises(FedMKTError, match="leaves no room") as info:
        run_experiment(config, tmp_path / "out", show_progress=False)
    assert "--resume" not in str(info.value) and not (tmp_path / "out").exists()


def test_a_suite_is_checked_whole_before_its_first_experiment_runs(tmp_path):
    good = _config(name="good", methods=["SLM-ZS"])
    bad = _config(name="bad", methods=["SLM-ZS"], data={"eval_size": 300})
    with pytest.raises(FedMKTError, match="data.eval_size: 300 requested"):
        run_suite([good, bad], tmp_path / "suite", show_progress=False)
    assert not (tmp_path / "suite").exists()


# -- model names: resolvable before anything is fetched, the field named -------------------------

@pytest.fixture
def fedmkt_cli(monkeypatch, capfd):
    """``fedmkt_cli(*args) -> (exit code, stderr)`` through `fedmkt.cli.main` in this process."""
    import sys

    from fedmkt.cli import main

    def call(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["fedmkt", *args])
        capfd.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        return code, capfd.readouterr().err

    return call


@pytest.mark.parametrize(("field", "change", "words"), [
    ("clients[1].model", {"clients": [{"model": "tiny-gpt2-bpe"}, {"model": "smollm-135m"}]},
     ["unknown model 'smollm-135m' (did you mean 'smollm2-135m'?)"]),
    ("server.model", {"server": {"model": "Gemma3-270M"}}, ["did you mean 'gemma3-270m'?"]),
    ("clients[0].model", {"clients": [{"model": "tiny-gpt2-bp"}, {"model": "tiny-opt-unigram"}]},
     ["unknown tokenizer kind 'bp'", "did you mean 'tiny-gpt2-bpe'?"]),
    ("clients[1].model", {"clients": [{"model": "tiny-gpt2-bpe"}, {"model": "acme/not-cached"}]},
     ["hub id 'acme/not-cached' cannot be fetched: the Hugging Face hub is unreachable (HF_HUB_OFFLINE is set)"]),
])
def test_validate_and_run_refuse_an_unresolvable_model_name_at_once_naming_the_field(
        fedmkt_cli, tmp_path, field, change, words):
    import yaml

    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({**BASE, **change}))
    for args in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "out"), "--no-progress"]):
        code, err = fedmkt_cli(*args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: '{field}': "), err[-2000:]
        for word in words:
            assert word in lines[0], (word, lines[0])
    assert not (tmp_path / "out").exists()


def test_a_typo_is_refused_before_any_packaged_model_is_fetched(tmp_path, monkeypatch):
    fetched = []
    monkeypatch.setattr("fedmkt.assets.fetch.ensure_model", lambda name, **_: fetched.append(name))
    config = _config(server={"model": "gemma3-270m"}, clients=[{"model": "smolm2-135m"}])
    _refused(config, "'clients[0].model'", "did you mean 'smollm2-135m'?")
    assert fetched == []  # the server's packaged model was not downloaded for a run that cannot start


def test_a_broken_model_folder_is_named_by_its_field(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{not json")
    _refused(_config(clients=[{"model": "tiny-gpt2-bpe"}, {"model": str(tmp_path / "m")}]),
             "'clients[1].model': model folder", "unreadable config.json")
