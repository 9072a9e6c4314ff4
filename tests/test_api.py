"""``fedmkt.api``: run a config, read its results, load a trained adapter; and the cards its adapters get.

One small tiny-model run (a baseline and one FedMKT round) serves every test: the adapter loaded
back must score exactly what the run recorded for it, and each adapter's card must carry the
run's base model, method, data sizes and scores.
"""

from __future__ import annotations

import json

import pytest
import torch
from huggingface_hub import ModelCard
from peft import PeftModel
from safetensors.torch import load_file

from fedmkt import api
from fedmkt.errors import FedMKTError
from fedmkt.evaluation import evaluate
from fedmkt.runners.split import build_split

TRAIN = {"lr": 3.0e-3, "batch_size": 2, "epochs": 2, "warmup_ratio": 0.0, "max_length": 64}  # adapters that move
CONFIG = {
    "name": "api-tiny", "task": "tiny_qa", "seed": 3,
    "server": {"model": "tiny-llama-unigram", "train": TRAIN},
    "clients": [{"model": "tiny-gpt2-bpe", "train": TRAIN},
                {"model": "tiny-opt-unigram", "train": TRAIN}],
    "data": {"public_size": 8, "private_size": 8, "eval_size": 8},
    "fedmkt": {"rounds": 3, "top_k": 8},
    "eval": {"bootstrap": 100},
    "methods": ["Standalone", "FedMKT-SLM", "FedMKT-LLM"],
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> api.RunResult:
    out = tmp_path_factory.mktemp("api") / "run"
    return api.run(CONFIG, out=out, overrides={"fedmkt.rounds": 1})


def test_run_returns_the_rows_it_wrote_and_overrides_apply(finished):
    assert finished.configs[0].fedmkt.rounds == 1  # the override, checked like the file's key
    assert finished.rows == api.load_results(finished.run_dir)
    methods = {r.method for r in finished.rows}
    assert methods == {"Standalone", "FedMKT-SLM", "FedMKT-LLM"}
    slm = finished.scores(method="FedMKT-SLM", participant="client-1")
    assert slm and all(r.ci_low <= r.value <= r.ci_high for r in slm)


@pytest.mark.parametrize(("method", "participant"), [("FedMKT-SLM", "client-1"), ("Standalone", "client-2"),
                                                     ("FedMKT-LLM", "server")])
def test_a_loaded_adapter_scores_what_the_run_recorded(finished, method, participant):
    model, tokenizer = api.load_adapter(finished.run_dir, method, participant)
    assert isinstance(model, PeftModel) and not model.training
    config = finished.configs[0]
    recorded = next(r for r in finished.rows if r.method == method and r.participant == participant)
    result = evaluate(model, tokenizer, build_split(config).eval, batch_size=config.eval.batch_size,
                      max_new_tokens=config.eval.max_new_tokens, seed=config.seed, n_bootstrap=config.eval.bootstrap)
    assert (result.metric, result.value, result.n) == (recorded.metric, recorded.value, recorded.n)
    where = f"{method}/{participant}" + (f"/round-{recorded.round}" if recorded.round is not None else "")
    per_example = json.loads((finished.run_dir / "scores" / f"{where}.json").read_text())
    assert result.predictions == per_example["predictions"]  # the same answer picked, example by example
    batch = tokenizer(build_split(config).eval[0].prompt, return_tensors="pt")
    with torch.no_grad():
        adapted = model(**batch).logits
        with model.disable_adapter():
            base = model(**batch).logits
    assert not torch.allclose(adapted, base)  # the adapter is there and changes the model


def test_the_loaded_weights_are_the_saved_adapters(finished):
    model, _ = api.load_adapter(finished.run_dir, "FedMKT-SLM", "client-1", round=1)
    saved = load_file(finished.run_dir / "adapters" / "FedMKT" / "round-1" / "client-1" / "adapter_model.safetensors")
    state = {k: v for k, v in model.state_dict().items() if "lora_" in k}
    assert len(state) == len(saved) > 0
    for key, value in saved.items():
        match = next(v for k, v in state.items() if k.replace(".default", "") == key)
        assert torch.equal(match, value)


@pytest.mark.parametrize(("call", "words"), [
    (lambda d: api.load_adapter(d, "FedMKT-SLM", "client-9"), ["no participant 'client-9'", "server, client-1"]),
    (lambda d: api.load_adapter(d, "FedAvg", "client-1"), ["no adapter of 'client-1' for FedAvg", "FedMKT/round-1"]),
    (lambda d: api.load_adapter(d, "FedMKT-SLM", "client-1", round=4), ["for FedMKT-SLM round 4"]),
    (lambda d: api.load_results(d / "adapters"), ["no results.json"]),
    (lambda d: api.run("nope.yaml"), ["config 'nope.yaml': no such file"]),
    (lambda d: api.run(CONFIG, out=d), ["already holds files"]),
    (lambda d: api.run(CONFIG, overrides={"fedmkt.roundz": 2}),
     ["unknown key 'fedmkt.roundz'", "did you mean 'fedmkt.rounds'"]),
])
def test_bad_calls_are_one_line_errors(finished, call, words):
    with pytest.raises(FedMKTError) as info:
        call(finished.run_dir)
    assert "\n" not in str(info.value)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_every_kept_adapter_has_a_card_naming_base_model_method_data_and_scores(finished):
    folders = sorted(p.parent for p in (finished.run_dir / "adapters").glob("**/adapter_config.json"))
    assert len(folders) == 2 + 3  # Standalone per client; FedMKT round 1: server and both clients
    split = json.loads(next(line for line in (finished.run_dir / "metrics.jsonl").read_text().splitlines()
                            if '"data_split"' in line))
    for folder in folders:
        card = ModelCard.load(folder / "README.md")
        assert "More Information Needed" not in card.text  # peft's template is replaced
        participant = folder.name
        row = next(r for r in finished.rows if r.participant == participant
                   and r.method in card.data.tags and (r.round is None) == ("round-" not in str(folder)))
        model = next(p.model for p in (finished.configs[0].server, *finished.configs[0].clients)
                     if p.name == participant)
        assert f"`{model}`" in card.text and f"{row.method}:" in card.text
        assert f"| {row.metric} | {row.value:.1f} | {row.ci_low:.1f}-{row.ci_high:.1f} | {row.n} |" in card.text
        assert card.data.library_name == "peft" and card.data.eval_results[0].metric_value == round(row.value, 2)
        if participant == "server":  # FedMKT's LLM trains on the public set alone
            assert f"| Data | public {split['public']}, eval {split['eval']} |" in card.text
        else:  # Standalone never reads the public set; FedMKT's SLMs read both
            private = split["private"][int(participant[-1]) - 1]
            public = "" if row.method == "Standalone" else f"public {split['public']}, "
            assert f"| Data | {public}private {private}, eval {split['eval']} |" in card.text


def test_the_readmes_api_example_calls_what_the_api_offers_with_parameters_it_takes():
    """The README's example runs the whole tiny preset (minutes), so here it is checked call by call;
    the calls themselves are the tests above."""
    import ast
    import inspect
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    section = readme[readme.index("### Python API"):]
    code = section[section.index("```python") + len("```python"):]
    tree = ast.parse(code[:code.index("```")])
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and isinstance(n.func.value, ast.Name) and n.func.value.id in ("api", "result")]
    assert {c.func.attr for c in calls} == {"run", "load_results", "load_adapter", "scores"}
    for call in calls:
        function = getattr(api.RunResult if call.func.value.id == "result" else api, call.func.attr)
        parameters = inspect.signature(function).parameters
        assert {k.arg for k in call.keywords} <= set(parameters), (call.func.attr, parameters)
        inspect.signature(function).bind_partial(*([None] if call.func.value.id == "result" else [])
                                                 + [None] * len(call.args), **{k.arg: None for k in call.keywords})


def test_an_adapter_folder_is_the_baselines_or_the_last_kept_round_unless_one_is_named(tmp_path):
    for folder in ("Standalone/client-1", "FedMKT/round-1/client-1", "FedMKT/round-2/client-1",
                   "FedMKT-FedAvg/round-1/client-1", "FedMKT/round-3/server"):
        (tmp_path / "adapters" / folder).mkdir(parents=True)
        (tmp_path / "adapters" / folder / "adapter_config.json").write_text("{}")
    where = {(m, r): api.adapter_folder(tmp_path, m, "client-1", r).relative_to(tmp_path / "adapters").as_posix()
             for m, r in [("Standalone", None), ("FedMKT-SLM", None), ("FedMKT-SLM", 1), ("FedMKT-SLM-FedAvg", None)]}
    assert where == {("Standalone", None): "Standalone/client-1", ("FedMKT-SLM", None): "FedMKT/round-2/client-1",
                     ("FedMKT-SLM", 1): "FedMKT/round-1/client-1",
                     ("FedMKT-SLM-FedAvg", None): "FedMKT-FedAvg/round-1/client-1"}
