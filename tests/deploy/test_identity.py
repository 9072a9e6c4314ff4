"""Client keys: the ``client-keys`` folder read strictly, node keys as the SuperLink reports them, fingerprints."""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from inprocess_grid import pem_of  # noqa: E402

from fedmkt.deploy.certs import make_node_keys  # noqa: E402
from fedmkt.deploy.flower.identity import ClientKeys, client_keys, fingerprint, node_key  # noqa: E402
from fedmkt.errors import FedMKTError  # noqa: E402

CLIENTS = ["client-1", "client-2"]


@pytest.fixture
def folder(tmp_path):
    for name in CLIENTS:
        make_node_keys(tmp_path, name)
    return tmp_path


def test_each_client_is_known_by_its_own_key_and_no_other(folder):
    keys = ClientKeys.load(folder, CLIENTS, "t")
    one, two = (node_key(pem_of(folder / f"{n}.pub")) for n in CLIENTS)
    assert (keys.owner(one), keys.owner(two)) == ("client-1", "client-2")
    stranger = make_node_keys(folder / "other", "client-1")  # same name, another key pair
    assert keys.owner(node_key(pem_of(stranger.public))) is None
    assert keys.owner(None) is None


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
def test_the_fingerprint_is_the_one_ssh_keygen_prints(folder):
    printed = subprocess.run(["ssh-keygen", "-lf", str(folder / "client-1.pub")], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    assert fingerprint(ClientKeys.load(folder, CLIENTS, "t").by_client["client-1"]) == printed


def _rsa_pub() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "client-2.pub").unlink(), "client-2.pub not found; every client of experiment 't' needs"),
    (lambda f: (f / "client-2.pub").write_text("ecdsa-sha2-nistp384 AAAAnotbase64 client-2\n"),
     "client-2.pub is not an OpenSSH public key"),
    (lambda f: (f / "client-2.pub").write_bytes(_rsa_pub()), "holds a RSAPublicKey, but SuperNode keys are EC"),
    (lambda f: (f / "client-2.pub").write_bytes(b"x" * 20000), "client-2.pub is 20000 bytes, not an OpenSSH"),
    (lambda f: shutil.copy(f / "client-1.pub", f / "client-2.pub"),
     "client-1.pub and client-2.pub hold the same key; each client needs its own"),
    (lambda f: shutil.rmtree(f), "is not a folder"),
], ids=["missing", "not-a-key", "rsa", "oversized", "shared", "no-folder"])
def test_a_bad_client_keys_folder_is_one_line_naming_the_file(folder, damage, message):
    damage(folder)
    with pytest.raises(FedMKTError, match=message) as info:
        ClientKeys.load(folder, CLIENTS, "t")
    assert "\n" not in str(info.value)


def test_a_client_name_that_is_no_plain_file_name_cannot_name_a_key_file(tmp_path):
    inner = tmp_path / "keys"
    inner.mkdir()
    make_node_keys(tmp_path, "x")  # keys/../x.pub exists: the name must not reach it
    with pytest.raises(FedMKTError, match="client name '../x' of experiment 't' cannot name a key file"):
        ClientKeys.load(inner, ["../x"], "t")


def test_without_client_keys_a_run_refuses_to_start_unless_names_are_trusted_explicitly(folder):
    with pytest.raises(FedMKTError, match="'client-keys': not set; .* or set 'trust-client-names = true'"):
        client_keys(None, False, CLIENTS, "t")
    assert client_keys(None, True, CLIENTS, "t") is None
    assert client_keys(folder, False, CLIENTS, "t").by_client.keys() == set(CLIENTS)


@pytest.mark.parametrize("reported", [b"", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                                      b"\x00" * 64, "rsa"], ids=["none", "bad-pem", "binary", "rsa"])
def test_a_node_key_that_is_missing_or_no_ec_key_is_none(reported):
    if reported == "rsa":
        reported = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert node_key(reported) is None


def test_a_node_key_in_pem_equals_the_same_key_read_from_its_pub_file(tmp_path):
    keys = make_node_keys(tmp_path, "n")
    public = serialization.load_ssh_public_key(keys.public.read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert node_key(pem_of(keys.public)) == der
