"""FedMKT: federated mutual knowledge transfer between one server LLM and client SLMs."""

__version__ = "0.1.0"
