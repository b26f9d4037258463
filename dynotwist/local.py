"""``python -m dynotwist.local``: local processes on loopback, for trying things out.

``python -m dynotwist.local`` starts a redis-server on a free port, writes the config a
single node needs and runs that node in the foreground; it prints how to connect once
the node listens, and Ctrl-C, SIGTERM or SIGHUP stops both.

``python -m dynotwist.local cluster --dcs 2 --racks 2`` starts a whole cluster, in the
spirit of Cassandra's ccm: one redis-server per node, every rack a full ring with the
same evenly spaced tokens, every node listing the others as ``dyn_seeds``; it prints
where each node listens and stops everything, by pid, on Ctrl-C, SIGTERM or SIGHUP. With
``--tls`` it makes a CA and a certificate per node and encrypts peer links per
``--secure-server-option`` (``--client-tls``: the client ports too).

The processes are ``dynotwist.testing``'s (``RedisServer``, ``Cluster``), which trial
suites use too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

from dynotwist.testing.cluster import Cluster
from dynotwist.testing.configs import render_config, single_node_fields
from dynotwist.testing.ports import LOOPBACK, wait_for_port
from dynotwist.testing.processes import Process, RedisServer, node_env, twistd_argv

CONSISTENCY_LEVELS = ("DC_ONE", "DC_QUORUM", "DC_SAFE_QUORUM", "DC_EACH_SAFE_QUORUM")


def cluster_main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dynotwist.local cluster",
        description="Run a local cluster: one redis-server and one dynotwist node per "
        "node, on loopback ports chosen free (or --base-port); Ctrl-C, SIGTERM or SIGHUP"
        " stops everything.",
    )
    parser.add_argument("--dcs", type=int, default=1, help="datacenters (default 1)")
    parser.add_argument("--racks", type=int, default=3, help="racks per DC (default 3)")
    parser.add_argument(
        "--nodes-per-rack", type=int, default=1, help="nodes per rack (default 1)"
    )
    parser.add_argument(
        "--base-port", type=int,
        help="fixed ports instead of free ones: node N (from 0, in the table's order) on"
        " BASE+10N (clients), +1 (peers), +2 (admin), +3 (its redis-server)",
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

    signals = StopSignals()
    cluster: Optional[Cluster] = None
    try:
        cluster = Cluster(
            workdir, args.dcs, args.racks, args.nodes_per_rack, extra,
            verbosity=args.verbosity, detach=True, secure_server_option=option, tls=tls,
            client_tls=args.client_tls, base_port=args.base_port,
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
        signals.ignore()  # a second Ctrl-C must not leave the detached children running
        if cluster is not None:
            cluster.stop()
        signals.restore()
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
    node: Optional[subprocess.Popen] = None
    signals = StopSignals()
    try:
        redis.start()
        fields = single_node_fields(redis.port, args.port, args.peer_port, args.stats_port)
        config_path = os.path.join(workdir, "dynomite.yml")
        with open(config_path, "w") as f:
            f.write(render_config(fields))
        print("redis-server on %s:%d (data in %s)" % (LOOPBACK, redis.port, workdir))
        print("config: %s" % config_path)
        sys.stdout.flush()
        node = subprocess.Popen(
            twistd_argv("-c", config_path, "-v", str(args.verbosity)), env=node_env()
        )
        for port in (args.port, args.stats_port):  # the client line once the node listens
            wait_for_port(port, LOOPBACK, timeout=60, process=node)
        print(
            "dynotwist clients: redis-cli -p %d    admin: http://%s:%d/info"
            % (args.port, LOOPBACK, args.stats_port)
        )
        sys.stdout.flush()
        return node.wait()
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP
        return 0
    except RuntimeError as error:
        sys.stderr.write("dynotwist.local: %s\n" % error)
        return 1
    finally:
        signals.ignore()  # the node and redis-server are stopped, whatever comes now
        if node is not None and node.poll() is None:
            node.send_signal(signal.SIGTERM)
            node.wait()
        redis.stop()
        signals.restore()
        shutil.rmtree(workdir, ignore_errors=True)


class StopSignals:
    """While it exists, SIGINT (Ctrl-C), SIGTERM and SIGHUP stop the launcher: each
    raises KeyboardInterrupt, so that its ``finally`` stops what it started. SIGINT is
    set too: a launcher started in the background inherits it ignored."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.previous: Dict[int, Any] = {
            sig: signal.signal(sig, self._interrupt) for sig in self.SIGNALS
        }

    @staticmethod
    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    def ignore(self) -> None:
        """While stopping: no signal interrupts it."""
        for sig in self.previous:
            signal.signal(sig, signal.SIG_IGN)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
