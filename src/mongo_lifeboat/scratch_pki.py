"""A throwaway certificate authority that admits exactly one client: Lifeboat itself.

A scratch server Lifeboat starts (a mount, a drill's staging, the history's and the demo's
servers) holds a restored moment of production data. SecantusDB has no localhost exception
and provisions users only over an unauthenticated connection, so instead of an open window
the server requires a client certificate from its first second: the CA, the server's key and
the one client key are made here, in a directory only this user can read, and never leave it.
A process without the client key fails the TLS handshake before it can send a command.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_VALID = datetime.timedelta(days=30)  # a mount lives hours; a clock skew of minutes is allowed


@dataclass(frozen=True)
class PrivatePKI:
    ca_file: Path
    server_cert_file: Path
    server_key_file: Path
    client_file: Path  # the client's certificate and key, as pymongo's tlsCertificateKeyFile

    def server_args(self) -> list[str]:
        return [
            "--tls-cert-file",
            str(self.server_cert_file),
            "--tls-key-file",
            str(self.server_key_file),
            "--tls-ca-file",
            str(self.ca_file),
            "--tls-require-client-cert",
        ]

    def uri_options(self) -> str:
        return f"tls=true&tlsCAFile={self.ca_file}&tlsCertificateKeyFile={self.client_file}"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _signed(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, issuer_key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def make_private_pki(directory: Path) -> PrivatePKI:
    """Write a fresh CA, a server certificate for 127.0.0.1 and one client certificate into
    ``directory`` (made mode 0700; it must not exist or be empty)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("lifeboat scratch CA")
    ca = (
        _signed("lifeboat scratch CA", ca_key, ca_name, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        _signed("localhost", server_key, ca_name, ca_key)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _signed("lifeboat", client_key, ca_name, ca_key).sign(ca_key, hashes.SHA256())
    pki = PrivatePKI(
        ca_file=directory / "ca.pem",
        server_cert_file=directory / "server.pem",
        server_key_file=directory / "server.key",
        client_file=directory / "client.pem",
    )
    _write_private(pki.ca_file, ca.public_bytes(serialization.Encoding.PEM))
    _write_private(pki.server_cert_file, server.public_bytes(serialization.Encoding.PEM))
    _write_private(pki.server_key_file, _key_pem(server_key))
    _write_private(pki.client_file, client.public_bytes(serialization.Encoding.PEM) + _key_pem(client_key))
    return pki
