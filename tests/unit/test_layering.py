"""The design's one rule: codecs and core logic never import Twisted."""

from __future__ import annotations

import ast
import os

from twisted.trial import unittest

import dynotwist

PACKAGE = os.path.dirname(dynotwist.__file__)


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
