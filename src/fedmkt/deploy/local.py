"""A Flower federation on 127.0.0.1: one SuperLink, N SuperNodes, TLS and node authentication.

For trying the deployment on one machine and for its test. :class:`LocalFederation` writes a CA
and server certificate, starts ``flower-superlink`` (TLS, ``--enable-supernode-auth``,
``--disable-runtime-dependency-installation``), registers each node's public key with
``flwr supernode register`` (key pairs are named after the client whose node holds them, so the
``keys`` folder is also the run config's ``client-keys``), starts ``flower-supernode`` processes
with their node configs and submits the app with ``flwr run``. Every process runs in its own
process group with telemetry and update checks off; :meth:`LocalFederation.stop` ends each group
and any descendant that left it (Flower's SuperExec starts its own session), so nothing outlives
the federation.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import psutil
import tomli_w

from fedmkt.deploy.certs import NodeKeys, make_node_keys, make_tls_files
from fedmkt.errors import FedMKTError

CONNECTION = "fedmkt-local"
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def config_args(values: Mapping[str, str | int | float | bool]) -> str:
    """``key=value`` pairs as ``--node-config`` / ``--run-config`` read them (TOML values)."""
    return " ".join(f"{key}={tomli_w.dumps({'v': value})[4:].strip()}" for key, value in values.items())


def flower_env(flwr_home: Path) -> dict[str, str]:
    """The environment for Flower processes: this Python's scripts first, telemetry and update checks off."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(FLWR_TELEMETRY_ENABLED="0", FLWR_DISABLE_UPDATE_CHECK="1", FLWR_HOME=str(flwr_home))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


class LocalFederation:
    """Processes of one loopback federation under ``workdir`` (certificates, keys, logs, Flower homes)."""

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        self.workdir = workdir.resolve()
        self.port = port or free_port()
        self.address = f"{HOST}:{self.port}"
        self.home = self.workdir / "flwr-home"
        self.logs = self.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.tls = make_tls_files(self.workdir / "tls", [HOST, "localhost"])
        self.procs: dict[str, subprocess.Popen] = {}
        self._write_connection()

    def _write_connection(self) -> None:
        """The ``flwr`` CLI's config: a connection to this SuperLink that trusts our CA."""
        self.home.mkdir(parents=True, exist_ok=True)
        text = tomli_w.dumps({"superlink": {"default": CONNECTION, CONNECTION: {
            "address": self.address, "root-certificates": str(self.tls.ca_cert)}}})
        (self.home / "config.toml").write_text(text, encoding="utf-8")

    def spawn(self, name: str, args: list[str], home: Path) -> subprocess.Popen:
        """Start ``args`` in a new session with the Flower environment; output to ``logs/<name>.log``."""
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=flower_env(home),
                                cwd=self.workdir, start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def flwr(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """Run the ``flwr`` CLI against this federation; raises with its output when it fails."""
        result = subprocess.run(["flwr", *args], capture_output=True, text=True, env=flower_env(self.home),
                                cwd=self.workdir, timeout=timeout)
        if result.returncode != 0:
            raise FedMKTError(f"flwr {' '.join(args)} failed ({result.returncode}): "
                              f"{(result.stdout + result.stderr).strip()[-500:]}")
        return result

    def start_superlink(self, wait: float = 60.0) -> None:
        """Start the SuperLink (TLS, node authentication) and wait until its port answers."""
        t = self.tls
        self.spawn("superlink", [
            "flower-superlink", "--ssl-ca-certfile", str(t.ca_cert), "--ssl-certfile", str(t.server_cert),
            "--ssl-keyfile", str(t.server_key), "--enable-supernode-auth", "--disable-runtime-dependency-installation",
            "--host", HOST, "--port", str(self.port),
        ], self.home)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.procs["superlink"].poll() is not None:
                raise FedMKTError(f"flower-superlink exited; see {self.logs / 'superlink.log'}")
            with socket.socket() as sock:
                if sock.connect_ex((HOST, self.port)) == 0:
                    return
            time.sleep(0.25)
        raise FedMKTError(f"flower-superlink did not listen on {self.address} within {wait:g} s")

    @property
    def keys_folder(self) -> Path:
        """Where :meth:`node_keys` writes key pairs: named by client, it is the run config's ``client-keys``."""
        return self.workdir / "keys"

    def node_keys(self, name: str) -> NodeKeys:
        """A new key pair ``keys/<name>.key`` / ``.pub`` (name it after the client whose node holds it)."""
        return make_node_keys(self.keys_folder, name)

    def register(self, keys: NodeKeys) -> int:
        """Register a node's public key with the SuperLink (only registered nodes may connect); its node id."""
        result = self.flwr("supernode", "register", str(keys.public), CONNECTION)
        found = re.search(r"SuperNode (\d+) registered", result.stdout)
        if found is None:
            raise FedMKTError(f"flwr supernode register {keys.public}: no node id in its output: "
                              f"{result.stdout.strip()[-200:]}")
        return int(found.group(1))

    def start_supernode(self, name: str, keys: NodeKeys, node_config: Mapping[str, str | int | float | bool],
                        *, max_wait: float | None = None) -> subprocess.Popen:
        """Start a SuperNode that signs its requests with ``keys`` (its own Flower home and Runtime API port)."""
        args = ["flower-supernode", "--root-certificates", str(self.tls.ca_cert), "--superlink", self.address,
                "--auth-supernode-private-key", str(keys.private), "--port", str(free_port()),
                "--node-config", config_args(node_config)]
        if max_wait is not None:
            args += ["--max-wait-time", f"{max_wait:g}"]
        return self.spawn(name, args, self.workdir / "nodes" / name / "flwr-home")

    def run_app(self, app: Path, run_config: Mapping[str, str | int | float | bool],
                name: str = "flwr-run") -> subprocess.Popen:
        """``flwr run --stream`` of ``app`` with ``run_config`` (output in ``logs/<name>.log``); ends with the run."""
        return self.spawn(name, ["flwr", "run", str(app), CONNECTION, "--stream",
                                        "--run-config", config_args(run_config)], self.home)

    def kill(self, name: str) -> None:
        """SIGKILL a process, its group and every descendant (a node that crashes)."""
        proc = self.procs.pop(name, None)
        if proc is not None:
            _end(proc, signal.SIGKILL, grace=0.0)

    def stop(self) -> None:
        """End every process this federation started (SIGTERM, then SIGKILL after a grace period)."""
        for name in reversed(list(self.procs)):
            _end(self.procs.pop(name), signal.SIGTERM, grace=10.0)

    def __enter__(self) -> LocalFederation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _family(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _end(proc: subprocess.Popen, sig: signal.Signals, grace: float) -> None:
    """Signal ``proc``'s group and descendants, wait ``grace`` seconds, then SIGKILL whatever is left.

    Descendants are collected first: Flower's SuperExec runs in its own session, so the group
    signal misses it and, once its parent is gone, so would a later look-up.
    """
    family = _family(proc.pid)
    for send in (lambda: os.killpg(proc.pid, sig), *(lambda p=p: p.send_signal(sig) for p in family)):
        try:
            send()
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    _, alive = psutil.wait_procs(family, timeout=grace)
    leftovers = alive + [child for p in alive for child in _family(p.pid)]
    for target in leftovers:
        try:
            target.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
