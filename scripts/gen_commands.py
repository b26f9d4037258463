#!/usr/bin/env python3
"""Derive dynotwist's Redis command table data from a real redis-server.

Starts a private ``redis-server`` on a free loopback port (``--save '' --appendonly no``),
reads ``COMMAND`` and ``COMMAND DOCS`` over a plain socket (RESP2), stops the server, and
prints, to stdout:

* ``--table``: one skeleton line per command and subcommand in the format of ``TABLE`` in
  ``dynotwist/proto/command_table.py`` (name, arity, flag letters, first/last/step key positions,
  extra ACL categories).  The routing column is left as ``?`` except for the obvious
  single-key case: routing and read/write overrides are decisions, made by hand in the module.
* ``--docs``: the ``DOCS`` block (name, since, summary; long summaries wrapped onto
  indented continuation lines).  ``--names a,b,...`` limits it to those full names.
* ``--check``: compares the module's table with the live server and prints every difference.

Only the standard library is used, so the script runs with any Python 3.9+.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from typing import Any

FLAG_LETTERS = {
    "write": "w", "readonly": "r", "denyoom": "m", "admin": "a", "pubsub": "p",
    "noscript": "s", "blocking": "B", "loading": "l", "stale": "t", "skip_monitor": "M",
    "skip_slowlog": "L", "asking": "k", "fast": "F", "no_auth": "N",
    "no_mandatory_keys": "K", "no_async_loading": "A", "no_multi": "X",
    "movablekeys": "v", "allow_busy": "b",
}
GROUP_CATEGORY = {
    "generic": "@keyspace", "string": "@string", "bitmap": "@bitmap", "hash": "@hash",
    "list": "@list", "set": "@set", "sorted-set": "@sortedset",
    "hyperloglog": "@hyperloglog", "geo": "@geo", "stream": "@stream",
    "scripting": "@scripting", "connection": "@connection", "transactions": "@transaction",
}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


class Resp:
    """Minimal blocking RESP2 client: enough for COMMAND and COMMAND DOCS."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError("unexpected RESP line %r" % line)

    def call(self, *args: str) -> Any:
        out = b"*%d\r\n" % len(args)
        for a in args:
            b = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(b), b)
        self.sock.sendall(out)
        return self.read()


def pairs(flat: list[Any]) -> dict[str, Any]:
    return dict(zip(flat[::2], flat[1::2]))


def start_redis(binary: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def fetch(binary: str) -> tuple[list[Any], dict[str, Any]]:
    proc, port = start_redis(binary)
    try:
        conn = Resp(port)
        table = conn.call("COMMAND")
        docs = pairs(conn.call("COMMAND", "DOCS"))
        conn.sock.close()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)
    return table, docs


def implied_categories(flags: list[str], cats: list[str]) -> set[str]:
    """The ACL categories Redis adds by itself (setImplicitACLCategories)."""
    out = set()
    if "write" in flags:
        out.add("@write")
    if "readonly" in flags and "@scripting" not in cats:
        out.add("@read")
    if "admin" in flags:
        out |= {"@admin", "@dangerous"}
    if "pubsub" in flags:
        out.add("@pubsub")
    if "fast" in flags:
        out.add("@fast")
    if "blocking" in flags:
        out.add("@blocking")
    if "fast" not in flags and "@fast" not in cats:
        out.add("@slow")
    return out


def entries(table: list[Any], docs: dict[str, Any]) -> list[tuple[list[Any], dict[str, Any]]]:
    """Every command and subcommand, with its docs map, parents before their children."""
    out = []
    for entry in sorted(table, key=lambda e: e[0]):
        doc = pairs(docs[entry[0]])
        out.append((entry, doc))
        subdocs = pairs(doc.get("subcommands", []))
        for sub in sorted(entry[9], key=lambda e: e[0]):
            out.append((sub, pairs(subdocs[sub[0]])))
    return out


def emit_table(table: list[Any], docs: dict[str, Any]) -> None:
    by_group: dict[str, list[str]] = {}
    for entry, doc in entries(table, docs):
        name, arity, flags, first, last, step, cats = entry[:7]
        letters = "".join(FLAG_LETTERS[f] for f in flags) or "-"
        group = doc["group"]
        extra = [c for c in cats if c not in implied_categories(flags, cats)]
        default = GROUP_CATEGORY.get(group)
        if not flags and entry[9]:
            cat_tokens = extra  # a container: no default category
        elif extra == ([default] if default else []):
            cat_tokens = []
        else:
            cat_tokens = extra or ["@-"]
        route = "single" if first and "movablekeys" not in flags else "?"
        line = "%-21s %3d  %-7s %2d %2d %d  %s" % (name, arity, letters, first, last, step, route)
        if cat_tokens:
            line += "  " + " ".join(cat_tokens)
        by_group.setdefault(group, []).append(line.rstrip())
    for group, lines in by_group.items():
        print("[%s]" % group)
        print("\n".join(lines))


def emit_docs(table: list[Any], docs: dict[str, Any], names: set[str] | None) -> None:
    for entry, doc in entries(table, docs):
        name = entry[0]
        if names is not None and name not in names:
            continue
        head = "%s %s " % (name, doc["since"])
        lines = textwrap.wrap(doc["summary"], width=99, initial_indent=head,
                              subsequent_indent="    ")
        print("\n".join(lines))


def check(table: list[Any], docs: dict[str, Any]) -> int:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from dynotwist.proto import commands

    problems = 0
    for entry, doc in entries(table, docs):
        name, arity, flags, first, last, step, cats = entry[:7]
        spec = commands.SPECS.get(name)
        if spec is None:
            parent = commands.SPECS.get(name.split("|")[0])
            if parent is not None and parent.subcommands is None:
                continue  # subcommand of a wholly refused container
            print("missing: %s" % name)
            problems += 1
            continue
        got = (spec.arity, list(spec.flags), spec.first_key, spec.last_key, spec.key_step,
               list(spec.acl_categories), spec.group)
        want = (arity, flags, first, last, step, cats, doc["group"])
        if got != want:
            print("differs: %s\n  table: %r\n  redis: %r" % (name, got, want))
            problems += 1
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--table", action="store_true")
    mode.add_argument("--docs", action="store_true")
    mode.add_argument("--check", action="store_true")
    ap.add_argument("--names", help="comma-separated full names for --docs")
    opts = ap.parse_args()
    table, docs = fetch(opts.redis_server)
    if opts.table:
        emit_table(table, docs)
    elif opts.docs:
        emit_docs(table, docs, set(opts.names.split(",")) if opts.names else None)
    else:
        return 1 if check(table, docs) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
