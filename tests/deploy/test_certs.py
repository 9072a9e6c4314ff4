"""The CA, the SuperLink certificate and node keys are what TLS and Flower's node authentication accept."""

from __future__ import annotations

import socket
import ssl
import stat
import threading

import pytest

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key  # noqa: E402

from fedmkt.deploy.certs import make_node_keys, make_tls_files  # noqa: E402
from fedmkt.errors import FedMKTError  # noqa: E402


def test_server_certificate_names_its_hosts_and_passes_a_tls_handshake_against_the_ca(tmp_path):
    files = make_tls_files(tmp_path, ["127.0.0.1", "localhost", "link.example.org"])
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "link.example.org"]
    for key in (files.server_key, tmp_path / "ca.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(files.server_cert, files.server_key)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")

        thread = threading.Thread(target=serve)
        thread.start()
        client_ctx = ssl.create_default_context(cafile=str(files.ca_cert))  # verifies chain and host name
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.recv(2) == b"ok"
        thread.join()


def test_a_certificate_needs_a_host():
    with pytest.raises(FedMKTError, match="at least one host"):
        make_tls_files(__import__("pathlib").Path("unused"), [])


def test_node_keys_are_openssh_p384_and_the_public_half_matches(tmp_path):
    keys = make_node_keys(tmp_path, "node-1")
    private = load_ssh_private_key(keys.private.read_bytes(), None)
    public = load_ssh_public_key(keys.public.read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name == "secp384r1"
    assert public.public_numbers() == private.public_key().public_numbers()
    assert keys.public.read_text().endswith(" node-1\n")
    assert stat.S_IMODE(keys.private.stat().st_mode) == 0o600
