"""The TLS files a configuration names: every error an operator can meet, with
certificates made in a temporary directory; and how ``twistd dynomite -t`` shows them."""

from __future__ import annotations

import datetime
import io
import os
from contextlib import redirect_stderr, redirect_stdout
from typing import Dict, Optional, Tuple

from cryptography.hazmat.primitives import serialization
from twisted.python.usage import UsageError
from twisted.trial import unittest

from dynotwist import certs
from dynotwist.config import Config, parse_config
from dynotwist.tap import Options
from dynotwist.testing.configs import render_config
from dynotwist.tlsfiles import TLSFileError, load

NOW = datetime.datetime(2030, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
HOST = "127.0.0.2"

BASE: Dict[str, object] = {
    "listen": "%s:8102" % HOST,
    "dyn_listen": "%s:8101" % HOST,
    "stats_listen": "%s:22222" % HOST,
    "servers": ["127.0.0.1:22122:1"],
    "tokens": "0",
}


class CertDir:
    """A CA and node certificates written under one directory."""

    def __init__(self, directory: str, now: datetime.datetime = NOW) -> None:
        self.directory = directory
        self.now = now
        self.authority = certs.new_authority(now=now)
        self.ca_file = certs.write_authority(directory, self.authority)

    def node(
        self,
        name: str = "node",
        hosts: Tuple[str, ...] = (HOST,),
        days: int = 365,
        not_before: Optional[datetime.datetime] = None,
        authority: Optional[certs.Authority] = None,
    ) -> certs.NodeFiles:
        return certs.write_node_files(
            self.directory, name, authority or self.authority, hosts, days, self.now, not_before
        )

    def write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.directory, name)
        with open(path, "wb") as f:
            f.write(data)
        return path


def peer_config(files: certs.NodeFiles, **extra: object) -> Config:
    fields = dict(BASE)
    fields.update(
        secure_server_option="datacenter",
        tls_ca_file=files.ca_file,
        tls_cert_file=files.cert_file,
        tls_key_file=files.key_file,
    )
    fields.update(extra)
    return parse_config(render_config(fields))


class LoadTests(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = CertDir(self.mktemp())
        self.files = self.dir.node()

    def error(self, config: Config, now: datetime.datetime = NOW) -> str:
        with self.assertRaises(TLSFileError) as caught:
            load(config, now)
        return str(caught.exception)

    def test_no_tls_reads_nothing(self) -> None:
        loaded = load(parse_config(render_config(dict(BASE, tls_cert_file="/nonexistent"))))
        self.assertIsNone(loaded.peer)
        self.assertIsNone(loaded.client)
        self.assertEqual(loaded.ca, ())

    def test_good_files(self) -> None:
        loaded = load(peer_config(self.files), NOW)
        self.assertIsNotNone(loaded.peer)
        self.assertEqual(len(loaded.ca), 1)
        self.assertEqual(loaded.warnings, ())

    def test_missing_file_names_key_and_path(self) -> None:
        missing = os.path.join(self.dir.directory, "nope.pem")
        self.assertEqual(
            self.error(peer_config(self.files, tls_cert_file=missing)),
            'conf: directive "tls_cert_file" names \'%s\', which cannot be read: '
            "No such file or directory" % missing,
        )

    def test_unreadable_file(self) -> None:
        self.assertEqual(
            self.error(peer_config(self.files, tls_key_file=self.dir.directory)),
            'conf: directive "tls_key_file" names \'%s\', which cannot be read: '
            "Is a directory" % self.dir.directory,
        )

    def test_certificate_file_without_certificate(self) -> None:
        message = self.error(peer_config(self.files, tls_cert_file=self.files.key_file))
        self.assertEqual(
            message,
            'conf: directive "tls_cert_file" names \'%s\', which holds no PEM certificate'
            % self.files.key_file,
        )

    def test_ca_file_that_is_not_a_certificate(self) -> None:
        ca_key = os.path.join(self.dir.directory, "ca-key.pem")
        self.assertEqual(
            self.error(peer_config(self.files, tls_ca_file=ca_key)),
            'conf: directive "tls_ca_file" names \'%s\', which holds no PEM certificate'
            % ca_key,
        )

    def test_ca_file_holding_a_node_certificate(self) -> None:
        message = self.error(peer_config(self.files, tls_ca_file=self.files.cert_file))
        self.assertIn('conf: directive "tls_ca_file" names', message)
        self.assertIn("a certificate that is not a CA (CN=%s)" % HOST, message)

    def test_key_that_does_not_match(self) -> None:
        other = self.dir.node("other")
        self.assertEqual(
            self.error(peer_config(self.files, tls_key_file=other.key_file)),
            'conf: directive "tls_key_file" names \'%s\', a key that does not match the '
            "certificate in '%s' (tls_cert_file)" % (other.key_file, self.files.cert_file),
        )

    def test_key_defaulting_to_dynomites_rsa_key(self) -> None:
        fields = dict(BASE, secure_server_option="all", tls_ca_file=self.files.ca_file,
                      tls_cert_file=self.files.cert_file, pem_key_file=self.dir.node("x").key_file)
        config = parse_config(render_config(fields))
        message = self.error(config)
        self.assertIn('conf: directive "tls_key_file (= pem_key_file)" names', message)
        self.assertIn("pem_key_file is Dynomite's RSA key", message)

    def test_encrypted_key(self) -> None:
        with open(self.files.key_file, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        encrypted = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
        path = self.dir.write("encrypted-key.pem", encrypted)
        self.assertIn(
            "an encrypted key (keys with a passphrase are not supported)",
            self.error(peer_config(self.files, tls_key_file=path)),
        )

    def test_expired_certificate_is_refused(self) -> None:
        expired = self.dir.node("old", days=10, not_before=NOW - 40 * DAY)
        # valid from NOW - 40 days to NOW + 10 days; checked 11 days later
        self.assertEqual(
            self.error(peer_config(expired), NOW + 11 * DAY),
            'conf: directive "tls_cert_file" names \'%s\', a certificate that expired on '
            "2030-06-11 12:00 UTC" % expired.cert_file,
        )

    def test_certificate_expiring_soon_is_a_warning(self) -> None:
        soon = self.dir.node("soon", days=20)
        loaded = load(peer_config(soon), NOW)
        self.assertEqual(
            loaded.warnings,
            (
                'conf: directive "tls_cert_file" names \'%s\', a certificate that expires on '
                "2030-06-21 12:00 UTC (in 20 days)" % soon.cert_file,
            ),
        )

    def test_certificate_not_valid_yet(self) -> None:
        future = self.dir.node("future", not_before=NOW + 2 * DAY)
        self.assertEqual(
            self.error(peer_config(future)),
            'conf: directive "tls_cert_file" names \'%s\', a certificate that is not valid '
            "before 2030-06-03 12:00 UTC" % future.cert_file,
        )

    def test_expired_ca(self) -> None:
        self.assertIn(
            'conf: directive "tls_ca_file" names \'%s\', a certificate that expired on'
            % self.files.ca_file,
            self.error(peer_config(self.files), NOW + 4000 * DAY),
        )

    def test_certificate_from_another_ca(self) -> None:
        stranger = self.dir.node("stranger", authority=certs.new_authority("other", now=NOW))
        self.assertEqual(
            self.error(peer_config(stranger)),
            'conf: directive "tls_cert_file" names \'%s\', a certificate not signed by the '
            "CA in '%s' (tls_ca_file)" % (stranger.cert_file, self.files.ca_file),
        )

    def test_certificate_naming_another_host_is_a_warning(self) -> None:
        elsewhere = self.dir.node("elsewhere", hosts=("127.0.0.9", "node.example"))
        (warning,) = load(peer_config(elsewhere), NOW).warnings
        self.assertIn("a certificate that does not name this node's dyn_listen host "
                      "127.0.0.2", warning)
        named = self.dir.node("named", hosts=("node.example",))
        config = peer_config(named, dyn_listen="NODE.example:8101")
        self.assertEqual(load(config, NOW).warnings, ())

    def test_client_tls_files(self) -> None:
        fields = dict(
            BASE, client_tls=True, tls_cert_file=self.files.cert_file,
            tls_key_file=self.files.key_file,
        )
        loaded = load(parse_config(render_config(fields)), NOW)
        self.assertIsNone(loaded.peer)  # no tls_ca_file: no peer TLS
        self.assertIsNotNone(loaded.client)
        self.assertEqual(loaded.client_ca, ())
        fields["client_tls_ca_file"] = self.files.ca_file
        self.assertEqual(len(load(parse_config(render_config(fields)), NOW).client_ca), 1)
        fields["client_tls_key_file"] = self.dir.node("x").key_file
        message = self.error(parse_config(render_config(fields)))
        self.assertIn('conf: directive "client_tls_key_file" names', message)
        del fields["client_tls_key_file"]
        fields["tls_cert_file"] = "/nonexistent/node.pem"
        self.assertIn(
            'conf: directive "client_tls_cert_file (= tls_cert_file)" names '
            "'/nonexistent/node.pem'",
            self.error(parse_config(render_config(fields))),
        )


class TestConfTests(unittest.TestCase):
    """``twistd dynomite -t`` names the problem; nothing else reaches the operator."""

    def run_options(self, fields: Dict[str, object]) -> Tuple[object, str, str]:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(render_config(fields))
        out, err = io.StringIO(), io.StringIO()
        code = None
        with redirect_stdout(out), redirect_stderr(err):
            try:
                Options().parseOptions(["-t", "-c", path])
            except SystemExit as exit:
                code = exit.code
            except UsageError as refused:  # twistd prints it and exits 1
                code = 1
                err.write(str(refused))
        return code, out.getvalue(), err.getvalue()

    def setUp(self) -> None:
        self.dir = CertDir(self.mktemp(), now=datetime.datetime.now(datetime.timezone.utc))

    def test_good_files(self) -> None:
        files = self.dir.node()
        code, out, err = self.run_options(dict(
            BASE, secure_server_option="all", tls_ca_file=files.ca_file,
            tls_cert_file=files.cert_file, tls_key_file=files.key_file,
        ))
        self.assertEqual((code, err), (0, ""))
        self.assertIn("syntax is valid", out)

    def test_problem_is_named(self) -> None:
        files = self.dir.node()
        code, _, err = self.run_options(dict(
            BASE, secure_server_option="all", tls_ca_file=files.ca_file,
            tls_cert_file=files.cert_file, tls_key_file="/nonexistent/key.pem",
        ))
        self.assertEqual(code, 1)
        self.assertIn(
            'conf: directive "tls_key_file" names \'/nonexistent/key.pem\', which cannot be '
            "read: No such file or directory\n", err,
        )
        self.assertNotIn("Traceback", err)

    def test_expiring_certificate_is_shown(self) -> None:
        files = self.dir.node(days=5)
        code, _, err = self.run_options(dict(
            BASE, secure_server_option="all", tls_ca_file=files.ca_file,
            tls_cert_file=files.cert_file, tls_key_file=files.key_file,
        ))
        self.assertEqual(code, 0)
        self.assertIn("a certificate that expires on", err)
        self.assertIn("(in 4 days)", err)

    def test_option_needs_files(self) -> None:
        code, _, err = self.run_options(dict(BASE, secure_server_option="datacenter"))
        self.assertEqual(code, 1)
        self.assertIn(
            'conf: directive "secure_server_option" is datacenter, which needs "tls_ca_file" '
            'and "tls_cert_file"', err,
        )


class CertsCommandTests(unittest.TestCase):
    """``python -m dynotwist.certs``: a CA once, certificates added under it later."""

    def test_adds_to_an_existing_ca(self) -> None:
        directory = self.mktemp()
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(certs.main([directory, "a=127.0.0.2"]), 0)
            with open(os.path.join(directory, "ca.pem"), "rb") as f:
                ca = f.read()
            self.assertEqual(certs.main([directory, "app=app.example"]), 0)
        with open(os.path.join(directory, "ca.pem"), "rb") as f:
            self.assertEqual(f.read(), ca)
        self.assertIn("(already there)", out.getvalue())
        for name, host in (("a", "127.0.0.2"), ("app", "app.example")):
            fields = dict(
                BASE, dyn_listen="%s:8101" % host, secure_server_option="all",
                tls_ca_file=os.path.join(directory, "ca.pem"),
                tls_cert_file=os.path.join(directory, "%s.pem" % name),
                tls_key_file=os.path.join(directory, "%s-key.pem" % name),
            )
            self.assertEqual(load(parse_config(render_config(fields))).warnings, ())

    def test_bad_node_argument(self) -> None:
        err = io.StringIO()
        with redirect_stderr(err), self.assertRaises(SystemExit):
            certs.main([self.mktemp(), "no-host"])
        self.assertIn("expected NAME=HOST", err.getvalue())
