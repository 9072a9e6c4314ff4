"""One tiny homogeneous run shared by the report tests (about 10 s on an idle 2-core CPU, 30 s under load).

Two clients with the same tiny model make SLM-ZS and FedAvg rows copies of client-1's scoring, and
the methods cover claims (a)-(e); two rounds make "the final round" a real choice.
"""

from pathlib import Path

import pytest
from rich.console import Console

from fedmkt.config import load_configs
from fedmkt.runners.local import run_suite

CONFIG = """\
# fedmkt run homogeneous.yaml
name: tiny-homogeneous
task: tiny_qa
server:
  model: tiny-llama-unigram
  lora: &lora {r: 4, alpha: 8, dropout: 0.0}
  train: &train {lr: 3.0e-3, batch_size: 8, max_length: 48}
clients:
  - &client {model: tiny-gpt2-bpe, lora: *lora, train: *train}
  - *client
data: {public_size: 8, private_size: 8, eval_size: 8}
eval: {batch_size: 16, bootstrap: 100}
fedmkt: {rounds: 2, top_k: 8}
methods: [LLM-ZS, SLM-ZS, Standalone, Centralized-LLM, FedAvg, FedMKT-SLM-FedAvg, FedMKT-LLM-FedAvg]
"""


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    """(folder holding the config file, the run folder)."""
    root = tmp_path_factory.mktemp("report")
    configs = root / "configs"
    configs.mkdir()
    (configs / "homogeneous.yaml").write_text(CONFIG)
    run_dir = root / "runs" / "tiny-homogeneous"
    with open(root / "console.txt", "w") as sink:
        run_suite(load_configs(configs / "homogeneous.yaml"), run_dir, show_progress=False, console=Console(file=sink))
    return configs, run_dir


DOMAINS = """\
# fedmkt run domains.yaml
name: tiny-domains
domains:
  - {task: tiny_qa}
  - {task: ./sums.jsonl, public_size: 6}
  - {task: tiny_gen, eval_size: 6}
server:
  model: tiny-llama-unigram
  lora: &lora {r: 4, alpha: 8, dropout: 0.0}
  train: &train {lr: 3.0e-3, batch_size: 8, max_length: 48}
clients:
  - {model: tiny-gpt2-bpe, domains: [tiny_qa], lora: *lora, train: *train}
  - {model: tiny-opt-unigram, domains: [sums], lora: *lora, train: *train}
data: {public_size: 4, private_size: 8, eval_size: 8}
eval: {batch_size: 16, bootstrap: 100, max_new_tokens: 4}
fedmkt: {rounds: 1, top_k: 8}
methods: [LLM-ZS, SLM-ZS, Standalone, FedMKT-SLM, FedMKT-LLM]
"""
"""Three domains, two of them scored by accuracy (tiny_qa and a JSON-lines task written here) and one no
client holds (tiny_gen: only its public share and eval set)."""


@pytest.fixture(scope="session")
def tiny_domain_run(tmp_path_factory) -> tuple[Path, Path]:
    """(folder holding the config file, the run folder) of a small domain federation."""
    import json

    root = tmp_path_factory.mktemp("domains")
    configs = root / "configs"
    configs.mkdir()
    records = [{"question": f"What is {i % 7} plus {i % 5}?", "choices": [str(i % 7 + i % 5), str(i % 7 + i % 5 + 1)],
                "answer": 0, "id": i} for i in range(40)]
    (configs / "sums.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (configs / "domains.yaml").write_text(DOMAINS)
    run_dir = root / "runs" / "tiny-domains"
    with open(root / "console.txt", "w") as sink:
        run_suite(load_configs(configs / "domains.yaml"), run_dir, show_progress=False, console=Console(file=sink))
    return configs, run_dir
