"""Phase checkpoints: exact round trips, a torn commit never taken as complete, blobs cleaned up."""

from __future__ import annotations

import json
import os

import pytest
import torch

from fedmkt.errors import FedMKTError
from fedmkt.models.lora import attach_lora, get_adapter_state, load_adapter, set_adapter_state
from fedmkt.models.tiny import build_tiny_model
from fedmkt.report.results import ResultRow
from fedmkt.runners.checkpoint import PhaseCheckpoint, PhaseState

NAMES = ["server", "client-1"]
ROW = ResultRow(scenario="heterogeneous", method="FedMKT-SLM", model="tiny-gpt2-bpe", role="slm",
                participant="client-1", task="tiny_qa", metric="acc", value=37.5, n=8, ci_low=12.5,
                ci_high=62.5, round=1)


@pytest.fixture
def model():
    base, _ = build_tiny_model("tiny-gpt2-bpe")
    return attach_lora(base, r=4, alpha=8, dropout=0.0)


def _perturb(model, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(v.shape, generator=gen) for k, v in get_adapter_state(model).items()}
    set_adapter_state(model, state)
    return state


def _state(**fields) -> PhaseState:
    state = PhaseState(round=1, done=["private/client-1"], own_nll={"client-1": {"u1": 1.0 / 3.0}},
                       timings={"model_compute": 0.5})
    for key, value in fields.items():
        setattr(state, key, value)
    return state


def test_commit_then_load_restores_adapters_messages_rows_and_state_exactly(tmp_path, model):
    weights = _perturb(model, 1)
    state = _state(done=["private/client-1", "upload/client-1"], uploads={"client-1": b"\x00up\xff"},
                   server_payload=b"down", rows=[ROW], phase_seconds=12.25)
    (tmp_path / "metrics.jsonl").write_text('{"event": "x"}\n')
    PhaseCheckpoint(tmp_path, "FedMKT").commit(state, "upload/client-1", NAMES, {
        "adapter/client-1": model, "upload/client-1": b"\x00up\xff", "server_payload": b"down"})

    _perturb(model, 2)
    saved = PhaseCheckpoint(tmp_path, "FedMKT").load(NAMES)
    assert saved.state == state
    assert set(saved.adapters) == {"client-1"}
    load_adapter(model, saved.adapters["client-1"])
    assert all(torch.equal(weights[k], v) for k, v in get_adapter_state(model).items())
    manifest = json.loads((tmp_path / "checkpoints" / "FedMKT" / "manifest.json").read_text())
    assert (manifest["metrics_bytes"], manifest["comm_bytes"]) == (len('{"event": "x"}\n'), 0)


def test_a_commit_killed_before_its_manifest_leaves_the_previous_one_whole(tmp_path, model, monkeypatch):
    store = PhaseCheckpoint(tmp_path, "FedMKT")
    first = _perturb(model, 1)
    store.commit(_state(), "private/client-1", NAMES, {"adapter/client-1": model})
    _perturb(model, 2)
    late = _state(done=["private/client-1", "client_kd/client-1"])

    def killed(src, dst):  # the process dies between the fsync of the new manifest and its rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        store.commit(late, "client_kd/client-1", NAMES, {"adapter/client-1": model})
    monkeypatch.undo()

    saved = PhaseCheckpoint(tmp_path, "FedMKT").load(NAMES)
    assert saved.state.done == ["private/client-1"]
    load_adapter(model, saved.adapters["client-1"])
    assert all(torch.equal(first[k], v) for k, v in get_adapter_state(model).items())


def test_blobs_are_never_rewritten_and_unreferenced_ones_are_removed(tmp_path, model):
    store = PhaseCheckpoint(tmp_path, "FedMKT")
    blobs = tmp_path / "checkpoints" / "FedMKT" / "blobs"
    state = _state(uploads={"client-1": b"one"})
    store.commit(state, "private/client-1", NAMES, {"adapter/client-1": model, "upload/client-1": b"one"})
    first = set(os.listdir(blobs))
    state.done.append("client_kd/client-1")
    store.commit(state, "client_kd/client-1", NAMES, {"adapter/client-1": model})
    second = set(os.listdir(blobs))
    assert len(first) == len(second) == 2 and first != second  # the new adapter has a new name
    state.start_round(2)  # uploads belong to their round
    state.done.append("private/client-1")
    store.commit(state, "private/client-1", NAMES, {"adapter/client-1": model})
    assert os.listdir(blobs) == ["r2-private-client-1-adapter-client-1"]
    assert not list((tmp_path / "checkpoints").rglob("*.tmp"))


def test_a_checkpoint_that_does_not_fit_is_refused_in_one_line(tmp_path, model):
    store = PhaseCheckpoint(tmp_path, "FedMKT")
    store.commit(_state(), "private/client-1", NAMES, {"adapter/client-1": model})
    with pytest.raises(FedMKTError, match=r"saved for participants .*delete that folder") as other:
        store.load(["server", "client-1", "client-2"])
    assert "\n" not in str(other.value)
    for blob in (tmp_path / "checkpoints" / "FedMKT" / "blobs").iterdir():
        for file in blob.iterdir():
            file.unlink()
        blob.rmdir()
    with pytest.raises(FedMKTError, match=r"adapter/client-1 file blobs/.* is missing"):
        store.load(NAMES)


def _flip(path, offset: int) -> None:
    """Invert one byte of ``path`` (a bit rot that keeps the length)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _blob_file(tmp_path, suffix: str):
    (path,) = [p for p in (tmp_path / "checkpoints" / "FedMKT" / "blobs").rglob("*") if p.name.endswith(suffix)]
    return path


@pytest.mark.parametrize("suffix, damage, words", [
    ("adapter_model.safetensors", lambda p: p.write_bytes(p.read_bytes()[:100]), "is 100 bytes, the manifest recorded"),
    ("adapter_model.safetensors", lambda p: _flip(p, -3), "does not match the sha256"),
    ("adapter_config.json", lambda p: p.write_text(p.read_text().replace('"r": 4', '"r": 8')),
     "adapter_config.json does not match the sha256"),
    (".bin", lambda p: p.write_bytes(b"\x00dn"), "does not match the sha256"),
    ("adapter_config.json", lambda p: p.unlink(), "adapter_config.json is missing"),
], ids=["adapter-cut-short", "adapter-bytes-changed", "adapter-config-edited", "message-changed",
        "adapter-config-deleted"])
def test_a_damaged_blob_is_refused_in_one_line_naming_the_file(tmp_path, model, suffix, damage, words):
    store = PhaseCheckpoint(tmp_path, "FedMKT")
    store.commit(_state(uploads={"client-1": b"\x00up"}), "upload/client-1", NAMES,
                 {"adapter/client-1": model, "upload/client-1": b"\x00up"})
    path = _blob_file(tmp_path, suffix)
    damage(path)
    with pytest.raises(FedMKTError) as refused:
        PhaseCheckpoint(tmp_path, "FedMKT").load(NAMES)
    message = str(refused.value)
    assert "\n" not in message and words in message
    assert f"blobs/{path.parent.name}/{path.name}" in message or f"blobs/{path.name}" in message
    assert message.endswith("delete that folder to redo phase FedMKT from its first round")


def test_digests_follow_blobs_across_commits_and_a_reloaded_store_keeps_checking_them(tmp_path, model):
    store = PhaseCheckpoint(tmp_path, "FedMKT")
    store.commit(_state(uploads={"client-1": b"one"}), "upload/client-1", NAMES,
                 {"adapter/client-1": model, "upload/client-1": b"one"})
    reloaded = PhaseCheckpoint(tmp_path, "FedMKT")
    reloaded.load(NAMES)  # a resumed session: its next commit names the earlier blobs too
    state = _state(done=["private/client-1", "upload/client-1", "server_select"], uploads={"client-1": b"one"})
    reloaded.commit(state, "server_select", NAMES, {"server_payload": b"down"})
    manifest = json.loads((tmp_path / "checkpoints" / "FedMKT" / "manifest.json").read_text())
    blobs = {p.relative_to(tmp_path / "checkpoints" / "FedMKT").as_posix()
             for p in (tmp_path / "checkpoints" / "FedMKT" / "blobs").rglob("*") if p.is_file()}
    assert set(manifest["digests"]) == blobs  # every file, the earlier adapter and upload included
    _blob_file(tmp_path, "upload-client-1.bin").write_bytes(b"two")
    with pytest.raises(FedMKTError, match=r"upload-client-1.bin does not match the sha256"):
        PhaseCheckpoint(tmp_path, "FedMKT").load(NAMES)


def test_a_manifest_of_an_older_fedmkt_still_loads_and_a_cut_adapter_is_one_line(tmp_path, model):
    store = PhaseCheckpoint(tmp_path, "FedMKT")
    store.commit(_state(), "private/client-1", NAMES, {"adapter/client-1": model})
    manifest = tmp_path / "checkpoints" / "FedMKT" / "manifest.json"
    record = json.loads(manifest.read_text())
    del record["digests"]
    manifest.write_text(json.dumps(record))
    assert PhaseCheckpoint(tmp_path, "FedMKT").load(NAMES).state == _state()
    weights = _blob_file(tmp_path, "adapter_model.safetensors")
    weights.write_bytes(weights.read_bytes()[:50])
    with pytest.raises(FedMKTError, match=r"adapter_model.safetensors is unreadable \(") as refused:
        PhaseCheckpoint(tmp_path, "FedMKT").load(NAMES)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("field", ["round", "rows", "phase_seconds", "files"])
def test_a_manifest_missing_a_field_is_one_line(tmp_path, model, field):
    store = PhaseCheckpoint(tmp_path, "FedMKT")
    store.commit(_state(), "private/client-1", NAMES, {"adapter/client-1": model})
    manifest = tmp_path / "checkpoints" / "FedMKT" / "manifest.json"
    record = json.loads(manifest.read_text())
    del record[field]
    manifest.write_text(json.dumps(record))
    with pytest.raises(FedMKTError, match=rf"manifest field missing or malformed \(KeyError: '{field}'\)"):
        store = PhaseCheckpoint(tmp_path, "FedMKT")
        store.phase_seconds()
        store.load(NAMES)


@pytest.mark.parametrize("rng", [{"python": 1}, "x", {"python": [3, [1, 2], None], "numpy": {}, "torch": "AAAA"}],
                         ids=["python state not a triple", "not a mapping", "states of the wrong size"])
def test_a_manifest_with_unusable_rng_states_is_one_line(tmp_path, model, rng):
    PhaseCheckpoint(tmp_path, "FedMKT").commit(_state(), "private/client-1", NAMES, {"adapter/client-1": model})
    manifest = tmp_path / "checkpoints" / "FedMKT" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "rng": rng}))
    with pytest.raises(FedMKTError, match=r"manifest field missing or malformed") as refused:
        PhaseCheckpoint(tmp_path, "FedMKT").load(NAMES)
    assert "\n" not in str(refused.value)


LEDGERS = {"client-1": {"secret": 2**62 + 7, "history": [(1.1, 0.25, 8)], "phases": 2}}


def test_each_privacy_ledger_round_trips_exactly_and_a_damaged_one_is_one_line_naming_the_checkpoint(tmp_path):
    state = _state(privacy=LEDGERS)
    PhaseCheckpoint(tmp_path, "FedMKT").commit(state, "private/client-1", NAMES, {})
    assert PhaseCheckpoint(tmp_path, "FedMKT").load(NAMES).state.privacy == LEDGERS  # the secret's 63 bits too
    manifest_path = tmp_path / "checkpoints" / "FedMKT" / "manifest.json"
    for damaged in ({"client-1": {"secret": 1, "history": [[1.1, 0.25]], "phases": 2}},
                    {"client-1": {"history": [], "phases": 0}}, {"client-1": "x"}):
        manifest = json.loads(manifest_path.read_text())
        manifest["privacy"] = damaged
        manifest_path.write_text(json.dumps(manifest))
        with pytest.raises(FedMKTError, match="manifest field missing or malformed") as caught:
            PhaseCheckpoint(tmp_path, "FedMKT").load(NAMES)
        assert "\n" not in str(caught.value) and "delete that folder" in str(caught.value)
