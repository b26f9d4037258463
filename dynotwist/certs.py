"""Certificates for a cluster: a CA and one certificate per node, with ``cryptography``.

For local clusters, tests and trying TLS out; production clusters use their own PKI.
Keys are ECDSA P-256 (fast to make, accepted by OpenSSL, redis-cli and Python's ssl).
A node's certificate names its ``dyn_listen`` host (an IP address or a DNS name) in
its subjectAltName, and serves both as the TLS server's certificate (peers and clients
connecting to it) and as the client certificate it presents to peers.

``python -m dynotwist.certs DIR NAME=HOST ...`` writes ``DIR/ca.pem`` (the CA,
``tls_ca_file``), ``DIR/ca-key.pem`` (its key: keep it away from the nodes) and, per
node, ``DIR/NAME.pem`` (``tls_cert_file``) and ``DIR/NAME-key.pem`` (``tls_key_file``).
A CA already in DIR is used again, so that certificates can be added later (a client's
certificate for ``client_tls_ca_file``, a new node's).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
from typing import List, NamedTuple, Optional, Sequence, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "Authority",
    "NodeFiles",
    "issue",
    "load_authority",
    "main",
    "new_authority",
    "write_authority",
    "write_node_files",
]

DAY = datetime.timedelta(days=1)


class Authority(NamedTuple):
    """A CA: its certificate and private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self.key)


class NodeFiles(NamedTuple):
    """Where one node's files were written: its config's tls_* values."""

    ca_file: str
    cert_file: str
    key_file: str


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def new_authority(
    name: str = "dynotwist cluster CA", days: int = 3650, now: Optional[datetime.datetime] = None
) -> Authority:
    """A self-signed CA valid for ``days`` from ``now``."""
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(now + days * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return Authority(certificate, key)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def issue(
    authority: Authority,
    hosts: Sequence[str],
    days: int = 825,
    now: Optional[datetime.datetime] = None,
    not_before: Optional[datetime.datetime] = None,
) -> Tuple[bytes, bytes]:
    """A node certificate naming ``hosts`` (IPs or DNS names): (certificate PEM, key PEM).

    Valid from ``not_before`` (default: a day before ``now``) to ``now + days``.
    """
    if not hosts:
        raise ValueError("a node certificate names at least one host")
    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    ca = authority.certificate
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - DAY)
        .not_valid_after(now + days * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([_general_name(host) for host in hosts]), critical=False
        )
        # server and client: a node accepts peers and connects to them
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()), False
        )
        .sign(authority.key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _write(path: str, data: bytes, private: bool = False) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    with os.fdopen(os.open(path, flags, 0o600 if private else 0o644), "wb") as f:
        f.write(data)


def load_authority(directory: str) -> Optional[Authority]:
    """The CA written to ``directory`` earlier, or None if there is none."""
    try:
        with open(os.path.join(directory, "ca.pem"), "rb") as f:
            certificate = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(directory, "ca-key.pem"), "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except FileNotFoundError:
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("%s/ca-key.pem is not a key this module made" % directory)
    return Authority(certificate, key)


def write_authority(directory: str, authority: Authority) -> str:
    """Write ``ca.pem`` and ``ca-key.pem`` to ``directory``; the path of ``ca.pem``."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "ca.pem")
    _write(path, authority.pem)
    _write(os.path.join(directory, "ca-key.pem"), authority.key_pem, private=True)
    return path


def write_node_files(
    directory: str,
    name: str,
    authority: Authority,
    hosts: Sequence[str],
    days: int = 825,
    now: Optional[datetime.datetime] = None,
    not_before: Optional[datetime.datetime] = None,
) -> NodeFiles:
    """Write ``NAME.pem`` and ``NAME-key.pem`` (a certificate from :func:`issue`)
    beside ``ca.pem`` (written too if it is not there yet)."""
    os.makedirs(directory, exist_ok=True)
    cert_pem, key_pem = issue(authority, hosts, days, now, not_before)
    cert_file = os.path.join(directory, "%s.pem" % name)
    key_file = os.path.join(directory, "%s-key.pem" % name)
    ca_file = os.path.join(directory, "ca.pem")
    if not os.path.exists(ca_file):
        _write(ca_file, authority.pem)
    _write(cert_file, cert_pem)
    _write(key_file, key_pem, private=True)
    return NodeFiles(ca_file, cert_file, key_file)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dynotwist.certs",
        description="Make a CA and one certificate per node (for tls_ca_file, "
        "tls_cert_file, tls_key_file).",
    )
    parser.add_argument("directory", help="where the files go (created if needed)")
    parser.add_argument(
        "nodes", nargs="+", metavar="NAME=HOST[,HOST...]",
        help="a node: its file name and the hosts its certificate names (its dyn_listen "
        "host first), e.g. dc1-rack1=127.0.0.11",
    )
    parser.add_argument("--days", type=int, default=825, help="node certificates' validity")
    args = parser.parse_args(argv)
    nodes = []
    for spec in args.nodes:
        name, equals, hosts = spec.partition("=")
        if not equals or not name or not hosts or os.sep in name:
            parser.error("%r: expected NAME=HOST[,HOST...]" % spec)
        nodes.append((name, hosts.split(",")))
    authority = load_authority(args.directory)
    if authority is None:
        authority = new_authority()
        print("CA: %s (its key: ca-key.pem)" % write_authority(args.directory, authority))
    else:
        print("CA: %s (already there)" % os.path.join(args.directory, "ca.pem"))
    for name, hosts in nodes:
        files = write_node_files(args.directory, name, authority, hosts, days=args.days)
        print("%s: %s, %s (names %s)" % (name, files.cert_file, files.key_file, ", ".join(hosts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
