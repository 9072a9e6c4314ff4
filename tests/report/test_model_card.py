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
