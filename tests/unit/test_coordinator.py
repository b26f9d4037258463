"""The coordinator as playbooks: tables of events in and commands out.

Each playbook builds a real router over a topology (1 to 5 racks, 1 or 2 DCs; one node
per rack, token 0, so every rack's node owns every key), plans a request, and then
plays its steps: ``start`` must send exactly the copies listed; ``reply``,
``timeout`` and ``unreachable`` feed one event and must give exactly the answer
listed (or none). Copies are named by the node they go to: ``dc1/rack2``.
A timeout and a lost connection reach the coordinator as the pool's error reply
(``PEER_REFUSED``), so they are played as such.
"""

from __future__ import annotations

import itertools
from typing import List, Optional, Sequence, Tuple, Union

from twisted.trial import unittest

from dynotwist import errors
from dynotwist.core import consistency as levels
from dynotwist.core.coalesce import coalesce
from dynotwist.core.coordinator import Coordination, KeepHint, Send, undelivered_replies
from dynotwist.core.hashkit import get_hash
from dynotwist.core.ring import Member, Topology
from dynotwist.core.router import Fragmented, Plan, Router
from dynotwist.core.slots import Slot
from dynotwist.proto import commands
from dynotwist.proto.dnode import DMSG_REQ, DMSG_REQ_FORWARD
from dynotwist.proto.resp import encode_command

ONE, QUORUM, SAFE, EACH = (
    levels.DC_ONE,
    levels.DC_QUORUM,
    levels.DC_SAFE_QUORUM,
    levels.DC_EACH_SAFE_QUORUM,
)
REQ, FWD = DMSG_REQ, DMSG_REQ_FORWARD
OK = b"+OK\r\n"
A, B, C = b"$1\r\na\r\n", b"$1\r\nb\r\n", b"$1\r\nc\r\n"
TIMEOUT = errors.PEER_REFUSED  # what a pool delivers for a timed-out or lost request
REFUSED = errors.DATASTORE_REFUSED
NOT_CONNECTED = errors.PEER_NOT_CONNECTED
FAILED = errors.QUORUM_FAILED
WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"


def router(racks: Sequence[int], half_tokens: bool = False) -> Router:
    """``racks[i]`` racks in DC i+1; we are dc1/rack1. With ``half_tokens`` each rack has
    two nodes (tokens 0 and 2**31), named ``dc/rack:0`` and ``dc/rack:1``."""
    tokens = (0, 2**31) if half_tokens else (0,)
    nodes = []
    for d, count in enumerate(racks, 1):
        for r in range(1, count + 1):
            for i, token in enumerate(tokens):
                name = "dc%d/rack%d" % (d, r) + (":%d" % i if half_tokens else "")
                dc, rack = "dc%d" % d, "rack%d" % r
                local = (d, r, i) == (1, 1, 0)
                nodes.append(Member(name, "127.0.0.1", 8101, dc, rack, (token,), local))
    local = next(n for n in nodes if n.is_local)
    return Router(Topology(local, [n for n in nodes if not n.is_local]), get_hash("murmur"))


Step = Union[
    Tuple[str, List[Tuple[str, int]]],  # ("start", [(node, msg_type), ...])
    Tuple[str, str, bytes, Optional[bytes]],  # ("reply"|"timeout", node, reply, answer)
    Tuple[str, str, Optional[str], Optional[bytes]],  # ("unreachable", node, retry, answer)
]


class Playbook:
    """A coordination and its copies, addressed by the name of their node."""

    def __init__(self, testcase: unittest.TestCase, route: Router, args: List[bytes],
                 read: str = ONE, write: str = ONE, hinted: bool = False) -> None:
        self.testcase = testcase
        self.kept: List[KeepHint] = []
        hints = dict(keep_hint=self.kept.append, undelivered=undelivered_replies(errors.RESP)
                     ) if hinted else {}
        spec = commands.lookup(args)
        assert spec is not None
        command = commands.describe(spec, args)
        assert not isinstance(command, bytes)
        routed = route.plan(command, read, write)
        self.client = Slot(None)
        if isinstance(routed, Fragmented):
            parts = [
                (plan, encode_command(commands.fragment(spec, args, keys)))
                for keys, plan in routed.parts
            ]
            self.coordination = Coordination(
                parts, self.client, lambda r: coalesce(spec.name, r, routed.positions),
                **hints,  # type: ignore[arg-type]
            )
        else:
            assert isinstance(routed, Plan)
            self.coordination = Coordination(
                [(routed, encode_command(args))], self.client, **hints  # type: ignore[arg-type]
            )
        self.args = args
        self.copies: dict = {}  # node name -> copy number (the latest send to it)

    def play(self, steps: Sequence[Step]) -> None:
        for number, step in enumerate(steps):
            kind = step[0]
            where = "step %d %r" % (number, step)
            if kind == "start":
                sends = self.coordination.start()
                self.remember(sends)
                self.testcase.assertEqual(
                    [(s.node.name, s.msg_type) for s in sends], step[1], where
                )
            elif kind in ("reply", "timeout"):
                # as Coordination.complete: the hint first, then the reply counted
                _, name, reply, answer = step  # type: ignore[misc]
                hint = self.coordination.undelivered(self.copies[name], reply)
                if hint is not None:
                    self.kept.append(hint)
                got = self.coordination.on_reply(self.copies[name], reply)
                self.testcase.assertEqual(got, answer, where)
            elif kind == "unreachable":
                _, name, retry, answer = step  # type: ignore[misc]
                send, got = self.coordination.on_unreachable(self.copies[name], NOT_CONNECTED)
                if isinstance(send, KeepHint):
                    self.kept.append(send)
                    shown = "hint " + send.node.name
                else:
                    shown = send.node.name if send else None
                self.testcase.assertEqual(shown, retry, where)
                self.testcase.assertEqual(got, answer, where)
                if isinstance(send, Send):
                    self.remember([send])
            elif kind == "hints":
                # every hint kept so far: (node, msg_type), and the write's own bytes
                self.testcase.assertEqual(
                    [(h.node.name, h.msg_type) for h in self.kept], step[1], where)
                for hint in self.kept:
                    self.testcase.assertEqual(hint.raw, encode_command(self.args), where)
            else:
                raise ValueError(kind)

    def remember(self, sends: List[Send]) -> None:
        for send in sends:
            self.copies[send.node.name] = send.copy


def get(key: bytes = b"k") -> List[bytes]:
    return [b"GET", key]


def set_(key: bytes = b"k") -> List[bytes]:
    return [b"SET", key, b"v"]


class DcOneTests(unittest.TestCase):
    def test_read_goes_to_the_local_rack_and_its_reply_is_the_answer(self) -> None:
        Playbook(self, router([3]), get()).play([
            ("start", [("dc1/rack1", REQ)]),
            ("reply", "dc1/rack1", A, A),
        ])

    def test_write_reaches_every_rack_and_the_local_rack_answers(self) -> None:
        Playbook(self, router([3, 2]), set_()).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ),
                       ("dc2/rack1", FWD)]),
            ("reply", "dc1/rack2", OK, None),  # other racks: fire and forget
            ("reply", "dc2/rack1", OK, None),
            ("reply", "dc1/rack1", OK, OK),
            ("reply", "dc1/rack3", OK, None),  # late: nothing more
        ])

    def test_an_error_of_the_local_rack_is_the_answer(self) -> None:
        Playbook(self, router([3]), set_()).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
            ("timeout", "dc1/rack1", REFUSED, REFUSED),
            ("reply", "dc1/rack2", OK, None),
        ])

    def test_remote_dc_copy_tries_the_other_racks_then_is_dropped(self) -> None:
        # dc1/rack2 replicates to dc2/rack2 (rack i to rack i), then rack1, then rack3
        route = router([2, 3])
        local = next(n for n in route.topology.nodes if n.name == "dc1/rack2")
        others = [n for n in route.topology.nodes if n is not local]
        local = Member(local.name, local.host, local.port, local.dc, local.rack, local.tokens, True)
        others = [Member(n.name, n.host, n.port, n.dc, n.rack, n.tokens) for n in others]
        route = Router(Topology(local, others), get_hash("murmur"))
        Playbook(self, route, set_()).play([
            ("start", [("dc1/rack2", REQ), ("dc1/rack1", REQ), ("dc2/rack2", FWD)]),
            ("unreachable", "dc2/rack2", "dc2/rack1", None),
            ("unreachable", "dc2/rack1", "dc2/rack3", None),
            ("unreachable", "dc2/rack3", None, None),  # every rack down: dropped, as Dynomite
            ("reply", "dc1/rack2", OK, OK),
        ])

    def test_read_of_an_unreachable_owner_fails_over_to_the_other_racks(self) -> None:
        route = router([2], half_tokens=True)
        key = next(k for k in (b"k%d" % i for i in range(1000))
                   if route.owner(k).name == "dc1/rack1:1")
        playbook = Playbook(self, route, get(key))
        playbook.play([
            ("start", [("dc1/rack1:1", REQ)]),
            ("unreachable", "dc1/rack1:1", "dc1/rack2:1", None),
            ("reply", "dc1/rack2:1", A, A),
        ])
        self.assertEqual(playbook.coordination.failed_over, 1)

    def test_read_fails_over_to_the_next_rack_then_other_dcs(self) -> None:
        # dc1/rack1 fails over to rack2, then rack3, then dc2's rack1 (preselected)
        Playbook(self, router([3, 2]), get()).play([
            ("start", [("dc1/rack1", REQ)]),
            ("unreachable", "dc1/rack1", "dc1/rack2", None),
            ("unreachable", "dc1/rack2", "dc1/rack3", None),
            ("unreachable", "dc1/rack3", "dc2/rack1", None),
            ("unreachable", "dc2/rack1", "dc2/rack2", None),
            ("unreachable", "dc2/rack2", None, NOT_CONNECTED),  # every replica: the error
        ])

    def test_write_takes_the_answer_of_the_next_rack_instead_of_a_duplicate(self) -> None:
        playbook = Playbook(self, router([3, 2]), set_())
        playbook.play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ),
                       ("dc2/rack1", FWD)]),
            ("unreachable", "dc1/rack1", None, None),  # no new copy: rack2's answers
            ("reply", "dc1/rack3", OK, None),
            ("reply", "dc1/rack2", OK, OK),
        ])
        self.assertEqual(playbook.coordination.failed_over, 1)

    def test_write_fails_over_rack_by_rack_then_to_the_remote_dc(self) -> None:
        Playbook(self, router([2, 2]), set_()).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc2/rack1", FWD)]),
            ("unreachable", "dc1/rack1", None, None),
            ("unreachable", "dc1/rack2", None, None),
            ("reply", "dc2/rack1", OK, OK),  # the remote DC's local rack answered
        ])

    def test_write_with_no_replica_left_answers_the_error(self) -> None:
        Playbook(self, router([2]), set_()).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ)]),
            ("reply", "dc1/rack2", OK, None),  # counted before the failure was known
            ("unreachable", "dc1/rack1", None, NOT_CONNECTED),
        ])

    def test_quorum_counts_an_unreachable_replica_as_failed_at_once(self) -> None:
        Playbook(self, router([3]), get(), read=QUORUM).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
            ("unreachable", "dc1/rack2", None, None),
            ("unreachable", "dc1/rack3", None, NOT_CONNECTED),  # decided now
        ])


class QuorumTests(unittest.TestCase):
    def test_two_agreeing_racks_of_three_decide(self) -> None:
        Playbook(self, router([3]), get(), read=QUORUM).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
            ("reply", "dc1/rack2", A, None),
            ("reply", "dc1/rack3", A, A),
            ("reply", "dc1/rack1", A, None),
        ])

    def test_replies_differing_in_case_agree(self) -> None:
        Playbook(self, router([3]), get(), read=SAFE).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
            ("reply", "dc1/rack1", b"$1\r\nA\r\n", None),
            ("reply", "dc1/rack2", A, b"$1\r\nA\r\n"),
        ])

    def test_mismatch_gives_the_first_good_reply_under_dc_quorum(self) -> None:
        Playbook(self, router([3]), get(), read=QUORUM).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
            ("reply", "dc1/rack2", B, None),
            ("reply", "dc1/rack1", A, None),
            ("reply", "dc1/rack3", C, B),
        ])

    def test_mismatch_fails_under_safe_quorum(self) -> None:
        Playbook(self, router([3]), get(), read=SAFE).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
            ("reply", "dc1/rack1", A, None),
            ("reply", "dc1/rack2", B, None),
            ("reply", "dc1/rack3", C, FAILED),
        ])

    def test_errors_and_timeouts_count_against_the_quorum(self) -> None:
        Playbook(self, router([3]), set_(), write=QUORUM).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
            ("timeout", "dc1/rack2", TIMEOUT, None),
            ("reply", "dc1/rack1", WRONGTYPE, TIMEOUT),  # 2 errors of 3: the first error
            ("reply", "dc1/rack3", OK, None),
        ])

    def test_one_timeout_of_three_still_reaches_quorum(self) -> None:
        Playbook(self, router([3]), set_(), write=SAFE).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
            ("timeout", "dc1/rack3", TIMEOUT, None),
            ("reply", "dc1/rack1", OK, None),
            ("reply", "dc1/rack2", OK, OK),
        ])

    def test_an_unreachable_peer_counts_as_an_error_at_once(self) -> None:
        Playbook(self, router([3]), get(), read=QUORUM).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
            ("unreachable", "dc1/rack2", None, None),
            ("unreachable", "dc1/rack3", None, NOT_CONNECTED),
            ("reply", "dc1/rack1", A, None),
        ])

    def test_a_late_reply_after_a_timeout_is_dropped(self) -> None:
        Playbook(self, router([2]), get(), read=QUORUM).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ)]),
            ("reply", "dc1/rack1", A, None),
            ("timeout", "dc1/rack2", TIMEOUT, TIMEOUT),  # 2 racks: quorum 2, one error
            ("reply", "dc1/rack2", A, None),  # the late reply itself
        ])

    def test_quorum_writes_still_replicate_to_the_remote_dc(self) -> None:
        Playbook(self, router([2, 2]), set_(), write=QUORUM).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc2/rack1", FWD)]),
            ("reply", "dc2/rack1", TIMEOUT, None),  # remote copies are not counted
            ("reply", "dc1/rack1", OK, None),
            ("reply", "dc1/rack2", OK, OK),
        ])


class HintTests(unittest.TestCase):
    """With hinted handoff on, a write's copy that cannot reach its peer is a KeepHint."""

    def test_unreachable_peer_copy_is_kept(self) -> None:
        Playbook(self, router([3]), set_(), write=QUORUM, hinted=True).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
            ("unreachable", "dc1/rack3", "hint dc1/rack3", None),
            ("reply", "dc1/rack1", OK, None),
            ("reply", "dc1/rack2", OK, OK),  # the hint counts for nothing: 2 of 3
            ("hints", [("dc1/rack3", REQ)]),
        ])

    def test_fire_and_forget_copies_are_kept_too(self) -> None:
        Playbook(self, router([3]), set_(), hinted=True).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
            ("unreachable", "dc1/rack2", "hint dc1/rack2", None),
            ("reply", "dc1/rack1", OK, OK),
            ("hints", [("dc1/rack2", REQ)]),
        ])

    def test_timed_out_lost_and_refused_copies_are_kept(self) -> None:
        Playbook(self, router([5]), set_(), write=QUORUM, hinted=True).play([
            ("start", [("dc1/rack%d" % r, REQ) for r in range(1, 6)]),
            ("timeout", "dc1/rack2", TIMEOUT, None),  # timed out or connection lost
            ("reply", "dc1/rack3", REFUSED, None),  # the peer's datastore refused
            ("reply", "dc1/rack4", WRONGTYPE, TIMEOUT),  # delivered, not kept; 3 errors
            ("reply", "dc1/rack1", OK, None),
            ("reply", "dc1/rack5", OK, None),
            ("hints", [("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
        ])

    def test_the_local_datastore_failing_is_not_a_hint(self) -> None:
        Playbook(self, router([2]), set_(), hinted=True).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ)]),
            ("timeout", "dc1/rack1", REFUSED, REFUSED),
            ("reply", "dc1/rack2", OK, None),
            ("hints", []),
        ])

    def test_a_remote_dc_is_hinted_once_every_rack_failed(self) -> None:
        Playbook(self, router([1, 3]), set_(), hinted=True).play([
            ("start", [("dc1/rack1", REQ), ("dc2/rack1", FWD)]),
            ("unreachable", "dc2/rack1", "dc2/rack2", None),
            ("unreachable", "dc2/rack2", "dc2/rack3", None),
            ("unreachable", "dc2/rack3", "hint dc2/rack1", None),
            ("reply", "dc1/rack1", OK, OK),
            ("hints", [("dc2/rack1", FWD)]),  # the preselected rack, to fan out there
        ])

    def test_a_forwarded_copy_lost_at_its_alternate_is_kept_for_the_alternate(self) -> None:
        Playbook(self, router([1, 2]), set_(), hinted=True).play([
            ("start", [("dc1/rack1", REQ), ("dc2/rack1", FWD)]),
            ("unreachable", "dc2/rack1", "dc2/rack2", None),
            ("timeout", "dc2/rack2", TIMEOUT, None),
            ("hints", [("dc2/rack2", FWD)]),
        ])

    def test_without_handoff_nothing_is_kept(self) -> None:
        Playbook(self, router([3]), set_(), write=QUORUM).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ)]),
            ("unreachable", "dc1/rack3", None, None),
            ("timeout", "dc1/rack2", TIMEOUT, NOT_CONNECTED),
            ("hints", []),
        ])

    def test_complete_hands_hints_to_the_keeper(self) -> None:
        route = router([2])
        args = set_()
        command = commands.describe(commands.lookup(args), args)  # type: ignore[arg-type]
        assert not isinstance(command, bytes)
        plan = route.plan(command, ONE, ONE)
        assert isinstance(plan, Plan)
        kept: List[KeepHint] = []
        client = Slot(None)
        coordination = Coordination([(plan, b"raw")], client, None, errors.RESP, kept.append,
                                    undelivered_replies(errors.RESP))
        sends = coordination.start()
        Slot(coordination, sends[1].copy).deliver(TIMEOUT)
        self.assertEqual([(h.copy, h.node.name, h.raw) for h in kept], [(1, "dc1/rack2", b"raw")])


class EachSafeQuorumTests(unittest.TestCase):
    def test_every_dc_must_reach_its_own_safe_quorum(self) -> None:
        Playbook(self, router([3, 2]), get(), read=EACH).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc1/rack3", REQ),
                       ("dc2/rack1", REQ), ("dc2/rack2", REQ)]),
            ("reply", "dc1/rack1", A, None),
            ("reply", "dc1/rack2", A, None),  # dc1 decided; dc2 still open
            ("reply", "dc2/rack1", A, None),
            ("reply", "dc2/rack2", A, A),
            ("reply", "dc1/rack3", A, None),
        ])

    def test_an_unreachable_dc_is_an_error_not_a_hang(self) -> None:
        Playbook(self, router([2, 2]), get(), read=EACH).play([
            ("start", [("dc1/rack1", REQ), ("dc1/rack2", REQ), ("dc2/rack1", REQ),
                       ("dc2/rack2", REQ)]),
            ("reply", "dc1/rack1", A, None),
            ("reply", "dc1/rack2", A, None),
            ("unreachable", "dc2/rack1", None, NOT_CONNECTED),  # dc2 can no longer agree
            ("unreachable", "dc2/rack2", None, None),
        ])

    def test_values_are_not_compared_across_dcs(self) -> None:
        Playbook(self, router([1, 1]), get(), read=EACH).play([
            ("start", [("dc1/rack1", REQ), ("dc2/rack1", REQ)]),
            ("reply", "dc2/rack1", B, None),
            ("reply", "dc1/rack1", A, A),  # the local DC's reply
        ])


class FragmentTests(unittest.TestCase):
    def setUp(self) -> None:
        self.route = router([2], half_tokens=True)
        keys = (b"k%d" % i for i in range(1000))
        self.k0 = next(k for k in keys if self.route.owner(k).name == "dc1/rack1:0")
        self.k1 = next(k for k in keys if self.route.owner(k).name == "dc1/rack1:1")

    def test_parts_are_merged_in_key_order_once_all_are_decided(self) -> None:
        Playbook(self, self.route, [b"MGET", self.k1, self.k0]).play([
            ("start", [("dc1/rack1:1", REQ), ("dc1/rack1:0", REQ)]),
            ("reply", "dc1/rack1:0", b"*1\r\n" + B, None),
            ("reply", "dc1/rack1:1", b"*1\r\n" + A, b"*2\r\n" + A + B),
        ])

    def test_each_part_is_its_own_quorum_request(self) -> None:
        Playbook(self, self.route, [b"DEL", self.k0, self.k1], write=QUORUM).play([
            ("start", [("dc1/rack1:0", REQ), ("dc1/rack2:0", REQ),
                       ("dc1/rack1:1", REQ), ("dc1/rack2:1", REQ)]),
            ("reply", "dc1/rack1:0", b":1\r\n", None),
            ("reply", "dc1/rack2:0", b":1\r\n", None),  # the first part decided
            ("reply", "dc1/rack1:1", b":0\r\n", None),
            ("reply", "dc1/rack2:1", b":0\r\n", b":1\r\n"),  # summed
        ])

    def test_a_failed_part_fails_its_element(self) -> None:
        Playbook(self, self.route, [b"MGET", self.k0, self.k1]).play([
            ("start", [("dc1/rack1:0", REQ), ("dc1/rack1:1", REQ)]),
            ("unreachable", "dc1/rack1:1", "dc1/rack2:1", None),
            ("unreachable", "dc1/rack2:1", None, None),
            ("reply", "dc1/rack1:0", b"*1\r\n" + A, NOT_CONNECTED),
        ])

    def test_a_part_fails_over_on_its_own(self) -> None:
        Playbook(self, self.route, [b"MGET", self.k0, self.k1]).play([
            ("start", [("dc1/rack1:0", REQ), ("dc1/rack1:1", REQ)]),
            ("unreachable", "dc1/rack1:1", "dc1/rack2:1", None),
            ("reply", "dc1/rack1:0", b"*1\r\n" + A, None),
            ("reply", "dc1/rack2:1", b"*1\r\n" + B, b"*2\r\n" + A + B),
        ])


class GridTests(unittest.TestCase):
    """Every level, 1-5 racks, 1-2 DCs, reads and writes: the copies sent follow
    Dynomite's rules, and equal good replies, in any order, are answered exactly once,
    at the reply that completes the last quorum needed."""

    @staticmethod
    def expected_sends(racks: Sequence[int], write: bool, level: str) -> List[Tuple[str, int]]:
        local = [("dc1/rack%d" % r, REQ) for r in range(1, racks[0] + 1)]
        if level == ONE and not write:
            return local[:1]
        sends = list(local)
        for d, count in enumerate(racks[1:], 2):
            if level == EACH:
                sends += [("dc%d/rack%d" % (d, r), REQ) for r in range(1, count + 1)]
            elif write:
                sends.append(("dc%d/rack1" % d, FWD))  # rack i of dc1 -> rack i of dc2
        return sends

    @staticmethod
    def quorums(racks: Sequence[int], level: str) -> dict:
        """Replies needed per DC before the answer is due."""
        if level == ONE:
            return {"dc1": 1}
        counted = racks if level == EACH else racks[:1]
        return {"dc%d" % d: n // 2 + 1 for d, n in enumerate(counted, 1)}

    def test_grid(self) -> None:
        cases = 0
        shapes = [(n,) for n in range(1, 6)] + [(n, m) for n in range(1, 6) for m in (1, 3)]
        for racks in shapes:
            route = router(racks)
            for level, write in itertools.product((ONE, QUORUM, SAFE, EACH), (False, True)):
                args = set_() if write else get()
                command = commands.describe(commands.lookup(args), args)  # type: ignore
                assert not isinstance(command, bytes)
                plan = route.plan(command, level, level)
                assert isinstance(plan, Plan)
                sends = Coordination([(plan, b"x")], Slot(None)).start()
                where = (racks, level, write)
                self.assertEqual(
                    [(s.node.name, s.msg_type) for s in sends],
                    self.expected_sends(racks, write, level),
                    where,
                )
                needed = self.quorums(racks, level)
                counted = {s.copy for s in sends if s.node.dc in needed and s.msg_type == REQ}
                if level == ONE:
                    counted = {0}
                for order in itertools.islice(itertools.permutations(sends), 24):
                    coordination = Coordination([(plan, b"x")], Slot(None))
                    seen = dict.fromkeys(needed, 0)
                    answers = []
                    for send in order:
                        due_before = all(seen[dc] >= n for dc, n in needed.items())
                        if send.copy in counted:
                            seen[send.node.dc] += 1
                        due_now = all(seen[dc] >= n for dc, n in needed.items())
                        answer = coordination.on_reply(send.copy, A)
                        self.assertEqual(answer is not None, due_now and not due_before, where)
                        if answer is not None:
                            answers.append(answer)
                    self.assertEqual(answers, [A], where)
                    cases += 1
        self.assertGreater(cases, 500)
