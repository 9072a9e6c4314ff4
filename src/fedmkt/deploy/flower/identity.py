"""Which client a SuperNode serves: the client whose public key the SuperLink authenticated it with.

Flower 1.41 binds every node id to one EC public key: ``flwr supernode register`` stores the key
and gives it a node id, and the SuperLink accepts a Fleet request for that node id only when it
is signed with the matching private key (``flwr.superlink.routers.fleet.node_auth``). The
ServerApp reads each connected node's key from ``grid.get_nodes()`` (``NodeInfo.public_key``).

So the server knows who a node is without believing it: the run config's ``client-keys`` folder
holds each client's public key as ``<client>.pub`` (OpenSSH, the very file the client's
organisation handed over and the operator registered), and a node *is* the client whose key it
holds. The name its ClientApp states in ``query.info`` must agree (``registration``). A node
whose key is no client's is refused before it is sent anything, not even the experiment.

Without ``client-keys`` a Flower run refuses to start, unless the run config sets
``trust-client-names = true``: then nodes are registered by the name they claim (any node the
SuperLink admits can take any client's slot), which the ServerApp logs as a warning and
``results.md`` states.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fedmkt.errors import FedMKTError

MAX_KEY_FILE_BYTES = 16 * 1024
"""An OpenSSH EC public key is one line of under 300 bytes; a larger file is not one."""


def fingerprint(der: bytes) -> str:
    """The key's ``SHA256:...`` fingerprint, as ``ssh-keygen -lf <client>.pub`` prints it."""
    key = serialization.load_der_public_key(der)
    blob = base64.b64decode(key.public_bytes(serialization.Encoding.OpenSSH,
                                             serialization.PublicFormat.OpenSSH).split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def node_key(public_key: bytes) -> bytes | None:
    """The DER form of a node's key as the SuperLink reports it (PEM), ``None`` when it has none or
    it is no EC key (a node the SuperLink admitted always has one; anything else is refused)."""
    if not public_key:
        return None
    try:
        key = serialization.load_pem_public_key(public_key)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return _der(key) if isinstance(key, ec.EllipticCurvePublicKey) else None


def _read_key(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(path)
    if path.stat().st_size > MAX_KEY_FILE_BYTES:
        raise FedMKTError(f"run config 'client-keys': {path} is {path.stat().st_size} bytes, not an OpenSSH "
                          f"public key (one line, e.g. the .pub file `fedmkt deploy node-key` writes)")
    try:
        key = serialization.load_ssh_public_key(path.read_bytes())
    except (ValueError, UnsupportedAlgorithm) as err:
        raise FedMKTError(f"run config 'client-keys': {path} is not an OpenSSH public key ({err})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise FedMKTError(f"run config 'client-keys': {path} holds a {type(key).__name__.lstrip('_')}, but "
                          f"SuperNode keys are EC keys (P-384: `fedmkt deploy node-key`)")
    return _der(key)


@dataclass(frozen=True)
class ClientKeys:
    """Each client's public key (DER), read from the ``client-keys`` folder."""

    folder: Path
    by_client: dict[str, bytes]

    def owner(self, der: bytes | None) -> str | None:
        """The client whose key ``der`` is (``None``: no client's)."""
        return next((name for name, key in self.by_client.items() if key == der), None) if der else None

    @classmethod
    def load(cls, folder: Path, clients: Sequence[str], experiment: str) -> ClientKeys:
        """``<client>.pub`` for every client of the experiment; one line naming what is wrong otherwise."""
        if not folder.is_dir():
            raise FedMKTError(f"run config 'client-keys': {folder} is not a folder (it must hold <client>.pub "
                              f"for each client)")
        by_client: dict[str, bytes] = {}
        for name in clients:
            if Path(name).name != name or name in (".", ".."):
                raise FedMKTError(f"run config 'client-keys': client name {name!r} of experiment {experiment!r} "
                                  f"cannot name a key file; give the client a plain name in the experiment")
            path = folder / f"{name}.pub"
            try:
                key = _read_key(path)
            except FileNotFoundError:
                raise FedMKTError(f"run config 'client-keys': {path} not found; every client of experiment "
                                  f"{experiment!r} needs its public key there") from None
            twin = next((other for other, known in by_client.items() if known == key), None)
            if twin is not None:
                raise FedMKTError(f"run config 'client-keys': {twin}.pub and {name}.pub hold the same key; "
                                  f"each client needs its own key pair")
            by_client[name] = key
        return cls(folder, by_client)


def client_keys(folder: Path | None, trust_client_names: bool, clients: Sequence[str],
                experiment: str) -> ClientKeys | None:
    """The run's client keys; ``None`` only when the run config explicitly trusts claimed names."""
    if folder is not None:
        return ClientKeys.load(folder, clients, experiment)
    if trust_client_names:
        return None
    raise FedMKTError("run config 'client-keys': not set; name the folder on the SuperLink host that holds each "
                      "client's public key as <client>.pub (the file registered with `flwr supernode register`), "
                      "or set 'trust-client-names = true' to register nodes by the client they claim, unverified")
