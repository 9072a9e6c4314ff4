"""Names resolve to (model, tokenizer): tiny names, local folders, packaged short names, hub ids."""

import pytest
import torch

from fedmkt.assets.registry import model_dir
from fedmkt.errors import FedMKTError
from fedmkt.models.loading import load_model_and_tokenizer, load_tokenizer, resolve_dtype
from fedmkt.models.tiny import build_tiny_model

IDS = torch.tensor([[5, 17, 42, 9, 3]])


def test_tiny_name_loads_in_eval_mode_fp32_on_cpu():
    model, tok = load_model_and_tokenizer("tiny-gpt2-bpe", seed=1)
    assert not model.training
    assert next(model.parameters()).dtype == torch.float32
    assert tok.pad_token is not None
    reference, _ = build_tiny_model("tiny-gpt2-bpe", seed=1)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=IDS).logits, reference(input_ids=IDS).logits)


def test_dtype_choice():
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    model, _ = load_model_and_tokenizer("tiny-llama-unigram", dtype="bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16
    with pytest.raises(FedMKTError, match="dtype 'fp8'"):
        resolve_dtype("fp8", "cpu")
    with pytest.raises(FedMKTError, match="device 'gpu0'"):
        load_model_and_tokenizer("tiny-llama-unigram", device="gpu0")


def test_local_folder_loads_the_saved_model_and_adds_a_missing_pad_token(tmp_path):
    model, tok = build_tiny_model("tiny-qwen2-wordpiece", seed=2)
    tok.pad_token = None  # a tokenizer without pad, like GPT-2's
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, loaded_tok = load_model_and_tokenizer(str(tmp_path))
    assert not loaded.training
    assert loaded_tok.pad_token == loaded_tok.eos_token
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=IDS).logits, model(input_ids=IDS).logits)
    assert load_tokenizer(str(tmp_path)).pad_token == loaded_tok.eos_token


def test_folder_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(FedMKTError, match="has no config.json"):
        load_model_and_tokenizer(str(tmp_path))


def test_unknown_hub_id_offline_names_the_known_models(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(FedMKTError) as err:
        load_model_and_tokenizer("someone/no-such-model")
    message = str(err.value)
    assert "'someone/no-such-model' is not a known short name" in message
    assert "unreachable (offline)" in message and "smollm2-135m" in message and "\n" not in message


@pytest.mark.real
@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_packaged_models_load_from_their_folders(name):
    if not (model_dir(name) / "config.json").is_file():
        pytest.skip(f"{model_dir(name)} is absent; run `fedmkt assets fetch {name}`")
    model, tok = load_model_and_tokenizer(name)
    assert not model.training and next(model.parameters()).dtype == torch.float32
    assert tok.pad_token is not None
    ids = tok("Question: What is the capital of France?\nAnswer:", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape[-1] >= len(tok) - 64 and torch.isfinite(logits).all()


def _saved_tiny(folder):
    model, tok = build_tiny_model("tiny-gpt2-bpe", seed=0)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_broken_model_folders_are_one_line_errors(tmp_path):
    """Each broken folder names itself and what is wrong; no transformers traceback leaks."""
    import json
    import shutil

    good = _saved_tiny(tmp_path / "good")
    cases = {}

    def variant(name, change):
        folder = tmp_path / name
        shutil.copytree(good, folder)
        change(folder)
        cases[name] = folder

    def drop_tokenizer(folder):
        for f in ("tokenizer.json", "tokenizer_config.json"):
            (folder / f).unlink()

    def empty_vocabulary(folder):
        spec = json.loads((folder / "tokenizer.json").read_text())
        spec["model"]["vocab"], spec["model"]["merges"], spec["added_tokens"] = {}, [], []
        (folder / "tokenizer.json").write_text(json.dumps(spec))

    def no_model_type(folder):
        config = json.loads((folder / "config.json").read_text())
        del config["model_type"]
        (folder / "config.json").write_text(json.dumps(config))

    variant("notok", drop_tokenizer)
    variant("emptyvocab", empty_vocabulary)
    variant("badjson", lambda f: (f / "config.json").write_text("{not json"))
    variant("nomodeltype", no_model_type)
    variant("badweights", lambda f: (f / "model.safetensors").write_bytes(b"\x00" * 64))
    expected = {
        "notok": "has no tokenizer: expected one of tokenizer.json",
        "emptyvocab": "has no vocabulary (vocab_size 0",
        "badjson": "unreadable config.json",
        "nomodeltype": "unreadable config.json",
        "badweights": "cannot load its weights",
    }
    for name, folder in cases.items():
        with pytest.raises(FedMKTError) as caught:
            load_model_and_tokenizer(str(folder))
        message = str(caught.value)
        assert expected[name] in message and "\n" not in message, (name, message)
        assert str(folder) in message or repr(str(folder)) in message
    with pytest.raises(FedMKTError, match="has no tokenizer"):
        load_tokenizer(str(cases["notok"]))
    with pytest.raises(FedMKTError, match=r"model folder .*nothere does not exist"):
        load_model_and_tokenizer(str(tmp_path / "nothere"))
