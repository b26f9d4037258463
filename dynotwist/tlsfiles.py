"""The certificate and key files a configuration names, read and checked.

Used at startup, by ``twistd dynomite --test-conf`` and on SIGHUP, before any TLS
context is built, so that an operator gets one line naming the key, the path and what
is wrong: a file that cannot be read, a file without a PEM certificate (or key), a key
that does not match its certificate, a CA that is not a CA, a certificate that is not
signed by the CA, expired or not yet valid. A certificate expiring within
:data:`WARN_DAYS` days, or one that does not name the node's ``dyn_listen`` host, is
a warning.

Which files are read:

- peer TLS (``tls_ca_file``, ``tls_cert_file``, ``tls_key_file``): when both
  ``tls_ca_file`` and ``tls_cert_file`` are set (the configuration requires them when
  ``secure_server_option`` is not ``none``; under ``none`` they let the node accept
  TLS from peers);
- the client port (``client_tls_cert_file``, ``client_tls_key_file``,
  ``client_tls_ca_file``): when ``client_tls`` is true.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from dynotwist.config import Config

__all__ = ["WARN_DAYS", "Identity", "TLSFileError", "TLSFiles", "describe", "load"]

#: a certificate expiring within this many days gets a warning
WARN_DAYS = 30

_WILDCARDS = ("0.0.0.0", "::", "")


class TLSFileError(Exception):
    """A file named by a TLS key cannot be used; str() names the key and the path."""

    def __init__(self, key: str, path: str, problem: str) -> None:
        super().__init__('conf: directive "%s" names \'%s\', %s' % (key, path, problem))
        self.key = key
        self.path = path


@dataclass(frozen=True)
class Identity:
    """A certificate (leaf first, then any intermediates) and its private key."""

    chain: Tuple[x509.Certificate, ...]
    key: Any  # one of cryptography's private key types
    cert_file: str

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]


@dataclass(frozen=True)
class TLSFiles:
    """What a configuration's TLS files hold, checked."""

    #: tls_ca_file's certificates; empty when peer TLS is off
    ca: Tuple[x509.Certificate, ...] = ()
    #: this node's certificate for peers (None: peer TLS off)
    peer: Optional[Identity] = None
    #: the client port's certificate (None: client_tls off)
    client: Optional[Identity] = None
    #: client_tls_ca_file's certificates; empty: clients need no certificate
    client_ca: Tuple[x509.Certificate, ...] = ()
    warnings: Tuple[str, ...] = ()


def load(config: Config, now: Optional[datetime.datetime] = None) -> TLSFiles:
    """Read and check every TLS file ``config`` uses; TLSFileError for the first problem."""
    check = _Checker(now or datetime.datetime.now(datetime.timezone.utc))
    ca: Tuple[x509.Certificate, ...] = ()
    peer = client = None
    client_ca: Tuple[x509.Certificate, ...] = ()
    if config.tls_ca_file and config.tls_cert_file:
        ca = check.authorities("tls_ca_file", config.tls_ca_file)
        peer = check.identity(
            "tls_cert_file",
            config.tls_cert_file,
            _defaulted("tls_key_file", config.tls_key_file, "pem_key_file", config.pem_key_file),
            config.tls_key_file,
        )
        check.signed_by(peer, ca, "tls_ca_file", config.tls_ca_file)
        check.names(peer, config.dyn_listen.host)
    if config.client_tls:
        assert config.client_tls_cert_file is not None  # the configuration requires it
        client = check.identity(
            _defaulted(
                "client_tls_cert_file", config.client_tls_cert_file,
                "tls_cert_file", config.tls_cert_file,
            ),
            config.client_tls_cert_file,
            _defaulted(
                "client_tls_key_file", config.client_tls_key_file,
                "tls_key_file", config.tls_key_file,
            ),
            config.client_tls_key_file,
        )
        if config.client_tls_ca_file:
            client_ca = check.authorities("client_tls_ca_file", config.client_tls_ca_file)
    return TLSFiles(ca, peer, client, client_ca, tuple(check.warnings))


def describe(identity: Identity) -> str:
    """Its subject and expiry, for log lines."""
    certificate = identity.certificate
    return "'%s' (%s, valid until %s)" % (
        identity.cert_file, certificate.subject.rfc4514_string(), _date(_not_after(certificate))
    )


def _defaulted(key: str, value: Optional[str], default_key: str, default: Optional[str]) -> str:
    """The key's name, saying where its value came from when it is its default's."""
    return "%s (= %s)" % (key, default_key) if value == default else key


def _date(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _not_after(certificate: x509.Certificate) -> datetime.datetime:
    return certificate.not_valid_after_utc


class _Checker:
    def __init__(self, now: datetime.datetime) -> None:
        self.now = now
        self.warnings: List[str] = []

    @staticmethod
    def _read(key: str, path: str) -> bytes:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as error:
            raise TLSFileError(key, path, "which cannot be read: %s" % error.strerror) from None

    def certificates(self, key: str, path: str) -> Tuple[x509.Certificate, ...]:
        data = self._read(key, path)
        try:
            found = x509.load_pem_x509_certificates(data)
        except ValueError:
            found = []
        if not found:
            raise TLSFileError(key, path, "which holds no PEM certificate")
        for certificate in found:
            self._check_dates(key, path, certificate)
        return tuple(found)

    def authorities(self, key: str, path: str) -> Tuple[x509.Certificate, ...]:
        found = self.certificates(key, path)
        for certificate in found:
            try:
                constraints = certificate.extensions.get_extension_for_class(
                    x509.BasicConstraints
                ).value
            except x509.ExtensionNotFound:
                continue  # an old-style (v1) root
            if not constraints.ca:
                raise TLSFileError(
                    key, path, "a certificate that is not a CA (%s)"
                    % certificate.subject.rfc4514_string(),
                )
        return found

    def identity(self, cert_key: str, cert_path: str, key_key: str, key_path: str) -> Identity:
        chain = self.certificates(cert_key, cert_path)
        data = self._read(key_key, key_path)
        try:
            private_key: PrivateKeyTypes = serialization.load_pem_private_key(data, password=None)
        except TypeError:
            raise TLSFileError(
                key_key, key_path, "an encrypted key (keys with a passphrase are not supported)"
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            raise TLSFileError(key_key, key_path, "which holds no PEM private key") from None
        if _public(private_key.public_key()) != _public(chain[0].public_key()):
            hint = ""
            if "pem_key_file" in key_key:
                hint = (
                    " (pem_key_file is Dynomite's RSA key for its own encryption: set "
                    "tls_key_file to the key of tls_cert_file)"
                )
            raise TLSFileError(
                key_key, key_path,
                "a key that does not match the certificate in '%s' (%s)%s"
                % (cert_path, cert_key, hint),
            )
        return Identity(chain, private_key, cert_path)

    def signed_by(
        self, identity: Identity, authorities: Tuple[x509.Certificate, ...], ca_key: str,
        ca_path: str,
    ) -> None:
        """The chain leads to one of the CAs, each link signed by the next."""
        chain = identity.chain
        for child, parent in zip(chain, chain[1:]):
            if not _issued_by(child, parent):
                raise TLSFileError(
                    "tls_cert_file", identity.cert_file,
                    "a chain whose certificate %s is not signed by the next one"
                    % child.subject.rfc4514_string(),
                )
        if not any(_issued_by(chain[-1], ca) for ca in authorities):
            raise TLSFileError(
                "tls_cert_file", identity.cert_file,
                "a certificate not signed by the CA in '%s' (%s)" % (ca_path, ca_key),
            )

    def names(self, identity: Identity, host: str) -> None:
        """Warn when the certificate does not name the node's ``dyn_listen`` host, which
        is what peers check it against when their seeds name that host."""
        if host in _WILDCARDS:
            return
        if not _names_host(identity.certificate, host):
            self.warnings.append(
                'conf: directive "tls_cert_file" names \'%s\', a certificate that does not '
                "name this node's dyn_listen host %s: peers whose dyn_seeds name %s will "
                "refuse it" % (identity.cert_file, host, host)
            )

    def _check_dates(self, key: str, path: str, certificate: x509.Certificate) -> None:
        not_after = _not_after(certificate)
        if not_after <= self.now:
            raise TLSFileError(key, path, "a certificate that expired on %s" % _date(not_after))
        not_before = certificate.not_valid_before_utc
        if not_before > self.now:
            raise TLSFileError(
                key, path, "a certificate that is not valid before %s" % _date(not_before)
            )
        left = not_after - self.now
        if left < datetime.timedelta(days=WARN_DAYS):
            self.warnings.append(
                'conf: directive "%s" names \'%s\', a certificate that expires on %s '
                "(in %d days)" % (key, path, _date(not_after), left.days)
            )


def _public(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _names_host(certificate: x509.Certificate, host: str) -> bool:
    try:
        names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        wanted = host.lower().rstrip(".")
        for name in names.get_values_for_type(x509.DNSName):
            name = name.lower().rstrip(".")
            if name == wanted or (
                name.startswith("*.") and wanted.partition(".")[2] == name[2:]
            ):
                return True
        return False
    return address in names.get_values_for_type(x509.IPAddress)
