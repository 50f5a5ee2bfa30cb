"""TLS: with a certificate and key the gateway serves HTTPS (self-signed cert made here)."""

from __future__ import annotations

import datetime
import ipaddress

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from gateway_harness import GatewayProcess, KeyPool, envelope, post


def self_signed(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
                ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_https_with_cert_and_key(tmp_path):
    tls = self_signed(tmp_path)
    pool = KeyPool(tmp_path / "data", count=1)
    device, key = pool.take()
    with GatewayProcess(tmp_path / "data", tls=tls) as gw:
        assert gw.url.startswith("https://")
        with gw.client() as client:                       # verifies against our cert
            assert client.get("/healthz").status_code == 200
            assert post(client, envelope(key, device, 0)).status_code == 202
        with pytest.raises(httpx.HTTPError):              # plain HTTP is not served
            httpx.get(f"http://127.0.0.1:{gw.port}/healthz", timeout=5)
        with pytest.raises(httpx.ConnectError):           # and an unknown cert is refused
            httpx.get(f"{gw.url}/healthz", timeout=5)
