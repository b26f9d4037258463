"""Stand-ins for the parts of a node that a peer-port test does not exercise."""

from __future__ import annotations

from typing import List, Optional, Set, Tuple, Union

from twisted.internet.testing import MemoryReactorClock

from dynotwist import errors
from dynotwist.core.slots import Slot
from dynotwist.core.stats import detached_stats
from dynotwist.datastores import RedisKind, Relayed
from dynotwist.net.batch import WriteBatch
from dynotwist.proto.dnode import Frame
from tests.support.configs import node_config


class FakeDatastore:
    """A datastore pool that records what it is sent; the test answers it."""

    def __init__(self, resp3: bool, up: bool = True) -> None:
        self.resp3 = resp3
        self.up = up
        self.sent: List[Tuple[bytes, Slot, int]] = []

    def send(self, raw: bytes, slot: Slot, lane: int) -> bool:
        if not self.up:
            return False
        self.sent.append((raw, slot, lane))
        return True

    def answer(self, index: int, reply: bytes) -> None:
        slot = self.sent[index][1]
        if slot.owner is not None:
            slot.owner.complete(slot, reply)


NODE_CONFIG = node_config(proto_max_bulk_len=65536)


class FakeNode:
    """What DnodeServerProtocol needs of the node; requests are admitted by the real
    Redis datastore kind."""

    def __init__(self, reactor: MemoryReactorClock) -> None:
        self.batch = WriteBatch(reactor)
        self.replies = errors.RESP
        self.stores = {False: FakeDatastore(False), True: FakeDatastore(True)}
        self.forwarded: List[Tuple[bytes, bool, Slot, int]] = []
        self.forward_ok = True
        self.gossip: List[Tuple[Frame, str]] = []
        self.kind = RedisKind()
        self.max_relayed_payload = 1 << 20
        self.stats = detached_stats()
        self.serving: Set[object] = set()

    def admit_relayed(self, payload: bytes) -> Union[Relayed, bytes]:
        return self.kind.admit_relayed(payload, NODE_CONFIG)

    def serve_local(self, request: Relayed, resp3: bool, slot: Slot, lane: int) -> None:
        if not self.stores[resp3].send(request.raw, slot, lane):
            slot.owner.complete(slot, errors.DATASTORE_REFUSED)

    def forward_to_local_dc(self, request: Relayed, resp3: bool, slot: Slot, lane: int) -> bool:
        if not self.forward_ok:
            return False
        self.forwarded.append((request.raw, resp3, slot, lane))
        return True

    def gossip_received(self, frame: Frame, sender: str) -> None:
        self.gossip.append((frame, sender))


class Owner:
    """Records the replies delivered to its slots."""

    def __init__(self) -> None:
        self.replies: List[Tuple[Slot, bytes]] = []

    def complete(self, slot: Slot, reply: bytes) -> None:
        self.replies.append((slot, reply))

    def slot(self) -> Slot:
        return Slot(self)

    def reply_to(self, slot: Slot) -> Optional[bytes]:
        for done, reply in self.replies:
            if done is slot:
                return reply
        return None

    def received(self) -> List[bytes]:
        """The replies, in the order they came."""
        return [reply for _, reply in self.replies]
