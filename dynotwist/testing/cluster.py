"""A local cluster: one dynotwist node process per ring position, each in front of its
own redis-server (or memcached), every rack a full ring, every node seeding the others.

``Cluster`` also knows the ring as the nodes do (which node owns a key in each rack),
so that tests and tools can look for a write in the datastore that must hold it.
"""

from __future__ import annotations

import os
import signal
import ssl
import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

from dynotwist import certs
from dynotwist.core.hashkit import NO_TOKEN, get_hash, hash_key
from dynotwist.testing.blocking import RespClient, memcache_call
from dynotwist.testing.configs import even_tokens
from dynotwist.testing.ports import LOOPBACK, free_ports, loopback_hosts
from dynotwist.testing.processes import (
    MemcachedServer,
    NodeProcess,
    Process,
    RedisServer,
    stop_all,
)

DATASTORES = ("redis", "memcached")
Datastore = Union[RedisServer, MemcachedServer]  # what runs behind a cluster node


class ClusterNode:
    """One node of a ``Cluster``: where it sits, where it listens, its two processes.

    ``node`` is its ``twistd -n dynomite`` process (a ``NodeProcess``), ``redis`` the
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
        self.node: NodeProcess  # set by Cluster once every node's seed is known

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
    ``base_port`` gives fixed ports instead of free ones: node i (in DC, rack, node
    order) listens for clients on ``base_port + 10 i``, for peers on ``+ 1``, for the
    admin port on ``+ 2``, and its datastore on ``+ 3``.
    ``python`` is the interpreter that runs the nodes (this one by default).
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
        base_port: Optional[int] = None,
        python: Optional[str] = None,
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
        if base_port is None:
            ports_of = {h: iter(free_ports(n, h)) for h, n in needs.items()}
            datastore_ports = ports_of[LOOPBACK]
        else:  # node i: client base+10i, peer +1, admin +2, datastore +3
            fixed = [range(base_port + 10 * i, base_port + 10 * i + 3) for i in range(count)]
            ports_of = {h: iter([]) for h in needs}
            datastore_ports = iter(range(base_port + 3, base_port + 10 * count, 10))
        self.nodes: List[ClusterNode] = []
        names = (
            ("dc%d" % d, "rack%d" % r, i, token)
            for d in range(1, dcs + 1)
            for r in range(1, racks + 1)
            for i, token in enumerate(rack_tokens, 1)
        )
        for index, ((dc, rack, i, token), node_host) in enumerate(zip(names, hosts)):
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
            ports = ports_of[node_host] if base_port is None else iter(fixed[index])
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
            member.node = NodeProcess(
                workdir, self.fields_for(member), member.name, verbosity, python
            )
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
                self._wait(member, member.node, timeout)
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
        self._wait(member, member.node, timeout)

    @staticmethod
    def _wait(member: ClusterNode, process: Process, timeout: float) -> None:
        try:
            process.ready(timeout)
        except RuntimeError as error:
            raise RuntimeError("%s: %s" % (member.name, error)) from None

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
            with RespClient(
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
                    with RespClient(replica.redis.port) as client:
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
                    with RespClient(member.redis.port) as client:
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


