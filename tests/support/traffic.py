"""Traffic under failure: pipelined SET/GET pairs through a node, inside the reactor,
every reply checked while the test kills and restarts what is behind the node."""

from __future__ import annotations

from typing import Any, Callable, Generator, List, Optional, Tuple

import txredisapi
from twisted.internet import defer
from twisted.protocols.memcache import MemCacheProtocol, ServerError
from twisted.python.failure import Failure

from tests.support.waiting import eventually

RECOVERY_WAIT = 20.0  # seconds: the bound on every wait for an expected state

REFUSED = "Storage: Datastore refused connection"  # the node's answer, datastore down


class RedisPairs:
    """SET and GET through a txredisapi connection made with ``charset=None`` and
    ``convertNumbers=False``: bytes in, bytes out."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def set(self, key: bytes, value: bytes) -> defer.Deferred[bool]:
        return self.connection.set(key, value).addCallback(lambda reply: reply in (b"OK", "OK"))

    def get(self, key: bytes) -> defer.Deferred[Optional[bytes]]:
        return self.connection.get(key)

    @staticmethod
    def refused(failure: Failure) -> bool:
        return bool(failure.check(txredisapi.ResponseError)) and REFUSED in str(failure.value)


class MemcachePairs:
    """set and get through Twisted's memcached client."""

    def __init__(self, protocol: MemCacheProtocol) -> None:
        self.protocol = protocol

    def set(self, key: bytes, value: bytes) -> defer.Deferred[bool]:
        return self.protocol.set(key, value)

    def get(self, key: bytes) -> defer.Deferred[Optional[bytes]]:
        return self.protocol.get(key).addCallback(lambda flags_value: flags_value[1])

    @staticmethod
    def refused(failure: Failure) -> bool:
        # Twisted's client gives the text of a SERVER_ERROR line as its repr()
        return bool(failure.check(ServerError)) and REFUSED in str(failure.value)


class Traffic:
    """Batches of ``PAIRS`` pipelined SET/GET pairs on one connection until stopped.

    Every reply must be a normal one or the node's refusal: a SET stores, a GET after
    a stored SET finds its value (or nothing, the datastore having restarted empty in
    between), a GET after a refused SET finds whatever the key held. Anything else,
    a lost connection or a client timeout (a hang) included, goes to ``unexpected``
    and ends the traffic.
    """

    PAIRS = 5  # several requests are in flight at any time

    def __init__(self, pairs: Any) -> None:
        self.pairs = pairs
        self.ok = 0  # normal replies
        self.refused = 0  # the node's refusals
        self.unexpected: List[Tuple[str, object]] = []  # (request, reply or failure)
        self.batches = 0
        self._stopping = False
        self.done: defer.Deferred[None] = self._run()

    @property
    def running(self) -> bool:
        return not self.done.called

    def stop(self) -> defer.Deferred[None]:
        """Fires once the batch in flight is answered and checked."""
        self._stopping = True
        finished: defer.Deferred[None] = defer.Deferred()
        self.done.addBoth(lambda result: finished.callback(None) or result)
        return finished

    def until(self, predicate: Callable[[], bool], timeout: float, message: str
              ) -> defer.Deferred[None]:
        """Fires once ``predicate()`` holds, or the traffic went wrong or ended."""
        return eventually(lambda: predicate() or self.unexpected or not self.running,
                          timeout, message=message)

    @defer.inlineCallbacks
    def _run(self) -> Generator[defer.Deferred[Any], Any, None]:
        try:
            yield self._batches()
        except Exception:  # a bug here must show, not end the traffic silently
            self.unexpected.append(("traffic", Failure()))

    @defer.inlineCallbacks
    def _batches(self) -> Generator[defer.Deferred[Any], Any, None]:
        n = 0
        while not self._stopping and not self.unexpected:
            sent = []
            for _ in range(self.PAIRS):
                n += 1
                key, value = b"traffic:%d" % (n % 50), b"%d" % n
                sent.append((key, value, self.pairs.set(key, value), self.pairs.get(key)))
            for key, value, stored, got in sent:
                set_ok = yield self._check("SET %s %s" % (key, value), stored,
                                           lambda reply: reply is True)
                if set_ok:  # its value, or nothing if the datastore restarted between
                    yield self._check("GET %s" % key, got, (value, None).__contains__)
                else:
                    yield self._check("GET %s" % key, got, lambda reply: True)
            self.batches += 1

    @defer.inlineCallbacks
    def _check(self, request: str, reply: defer.Deferred[Any], normal: Callable[[Any], bool]
               ) -> Generator[defer.Deferred[Any], Any, bool]:
        """Whether the request succeeded; counts its reply."""
        try:
            value = yield reply
        except Exception:
            failure = Failure()
            if self.pairs.refused(failure):
                self.refused += 1
            else:
                self.unexpected.append((request, failure))
            return False
        if normal(value):
            self.ok += 1
            return True
        self.unexpected.append((request, value))
        return False


@defer.inlineCallbacks
def through_a_datastore_restart(
    testcase: Any,
    traffic: Traffic,
    node: Any,
    while_down: Callable[[], defer.Deferred[Any]],
    start_again: Callable[[int], defer.Deferred[Any]],
) -> Generator[defer.Deferred[Any], Any, Any]:
    """The datastore behind ``node`` (a ``RunningNode``) SIGKILLed under ``traffic``,
    then started again on its port: every reply is a normal one or the node's refusal,
    refusals come while it is down (``while_down()`` checks more then), and traffic is
    served again once it is back. Fires with the new datastore, the traffic stopped."""
    testcase.addCleanup(traffic.stop)
    yield traffic.until(lambda: traffic.ok >= 100, RECOVERY_WAIT,
                        "traffic flowing before the kill")
    testcase.assertEqual(traffic.unexpected, [])
    testcase.assertEqual(traffic.refused, 0)

    port = node.datastore.port
    node.datastore.kill()  # SIGKILL, by pid
    yield traffic.until(lambda: traffic.refused >= 10, RECOVERY_WAIT,
                        "refusals while the datastore is down")
    testcase.assertEqual(traffic.unexpected, [])
    testcase.assertTrue(traffic.running)
    yield while_down()

    restarted = yield start_again(port)
    ok_at_restart = traffic.ok
    yield traffic.until(lambda: traffic.ok >= ok_at_restart + 100, RECOVERY_WAIT,
                        "traffic served again after the restart")
    testcase.assertTrue(traffic.running)
    yield traffic.stop()
    testcase.assertEqual(traffic.unexpected, [])
    return restarted
