"""The admin port of a node with workers: one port in front of the workers' own.

Each worker serves the whole admin app (:mod:`dynotwist.admin`) on a loopback port its
parent bound. The node's ``stats_listen`` (in the parent, behind the same connection
limits, :class:`~dynotwist.adminhttp.AdminSite`) answers a request by relaying it:

- ``/``, ``/info`` and ``/metrics``: every worker's ``/snapshot``, summed
  (:func:`~dynotwist.core.stats.merge.merge_snapshots`), rendered as one node's;
- ``/warm_up/...``: worker 0 only (one warm-up fills the datastore);
- any other path, reads and changes alike: sent to every worker, with the headers its
  guards read (``Authorization``, ``Origin``, ``Sec-Fetch-Site``). The answer is the
  first refusal if a worker refused, else worker 0's. Each worker applies and logs
  the change itself (the peer it names is the parent, on loopback).

The changes made (state, consistency, timeout factor, log level, peers up or down or
forgotten, read repairs) are kept, the latest per path, and replayed in order to a
worker that is started again, so that it runs as its siblings do. The requests to
one worker go one at a time, so that the replay comes before anything newer.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool, _HTTP11ClientFactory, readBody
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from dynotwist.core.stats import PROMETHEUS_CONTENT_TYPE, render_info, render_prometheus
from dynotwist.core.stats.merge import merge_snapshots, snapshot_from_data
from dynotwist.logs import logger

log = logger(__name__)

#: seconds a worker has to answer (one being started again answers once it serves)
ANSWER_TIMEOUT = 15.0

JSON = b"application/json; charset=utf-8"
TEXT = b"text/plain; charset=utf-8"

_STATS_PATHS = (b"/", b"/info", b"/metrics")
_GUARD_HEADERS = (b"authorization", b"origin", b"sec-fetch-site")
#: paths whose change a worker started again must be given (one-off actions are not)
_REPLAYED = (
    b"/state/", b"/set_consistency/", b"/set_timeout_factor/", b"/setloglevel/",
    b"/loglevelup", b"/logleveldown", b"/peer/up/", b"/peer/down/", b"/peer/forget/",
    b"/read_repairs/",
)

Answer = Tuple[int, bytes, bytes]  # status, content type, body


class _QuietFactory(_HTTP11ClientFactory):
    noisy = False  # no log lines for each relayed request's connection


class _QuietPool(HTTPConnectionPool):
    _factory = _QuietFactory


def replayed(path: bytes) -> bool:
    """A change a worker started again must be given."""
    return path.startswith(_REPLAYED) and path != b"/state/get_state"


def one_answer(answers: Sequence[Answer]) -> Answer:
    """The workers' answers to one request as one: the first refusal, else worker 0's."""
    for answer in answers:
        if not 200 <= answer[0] < 300:
            return answer
    return answers[0]


class WorkersAdmin(Resource):
    """``stats_listen``'s resource in the parent of a node's workers."""

    isLeaf = True

    def __init__(
        self, ports: Sequence[int], token: Optional[str], reactor: Any, restarts: Any
    ) -> None:
        """``ports``: the workers' admin ports on loopback, worker 0 first;
        ``restarts``: an object whose ``restarts`` is ``worker_restarts``."""
        super().__init__()
        self.ports = list(ports)
        self.token = token
        self.reactor = reactor
        self.restarts = restarts
        self.agent = Agent(reactor, pool=_QuietPool(reactor, persistent=False))
        self._turns = [defer.DeferredLock() for _ in self.ports]
        self.changes: Dict[bytes, None] = {}  # paths, oldest first

    def ask(self, index: int, method: bytes, uri: bytes,
            headers: Optional[Dict[bytes, List[bytes]]] = None) -> defer.Deferred[Answer]:
        """Worker ``index``'s answer to a request, after those asked before."""
        return self._turns[index].run(self._request, index, method, uri, headers or {})

    @defer.inlineCallbacks
    def _request(self, index: int, method: bytes, uri: bytes,
                 headers: Dict[bytes, List[bytes]]) -> Any:
        url = b"http://127.0.0.1:%d%s" % (self.ports[index], uri)
        asked = self.agent.request(method, url, Headers(headers))
        asked.addTimeout(ANSWER_TIMEOUT, self.reactor)
        response = yield asked
        body = yield readBody(response)
        kind = response.headers.getRawHeaders(b"content-type", [TEXT])[0]
        return response.code, kind, body

    def worker_started(self, index: int) -> None:
        """Give worker ``index`` (started again) the changes made so far."""
        headers = {}
        if self.token is not None:
            headers[b"authorization"] = [b"Bearer " + self.token.encode("utf-8")]
        for path in list(self.changes):
            replay = self.ask(index, b"GET", path, headers)
            replay.addErrback(self._replay_failed, index, path)

    def _replay_failed(self, failure: Failure, index: int, path: bytes) -> None:
        log.error("worker {index} was not given {path}: {why}", index=index,
                  path=path.decode("ascii", "replace"), why=failure.value)

    def render(self, request: Any) -> Any:
        if request.path in _STATS_PATHS and request.method in (b"GET", b"HEAD"):
            answered = self._stats(request.path)
        else:
            answered = self._relay(request)
        gone: List[Failure] = []
        request.notifyFinish().addErrback(gone.append)  # the client left
        answered.addErrback(self._unanswered)
        answered.addCallback(self._write, request, gone)
        return NOT_DONE_YET

    def _stats(self, path: bytes) -> defer.Deferred[Answer]:
        asked = [self.ask(i, b"GET", b"/snapshot") for i in range(len(self.ports))]

        def render(answers: List[Answer]) -> Answer:
            snapshot = merge_snapshots([snapshot_from_data(json.loads(a[2])) for a in answers])
            snapshot.pool["worker_restarts"] = self.restarts.restarts
            if path == b"/metrics":
                text = render_prometheus(snapshot).encode("utf-8")
                return 200, PROMETHEUS_CONTENT_TYPE.encode("ascii"), text
            return 200, JSON, render_info(snapshot)

        return defer.gatherResults(asked, consumeErrors=True).addCallback(render)

    def _relay(self, request: Any) -> defer.Deferred[Answer]:
        path = request.path
        method = b"GET" if request.method == b"HEAD" else request.method
        headers = {
            name: values
            for name in _GUARD_HEADERS
            for values in [request.requestHeaders.getRawHeaders(name)]
            if values
        }
        targets = [0] if path.startswith(b"/warm_up") else range(len(self.ports))
        asked = [self.ask(i, method, request.uri, headers) for i in targets]

        def combine(answers: List[Answer]) -> Answer:
            answer = one_answer(answers)
            if answer[0] == 200 and method == b"GET" and replayed(path):
                self.changes.pop(path, None)
                self.changes[path] = None
            return answer

        return defer.gatherResults(asked, consumeErrors=True).addCallback(combine)

    def _unanswered(self, failure: Failure) -> Answer:
        why = failure.value
        if isinstance(why, defer.FirstError):
            why = why.subFailure.value
        log.warn("admin: a worker did not answer: {why}", why=why)
        return 503, TEXT, b"a worker did not answer: %s\n" % str(why).encode("utf-8", "replace")

    def _write(self, answer: Answer, request: Any, gone: List[Failure]) -> None:
        if gone:
            return
        code, kind, body = answer
        request.setResponseCode(code)
        request.setHeader(b"content-type", kind)
        request.setHeader(b"content-length", b"%d" % len(body))
        request.write(body)
        request.finish()
