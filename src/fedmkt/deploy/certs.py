"""Certificates and keys for a Flower federation: a CA, the SuperLink's TLS certificate, node keys.

TLS: the SuperLink serves its Fleet, Control and Runtime APIs over HTTPS with a certificate
signed by a CA that every SuperNode (``--root-certificates``) and the ``flwr`` CLI
(``root-certificates`` in the connection) trust. The certificate must name every address
nodes dial (IP addresses and DNS names go into its subjectAltName).

SuperNode authentication: each node holds an EC private key (NIST P-384, OpenSSH format, as
``flower-supernode --auth-supernode-private-key`` reads it) and signs every Fleet request with
it; the SuperLink (``--enable-supernode-auth``) only accepts nodes whose OpenSSH public key was
registered beforehand with ``flwr supernode register``. A node with any other key is refused.

Everything is made with ``cryptography`` (a dependency of ``flwr``); private keys are written
with mode 0600. For a real federation, the CA key stays with whoever runs the SuperLink and
each node generates its own key pair and hands over only the public half.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedmkt.errors import FedMKTError


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the CA certificate and the SuperLink's certificate and key (PEM)."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


@dataclass(frozen=True)
class NodeKeys:
    """A SuperNode's key pair: private (OpenSSH PEM, stays on the node) and public (registered)."""

    private: Path
    public: Path


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)
    return path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fedmkt"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def make_tls_files(folder: Path, hosts: list[str], *, days: int = 365) -> TlsFiles:
    """Write ``ca.crt``, ``ca.key``, ``server.pem`` and ``server.key`` into ``folder``.

    Args:
        hosts: every IP address or DNS name the SuperLink is reached by (its subjectAltName),
            e.g. ``["127.0.0.1", "localhost"]`` for a loopback federation.
        days: validity of both certificates.
    """
    if not hosts:
        raise FedMKTError("make_tls_files: give at least one host name or IP address for the certificate")
    now = dt.datetime.now(dt.timezone.utc)
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_cert = (
        x509.CertificateBuilder().subject_name(_name("fedmkt federation CA")).issuer_name(_name("fedmkt federation CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server_cert = (
        x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca_cert.subject)
        .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    plain = serialization.NoEncryption()
    key_format = serialization.PrivateFormat.TraditionalOpenSSL
    _write(folder / "ca.key", ca_key.private_bytes(pem, key_format, plain), private=True)
    return TlsFiles(
        ca_cert=_write(folder / "ca.crt", ca_cert.public_bytes(pem)),
        server_cert=_write(folder / "server.pem", server_cert.public_bytes(pem)),
        server_key=_write(folder / "server.key", server_key.private_bytes(pem, key_format, plain), private=True),
    )


def make_node_keys(folder: Path, name: str) -> NodeKeys:
    """Write ``<name>.key`` (private, OpenSSH) and ``<name>.pub`` (OpenSSH public key) into ``folder``."""
    key = ec.generate_private_key(ec.SECP384R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return NodeKeys(
        private=_write(folder / f"{name}.key", private, private=True),
        public=_write(folder / f"{name}.pub", public + f" {name}\n".encode()),
    )
