"""An adapter's model card: what it says, what the hub reads from its metadata, and where it is written."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard

from fedmkt.federation.plan import VARIANTS
from fedmkt.report.model_card import AdapterFacts, _unscored_method, adapter_card, phase_of
from fedmkt.report.results import ResultRow


def _facts(**changes) -> AdapterFacts:
    row = ResultRow("heterogeneous", "FedMKT-SLM", "smollm2-135m", "slm", "client-2", "arc_easy", "acc", 41.25, 100,
                    31.5, 51.0, 2)
    facts = dict(base_model="smollm2-135m", method="FedMKT-SLM", participant="client-2", role="slm", task="arc_easy",
                 data={"public": 64, "private": 64, "eval": 100}, rounds=2, round=2, scores=[row], seed=0,
                 run_name="example")
    return AdapterFacts(**{**facts, **changes})


def _card(tmp_path, facts: AdapterFacts) -> ModelCard:
    (tmp_path / "README.md").write_text(adapter_card(facts))
    return ModelCard.load(tmp_path / "README.md")


def test_the_card_names_base_model_method_participant_data_and_scores_with_intervals(tmp_path):
    card = _card(tmp_path, _facts())
    text = card.text
    assert "| Base model | `smollm2-135m`: fedmkt's packaged SmolLM2-135M-Instruct" in text
    assert "| Method | FedMKT-SLM: a client's SLM after federated mutual knowledge transfer" in text
    assert "| Participant | client-2 (a client's SLM) |" in text and "| Adapter | after round 2 of 2 |" in text
    assert "| Data | public 64, private 64, eval 100 |" in text
    assert "| acc | 41.2 | 31.5-51.0 | 100 |" in text
    assert card.data.library_name == "peft" and "FedMKT-SLM" in card.data.tags
    result = card.data.eval_results[0]
    assert (result.metric_type, result.metric_value, result.dataset_name) == ("acc", 41.25, "arc_easy")
    assert card.data.base_model is None  # a packaged conversion is not the hub model it came from


def test_a_hub_base_model_goes_into_the_metadata_the_hub_links(tmp_path):
    card = _card(tmp_path, _facts(base_model="HuggingFaceTB/SmolLM2-360M"))
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-360M"


def test_user_text_stays_literal_and_an_unscored_round_says_so(tmp_path):
    card = _card(tmp_path, _facts(task="/data/{{ evil }}.jsonl", scores=[], round=1))
    assert "`/data/{{ evil }}.jsonl`" in card.text and "Not scored at this point of the run" in card.text
    assert card.data.eval_results is None


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.phase for v in VARIANTS])
def test_every_federated_methods_rows_map_to_its_adapter_folder(variant):
    for method, role in ((variant.slm_method, "slm"), (variant.llm_method, "llm")):
        if method is not None:
            assert phase_of(method) == variant.phase
            assert _unscored_method(variant.phase, role, federated=True) == method


def test_write_adapter_cards_gives_each_round_its_own_scores_and_the_llm_no_private_data(tmp_path):
    """A run folder as a two-round FedMKT run leaves it: each round's card shows that round's rows only."""
    import json

    from fedmkt.config import dump_config, parse_config
    from fedmkt.report.model_card import write_adapter_cards
    from fedmkt.report.results import write_results

    config = parse_config({"name": "two", "task": "tiny_qa", "server": {"model": "tiny-llama-unigram"},
                           "clients": [{"model": "tiny-gpt2-bpe"}, {"model": "tiny-opt-unigram"}],
                           "fedmkt": {"rounds": 2}, "methods": ["FedMKT-SLM", "FedMKT-LLM"]}, "t")
    (tmp_path / "config.yaml").write_text(dump_config(config))
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"event": "data_split", "public": 16, "private": [12, 20],
                                                        "eval": 30}) + "\n")
    sides = [("FedMKT-SLM", "slm", "client-1"), ("FedMKT-SLM", "slm", "client-2"), ("FedMKT-LLM", "llm", "server")]
    rows = [ResultRow("heterogeneous", method, "m", role, who, "tiny_qa", "acc", 10.0 * r + i, 30, 1.0, 99.0, r)
            for r in (1, 2) for i, (method, role, who) in enumerate(sides)]
    write_results(rows, tmp_path / "results.json")
    for r in (1, 2):
        for who in ("client-1", "client-2", "server"):
            folder = tmp_path / "adapters" / "FedMKT" / f"round-{r}" / who
            folder.mkdir(parents=True)
            (folder / "adapter_config.json").write_text("{}")
    assert len(write_adapter_cards(tmp_path)) == 6
    card = ModelCard.load(tmp_path / "adapters" / "FedMKT" / "round-1" / "client-2" / "README.md")
    assert "| acc | 11.0 | 1.0-99.0 | 30 |" in card.text and "| acc | 21.0 |" not in card.text
    assert "| Data | public 16, private 20, eval 30 |" in card.text and "after round 1 of 2" in card.text
    server = ModelCard.load(tmp_path / "adapters" / "FedMKT" / "round-2" / "server" / "README.md")
    assert "FedMKT-LLM:" in server.text and "| acc | 22.0 |" in server.text
    assert "| Data | public 16, eval 30 |" in server.text  # FedMKT's LLM trains on the public set alone


def test_a_domain_runs_card_gives_each_domain_its_own_result(tiny_domain_run):
    """Two domains scored by accuracy: each a model-index result of its own dataset, named in the scores table."""
    import yaml

    _, run_dir = tiny_domain_run
    card = (run_dir / "adapters" / "FedMKT" / "round-1" / "client-2" / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    results = meta["model-index"][0]["results"]
    assert [r["dataset"]["name"] for r in results] == ["tiny_qa", "sums", "tiny_gen"]
    assert [m["type"] for m in results[1]["metrics"]] == ["acc", "acc_norm", "acc_pmi"]
    assert "| sums acc |" in card and "| tiny_gen rougeL |" in card


@pytest.mark.parametrize(("method", "role", "public_sft", "kept"), [
    ("Standalone", "slm", True, ["private", "eval"]),
    ("FedAvg", "slm", True, ["private", "eval"]),
    ("FedMKT-SLM", "slm", False, ["public", "private", "eval"]),
    ("LLM2SLM", "slm", True, ["public", "private", "eval"]),
    ("FedMKT-LLM", "llm", True, ["public", "eval"]),
    ("Centralized-LLM", "llm", True, ["public", "private", "eval"]),
    ("Centralized-LLM", "llm", False, ["private", "eval"]),
])
def test_a_card_lists_only_the_sets_its_adapter_read(method, role, public_sft, kept):
    """Centralized-LLM without public SFT pools the private sets alone (baselines/centralized.py); Standalone and
    FedAvg never read the public set; FedMKT's LLM never reads private data."""
    from fedmkt.report.model_card import trained_on

    assert list(trained_on({"public": 32, "private": 96, "eval": 200}, method, role, public_sft)) == kept
