"""The admin and stats HTTP app on ``stats_listen``: Dynomite's REST paths, and /metrics.

Every path of reference 6.2 answers with Dynomite's body, byte for byte, and its
content type (``application/json; charset=utf-8``, even for the text bodies). What
differs on purpose:

- proper HTTP through twisted.web: CRLF headers, keep-alive allowed, real status
  codes (Dynomite's ``LF``-only headers with trailing spaces and its extra 200 after a
  400 are not reproduced);
- an unknown path is a 404 and a bad value a 400, each with a one-line reason that
  gives what is allowed (Dynomite answers ``OK\\r\\n`` to both and does nothing);
- ``/`` serves /info (undefined in Dynomite); ``/help`` lists every path served;
- ``/set_consistency/<read|write>/dc_each_safe_quorum`` is accepted (Dynomite's
  admin parser only knows the three other levels);
- ``/set_timeout_factor/<n>`` and ``/setloglevel/<n>`` refuse a value out of 1..10 and
  0..11 (400; Dynomite clamps it);
- ``/peer/<verb>/all`` applies the verb to every peer (Dynomite resets every peer
  whatever the verb); ``/peer/forget/<name>`` removes a peer that is gone for good
  from the ring (Dynomite never removes one);
- paths that only read (``/info``, ``/state/get_state``...) answer GET and HEAD, and
  other methods get 405;
- paths that change the node are guarded (:func:`change_refusal`): refused to any
  method but GET, to a page in a browser (``Origin``, ``Sec-Fetch-Site``) and, when
  ``admin_token`` is set, to a request without ``Authorization: Bearer <token>``;
  each change is logged, one line at the default verbosity: who, what, old -> new;
- ``/snapshot``: the stats as plain JSON data (what a node with workers sums);
- ``/metrics``: the same numbers in the Prometheus text format; ``/ready``: 200 when
  the node can serve its clients at its consistency, else 503 with the reason.

The app holds no state of its own: it reads and sets the node's through a
:class:`NodeView`. The connections are bounded by :mod:`dynotwist.adminhttp`.
"""

from __future__ import annotations

import functools
import hmac
import json
import os
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Tuple, Union

from klein import Klein
from twisted.python.failure import Failure
from werkzeug.exceptions import MethodNotAllowed, NotFound

from dynotwist.core import consistency, states
from dynotwist.core.ring import Topology
from dynotwist.core.stats import (
    PROMETHEUS_CONTENT_TYPE,
    ClusterMember,
    Snapshot,
    render_cluster_describe,
    render_info,
    render_prometheus,
)
from dynotwist.core.stats.merge import snapshot_to_data
from dynotwist.logs import logger, notice

__all__ = ["HELP", "AdminApp", "NodeView", "change_refusal", "cluster_members"]

JSON = "application/json; charset=utf-8"  # Dynomite's, for every body
TEXT = "text/plain; charset=utf-8"  # dynotwist's own 4xx replies

OK = b"OK\r\n"

#: /help's body: Dynomite's list, in its order, with the paths dynotwist adds
HELP = (
    b"/info\n/help\n/ping\n/cluster_describe\n/setloglevel/<0-11>\n/loglevelup\n"
    b"/logleveldown\n/historeset\n/get_consistency\n"
    b"/set_consistency/<read|write>/<dc_one|dc_quorum|dc_safe_quorum|dc_each_safe_quorum>\n"
    b"/get_timeout_factor\n/set_timeout_factor/<1-10>\n/peer/<up|down|reset>/<name|all>\n"
    b"/peer/forget/<name>\n"
    b"/state/<get_state|standby|writes_only|normal|resuming>\n"
    b"/read_repairs/<enable|disable>\n/metrics\n/ready\n/warm_up/start\n"
    b"/warm_up/start/<host:port>\n/warm_up/status\n/snapshot\n/ (the same as /info)\n\n"
)

_INTEGER = re.compile(r"[+-]?[0-9]{1,20}\Z")

MIN_TIMEOUT_FACTOR = 1
MAX_TIMEOUT_FACTOR = 10
MIN_LOG_LEVEL = 0
MAX_LOG_LEVEL = 11

log = logger(__name__)

# the Sec-Fetch-Site of a request the user made (typed URL, bookmark), not a page
_USER_MADE = b"none"


class NodeView(Protocol):
    """What the admin app needs of the node (the node provides it; tests fake it)."""

    topology: Topology
    config: Any  # dynotwist.config.Config: env (aws or network) for /cluster_describe
    read_consistency: str  # "DC_ONE" ...: the default copied into new client sessions
    write_consistency: str
    timeout_factor: int  # 1..10: request timeouts are multiplied by it
    state: str  # a dynotwist.core.states name
    read_repairs: bool

    @property
    def verbosity(self) -> int:
        """The current log level, 0..11."""

    def stats_snapshot(self) -> Snapshot: ...

    def set_verbosity(self, level: int) -> int:
        """Set the log level (clamped to 0..11); returns the level set."""
        ...

    def reset_histograms(self) -> None: ...

    def peer_up(self, name: str) -> bool:
        """Mark peer *name* (or every peer: ``"all"``) up; False if there is no such peer."""
        ...

    def peer_down(self, name: str) -> bool: ...

    def peer_reset(self, name: str) -> bool:
        """Drop and reconnect the connections to peer *name* (or ``"all"``)."""
        ...

    def forget_peer(self, name: str) -> bool:
        """Remove peer *name* from the ring; False if there is no such peer."""
        ...

    def not_ready(self) -> Optional[str]:
        """Why the node cannot serve its clients at its consistency now, or None."""

    def start_warm_up(self, source: Optional[str] = None, rate: Optional[int] = None) -> str:
        """Start copying this node's token range from another rack (``source``: a
        datastore's ``host:port``); what happened, in a sentence."""
        ...

    def warm_up_status(self) -> Dict[str, Any]: ...


def _public_address(config: Any, environ: Mapping[str, str]) -> Tuple[Optional[str], ...]:
    """The local node's public IP and host name from the environment (reference 5.5)."""
    if getattr(config, "env", "aws") == "aws":
        return environ.get("EC2_PUBLIC_IPV4"), environ.get("EC2_PUBLIC_HOSTNAME")
    return environ.get("PUBLIC_IPV4"), environ.get("PUBLIC_HOSTNAME")


def cluster_members(
    topology: Topology, config: Any, environ: Optional[Mapping[str, str]] = None
) -> List[ClusterMember]:
    """/cluster_describe's nodes: the local node first, then the peers (``dyn_seeds``)."""
    public_ip, public_host = _public_address(config, os.environ if environ is None else environ)
    members = []
    for node in topology.nodes:
        name = host = node.host
        if node.is_local:
            name = public_ip or name
            host = public_host or host
        members.append(ClusterMember(node.dc, node.rack, name, host, node.port, node.tokens[0]))
    return members


def _reply(request: Any, body: bytes, content_type: str = JSON, code: int = 200) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", content_type.encode("ascii"))
    request.setHeader(b"content-length", b"%d" % len(body))
    return body


def _refuse(request: Any, reason: str, code: int = 400) -> bytes:
    return _reply(request, reason.encode("utf-8", "replace") + b"\n", TEXT, code)


def _integer(text: str) -> Optional[int]:
    return int(text) if _INTEGER.match(text) else None


def _in_range(request: Any, name: str, value: str, low: int, high: int) -> Union[int, bytes]:
    """``value`` as an integer of low..high, or the body of a 400 saying what is allowed."""
    number = _integer(value)
    if number is None or not low <= number <= high:
        return _refuse(request, "%s %r is not a number from %d to %d" % (name, value, low, high))
    return number


def _who(request: Any) -> str:
    address = request.getClientAddress()
    host = getattr(address, "host", None)
    return "%s:%s" % (host, address.port) if host is not None else str(address)


def log_change(request: Any, what: str, old: object, new: object) -> None:
    """One line at the default verbosity for each change made through the admin port:
    who, what, old -> new (``old`` None: what was done)."""
    if old is None:
        notice(log, "admin: {who}: {what} {new}", who=_who(request), what=what, new=new)
        return
    notice(log, "admin: {who} changed {what}: {old} -> {new}",
           who=_who(request), what=what, old=old, new=new)


def _bearer(values: Optional[List[bytes]]) -> Optional[bytes]:
    """The credentials of the one ``Authorization: Bearer <credentials>`` header."""
    if not values or len(values) != 1:
        return None
    scheme, _, credentials = values[0].strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    return credentials.strip()


def change_refusal(request: Any, token: Optional[str]) -> Optional[Tuple[int, str]]:
    """Why ``request`` may not change the node, as (status, reason); None if it may.

    Browsers send ``Origin`` on cross-origin requests other than plain GETs, and
    ``Sec-Fetch-Site`` on every request, ``none`` only when the user made it: refusing
    the others keeps a web page from driving the node through the browser of someone
    on the admin network. ``same-origin`` is refused too: the admin port serves no
    page, so such a request comes from a page whose name was rebound to the node's
    address. Old browsers send neither header; ``token`` (``admin_token``), which a
    page cannot know, is the protection that holds for them.
    """
    if request.method != b"GET":
        method = request.method.decode("ascii", "replace")
        return 403, "method %s cannot change the node: use GET" % method
    headers = request.requestHeaders
    if headers.hasHeader(b"origin"):
        return 403, "a request with an Origin header (a web page) cannot change the node"
    fetch_sites = headers.getRawHeaders(b"sec-fetch-site") or []
    if any(site.strip().lower() != _USER_MADE for site in fetch_sites):
        return 403, "a request made by a web page (Sec-Fetch-Site) cannot change the node"
    if token is None:
        return None
    credentials = _bearer(headers.getRawHeaders(b"authorization"))
    if credentials is None:
        return 401, "this path changes the node: send Authorization: Bearer <admin_token>"
    if not hmac.compare_digest(credentials, token.encode("utf-8")):
        return 401, "wrong admin token"
    return None


Handler = Callable[..., bytes]

_PEER_VERBS = {"up": "marked up", "down": "marked down", "reset": "connections reset"}
_ENABLED = {True: "ENABLED", False: "DISABLED"}

_routes = Klein()


def reads(path: str) -> Callable[[Handler], Handler]:
    """Route a path that only reads the node: GET and HEAD, for anyone."""
    return _routes.route(path, methods=["GET"])


def changes(path: str) -> Callable[[Handler], Handler]:
    """Route a path that changes the node: every method reaches the handler's guard,
    which runs the handler only when :func:`change_refusal` finds nothing against it."""

    def register(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def guarded(app: AdminApp, request: Any, **values: str) -> bytes:
            refusal = change_refusal(request, app.node.config.admin_token)
            if refusal is None:
                return handler(app, request, **values)
            code, reason = refusal
            if code == 401:
                request.setHeader(b"www-authenticate", b"Bearer")
            return _refuse(request, reason, code)

        return _routes.route(path)(guarded)

    return register


class AdminApp:
    """Dynomite's admin REST API over a :class:`NodeView`; ``resource()`` serves it."""

    app = _routes

    def __init__(self, node: NodeView, environ: Optional[Mapping[str, str]] = None) -> None:
        self.node = node
        self.environ = environ

    def resource(self) -> Any:
        """The twisted.web resource to put on ``stats_listen``."""
        return self.app.resource()

    # -- stats

    @reads("/")
    @reads("/info")
    def info(self, request: Any) -> bytes:
        return _reply(request, render_info(self.node.stats_snapshot()))

    @reads("/metrics")
    def metrics(self, request: Any) -> bytes:
        text = render_prometheus(self.node.stats_snapshot())
        return _reply(request, text.encode("utf-8"), PROMETHEUS_CONTENT_TYPE)

    @reads("/snapshot")
    def snapshot(self, request: Any) -> bytes:
        """The stats as plain JSON data: what a node with workers sums
        (:mod:`dynotwist.core.stats.merge`)."""
        data = snapshot_to_data(self.node.stats_snapshot())
        return _reply(request, json.dumps(data, separators=(",", ":")).encode() + b"\n")

    @changes("/historeset")
    def historeset(self, request: Any) -> bytes:
        self.node.reset_histograms()
        log_change(request, "/info's histograms", None, "reset (/metrics' are not)")
        return _reply(request, OK)

    @reads("/ready")
    def ready(self, request: Any) -> bytes:
        reason = self.node.not_ready()
        if reason is None:
            return _reply(request, b"ready\n", TEXT)
        return _refuse(request, "not ready: " + reason, 503)

    @reads("/ping")
    def ping(self, request: Any) -> bytes:
        return _reply(request, OK)

    @reads("/help")
    def help(self, request: Any) -> bytes:
        return _reply(request, HELP)

    @reads("/cluster_describe")
    def cluster_describe(self, request: Any) -> bytes:
        members = cluster_members(self.node.topology, self.node.config, self.environ)
        return _reply(request, render_cluster_describe(members))

    # -- consistency and timeouts

    @reads("/get_consistency")
    def get_consistency(self, request: Any) -> bytes:
        body = "Read Consistency: %s\r\nWrite Consistency: %s\r\n" % (
            self.node.read_consistency,
            self.node.write_consistency,
        )
        return _reply(request, body.encode("ascii"))

    @changes("/set_consistency/<op>/<level>")
    def set_consistency(self, request: Any, op: str, level: str) -> bytes:
        if op not in ("read", "write"):
            return _refuse(request, "unknown consistency operation %r: read or write" % op)
        chosen = consistency.parse_level(level.encode("utf-8", "replace"))
        if chosen is None:
            return _refuse(
                request,
                "unknown consistency level %r: one of %s"
                % (level, ", ".join(name.lower() for name in consistency.LEVELS)),
            )
        attribute = op + "_consistency"
        old = getattr(self.node, attribute)
        setattr(self.node, attribute, chosen)
        log_change(request, "%s consistency (of new connections)" % op, old, chosen)
        return _reply(request, OK)

    @reads("/get_timeout_factor")
    def get_timeout_factor(self, request: Any) -> bytes:
        return _reply(request, b"Timeout factor: %d\n" % self.node.timeout_factor)

    @changes("/set_timeout_factor/<value>")
    def set_timeout_factor(self, request: Any, value: str) -> bytes:
        factor = _in_range(request, "timeout factor", value, MIN_TIMEOUT_FACTOR,
                           MAX_TIMEOUT_FACTOR)
        if isinstance(factor, bytes):
            return factor
        old = self.node.timeout_factor
        self.node.timeout_factor = factor
        log_change(request, "timeout factor", old, factor)
        return _reply(request, OK)

    # -- logging

    @changes("/setloglevel/<value>")
    def setloglevel(self, request: Any, value: str) -> bytes:
        level = _in_range(request, "log level", value, MIN_LOG_LEVEL, MAX_LOG_LEVEL)
        if isinstance(level, bytes):
            return level
        return self._set_verbosity(request, level)

    @changes("/loglevelup")
    def loglevelup(self, request: Any) -> bytes:
        return self._set_verbosity(request, self.node.verbosity + 1)

    @changes("/logleveldown")
    def logleveldown(self, request: Any) -> bytes:
        return self._set_verbosity(request, self.node.verbosity - 1)

    def _set_verbosity(self, request: Any, level: int) -> bytes:
        old = self.node.verbosity
        log_change(request, "log level", old, self.node.set_verbosity(level))
        return _reply(request, OK)

    # -- node state, peers, read repairs

    @reads("/state/get_state")
    def get_state(self, request: Any) -> bytes:
        return _reply(request, b"State: %s\n" % self.node.state.encode("ascii"))

    @changes("/state/<name>")
    def state(self, request: Any, name: str) -> bytes:
        chosen = states.from_admin(name)
        if chosen is None:
            return _refuse(
                request,
                "unknown state %r: get_state, %s" % (name, ", ".join(states.ADMIN_STATES)),
            )
        old = self.node.state
        self.node.state = chosen
        log_change(request, "state", old, chosen)
        return _reply(request, OK)

    @changes("/peer/<verb>/<name>")
    def peer(self, request: Any, verb: str, name: str) -> bytes:
        if verb == "up":
            done = self.node.peer_up(name)
        elif verb == "down":
            done = self.node.peer_down(name)
        elif verb == "reset":
            done = self.node.peer_reset(name)
        elif verb == "forget" and name != "all":
            done = self.node.forget_peer(name)
        else:
            return _refuse(
                request, "unknown peer operation %r: up, down, reset or forget" % verb
            )
        if not done:
            return _refuse(request, "no peer named %r" % name)
        log_change(request, "peer %s" % name, None, _PEER_VERBS[verb])
        return _reply(request, OK)

    @changes("/peer/<verb>")
    def peer_without_name(self, request: Any, verb: str) -> bytes:
        return _refuse(request, "missing peer name: /peer/%s/<name|all>" % verb)

    @changes("/read_repairs/<action>")
    def read_repairs(self, request: Any, action: str) -> bytes:
        if action not in ("enable", "disable"):
            return _refuse(request, "unknown read repairs action %r: enable or disable" % action)
        old = self.node.read_repairs
        self.node.read_repairs = action == "enable"
        log_change(request, "read repairs", _ENABLED[old], _ENABLED[self.node.read_repairs])
        flag = _ENABLED[self.node.read_repairs].encode("ascii")
        return _reply(request, b"Read Repairs: %s\r\n" % flag)

    # -- warm-up (dynotwist's: dynotwist.repair.warmup)

    @changes("/warm_up/start")
    def warm_up(self, request: Any) -> bytes:
        return self._warm_up(request, None)

    @changes("/warm_up/start/<source>")
    def warm_up_from(self, request: Any, source: str) -> bytes:
        return self._warm_up(request, source)

    def _warm_up(self, request: Any, source: Optional[str]) -> bytes:
        """``?rate=N``: keys a second, at most (0: no limit)."""
        rate = None
        given = request.args.get(b"rate")
        if given:
            rate = _integer(given[0].decode("ascii", "replace"))
            if rate is None or rate < 0:
                return _refuse(request, "rate is a number of keys a second, 0 for no limit")
        said = self.node.start_warm_up(source, rate)
        if said.startswith("refused"):
            return _refuse(request, "warm-up " + said, 409)
        return _reply(request, b"Warm-up: %s\r\n" % said.encode())

    @reads("/warm_up/status")
    def warm_up_status(self, request: Any) -> bytes:
        body = json.dumps(self.node.warm_up_status(), sort_keys=True)
        return _reply(request, body.encode() + b"\n")

    # -- errors

    @app.handle_errors(NotFound)
    def not_found(self, request: Any, failure: Failure) -> bytes:
        path = request.path.decode("utf-8", "replace")
        return _refuse(request, "unknown path %s: see /help" % path, 404)

    @app.handle_errors(MethodNotAllowed)
    def not_allowed(self, request: Any, failure: Failure) -> bytes:
        request.setHeader(b"allow", b"GET, HEAD")
        method = request.method.decode("ascii", "replace")
        return _refuse(request, "method %s not allowed: use GET" % method, 405)
