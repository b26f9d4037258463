"""The design's one rule: codecs and core logic never import Twisted. And the unit
suite's: it runs on a machine without redis-server or memcached."""

from __future__ import annotations

import ast
import os

from twisted.trial import unittest

import dynotwist

PACKAGE = os.path.dirname(dynotwist.__file__)
UNIT_TESTS = os.path.dirname(os.path.abspath(__file__))

# what starts processes or opens sockets: the integration tests' tools
SERVER_TOOLS = (
    "socket",
    "dynotwist.testing.blocking",
    "dynotwist.testing.clients",
    "dynotwist.testing.cluster",
    "dynotwist.testing.inprocess",
    "dynotwist.testing.ports",
    "dynotwist.testing.processes",
    "dynotwist.testing.trial",
    "tests.support.differential",
    "tests.support.fixtures",
    "tests.support.raw",
    "tests.support.relay",
    "tests.support.traffic",
)


def imported_modules(path: str):
    with open(path) as f:
        tree = ast.parse(f.read())
    for item in ast.walk(tree):
        if isinstance(item, ast.Import):
            yield from (alias.name for alias in item.names)
        elif isinstance(item, ast.ImportFrom):
            yield item.module or ""


class LayeringTests(unittest.TestCase):
    def test_proto_and_core_do_not_import_twisted(self) -> None:
        checked = 0
        for package in ("proto", "core"):
            for folder, _, names in os.walk(os.path.join(PACKAGE, package)):
                for name in sorted(names):
                    if name.endswith(".py"):
                        for module in imported_modules(os.path.join(folder, name)):
                            self.assertFalse(module.startswith("twisted"), (name, module))
                        checked += 1
        self.assertGreater(checked, 10)

    def test_unit_tests_start_no_servers(self) -> None:
        """No unit test module imports what starts a server or dials one (nor
        ``dynotwist.testing`` itself, which brings them all)."""
        checked = 0
        for name in sorted(os.listdir(UNIT_TESTS)):
            if name.endswith(".py"):
                for module in imported_modules(os.path.join(UNIT_TESTS, name)):
                    self.assertNotIn(module, (*SERVER_TOOLS, "dynotwist.testing"), name)
                checked += 1
        self.assertGreater(checked, 20)
