"""The ServerApp's run config (``[tool.flwr.app.config]``, ``flwr run --run-config``), checked.

Keys:

- ``experiment``: ``preset:<name>`` or a YAML file readable by the ServerApp (the SuperLink host);
- ``experiment-name``: which experiment of a suite (empty: the file holds one);
- ``method``: ``FedMKT``, ``FedMKT-FedAvg``, or a federated baseline, ``LLM2SLM`` or ``FedAvg``
  (the experiment must list the method's rows among its methods);
- ``out``: the run folder on the SuperLink host (empty: ``runs/flower-<run id>``);
- ``min-clients``: the run stops when fewer clients than this are left in a step;
- ``timeout``: seconds the server waits for the replies of one step;
- ``wait-nodes``: seconds to wait at start for every client's SuperNode to connect;
- ``resume``: continue the run in ``out`` after its last finished round (a new ``flwr run`` after
  the ServerApp or the SuperLink stopped); ``out`` must then name that run's folder;
- ``client-keys``: a folder on the SuperLink host holding each client's public key as
  ``<client>.pub`` (``fedmkt.deploy.flower.identity``): a node serves the client whose key it holds;
- ``trust-client-names``: ``true`` registers nodes by the client name they claim, unverified (the
  only way to run without ``client-keys``; logged as a warning and stated in ``results.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fedmkt.config import ExperimentConfig
from fedmkt.errors import FedMKTError
from fedmkt.federation.plan import VARIANTS, Variant, rows_of, variants_for

DEFAULTS: dict[str, str | int | float] = {
    "experiment": "preset:tiny",
    "experiment-name": "tiny-heterogeneous",
    "method": "FedMKT",
    "out": "",
    "min-clients": 2,
    "timeout": 600.0,
    "wait-nodes": 120.0,
    "resume": False,
    "client-keys": "",
    "trust-client-names": False,
}
"""The run config a generated app ships with (``fedmkt deploy app``)."""

METHODS = tuple(v.phase for v in VARIANTS)
ROWS = {v.phase: " or ".join(rows_of(v)) for v in VARIANTS}
"""The experiment methods (result rows) that make each run-config method run."""


@dataclass(frozen=True)
class Settings:
    experiment: str
    experiment_name: str
    method: str
    out: Path
    min_clients: int
    timeout: float
    wait_nodes: float
    resume: bool = False
    client_keys: Path | None = None
    trust_client_names: bool = False

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, object], run_id: int) -> Settings:
        """Checked settings; a missing key takes its :data:`DEFAULTS` value."""
        merged = {**DEFAULTS, **dict(run_config)}
        unknown = sorted(set(merged) - set(DEFAULTS))
        if unknown:
            raise FedMKTError(f"run config: unknown key {unknown[0]!r}; known: {', '.join(DEFAULTS)}")
        method = str(merged["method"])
        if method not in METHODS:
            raise FedMKTError(f"run config 'method': {method!r}, expected one of {', '.join(METHODS)}")
        numbers: dict[str, float] = {}
        for key, kind, low in (("min-clients", int, 1), ("timeout", float, 1e-3), ("wait-nodes", float, 0.0)):
            value = merged[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < low \
                    or (kind is int and value != int(value)):
                raise FedMKTError(f"run config {key!r}: {value!r}, expected a {kind.__name__} >= {low:g}")
            numbers[key] = kind(value)
        resume = merged["resume"]
        if not isinstance(resume, bool):
            raise FedMKTError(f"run config 'resume': {resume!r}, expected true or false")
        if resume and not merged["out"]:
            raise FedMKTError("run config 'resume': needs 'out', the folder of the run to continue")
        out = Path(str(merged["out"])).expanduser() if merged["out"] else Path("runs") / f"flower-{run_id}"
        keys, trust = merged["client-keys"], merged["trust-client-names"]
        if not isinstance(keys, str):
            raise FedMKTError(f"run config 'client-keys': {keys!r}, expected the path of a folder (a string)")
        if not isinstance(trust, bool):
            raise FedMKTError(f"run config 'trust-client-names': {trust!r}, expected true or false")
        if keys and trust:
            raise FedMKTError("run config: 'client-keys' and 'trust-client-names = true' contradict each other; "
                              "set one (client-keys: nodes are known by their keys)")
        return cls(str(merged["experiment"]), str(merged["experiment-name"]), method, out.resolve(),
                   int(numbers["min-clients"]), numbers["timeout"], numbers["wait-nodes"], resume,
                   Path(keys).expanduser().resolve() if keys else None, trust)


def pick_variant(config: ExperimentConfig, method: str) -> Variant:
    """The in-process runner's variant for ``method`` (its row names follow the experiment's methods)."""
    variants = {v.phase: v for v in variants_for(config.method_names)}
    if method not in variants:
        raise FedMKTError(f"run config 'method': {method!r} needs the experiment {config.name!r} to list "
                          f"{ROWS[method]} among its methods")
    return variants[method]
