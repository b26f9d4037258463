"""Differential test: the same seeded random commands sent through a dynotwist node and
straight to a reference redis-server give the same reply bytes.

Each side has its own redis-server. The commands cover every data type, key-space
commands, scripting and the errors Redis itself reports (WRONGTYPE, wrong arity,
unknown command, syntax errors). Commands the node refuses on purpose (MULTI, ...)
are not sent here: test_clients.py covers them. Commands whose reply is not
deterministic are left out (SPOP, RANDOMKEY, TIME, ...), and replies whose order
depends on a hash table (SMEMBERS, HGETALL, ...) are compared as multisets of their
raw elements; TTL/PTTL are compared as "both positive" or equal.

Four runs: RESP2 and RESP3 (after ``HELLO 3`` on both connections; that reply is the
node's own and is not compared), each one command at a time and pipelined in batches
of 1..50 commands written in one send. Each run uses its own key prefix, since the
node refuses FLUSHALL. Set DYNOTWIST_DIFF_SEED to replay another sequence.

The commands and the comparison are in tests/support/differential.py (test_cluster.py
runs them through a cluster too).
"""

from __future__ import annotations

import random

from dynotwist.testing.processes import RedisServer
from tests.support.differential import SEED, CommandGenerator, compare_sequence
from tests.support.fixtures import NodeTestCase, Processes


class DifferentialTest(NodeTestCase):
    """The node and a reference redis-server answer the same commands identically."""

    reference: RedisServer

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        super().start_processes(processes)
        cls.reference = processes.redis()

    def run_sequence(self, mode: str, resp3: bool, pipelined: bool) -> None:
        seed = SEED + sum(mode.encode())
        generator = CommandGenerator(seed, "%s-%d" % (mode, seed))
        compare_sequence(self, self.node.client_port, self.reference.port, generator,
                         "mode %s, seed %d, DYNOTWIST_DIFF_SEED=%d" % (mode, seed, SEED),
                         random.Random(seed + 1), resp3, pipelined)

    def test_resp2_one_at_a_time(self) -> None:
        self.run_sequence("resp2-seq", resp3=False, pipelined=False)

    def test_resp2_pipelined(self) -> None:
        self.run_sequence("resp2-pipe", resp3=False, pipelined=True)

    def test_resp3_one_at_a_time(self) -> None:
        self.run_sequence("resp3-seq", resp3=True, pipelined=False)

    def test_resp3_pipelined(self) -> None:
        self.run_sequence("resp3-pipe", resp3=True, pipelined=True)
