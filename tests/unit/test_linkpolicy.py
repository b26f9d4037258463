"""secure_server_option as a table: which links are TLS, where plaintext may come from."""

from __future__ import annotations

from twisted.trial import unittest

from dynotwist.core.linkpolicy import (
    OPTIONS,
    LinkPolicy,
    SeedAddress,
    encrypts,
    is_tls_record,
    normal_address,
)

# (peer dc, peer rack) as seen from a node in dc1/rack1 -> TLS under each option
#                              none   rack   datacenter  all
TABLE = {
    ("dc1", "rack1"): dict(none=False, rack=False, datacenter=False, all=True),
    ("dc1", "rack2"): dict(none=False, rack=True, datacenter=False, all=True),
    # the same rack name in another DC is another rack (Dynomite's is_secure)
    ("dc2", "rack1"): dict(none=False, rack=True, datacenter=True, all=True),
    ("dc2", "rack2"): dict(none=False, rack=True, datacenter=True, all=True),
}

SEEDS = [
    SeedAddress("127.0.0.3", "dc1", "rack1"),  # same rack
    SeedAddress("127.0.0.4", "dc1", "rack2"),  # same DC, other rack
    SeedAddress("127.0.0.5", "dc2", "rack1"),  # other DC, same rack name
    SeedAddress("::ffff:127.0.0.6", "dc2", "rack2"),
    SeedAddress("2001:DB8::7", "dc1", "rack2"),
]

# source address -> plaintext allowed, under each option, for the node dc1/rack1
PLAINTEXT = {
    "127.0.0.3": dict(none=True, rack=True, datacenter=True, all=False),
    "127.0.0.4": dict(none=True, rack=False, datacenter=True, all=False),
    "127.0.0.5": dict(none=True, rack=False, datacenter=False, all=False),
    "127.0.0.6": dict(none=True, rack=False, datacenter=False, all=False),
    "::ffff:127.0.0.4": dict(none=True, rack=False, datacenter=True, all=False),
    "2001:db8:0:0::7": dict(none=True, rack=False, datacenter=True, all=False),
    "127.0.0.99": dict(none=True, rack=False, datacenter=False, all=False),  # no seed
}


class EncryptsTests(unittest.TestCase):
    def test_table(self) -> None:
        for (peer_dc, peer_rack), row in TABLE.items():
            for option in OPTIONS:
                self.assertEqual(
                    encrypts(option, "dc1", "rack1", peer_dc, peer_rack),
                    row[option],
                    (option, peer_dc, peer_rack),
                )
                policy = LinkPolicy(option, "dc1", "rack1")
                self.assertEqual(policy.encrypts(peer_dc, peer_rack), row[option])

    def test_unknown_option(self) -> None:
        self.assertRaises(ValueError, encrypts, "dc", "dc1", "r", "dc1", "r")
        self.assertRaises(ValueError, LinkPolicy, "tls", "dc1", "r")


class PlaintextTests(unittest.TestCase):
    def test_table(self) -> None:
        for option in OPTIONS:
            policy = LinkPolicy(option, "dc1", "rack1", SEEDS)
            for source, row in PLAINTEXT.items():
                reason = policy.refuses_plaintext(source)
                self.assertEqual(reason is None, row[option], (option, source, reason))

    def test_reasons_name_the_option_and_the_address(self) -> None:
        self.assertEqual(
            LinkPolicy("all", "dc1", "rack1", SEEDS).refuses_plaintext("127.0.0.3"),
            "secure_server_option all: every peer link must be TLS",
        )
        self.assertEqual(
            LinkPolicy("datacenter", "dc1", "rack1", SEEDS).refuses_plaintext("127.0.0.5"),
            "secure_server_option datacenter: plaintext only from the seeds of datacenter "
            "dc1, and 127.0.0.5 is not one of their addresses",
        )
        self.assertIn(
            "rack dc1/rack1",
            LinkPolicy("rack", "dc1", "rack1", SEEDS).refuses_plaintext("127.0.0.4") or "",
        )

    def test_addresses_in_one_spelling(self) -> None:
        self.assertEqual(normal_address("::ffff:10.0.0.1"), "10.0.0.1")
        self.assertEqual(normal_address("2001:DB8:0::1"), "2001:db8::1")
        self.assertEqual(normal_address("Node-1.Example"), "node-1.example")


class FirstByteTests(unittest.TestCase):
    def test_tls_handshake_record(self) -> None:
        self.assertTrue(is_tls_record(0x16))
        self.assertFalse(is_tls_record(ord(" ")))  # a dnode frame: "   $2014$ ..."
        self.assertFalse(is_tls_record(ord("*")))
