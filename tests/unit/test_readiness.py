"""/ready's decision as a table: the node's state, its datastore, reachable peers."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

from twisted.trial import unittest

from dynotwist.core.readiness import NodeHealth, Reachable, not_ready

# two DCs of three racks, two nodes per rack; the local node is dc1/rack1/a
LAYOUT = [
    (dc, rack, "%s-%s-%s" % (dc, rack, node))
    for dc in ("dc1", "dc2")
    for rack in ("rack1", "rack2", "rack3")
    for node in ("a", "b")
]
LOCAL = "dc1-rack1-a"


def health(
    down: Sequence[str] = (),
    levels: Sequence[str] = ("DC_ONE", "DC_ONE"),
    state: str = "NORMAL",
    datastore_up: bool = True,
) -> NodeHealth:
    nodes = [
        Reachable(name, dc, rack, datastore_up if name == LOCAL else name not in down)
        for dc, rack, name in LAYOUT
    ]
    return NodeHealth(state, "127.0.0.1:6379", datastore_up, "dc1", "rack1", nodes, levels)


class ReadinessTests(unittest.TestCase):
    def test_table(self) -> None:
        cases: Dict[str, tuple] = {
            "all up": (health(), None),
            "standby": (health(state="STANDBY"), "state is STANDBY, not NORMAL"),
            "datastore": (
                health(datastore_up=False), "datastore 127.0.0.1:6379 not connected"
            ),
            "DC_ONE, a node of another rack down": (health(down=["dc1-rack2-a"]), None),
            "DC_ONE, the other node of the local rack down": (
                health(down=["dc1-rack1-b"]),
                "DC_ONE needs every node of rack rack1 (down: dc1-rack1-b)",
            ),
            "DC_QUORUM, one rack of three down": (
                health(down=["dc1-rack2-a"], levels=("DC_QUORUM", "DC_QUORUM")), None
            ),
            "DC_QUORUM, two racks of three down": (
                health(down=["dc1-rack2-a", "dc1-rack3-b"], levels=("DC_ONE", "DC_QUORUM")),
                "DC_QUORUM: 1 of the 3 racks of dc1 reachable, 2 needed"
                " (down: dc1-rack2-a, dc1-rack3-b)",
            ),
            "DC_SAFE_QUORUM ignores the other DC": (
                health(down=["dc2-rack1-a", "dc2-rack2-a"], levels=("DC_SAFE_QUORUM",)), None
            ),
            "DC_EACH_SAFE_QUORUM needs every DC": (
                health(down=["dc2-rack1-a", "dc2-rack2-a"], levels=("DC_EACH_SAFE_QUORUM",)),
                "DC_EACH_SAFE_QUORUM: 1 of the 3 racks of dc2 reachable, 2 needed"
                " (down: dc2-rack1-a, dc2-rack2-a)",
            ),
        }
        for name, (given, expected) in cases.items():
            reason: Optional[str] = not_ready(given)
            self.assertEqual(reason, expected, name)
