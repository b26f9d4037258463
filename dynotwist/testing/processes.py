"""Child processes on loopback: redis-server, memcached and ``twistd -n dynomite`` nodes,
each with its log file, stopped by pid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import dynotwist
from dynotwist.testing.configs import render_config
from dynotwist.testing.ports import LOOPBACK, free_port, wait_for_port


class Process:
    """A child process that is stopped by pid, and its log file.

    ``start()`` is ``spawn()`` (start the program) then ``ready()`` (block until it
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

    def ready(self, timeout: float = 15.0) -> None:
        """``wait_ready``, with what the process logged in the error if it fails."""
        try:
            self.wait_ready(timeout)
        except RuntimeError as error:
            raise RuntimeError("%s\n%s" % (error, self.diagnosis())) from None

    def diagnosis(self) -> str:
        """What to show when the process does not serve: the end of its log."""
        return "--- %s:\n%s" % (self.log_path, log_tail(self.log_path))

    def start(self, timeout: float = 15.0) -> None:
        self.spawn()
        self.ready(timeout)

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


class ListeningProcess(Process):
    """A server that is ready once something accepts connections on its ``address()``."""

    port: int

    def address(self) -> Tuple[str, int]:
        return LOOPBACK, self.port

    def wait_ready(self, timeout: float = 15.0) -> None:
        host, port = self.address()
        wait_for_port(port, host, timeout=timeout, process=self.process)


class RedisServer(ListeningProcess):
    """A throw-away redis-server: no persistence, loopback only; ``extra_args`` are
    added to its command line (``--proto-max-bulk-len``, ...)."""

    def __init__(
        self,
        workdir: str,
        port: Optional[int] = None,
        password: Optional[str] = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = port or free_port()
        argv = [
            find_program("redis-server"),
            *("--port", str(self.port), "--bind", LOOPBACK),
            *("--save", "", "--appendonly", "no", "--dir", workdir),
        ]
        if password:
            argv += ["--requirepass", password]
        argv += list(extra_args)
        super().__init__(argv, os.path.join(workdir, "redis-%d.log" % self.port))


class MemcachedServer(ListeningProcess):
    """A throw-away memcached: loopback only, no UDP (``-u root`` when run as root)."""

    def __init__(
        self, workdir: str, port: Optional[int] = None, extra_args: Sequence[str] = ()
    ) -> None:
        self.port = port or free_port()
        argv = [find_program("memcached"), "-l", LOOPBACK, "-p", str(self.port), "-U", "0"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            argv += ["-u", "root"]
        argv += list(extra_args)
        super().__init__(argv, os.path.join(workdir, "memcached-%d.log" % self.port))


class FloridaServer(ListeningProcess):
    """A florida-compatible seed server: Python's ``http.server`` serving the seed list
    at ``/REST/v1/admin/get_seeds`` from a file that :meth:`set_seeds` rewrites. Nodes
    reach it with ``dyn_seed_provider: florida_provider`` and :meth:`environment`."""

    PATH = "REST/v1/admin/get_seeds"

    def __init__(self, workdir: str, port: Optional[int] = None) -> None:
        self.port = port or free_port()
        self.root = os.path.join(workdir, "florida-%d" % self.port)
        os.makedirs(os.path.join(self.root, os.path.dirname(self.PATH)), exist_ok=True)
        self.set_seeds([])
        argv = [sys.executable, "-m", "http.server", str(self.port), "--bind", LOOPBACK,
                "--directory", self.root]
        super().__init__(argv, os.path.join(workdir, "florida-%d.log" % self.port))

    def set_seeds(self, seeds: Sequence[str]) -> None:
        """Serve ``seeds`` (``host:port:rack:dc:tokens`` each) from now on, joined with
        ``|`` as florida joins its seeds.list."""
        path = os.path.join(self.root, self.PATH)
        with open(path + ".new", "w") as f:
            f.write("|".join(seeds))
        os.replace(path + ".new", path)

    def environment(self) -> Dict[str, str]:
        """The environment variables that point a node at this server."""
        return {"DYNOMITE_FLORIDA_IP": LOOPBACK, "DYNOMITE_FLORIDA_PORT": str(self.port)}


class NodeProcess(ListeningProcess):
    """``twistd -n dynomite`` with a config written from ``fields``; ready once its
    client port accepts connections. ``python`` is the interpreter that runs it (this
    one by default; another one needs dynotwist's dependencies installed)."""

    def __init__(
        self,
        workdir: str,
        fields: Dict[str, object],
        name: str = "node",
        verbosity: int = 5,
        python: Optional[str] = None,
    ) -> None:
        self.name = name
        self.config_path = os.path.join(workdir, "%s.yml" % name)
        self.rewrite(fields)
        argv = twistd_argv("-c", self.config_path, "-v", str(verbosity), python=python)
        super().__init__(argv, os.path.join(workdir, "%s.log" % name), env=node_env())

    def rewrite(self, fields: Dict[str, object]) -> None:
        """Write the config file from ``fields`` (a running node reads it again on
        SIGHUP, or when restarted)."""
        self.fields = fields
        with open(self.config_path, "w") as f:
            f.write(render_config(fields))

    def reload(self) -> None:
        """SIGHUP: the node applies its config file again (or refuses it, logged)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def diagnosis(self) -> str:
        with open(self.config_path) as f:
            config = f.read()
        return "--- config %s:\n%s%s" % (self.config_path, config, super().diagnosis())

    def address(self) -> Tuple[str, int]:
        return self.host, self.client_port

    def wait_ready(self, timeout: float = 15.0) -> None:
        # all three ports listen once the client port does; waiting on each makes it
        # unlikely that another program on a port chosen free stands in for the node
        super().wait_ready(timeout)
        for port in (self.peer_port, self.stats_port):
            if port is not None:
                wait_for_port(port, self.host, timeout=timeout, process=self.process)

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


def _port_of(address: object) -> int:
    return int(str(address).rsplit(":", 1)[1])


def twistd_argv(*options: str, python: Optional[str] = None) -> List[str]:
    """``twistd -n dynomite <options>`` with ``python`` (this interpreter by default),
    logging to stdout."""
    return [
        python or sys.executable,
        "-c",
        "from twisted.scripts.twistd import run; run()",
        "-n",
        "--pidfile",
        "",
        "dynomite",
        *options,
    ]


def node_env() -> Dict[str, str]:
    """This environment, with this dynotwist first on the import path: the node imports
    this copy, wherever it is started from."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(dynotwist.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def find_program(name: str) -> str:
    for candidate in (shutil.which(name), "/usr/bin/" + name, "/usr/sbin/" + name):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("%s is not installed (Debian: apt-get install %s)" % (name, name))


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


def log_tail(path: str, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError as error:
        return "(no log: %s)" % error
    return "\n".join(text.splitlines()[-lines:])
