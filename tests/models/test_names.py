"""What a ``model:`` string names, decided before any fetch or load; the hub asked once, briefly.

The hub is a small HTTP server in the test (``huggingface_hub.constants.ENDPOINT`` pointed at it)
answering as the real one does: a model it knows, ``401`` with ``X-Error-Code: RepoNotFound`` for
one it does not. An unreachable hub is a closed port; a cached hub model is a tiny model saved in
the hub cache's own layout.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from huggingface_hub import constants

from fedmkt.errors import FedMKTError
from fedmkt.models.loading import load_tokenizer
from fedmkt.models.names import ModelName, check_hub_ids, classify, near_miss, tiny_names
from fedmkt.models.tiny import build_tiny_model

# -- classify: no network ------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "kind"), [
    ("tiny-gpt2-bpe", "tiny"), ("tiny-llama-unigram-m", "tiny"), ("smollm2-135m", "packaged"),
    ("gemma3-270m", "packaged"), ("HuggingFaceTB/SmolLM2-360M", "hub"), ("gpt2", "hub"),
    ("org/smollm-135m", "hub"),  # a hub id is never taken for a typo of a short name
])
def test_each_form_of_name_is_classified(name, kind):
    assert classify(name, "server.model") == ModelName("server.model", name, kind)


def test_an_existing_folder_is_a_folder_and_a_missing_path_is_refused(tmp_path):
    assert classify(str(tmp_path), "clients[1].model").kind == "folder"
    with pytest.raises(FedMKTError, match=r"^'clients\[1\].model': model folder .*nope' does not exist"):
        classify(str(tmp_path / "nope"), "clients[1].model")


@pytest.mark.parametrize(("typo", "meant"), [
    ("smollm-135m", "smollm2-135m"), ("SmolLM2-135M", "smollm2-135m"), ("gemma-270m", "gemma3-270m"),
    ("smollm2-135", "smollm2-135m"), ("tiney-gpt2-bpe", "tiny-gpt2-bpe"), ("tiny-lama-bpe", "tiny-llama-bpe"),
    ("tiny-gpt2-bpee", "tiny-gpt2-bpe"), ("tiny-gpt2-bpe-xl", "tiny-gpt2-bpe-m"),
])
def test_a_near_miss_of_a_known_name_is_refused_with_did_you_mean(typo, meant):
    with pytest.raises(FedMKTError) as info:
        classify(typo, "clients[0].model")
    message = str(info.value)
    assert message.startswith("'clients[0].model': ") and f"did you mean {meant!r}?" in message
    assert "\n" not in message


@pytest.mark.parametrize("junk", ["a b", "x/y/z", "org/na--me", "-lead", "é"])
def test_a_string_no_name_can_be_is_refused_naming_the_field(junk):
    with pytest.raises(FedMKTError, match=r"^'server.model': .* is not a model name; expected a packaged short name"):
        classify(junk, "server.model")


def test_near_miss_covers_every_tiny_name_and_leaves_unrelated_ids_alone():
    assert len(tiny_names()) == 30 and all(near_miss(n) == n for n in tiny_names())
    assert near_miss("gpt2") is None and near_miss("distilgpt2") is None and near_miss("bert-base-uncased") is None


# -- the hub: one look-up, a short answer ----------------------------------------------------------

class _Hub(BaseHTTPRequestHandler):
    known = {"acme/real-model"}
    asked: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?")[0]
        repo = path.removeprefix("/api/models/")
        _Hub.asked.append(path)
        if repo in self.known:
            body = json.dumps({"id": repo, "_id": "x", "private": False}).encode()
            self.send_response(200)
        else:
            body = b'{"error": "Repository not found"}'
            self.send_response(401)
            self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def online(monkeypatch) -> Iterator[None]:
    """A reachable hub (this test's server) and the process not in offline mode, both restored after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hub.asked = []
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    yield
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unreachable(monkeypatch) -> None:
    """The hub at a port nothing listens on; the process not in offline mode."""
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")


def cache_hub_model(cache: Path, repo_id: str, tiny: str = "tiny-gpt2-bpe") -> None:
    """A tiny model in the hub cache's layout (refs/main -> snapshots/<commit>/), as a download leaves it."""
    commit = "0" * 40
    root = cache / f"models--{repo_id.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    model, tokenizer = build_tiny_model(tiny, seed=0)
    model.save_pretrained(root / "snapshots" / commit)
    tokenizer.save_pretrained(root / "snapshots" / commit)


def _hub(name: str, field: str = "clients[0].model") -> list[ModelName]:
    return [ModelName("server.model", "tiny-llama-unigram", "tiny"), ModelName(field, name, "hub")]


def test_a_hub_id_the_hub_knows_passes_after_one_look_up(online):
    assert check_hub_ids(_hub("acme/real-model")) is False
    assert [p for p in _Hub.asked if p.startswith("/api/models/")] == ["/api/models/acme/real-model"]
    assert not constants.HF_HUB_OFFLINE


def test_a_hub_id_the_hub_does_not_know_is_one_line_naming_the_field(online):
    with pytest.raises(FedMKTError, match=r"^'clients\[0\].model': 'acme/nope' is not a model on the Hugging Face hub"):
        check_hub_ids(_hub("acme/nope"))


def test_offline_mode_asks_nothing_and_names_the_field(online, monkeypatch, tmp_path):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(FedMKTError) as info:
        check_hub_ids(_hub("acme/real-model", "clients[2].model"))
    assert str(info.value).startswith("'clients[2].model': hub id 'acme/real-model' cannot be fetched: the "
                                      "Hugging Face hub is unreachable (HF_HUB_OFFLINE is set)")
    assert _Hub.asked == []  # not one request


def test_an_unreachable_hub_is_one_line_when_the_model_is_not_cached(unreachable, monkeypatch, tmp_path):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(FedMKTError, match=r"^'clients\[0\].model': hub id 'acme/m' cannot be fetched: the Hugging "
                                          r"Face hub is unreachable \(.+\) and the local hub cache does not hold it"):
        check_hub_ids(_hub("acme/m"))
    assert not constants.HF_HUB_OFFLINE


def test_an_unreachable_hub_with_the_model_cached_switches_to_the_cache(unreachable, monkeypatch, tmp_path):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    cache_hub_model(tmp_path / "hub", "acme/cached")
    assert check_hub_ids(_hub("acme/cached")) is True
    assert constants.HF_HUB_OFFLINE and os.environ["HF_HUB_OFFLINE"] == "1"  # loading reads the cache, no retries
    assert len(load_tokenizer("acme/cached")) == len(load_tokenizer("tiny-gpt2-bpe"))
