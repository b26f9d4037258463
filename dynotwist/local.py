"""Local processes on loopback: datastores and dynotwist nodes, for trying things out.

``python -m dynotwist.local`` starts a redis-server on a free port, writes the config a
single node needs and runs that node in the foreground; Ctrl-C stops both.

``python -m dynotwist.local cluster --dcs 2 --racks 2`` starts a whole cluster, in the
spirit of Cassandra's ccm: one redis-server per node, every rack a full ring with the
same evenly spaced tokens, every node listing the others as ``dyn_seeds``; it prints
where each node listens and stops everything, by pid, on Ctrl-C or SIGTERM. With
``--tls`` it makes a CA and a certificate per node and encrypts peer links per
``--secure-server-option`` (``--client-tls``: the client ports too).

The integration tests and benchmarks start their processes with the same classes
(``RedisServer``, ``Node``, ``Cluster``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from dynotwist import certs
from dynotwist.core.hashkit import NO_TOKEN, get_hash, hash_key
from dynotwist.proto.resp import ReplyFramer, encode_command

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    host: str = LOOPBACK,
    timeout: float = 15.0,
    process: Optional[subprocess.Popen] = None,
) -> None:
    """Block until something accepts connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError("process %r exited with %s" % (process.args, process.returncode))
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %s:%d after %.0f s" % (host, port, timeout))


class Process:
    """A child process that is stopped by pid, and its log file.

    ``start()`` is ``spawn()`` (start the program) then ``wait_ready()`` (block until it
    serves); several processes start in parallel by spawning them all first.
    ``new_session`` puts the child in its own session, so that a Ctrl-C in the terminal
    reaches only the launcher, which then stops its children in order.
    """

    def __init__(
        self,
        argv: Sequence[str],
        log_path: str,
        cwd: Optional[str] = None,
        env: Optional[Dict[str, str]] = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.new_session = False
        self.process: Optional[subprocess.Popen] = None

    def spawn(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env=self.env,
                start_new_session=self.new_session,
            )

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Block until the process serves (nothing to wait for here)."""

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


class RedisServer(Process):
    """A throw-away redis-server: no persistence, loopback only."""

    def __init__(
        self, workdir: str, port: Optional[int] = None, password: Optional[str] = None
    ) -> None:
        self.port = port or free_port()
        argv = [
            find_program("redis-server"),
            "--port",
            str(self.port),
            "--bind",
            LOOPBACK,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ]
        if password:
            argv += ["--requirepass", password]
        super().__init__(argv, os.path.join(workdir, "redis-%d.log" % self.port))

    def wait_ready(self, timeout: float = 15.0) -> None:
        wait_for_port(self.port, timeout=timeout, process=self.process)


class MemcachedServer(Process):
    """A throw-away memcached: loopback only, no UDP (``-u root`` when run as root)."""

    def __init__(
        self, workdir: str, port: Optional[int] = None, extra_args: Sequence[str] = ()
    ) -> None:
        self.port = port or free_port()
        argv = [
            find_program("memcached"),
            "-l",
            LOOPBACK,
            "-p",
            str(self.port),
            "-U",
            "0",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            argv += ["-u", "root"]
        argv += list(extra_args)
        super().__init__(argv, os.path.join(workdir, "memcached-%d.log" % self.port))

    def wait_ready(self, timeout: float = 15.0) -> None:
        wait_for_port(self.port, timeout=timeout, process=self.process)


DATASTORES = ("redis", "memcached")
Datastore = Union[RedisServer, MemcachedServer]  # what runs behind a cluster node


def memcache_call(port: int, data: bytes, host: str = LOOPBACK, timeout: float = 5.0) -> bytes:
    """Send one memcached text request, return its reply: one line, or up to ``END``
    for a get."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        multi = data.startswith((b"get ", b"gets ", b"gat ", b"gats "))
        buffer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("the server closed the connection")
            buffer += chunk
            if not multi and buffer.endswith(b"\r\n"):
                return buffer
            if multi and (buffer == b"END\r\n" or buffer.endswith(b"\r\nEND\r\n")
                          or (buffer.endswith(b"\r\n") and b"ERROR" in buffer[:16])):
                return buffer


class Node(Process):
    """``twistd -n dynomite`` with a config written from ``fields``."""

    def __init__(
        self, workdir: str, fields: Dict[str, object], name: str = "node", verbosity: int = 5
    ) -> None:
        self.name = name
        self.config_path = os.path.join(workdir, "%s.yml" % name)
        self.rewrite(fields)
        argv = twistd_argv("-c", self.config_path, "-v", str(verbosity))
        super().__init__(argv, os.path.join(workdir, "%s.log" % name), env=_node_env())

    def rewrite(self, fields: Dict[str, object]) -> None:
        """Write the config file from ``fields`` (a running node reads it again on
        SIGHUP, for its TLS settings, or when restarted)."""
        self.fields = fields
        with open(self.config_path, "w") as f:
            f.write(render_config(fields))

    def reload(self) -> None:
        """SIGHUP: the node applies its config file's TLS settings again."""
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    @property
    def host(self) -> str:
        """The host of the client port."""
        return str(self.fields["listen"]).rsplit(":", 1)[0]

    @property
    def client_port(self) -> int:
        return _port_of(self.fields["listen"])

    @property
    def peer_port(self) -> Optional[int]:
        listen = self.fields.get("dyn_listen")
        return None if listen is None else _port_of(listen)

    @property
    def stats_port(self) -> Optional[int]:
        listen = self.fields.get("stats_listen")
        return None if listen is None else _port_of(listen)

    def wait_ready(self, timeout: float = 15.0) -> None:
        wait_for_port(self.client_port, self.host, timeout=timeout, process=self.process)


def _port_of(address: object) -> int:
    return int(str(address).rsplit(":", 1)[1])


def twistd_argv(*options: str) -> List[str]:
    """``twistd -n dynomite <options>`` with this interpreter, logging to stdout."""
    return [
        sys.executable,
        "-c",
        "from twisted.scripts.twistd import run; run()",
        "-n",
        "--pidfile",
        "",
        "dynomite",
        *options,
    ]


def _node_env() -> Dict[str, str]:
    # the node imports this checkout's dynotwist, wherever it is started from
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def render_config(fields: Dict[str, object], pool: str = "dyn_o_mite") -> str:
    """Dynomite-style YAML: one pool key, scalars and block sequences."""
    lines = ["%s:" % pool]
    for key, value in fields.items():
        if isinstance(value, (list, tuple)):
            lines.append("  %s:" % key)
            lines.extend("  - %s" % _scalar(item) for item in value)
        elif isinstance(value, bool):
            lines.append("  %s: %s" % (key, "true" if value else "false"))
        else:
            lines.append("  %s: %s" % (key, _scalar(value)))
    return "\n".join(lines) + "\n"


def _scalar(value: object) -> str:
    text = str(value)
    if not isinstance(value, str):
        return text
    if not text or text.isdigit() or text != text.strip() or _needs_quotes(text):
        return "'%s'" % text.replace("'", "''")
    return text


# characters that make a plain YAML scalar something else when they start it
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")


def _needs_quotes(text: str) -> bool:
    return (
        text[0] in _INDICATORS
        or "," in text
        or ": " in text
        or " #" in text
        or text.endswith(":")
    )


def single_node_fields(
    redis_port: int, client_port: int, peer_port: int, stats_port: int, host: str = LOOPBACK
) -> Dict[str, object]:
    return {
        "datacenter": "dc1",
        "rack": "rack1",
        "listen": "%s:%d" % (host, client_port),
        "dyn_listen": "%s:%d" % (host, peer_port),
        "stats_listen": "%s:%d" % (host, stats_port),
        "servers": ["%s:%d:1" % (LOOPBACK, redis_port)],
        "tokens": "101134286",
        "data_store": 0,
    }


def find_program(name: str) -> str:
    for candidate in (shutil.which(name), "/usr/bin/" + name, "/usr/sbin/" + name):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("%s is not installed (Debian: apt-get install %s)" % (name, _package(name)))


def _package(program: str) -> str:
    return {"redis-server": "redis-server", "memcached": "memcached"}.get(program, program)


# -- a local cluster ------------------------------------------------------------------------
MAX_TOKEN = 4294967295
CONSISTENCY_LEVELS = ("DC_ONE", "DC_QUORUM", "DC_SAFE_QUORUM", "DC_EACH_SAFE_QUORUM")


def even_tokens(count: int) -> List[str]:
    """One rack's tokens as Dynomite's generate_yamls.py spaces them: ``4294967295 // n * i``."""
    return [str(MAX_TOKEN // count * i) for i in range(count)]


def free_ports(count: int, host: str = LOOPBACK) -> List[int]:
    """``count`` distinct TCP ports nobody listens on right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sockets.append(sock)
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def loopback_hosts(count: int, first: int = 2) -> List[str]:
    """``count`` loopback addresses from 127.0.0.``first`` (Linux routes all of
    127.0.0.0/8 to the loopback interface)."""
    if first < 1 or first + count > 255:
        raise ValueError("127.0.0.%d and %d more do not fit in 127.0.0.1-254" % (first, count))
    return ["127.0.0.%d" % n for n in range(first, first + count)]


def stop_all(processes: Iterable[Process], timeout: float = 10.0) -> None:
    """SIGTERM to every running process at once, then wait; SIGKILL the slow ones."""
    signalled = []
    for process in processes:
        if process.process is not None and process.running:
            process.process.send_signal(signal.SIGTERM)
            signalled.append(process.process)
    deadline = time.monotonic() + timeout
    for child in signalled:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class ClusterNode:
    """One node of a ``Cluster``: where it sits, where it listens, its two processes.

    ``node`` is its ``twistd -n dynomite`` process (a ``Node``), ``redis`` the
    datastore behind it (a ``RedisServer``, or a ``MemcachedServer`` in a cluster built
    with ``datastore="memcached"``); ``tokens`` is the ``tokens:`` text of its config.
    """

    def __init__(
        self,
        name: str,
        dc: str,
        rack: str,
        tokens: str,
        client_port: int,
        peer_port: int,
        stats_port: int,
        redis: Datastore,
        host: str = LOOPBACK,
    ) -> None:
        self.name = name
        self.dc = dc
        self.rack = rack
        self.tokens = tokens
        self.client_port = client_port
        self.peer_port = peer_port
        self.stats_port = stats_port
        self.redis = redis
        self.host = host
        self.node: Node  # set by Cluster once every node's seed is known

    @property
    def seed(self) -> str:
        """This node as another node's ``dyn_seeds`` entry: ``host:port:rack:dc:tokens``."""
        return "%s:%d:%s:%s:%s" % (self.host, self.peer_port, self.rack, self.dc, self.tokens)

    @property
    def token_values(self) -> Tuple[int, ...]:
        return tuple(int(t) for t in self.tokens.split(","))

    @property
    def redis_port(self) -> int:
        return self.redis.port

    @property
    def datastore_port(self) -> int:
        """The port of the datastore behind this node (redis-server or memcached)."""
        return self.redis.port

    @property
    def config_path(self) -> str:
        return self.node.config_path

    @property
    def log_path(self) -> str:
        return self.node.log_path

    def __repr__(self) -> str:
        return "<ClusterNode %s %s/%s tokens %s client %d peer %d redis %d>" % (
            self.name, self.dc, self.rack, self.tokens, self.client_port, self.peer_port,
            self.redis.port,
        )


class Cluster:
    """A cluster of dynotwist nodes on loopback, each in front of its own redis-server.

    ``dcs`` datacenters (``dc1``...) of ``racks`` racks (``rack1``...) of
    ``nodes_per_rack`` nodes. Every rack is a full ring with the same tokens (``tokens``,
    one string per node of a rack; evenly spaced by default); every node lists every
    other node in ``dyn_seeds``. ``extra_fields`` adds or
    overrides YAML keys of every node (``hash_tag``, ``timeout``, ``read_consistency``...).
    ``datastore="memcached"`` puts a memcached behind each node instead (``data_store:
    1``); it is still reached as ``member.redis`` (or ``member.datastore_port``).
    ``datastore_args`` are added to each memcached's command line.

    ``secure_server_option`` other than ``none``, or ``tls``, makes a CA and one
    certificate per node in ``workdir/tls`` (``authority``, ``tls_dir``; each naming its
    node's host) and sets every node's ``tls_ca_file``, ``tls_cert_file`` and
    ``tls_key_file``. Nodes then listen on distinct loopback addresses, 127.0.0.2 and
    up (``hosts`` chooses others), so that each one connects from its own address and
    plaintext can be told apart by source address. ``client_tls`` also serves clients
    over TLS with those certificates (``client_context()`` trusts them).
    Configs are written to ``workdir`` when the cluster is built; ``start()`` starts the
    processes, ``stop()`` stops them by pid. The directory is left in place.
    """

    def __init__(
        self,
        workdir: str,
        dcs: int,
        racks: int,
        nodes_per_rack: int = 1,
        extra_fields: Optional[Dict[str, object]] = None,
        tokens: Optional[Sequence[str]] = None,
        verbosity: int = 5,
        host: str = LOOPBACK,
        detach: bool = False,
        datastore: str = "redis",
        datastore_args: Sequence[str] = (),
        secure_server_option: str = "none",
        tls: bool = False,
        hosts: Optional[Sequence[str]] = None,
        client_tls: bool = False,
    ) -> None:
        if datastore not in DATASTORES:
            raise ValueError("datastore %r: one of %s" % (datastore, ", ".join(DATASTORES)))
        self.datastore = datastore
        if min(dcs, racks, nodes_per_rack) < 1:
            raise ValueError("a cluster needs at least one DC, one rack and one node per rack")
        rack_tokens = list(tokens) if tokens is not None else even_tokens(nodes_per_rack)
        if len(rack_tokens) != nodes_per_rack:
            raise ValueError(
                "%d token strings for %d nodes per rack" % (len(rack_tokens), nodes_per_rack)
            )
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.dcs = dcs
        self.racks = racks
        self.nodes_per_rack = nodes_per_rack
        self.extra_fields: Dict[str, object] = dict(extra_fields or {})
        self.host = host
        self.secure_server_option = secure_server_option
        self.client_tls = client_tls
        if client_tls and datastore == "memcached":
            raise ValueError("client_tls: this launcher's memcached clients are plaintext")
        self.tls = tls or client_tls or secure_server_option != "none"
        count = dcs * racks * nodes_per_rack
        if hosts is None:
            hosts = loopback_hosts(count) if self.tls else [host] * count
        if len(hosts) != count:
            raise ValueError("%d hosts for %d nodes" % (len(hosts), count))
        # every port of one host chosen at once, so that none is chosen twice
        needs = {LOOPBACK: count}  # the datastores
        for node_host in hosts:
            needs[node_host] = needs.get(node_host, 0) + 3  # client, peer, admin
        ports_of = {h: iter(free_ports(n, h)) for h, n in needs.items()}
        datastore_ports = ports_of[LOOPBACK]
        self.nodes: List[ClusterNode] = []
        names = (
            ("dc%d" % d, "rack%d" % r, i, token)
            for d in range(1, dcs + 1)
            for r in range(1, racks + 1)
            for i, token in enumerate(rack_tokens, 1)
        )
        for (dc, rack, i, token), node_host in zip(names, hosts):
            name = "%s-%s" % (dc, rack)
            if nodes_per_rack > 1:
                name += "-%d" % i
            redis: Datastore
            if datastore == "memcached":
                redis = MemcachedServer(workdir, next(datastore_ports), datastore_args)
                redis.log_path = os.path.join(workdir, "%s.memcached.log" % name)
            else:
                redis = RedisServer(workdir, port=next(datastore_ports))
                redis.log_path = os.path.join(workdir, "%s.redis.log" % name)
            ports = ports_of[node_host]
            self.nodes.append(ClusterNode(
                name, dc, rack, token, next(ports), next(ports), next(ports), redis, node_host,
            ))
        self.tls_dir = os.path.join(workdir, "tls")
        self.authority: Optional[certs.Authority] = None
        if self.tls:
            self.authority = certs.new_authority()
            certs.write_authority(self.tls_dir, self.authority)
            for member in self.nodes:
                certs.write_node_files(self.tls_dir, member.name, self.authority, [member.host])
        for member in self.nodes:
            member.node = Node(workdir, self.fields_for(member), member.name, verbosity)
            member.node.new_session = member.redis.new_session = detach
        self.hash_fn = get_hash(str(self.extra_fields.get("hash", "murmur")))
        tag = self.extra_fields.get("hash_tag")
        self.hash_tag = str(tag).encode("latin-1") if tag else None

    def fields_for(self, member: ClusterNode) -> Dict[str, object]:
        """The YAML keys of ``member``'s config."""
        host = member.host
        fields: Dict[str, object] = {
            "datacenter": member.dc,
            "rack": member.rack,
            "listen": "%s:%d" % (host, member.client_port),
            "dyn_listen": "%s:%d" % (host, member.peer_port),
            "stats_listen": "%s:%d" % (host, member.stats_port),
            "servers": ["%s:%d:1" % (LOOPBACK, member.datastore_port)],
            "tokens": member.tokens,
            "data_store": 1 if self.datastore == "memcached" else 0,
            "secure_server_option": self.secure_server_option,
            "dyn_seeds": [other.seed for other in self.nodes if other is not member],
        }
        if self.tls:
            fields.update(self.tls_files(member))
        if self.client_tls:
            fields["client_tls"] = True
        fields.update(self.extra_fields)
        return fields

    def client_context(self) -> Optional[ssl.SSLContext]:
        """What a client needs to reach the nodes' client ports (None: plaintext)."""
        if not self.client_tls:
            return None
        return ssl.create_default_context(cafile=os.path.join(self.tls_dir, "ca.pem"))

    def tls_files(self, member: ClusterNode) -> Dict[str, object]:
        """``member``'s tls_* keys: the files made for it in ``tls_dir``."""
        return {
            "tls_ca_file": os.path.join(self.tls_dir, "ca.pem"),
            "tls_cert_file": os.path.join(self.tls_dir, "%s.pem" % member.name),
            "tls_key_file": os.path.join(self.tls_dir, "%s-key.pem" % member.name),
        }

    # -- topology -----------------------------------------------------------------------
    def dc_names(self) -> List[str]:
        return list(dict.fromkeys(m.dc for m in self.nodes))

    def rack_names(self, dc: str) -> List[str]:
        return list(dict.fromkeys(m.rack for m in self.nodes if m.dc == dc))

    def rack_nodes(self, dc: str, rack: str) -> List[ClusterNode]:
        return [m for m in self.nodes if m.dc == dc and m.rack == rack]

    def node_named(self, name: str) -> ClusterNode:
        for member in self.nodes:
            if member.name == name:
                return member
        raise KeyError(name)

    def token(self, key: bytes) -> int:
        """The key's token (``NO_TOKEN`` when there is nothing to hash)."""
        return hash_key(key, self.hash_fn, self.hash_tag)

    def owner(
        self, key: bytes, dc: str, rack: str, coordinator: Optional[ClusterNode] = None
    ) -> ClusterNode:
        """The node of ``dc``/``rack`` that owns ``key``: the smallest token >= the key's
        token, wrapping to the lowest; an empty hashed part stays on ``coordinator``."""
        token = self.token(key)
        if token == NO_TOKEN:
            if coordinator is None:
                raise ValueError("%r has nothing to hash: its owner is the coordinator" % key)
            return coordinator
        ring = sorted((t, i, m) for i, m in enumerate(self.rack_nodes(dc, rack))
                      for t in m.token_values)
        for t, _, member in ring:
            if token <= t:
                return member
        return ring[0][2]

    def replicas(self, key: bytes) -> List[ClusterNode]:
        """The owner of ``key`` in every rack of every DC."""
        return [self.owner(key, dc, rack) for dc in self.dc_names() for rack in self.rack_names(dc)]

    def key_owned_by(self, member: ClusterNode, prefix: str = "key", start: int = 0) -> str:
        """The first ``prefix:N`` (N >= start) that ``member`` owns in its rack."""
        for n in range(start, start + 1000000):
            key = "%s:%d" % (prefix, n)
            if self.owner(key.encode(), member.dc, member.rack) is member:
                return key
        raise ValueError("no key of the form %s:N is owned by %s" % (prefix, member.name))

    # -- processes ----------------------------------------------------------------------
    def processes(self) -> List[Process]:
        return [p for m in self.nodes for p in (m.node, m.redis)]

    def start(self, timeout: float = 30.0, connected: bool = True) -> None:
        """Start every redis-server, then every node (in parallel), and wait until they
        serve; with ``connected``, also until every node reaches every other node."""
        try:
            for member in self.nodes:
                member.redis.spawn()
            for member in self.nodes:
                self._wait(member, member.redis, timeout)
            for member in self.nodes:
                member.node.spawn()
            for member in self.nodes:
                self._wait_node(member, timeout)
            if connected:
                self.wait_connected(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the nodes, then the redis-servers, by pid."""
        stop_all([m.node for m in self.nodes])
        stop_all([m.redis for m in self.nodes])

    def kill(self, member: ClusterNode, sig: int = signal.SIGKILL) -> None:
        """Stop ``member``'s node process with ``sig`` (its redis-server keeps running)."""
        member.node.stop(sig)

    def restart(self, member: ClusterNode, timeout: float = 30.0) -> None:
        """Start ``member``'s node again, same config and ports (stopping it if it runs)."""
        member.node.stop()
        if not member.redis.running:
            member.redis.spawn()
            self._wait(member, member.redis, timeout)
        member.node.spawn()
        self._wait_node(member, timeout)

    def _wait_node(self, member: ClusterNode, timeout: float) -> None:
        self._wait(member, member.node, timeout)
        try:
            wait_for_port(member.peer_port, member.host, timeout, member.node.process)
        except RuntimeError as error:
            raise RuntimeError(
                "%s: %s\n--- %s:\n%s"
                % (member.name, error, member.log_path, log_tail(member.log_path))
            ) from None

    @staticmethod
    def _wait(member: ClusterNode, process: Process, timeout: float) -> None:
        try:
            process.wait_ready(timeout)
        except RuntimeError as error:
            raise RuntimeError(
                "%s: %s\n--- %s:\n%s"
                % (member.name, error, process.log_path, log_tail(process.log_path))
            ) from None

    def wait_connected(self, timeout: float = 30.0) -> None:
        """Block until a write through any node reaches every replica.

        Through each node, a ``SET`` of one probe key per token range of its rack, at
        DC_ONE: the copies to the other racks and DCs are dropped while a peer is not
        connected, so each probe is repeated until every replica's redis-server holds
        it. The probe keys are then deleted from every redis-server directly.
        RuntimeError after ``timeout`` seconds, naming what was missing.
        """
        probes = {
            member.name: [
                self.key_owned_by(owner, "dynotwist-probe:%s" % member.name).encode()
                for owner in self.rack_nodes(member.dc, member.rack)
            ]
            for member in self.nodes
        }
        deadline = time.monotonic() + timeout
        pending = list(self.nodes)
        missing: Dict[str, str] = {}
        attempt = 0
        try:
            while True:
                attempt += 1
                value = b"%d" % attempt
                written = []
                for member in pending:
                    missing[member.name] = self._write_probes(member, probes[member.name], value)
                    if not missing[member.name]:
                        written.append(member)
                settle = time.monotonic() + 1.0
                while written:
                    for member in written:
                        missing[member.name] = self._check_probes(probes[member.name], value)
                    written = [m for m in written if missing[m.name]]
                    if time.monotonic() > settle:
                        break
                    time.sleep(0.02)
                pending = [m for m in pending if missing[m.name]]
                if not pending:
                    return
                if time.monotonic() > deadline:
                    lines = [
                        "  through %s (client port %d, log %s): %s"
                        % (m.name, m.client_port, m.log_path, missing[m.name])
                        for m in pending
                    ]
                    raise RuntimeError(
                        "writes do not reach every replica after %.0f s:\n%s"
                        % (timeout, "\n".join(lines))
                    )
        finally:
            self._delete_probes([key for keys in probes.values() for key in keys])

    def _write_probes(self, member: ClusterNode, keys: List[bytes], value: bytes) -> str:
        """SET each probe key through ``member``; what went wrong, or ''."""
        if self.datastore == "memcached":
            try:
                for key in keys:
                    reply = memcache_call(
                        member.client_port,
                        b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value),
                        member.host,
                    )
                    if reply != b"STORED\r\n":
                        return "set %s answered %r" % (key.decode(), reply)
            except OSError as error:
                return "%s: %s" % (type(error).__name__, error)
            return ""
        try:
            with BlockingClient(
                member.client_port, member.host, context=self.client_context()
            ) as client:
                for key in keys:
                    reply = client.call(b"SET", key, value)
                    if reply != b"+OK\r\n":
                        return "SET %s answered %r" % (key.decode(), reply)
        except OSError as error:
            return "%s: %s" % (type(error).__name__, error)
        return ""

    def _check_probes(self, keys: List[bytes], value: bytes) -> str:
        """Which replicas miss which probe key ('' when none)."""
        expected = b"$%d\r\n%s\r\n" % (len(value), value)
        absent = []
        for key in keys:
            for replica in self.replicas(key):
                if self.datastore == "memcached":
                    try:
                        got = memcache_call(replica.datastore_port, b"get %s\r\n" % key)
                        if got != b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (
                            key, len(value), value
                        ):
                            absent.append("%s not on %s" % (key.decode(), replica.name))
                    except OSError as error:
                        absent.append("%s: memcached: %s" % (replica.name, error))
                    continue
                try:
                    with BlockingClient(replica.redis.port) as client:
                        if client.call(b"GET", key) != expected:
                            absent.append("%s not on %s" % (key.decode(), replica.name))
                except OSError as error:
                    absent.append("%s: redis-server: %s" % (replica.name, error))
        return ", ".join(absent)

    def _delete_probes(self, keys: List[bytes]) -> None:
        for member in self.nodes:
            if member.redis.running and self.datastore == "memcached":
                try:
                    for key in keys:
                        memcache_call(member.datastore_port, b"delete %s\r\n" % key)
                except OSError:
                    pass
            elif member.redis.running:
                try:
                    with BlockingClient(member.redis.port) as client:
                        client.call(b"DEL", *keys)
                except OSError:
                    pass

    # -- showing ------------------------------------------------------------------------
    def table(self) -> str:
        """Where each node listens, one line per node; pids: node/redis-server."""
        header = ("node", "dc", "rack", "tokens", "host", "client", "peer", "stats", "redis",
                  "pids", "config", "log")
        rows = [header] + [
            (m.name, m.dc, m.rack, m.tokens, m.host, str(m.client_port), str(m.peer_port),
             str(m.stats_port), str(m.redis.port), "%s/%s" % (_pid(m.node), _pid(m.redis)),
             m.config_path, m.log_path)
            for m in self.nodes
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in rows
        )

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _pid(process: Process) -> str:
    return str(process.pid) if process.running else "-"


class BlockingClient:
    """A minimal blocking RESP client: each reply as its raw bytes."""

    def __init__(
        self,
        port: int,
        host: str = LOOPBACK,
        timeout: float = 5.0,
        context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if context is not None:
            self.sock = context.wrap_socket(self.sock, server_hostname=host)
        self.framer = ReplyFramer()
        self.replies: List[bytes] = []

    def call(self, *args: bytes) -> bytes:
        self.sock.sendall(encode_command(list(args)))
        while not self.replies:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionResetError("the server closed the connection")
            self.replies.extend(self.framer.feed(data))
        return self.replies.pop(0)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> BlockingClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def log_tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError as error:
        return "(no log: %s)" % error
    return "\n".join(text.splitlines()[-lines:])


def cluster_main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dynotwist.local cluster",
        description="Run a local cluster: one redis-server and one dynotwist node per "
        "node, on loopback ports chosen free; Ctrl-C (or SIGTERM) stops everything.",
    )
    parser.add_argument("--dcs", type=int, default=1, help="datacenters (default 1)")
    parser.add_argument("--racks", type=int, default=3, help="racks per DC (default 3)")
    parser.add_argument(
        "--nodes-per-rack", type=int, default=1, help="nodes per rack (default 1)"
    )
    parser.add_argument("--hash-tag", help="hash_tag of every node, e.g. '{}'")
    parser.add_argument("--read-consistency", type=str.upper, choices=CONSISTENCY_LEVELS)
    parser.add_argument("--write-consistency", type=str.upper, choices=CONSISTENCY_LEVELS)
    parser.add_argument(
        "--workdir", help="where configs, logs and redis files go, kept afterwards "
        "(default: a temporary directory, removed afterwards)"
    )
    parser.add_argument(
        "--tls", action="store_true",
        help="make a CA and a certificate per node (in WORKDIR/tls) and encrypt peer "
        "links per --secure-server-option; nodes get their own 127.0.0.N addresses",
    )
    parser.add_argument(
        "--secure-server-option", choices=("none", "rack", "datacenter", "all"),
        help="which peer links are TLS (default: datacenter with --tls, else none)",
    )
    parser.add_argument(
        "--client-tls", action="store_true",
        help="serve clients over TLS too (implies --tls): redis-cli --tls --cacert "
        "WORKDIR/tls/ca.pem",
    )
    parser.add_argument("-v", "--verbosity", type=int, default=6, help="log level 0-11 (default 6)")
    args = parser.parse_args(argv)
    tls = args.tls or args.client_tls
    option = args.secure_server_option or ("datacenter" if tls else "none")

    extra: Dict[str, object] = {}
    if args.hash_tag:
        extra["hash_tag"] = args.hash_tag
    if args.read_consistency:
        extra["read_consistency"] = args.read_consistency
    if args.write_consistency:
        extra["write_consistency"] = args.write_consistency
    workdir = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(
        prefix="dynotwist-cluster-"
    )

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a launcher started in the background inherits it ignored
    previous = {sig: signal.signal(sig, terminate) for sig in (signal.SIGINT, signal.SIGTERM)}
    cluster: Optional[Cluster] = None
    try:
        cluster = Cluster(
            workdir, args.dcs, args.racks, args.nodes_per_rack, extra,
            verbosity=args.verbosity, detach=True, secure_server_option=option, tls=tls,
            client_tls=args.client_tls,
        )
        cluster.start()
        first = cluster.nodes[0]
        print(cluster.table())
        print()
        print("a write through any node reaches every replica; files in %s" % workdir)
        if cluster.tls:
            print("secure_server_option: %s; CA, certificates and keys in %s"
                  % (option, cluster.tls_dir))
        tls_flags = ""
        if args.client_tls:
            tls_flags = " --tls --cacert %s" % os.path.join(cluster.tls_dir, "ca.pem")
        print("try: redis-cli%s -h %s -p %d set greeting hello"
              % (tls_flags, first.host, first.client_port))
        print("     redis-cli -p %d get greeting    (%s's redis-server, directly)"
              % (cluster.nodes[-1].redis.port, cluster.nodes[-1].name))
        print("Ctrl-C stops everything.")
        sys.stdout.flush()
        watched: List[Tuple[str, Process]] = []
        for member in cluster.nodes:
            watched += [(member.name, member.node),
                        ("%s's redis-server" % member.name, member.redis)]
        while watched:
            for label, process in watched:
                if not process.running:
                    code = process.process.returncode if process.process else None
                    print("%s exited with status %s (log: %s)" % (label, code, process.log_path))
                    sys.stdout.flush()
            watched = [(label, process) for label, process in watched if process.running]
            time.sleep(0.5)
        print("every process exited")
        return 1
    except KeyboardInterrupt:
        print("stopping")
        return 0
    except (RuntimeError, ValueError) as error:
        sys.stderr.write("dynotwist.local: %s\n" % error)
        return 1
    finally:
        # a second Ctrl-C must not leave the detached children running
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        if cluster is not None:
            cluster.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["cluster"]:
        return cluster_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m dynotwist.local",
        description="Run one dynotwist node in front of a fresh local redis-server.",
        epilog="A local cluster: python -m dynotwist.local cluster --help",
    )
    parser.add_argument("--port", type=int, default=8102, help="client port (default 8102)")
    parser.add_argument("--peer-port", type=int, default=8101, help="peer port (default 8101)")
    parser.add_argument("--stats-port", type=int, default=22222, help="admin port (default 22222)")
    parser.add_argument("-v", "--verbosity", type=int, default=6, help="log level 0-11 (default 6)")
    args = parser.parse_args(argv)

    workdir = tempfile.mkdtemp(prefix="dynotwist-")
    redis = RedisServer(workdir)
    redis.start()
    fields = single_node_fields(redis.port, args.port, args.peer_port, args.stats_port)
    config_path = os.path.join(workdir, "dynomite.yml")
    with open(config_path, "w") as f:
        f.write(render_config(fields))
    print("redis-server on %s:%d (data in %s)" % (LOOPBACK, redis.port, workdir))
    print("config: %s" % config_path)
    print(
        "dynotwist clients: redis-cli -p %d    admin: http://%s:%d/info"
        % (args.port, LOOPBACK, args.stats_port)
    )
    sys.stdout.flush()
    node = subprocess.Popen(
        twistd_argv("-c", config_path, "-v", str(args.verbosity)), env=_node_env()
    )
    try:
        return node.wait()
    except KeyboardInterrupt:
        node.send_signal(signal.SIGINT)
        return node.wait()
    finally:
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
