"""SIGHUP's work: the configuration file applied again — TLS settings, consistency,
timeouts, log level, peers — or the node's settings kept as they were (with the reason
logged) when something is wrong or cannot change while it runs."""

from __future__ import annotations

import datetime
import os
from typing import Any, Dict, List

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from dynotwist import certs
from dynotwist.config import load_config
from dynotwist.logs import verbosity
from dynotwist.service import DynomiteService
from dynotwist.testing.configs import render_config

HOST = "127.0.0.2"


class ReloadTests(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = self.mktemp()
        self.authority = certs.new_authority()
        certs.write_authority(self.dir, self.authority)
        self.files = certs.write_node_files(self.dir, "a", self.authority, [HOST])
        self.path = os.path.join(self.dir, "node.yml")
        self.fields: Dict[str, object] = {
            "datacenter": "dc1",
            "rack": "rack1",
            "listen": "%s:8102" % HOST,
            "dyn_listen": "%s:8101" % HOST,
            "stats_listen": "%s:22222" % HOST,
            "servers": ["127.0.0.1:22122:1"],
            "tokens": "0",
            "dyn_seeds": ["127.0.0.3:8101:rack2:dc1:0", "127.0.0.4:8101:rack1:dc2:0"],
            "secure_server_option": "none",
        }
        self.write()
        self.service = DynomiteService(load_config(self.path), MemoryReactorClock(), self.path)
        self.links = self.service.node.links
        self.events: List[Dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def write(self, **changes: object) -> None:
        self.fields.update(changes)
        with open(self.path, "w") as f:
            f.write(render_config(self.fields))

    def logged(self, level: str) -> List[str]:
        return [
            e["log_format"].format(**e) for e in self.events
            if e.get("log_namespace") == "dynotwist.service" and e["log_level"].name == level
        ]

    def tls_on(self, option: str = "datacenter") -> None:
        self.write(
            secure_server_option=option,
            tls_ca_file=self.files.ca_file,
            tls_cert_file=self.files.cert_file,
            tls_key_file=self.files.key_file,
        )

    def test_turns_tls_on(self) -> None:
        self.assertFalse(self.links.contexts.peer_tls)
        self.tls_on()
        self.assertTrue(self.service.reload())
        self.assertTrue(self.links.contexts.peer_tls)
        self.assertEqual(self.links.policy.option, "datacenter")
        (line,) = self.logged("info")
        self.assertIn("SIGHUP: TLS settings reloaded: secure_server_option datacenter", line)
        self.assertIn("CN=%s" % HOST, line)

    def test_missing_file_keeps_the_current_settings(self) -> None:
        self.tls_on()
        self.service.reload()
        contexts = self.links.contexts
        self.write(tls_cert_file=os.path.join(self.dir, "gone.pem"), secure_server_option="all")
        self.assertFalse(self.service.reload())
        self.assertIs(self.links.contexts, contexts)
        self.assertEqual(self.links.policy.option, "datacenter")
        (line,) = self.logged("error")
        self.assertIn("SIGHUP: TLS settings not reloaded; the current ones stay", line)
        self.assertIn('"tls_cert_file" names', line)

    def test_expired_certificate_keeps_the_current_settings(self) -> None:
        self.tls_on()
        self.service.reload()
        now = datetime.datetime.now(datetime.timezone.utc)
        old = certs.write_node_files(
            self.dir, "old", self.authority, [HOST], days=-1,
            not_before=now - datetime.timedelta(days=30),
        )
        self.write(tls_cert_file=old.cert_file, tls_key_file=old.key_file)
        self.assertFalse(self.service.reload())
        self.assertIn("a certificate that expired on", self.logged("error")[0])

    def test_broken_configuration_keeps_the_current_settings(self) -> None:
        with open(self.path, "a") as f:
            f.write("  bogus: 1\n")
        self.assertFalse(self.service.reload())
        self.assertIn('conf: directive "bogus" is unknown', self.logged("error")[0])

    def test_live_keys_apply_with_the_tls_settings(self) -> None:
        node = self.service.node
        self.tls_on()
        self.write(timeout=1234, read_consistency="DC_QUORUM", verbosity=7,
                   server_failure_limit=5)
        self.addCleanup(verbosity.set, verbosity.verbosity)
        self.assertTrue(self.service.reload())
        self.assertEqual((self.service.config.timeout, node.config.timeout), (1234, 1234))
        self.assertEqual(node.read_consistency, "DC_QUORUM")
        self.assertEqual(node.new_session().read_consistency, "DC_QUORUM")
        self.assertEqual(verbosity.verbosity, 7)
        self.assertEqual({p.timeout_ms for p in node.peers.values()}, {1434, 6234})
        self.assertEqual({p.health.limit for p in node.peers.values()}, {5})
        self.assertTrue(self.links.contexts.peer_tls)
        applied = self.logged("info")[-1]
        self.assertIn("SIGHUP: timeout, server_failure_limit, read_consistency, verbosity"
                      " changed in %s: applied" % self.path, applied)

    def test_an_admin_setting_stays_unless_the_file_changes_it(self) -> None:
        node = self.service.node
        node.write_consistency = "DC_SAFE_QUORUM"  # /set_consistency/write/...
        self.write(read_consistency="DC_QUORUM")
        self.assertTrue(self.service.reload())
        self.assertEqual((node.read_consistency, node.write_consistency),
                         ("DC_QUORUM", "DC_SAFE_QUORUM"))

    def test_peers_from_dyn_seeds_change_live(self) -> None:
        node = self.service.node
        self.write(dyn_seeds=["127.0.0.3:8101:rack2:dc1:0", "127.0.0.5:8101:rack3:dc1:0"])
        self.assertTrue(self.service.reload())
        self.assertEqual(sorted(node.peers), ["127.0.0.3:8101", "127.0.0.5:8101"])
        self.assertEqual(node.topology.datacenters(), ["dc1"])
        self.write(dyn_seeds=["127.0.0.3:8101:rack2:dc1:2147483648"])  # its token moved
        self.assertTrue(self.service.reload())
        self.assertEqual(node.topology.peers[0].tokens, (2147483648,))

    def test_what_cannot_change_while_running_refuses_the_reload(self) -> None:
        node = self.service.node
        self.write(read_consistency="DC_QUORUM", dyn_listen="%s:9101" % HOST, data_store=1)
        self.assertFalse(self.service.reload())
        self.assertEqual(node.read_consistency, "DC_ONE")
        self.assertEqual(self.service.config.dyn_listen.port, 8101)
        (line,) = self.logged("error")
        self.assertIn("SIGHUP: configuration not reloaded; the current one stays:"
                      " dyn_listen, data_store cannot change while the node runs", line)
