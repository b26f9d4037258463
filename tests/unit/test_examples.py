"""The protocol-level tests that ship in examples/, run with the suite."""

from __future__ import annotations

import os
import sys

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "examples")
sys.path.insert(0, os.path.abspath(EXAMPLES))
sys.path.insert(0, os.path.abspath(os.path.join(EXAMPLES, "kubernetes")))

from test_kv_lines import KvLinesTests  # noqa: E402
from test_manifests import KubernetesManifestTests  # noqa: E402
from test_rack_aware_redis import RackAwareRedisTests  # noqa: E402

__all__ = ["KubernetesManifestTests", "KvLinesTests", "RackAwareRedisTests"]
