"""Local processes on loopback: datastores and dynotwist nodes, for trying things out.

``python -m dynotwist.local`` starts a redis-server on a free port, writes the config a
single node needs and runs that node in the foreground; Ctrl-C stops both. The
integration tests and benchmarks start their processes with the same classes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

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
    """A child process that is stopped by pid, and its log file."""

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
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env=self.env,
            )

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

    def start(self) -> None:
        super().start()
        wait_for_port(self.port, process=self.process)


class Node(Process):
    """``twistd -n dynomite`` with a config written from ``fields``."""

    def __init__(
        self, workdir: str, fields: Dict[str, object], name: str = "node", verbosity: int = 5
    ) -> None:
        self.fields = fields
        self.config_path = os.path.join(workdir, "%s.yml" % name)
        with open(self.config_path, "w") as f:
            f.write(render_config(fields))
        argv = twistd_argv("-c", self.config_path, "-v", str(verbosity))
        super().__init__(argv, os.path.join(workdir, "%s.log" % name), env=_node_env())

    @property
    def client_port(self) -> int:
        return int(str(self.fields["listen"]).rsplit(":", 1)[1])

    def start(self) -> None:
        super().start()
        wait_for_port(self.client_port, process=self.process)


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
            lines.extend("  - %s" % item for item in value)
        elif isinstance(value, bool):
            lines.append("  %s: %s" % (key, "true" if value else "false"))
        else:
            lines.append("  %s: %s" % (key, _scalar(value)))
    return "\n".join(lines) + "\n"


def _scalar(value: object) -> str:
    text = str(value)
    return "'%s'" % text if isinstance(value, str) and ("," in text or text.isdigit()) else text


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


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dynotwist.local",
        description="Run one dynotwist node in front of a fresh local redis-server.",
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
