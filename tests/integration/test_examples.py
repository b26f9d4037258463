"""examples/test_with_dynotwist.py runs with the suite: its test classes, loaded from the
file as ``python -m twisted.trial examples/test_with_dynotwist.py`` loads them."""

from __future__ import annotations

import importlib.util
import os

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "examples", "test_with_dynotwist.py")

_spec = importlib.util.spec_from_file_location("test_with_dynotwist", EXAMPLE)
assert _spec is not None and _spec.loader is not None
_example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_example)

SingleNodeTest = _example.SingleNodeTest
ReplicationTest = _example.ReplicationTest
