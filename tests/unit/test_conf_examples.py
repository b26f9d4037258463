"""The example configurations in conf/: each file loads, and the files of a set
describe one cluster (every node lists every other node, as it is, and not itself).
The TLS examples' certificates, made as their comments say, pass the startup checks."""

from __future__ import annotations

import dataclasses
import glob
import os
from typing import Dict, List, Tuple

from twisted.trial import unittest

from dynotwist import certs, tlsfiles
from dynotwist.config import Config, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETS = {
    "cluster_1dc_3racks": {"dc1": 3},
    "cluster_2dc_2racks": {"dc1": 2, "dc2": 2},
    "tls": {"dc1": 2, "dc2": 2},
    "tls-rack": {"dc1": 2, "dc2": 2},
    "tls-all": {"dc1": 2, "dc2": 2},
}
# secure_server_option of a set (default: none); the tls sets share one set of nodes
OPTIONS = {"tls": "datacenter", "tls-rack": "rack", "tls-all": "all"}
TLS_KEYS = ("tls_ca_file", "tls_cert_file", "tls_key_file", "client_tls_cert_file",
            "client_tls_key_file")

# (host, dyn_listen port, rack, dc, tokens): a node as the others' dyn_seeds name it
Identity = Tuple[str, int, str, str, Tuple[int, ...]]


def identity(config: Config) -> Identity:
    listen = config.dyn_listen
    return (listen.host, listen.port, config.rack, config.datacenter, config.tokens)


class ExampleClusterTests(unittest.TestCase):
    def load_set(self, name: str) -> Dict[str, Config]:
        paths = sorted(glob.glob(os.path.join(ROOT, "conf", name, "dc*.yml")))
        self.assertTrue(paths, "no YAML files in conf/%s" % name)
        return {os.path.basename(path): load_config(path) for path in paths}

    def check_set(self, name: str) -> None:
        configs = self.load_set(name)
        for filename, config in configs.items():
            self.assertEqual(config.warnings, (), filename)
            self.assertEqual(filename, "%s-%s.yml" % (config.datacenter, config.rack))
            self.assertEqual(
                config.secure_server_option, OPTIONS.get(name, "none"), filename
            )
            self.assertEqual(config.data_store, 0, filename)
        nodes = {filename: identity(config) for filename, config in configs.items()}
        # each node once, nothing listening twice on one address
        self.assertEqual(len(set(nodes.values())), len(nodes))
        addresses: List[Tuple[str, int]] = []
        for config in configs.values():
            for address in (config.listen, config.dyn_listen, config.stats_listen,
                            config.servers[0].address):
                addresses.append((address.host, address.port))
        self.assertEqual(len(addresses), len(set(addresses)), "an address is used twice")
        # every node's seeds are exactly the other nodes
        for filename, config in configs.items():
            seeds = sorted(
                (s.host, s.port, s.rack, s.dc, s.tokens) for s in config.dyn_seeds
            )
            others = sorted(n for f, n in nodes.items() if f != filename)
            self.assertEqual(seeds, others, "dyn_seeds of %s" % filename)
        # the topology the set claims; every rack a full ring with the same tokens
        racks: Dict[str, set] = {}
        for config in configs.values():
            racks.setdefault(config.datacenter, set()).add(config.rack)
        self.assertEqual({dc: len(r) for dc, r in racks.items()}, SETS[name])
        self.assertEqual(len({config.tokens for config in configs.values()}), 1)
        # one hash_tag and one consistency for the whole cluster
        self.assertEqual(len({(c.hash_tag, c.read_consistency, c.write_consistency)
                              for c in configs.values()}), 1)

    def test_one_dc_three_racks(self) -> None:
        self.check_set("cluster_1dc_3racks")

    def test_two_dcs_two_racks(self) -> None:
        self.check_set("cluster_2dc_2racks")

    def test_tls_sets(self) -> None:
        """One set per secure_server_option but none (the plaintext sets above): the
        same nodes, certificates and files but for the option."""
        nodes = {}
        for name in ("tls", "tls-rack", "tls-all"):
            self.check_set(name)
            configs = self.load_set(name)
            # every node on its own address: plaintext is told apart by source address
            hosts = [c.dyn_listen.host for c in configs.values()]
            self.assertEqual(len(set(hosts)), len(hosts))
            nodes[name] = {
                f: dataclasses.replace(c, secure_server_option="none") for f, c in configs.items()
            }
        self.assertEqual(nodes["tls"], nodes["tls-rack"])
        self.assertEqual(nodes["tls"], nodes["tls-all"])

    def test_every_file_loads(self) -> None:
        paths = glob.glob(os.path.join(ROOT, "conf", "**", "*.yml"), recursive=True)
        self.assertGreater(len(paths), 10)
        for path in paths:
            load_config(path)

    def test_tls_certificates_as_the_comments_make_them(self) -> None:
        """``python -m dynotwist.certs conf/tls/certs NAME=HOST...`` (here in a temporary
        directory) makes files that every TLS example accepts."""
        paths = sorted(glob.glob(os.path.join(ROOT, "conf", "tls", "*.yml")))
        configs = {os.path.basename(p)[:-4]: load_config(p) for p in paths}
        directory = self.mktemp()
        nodes = ["%s=%s" % (name, c.listen.host if c.client_tls else c.dyn_listen.host)
                 for name, c in configs.items()]
        self.assertEqual(certs.main([directory, *nodes]), 0)
        for name, config in configs.items():
            moved = {
                key: os.path.join(directory, os.path.basename(getattr(config, key)))
                for key in TLS_KEYS
                if (getattr(config, key) or "").startswith("conf/tls/certs/")
            }
            needed = TLS_KEYS[3:] if config.client_tls else TLS_KEYS[:3]
            self.assertLessEqual(set(needed), set(moved), name)
            loaded = tlsfiles.load(dataclasses.replace(config, **moved))
            self.assertEqual(loaded.warnings, (), name)
            self.assertIsNotNone(loaded.client if config.client_tls else loaded.peer, name)

    def test_no_other_sets(self) -> None:
        found = sorted(
            os.path.basename(os.path.dirname(path))
            for path in glob.glob(os.path.join(ROOT, "conf", "*", "dc*.yml"))
        )
        self.assertEqual(sorted(set(found)), sorted(SETS))
