"""/ready's decision as a table: the node's state, its datastore, reachable peers,
over the token ranges of a ring (2 DCs of 3 racks, 2 nodes per rack)."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

from twisted.trial import unittest

from dynotwist.core import consistency as levels
from dynotwist.core.readiness import NodeHealth, not_ready
from dynotwist.core.ring import Member, Topology

HALF = 2147483647


def member(dc: str, rack: str, which: str) -> Member:
    name = "%s-%s-%s" % (dc, rack, which)
    token = 0 if which == "a" else HALF
    return Member(name, name, 8101, dc, rack, (token,), name == "dc1-rack1-a")


NODES = [member(dc, rack, which) for dc in ("dc1", "dc2")
         for rack in ("rack1", "rack2", "rack3") for which in ("a", "b")]
TOPOLOGY = Topology(NODES[0], NODES[1:])


def health(
    down: Sequence[str] = (),
    levels_: Sequence[str] = (levels.DC_ONE, levels.DC_ONE),
    state: str = "NORMAL",
    datastore_up: bool = True,
) -> NodeHealth:
    return NodeHealth(state, "127.0.0.1:6379", datastore_up, TOPOLOGY,
                      lambda m: m.name not in down, levels_)


class ReadinessTests(unittest.TestCase):
    def test_table(self) -> None:
        quorum = (levels.DC_QUORUM, levels.DC_QUORUM)
        cases: Dict[str, tuple] = {
            "all up": (health(), None),
            "standby": (health(state="STANDBY"), "state is STANDBY, not NORMAL"),
            "datastore": (
                health(datastore_up=False), "datastore 127.0.0.1:6379 not connected"
            ),
            "DC_ONE, a node of another rack down": (health(down=["dc1-rack2-a"]), None),
            "DC_ONE, the other node of the local rack down: another rack serves its range": (
                health(down=["dc1-rack1-b"]), None
            ),
            "DC_ONE, a range without a reachable replica in the DC": (
                health(down=["dc1-rack1-b", "dc1-rack2-b", "dc1-rack3-b"]),
                "DC_ONE: 0 of the 3 racks of dc1 reachable, 1 needed"
                " (down: dc1-rack1-b, dc1-rack2-b, dc1-rack3-b)",
            ),
            "DC_QUORUM, one rack of three down": (health(down=["dc1-rack2-a"], levels_=quorum),
                                                  None),
            "DC_QUORUM, two owners of one range down": (
                health(down=["dc1-rack2-a", "dc1-rack3-a"], levels_=(levels.DC_ONE,
                                                                     levels.DC_QUORUM)),
                "DC_QUORUM: 1 of the 3 racks of dc1 reachable, 2 needed"
                " (down: dc1-rack2-a, dc1-rack3-a)",
            ),
            "DC_QUORUM, owners of different ranges down": (
                health(down=["dc1-rack2-a", "dc1-rack3-b"], levels_=quorum), None
            ),
            "DC_SAFE_QUORUM ignores the other DC": (
                health(down=["dc2-rack1-a", "dc2-rack2-a"], levels_=(levels.DC_SAFE_QUORUM,)),
                None,
            ),
            "DC_EACH_SAFE_QUORUM needs every DC": (
                health(down=["dc2-rack1-a", "dc2-rack2-a"],
                       levels_=(levels.DC_EACH_SAFE_QUORUM,)),
                "DC_EACH_SAFE_QUORUM: 1 of the 3 racks of dc2 reachable, 2 needed"
                " (down: dc2-rack1-a, dc2-rack2-a)",
            ),
        }
        for name, (given, expected) in cases.items():
            reason: Optional[str] = not_ready(given)
            self.assertEqual(reason, expected, name)
