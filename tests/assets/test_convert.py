from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from fedmkt.assets.convert import (
    VERIFY_TEXT,
    load_gguf,
    mean_token_loss,
    parameter_count,
    plain_copy,
    verify_plain_folder,
    write_plain_folder,
)
from fedmkt.errors import FedMKTError

from .tiny_assets import write_tiny_gguf


@pytest.fixture(scope="module")
def gguf_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def loaded(gguf_path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    return load_gguf(gguf_path)


def test_load_gguf_gives_float32_model_with_quantization_config(loaded) -> None:
    model, tokenizer = loaded
    assert model.dtype == torch.float32 and not model.training
    assert hasattr(model.config, "quantization_config")
    assert tokenizer(VERIFY_TEXT).input_ids  # the GGUF's own BPE vocabulary


def test_load_gguf_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FedMKTError, match="GGUF file .*absent.gguf does not exist"):
        load_gguf(tmp_path / "absent.gguf")


def test_plain_copy_drops_gguf_state_and_keeps_weights(loaded) -> None:
    model, _ = loaded
    copy = plain_copy(model, torch.float32)
    assert not hasattr(copy.config, "quantization_config")
    assert parameter_count(copy) == parameter_count(model)
    for name, tensor in model.state_dict().items():
        assert torch.equal(copy.state_dict()[name], tensor), name


def test_bf16_folder_reloads_plainly_and_scores_like_the_gguf(loaded, tmp_path: Path) -> None:
    model, tokenizer = loaded
    params = write_plain_folder(model, tokenizer, tmp_path, torch.bfloat16)
    assert params == parameter_count(model)
    assert "quantization_config" not in json.loads((tmp_path / "config.json").read_text())
    checks = verify_plain_folder(tmp_path, model, tokenizer, torch.bfloat16)
    assert abs(checks["check_text_loss_saved"] - checks["check_text_loss_gguf"]) < 0.05
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert reloaded.dtype == torch.bfloat16
    assert AutoTokenizer.from_pretrained(tmp_path)(VERIFY_TEXT).input_ids == tokenizer(VERIFY_TEXT).input_ids


def test_float32_folder_gives_the_identical_loss(loaded, tmp_path: Path) -> None:
    model, tokenizer = loaded
    write_plain_folder(model, tokenizer, tmp_path, torch.float32)
    checks = verify_plain_folder(tmp_path, model, tokenizer, torch.float32)
    assert checks["check_text_loss_saved"] == pytest.approx(checks["check_text_loss_gguf"], abs=1e-5)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert mean_token_loss(reloaded, tokenizer, VERIFY_TEXT) == pytest.approx(
        checks["check_text_loss_gguf"], abs=1e-5
    )


def test_verify_catches_a_changed_tensor(loaded, tmp_path: Path) -> None:
    model, tokenizer = loaded
    write_plain_folder(model, tokenizer, tmp_path, torch.float32)
    weights = load_file(tmp_path / "model.safetensors")
    name = "model.layers.1.mlp.down_proj.weight"
    weights[name] = weights[name] + 1e-3
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(FedMKTError, match=f"tensor {name} differs from the GGUF tensor"):
        verify_plain_folder(tmp_path, model, tokenizer, torch.float32)


def test_verify_catches_a_tokenizer_that_splits_differently(loaded, tmp_path: Path) -> None:
    model, tokenizer = loaded
    write_plain_folder(model, tokenizer, tmp_path, torch.float32)
    spec = json.loads((tmp_path / "tokenizer.json").read_text())
    spec["model"]["merges"] = spec["model"]["merges"][:5]
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(FedMKTError, match="saved tokenizer gives"):
        verify_plain_folder(tmp_path, model, tokenizer, torch.float32)


def test_verify_catches_a_wrong_saved_dtype(loaded, tmp_path: Path) -> None:
    model, tokenizer = loaded
    write_plain_folder(model, tokenizer, tmp_path, torch.float32)
    with pytest.raises(FedMKTError, match="reloads as torch.float32, expected torch.bfloat16"):
        verify_plain_folder(tmp_path, model, tokenizer, torch.bfloat16)
