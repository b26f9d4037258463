#!/usr/bin/env python3
"""Run every command of README.md as printed, on a fresh clone, and compare what each
prints with what the README shows.

    python3 scripts/check_readme.py [--skip-suite] [--keep] [--clone DIR]

It clones this repository's committed HEAD into a temporary directory and runs the
README's commands there, in order, each through ``bash`` in a pseudo-terminal (as a
user types them: redis-cli formats its replies for a terminal), with no virtualenv
activated. Standard library only: it runs before anything is installed.

How the README is read:

- an indented code block (4 spaces) is shell. In a block with ``$ `` lines, each is a
  command (a trailing ``\\`` continues it) and the lines after it, up to the next
  ``$ `` line, are its output, compared line by line (trailing spaces aside; a line
  ``...`` matches any number of lines). A block without them is a script, run as
  pasted into a terminal (``bash -e``), whose output is not compared. Every command
  and script must exit with status 0.
- an HTML comment just before a block steers it:
  ``<!-- check: background until "TEXT" -->`` runs the block's one command in the
  background (in its own process group) and waits until its output shows TEXT; a later
  ``<!-- check: stop -->`` sends it SIGINT, as Ctrl-C does, and waits for it to exit
  with status 0. ``<!-- check: skip WHY -->`` leaves a block out (Python code, a YAML
  excerpt), saying why.

``--skip-suite`` leaves out ``./scripts/test`` (the whole test suite, a few minutes);
``--clone DIR`` reuses a clone made before (and its .venv) instead of a fresh one;
``--keep`` keeps the clone; ``--start LINE`` and ``--until LINE`` run only the blocks
from and before those lines. The
fixed ports the commands use must be free (or the run would use, and stop, another
program's servers). The run stops at the first difference, printing it.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND_TIMEOUT = 600  # seconds: the first command that bootstraps installs everything
BACKGROUND_WAIT = 600
SUITE = "./scripts/test"
# the fixed ports the README's commands listen on (./scripts/node's, and those the
# commands name): they must be free, or the run would use (and stop) another program's
NODE_PORTS = (8101, 8102, 22222)

DIRECTIVE = re.compile(r"<!-- check: (\w+)(?: (.*?))? -->")


class Block:
    def __init__(self, lines: List[str], line: int, directive: Optional[Tuple[str, str]]):
        self.lines = lines
        self.line = line  # of the README, from 1
        self.directive = directive


def read_blocks(path: str) -> List[object]:
    """The README's code blocks and stop directives, in order."""
    with open(path, encoding="utf-8") as f:
        text = f.read().split("\n")
    items: List[object] = []
    directive: Optional[Tuple[str, str]] = None
    i = 0
    while i < len(text):
        line = text[i]
        found = DIRECTIVE.search(line)
        if found:
            if found.group(1) == "stop":
                items.append(("stop", i + 1))
            else:
                directive = (found.group(1), found.group(2) or "")
            i += 1
            continue
        if line.startswith("    ") and (i == 0 or not text[i - 1].strip()):
            start = i
            while i < len(text) and (text[i].startswith("    ") or not text[i].strip()):
                i += 1
            body = text[start:i]
            while body and not body[-1].strip():
                body.pop()
            indent = min(len(x) - len(x.lstrip()) for x in body if x.strip())
            items.append(Block([x[indent:] for x in body], start + 1, directive))
            directive = None
            continue
        if line.strip():
            directive = None  # prose between a directive and a block: not for it
        i += 1
    return items


def joined(lines: List[str]) -> List[str]:
    """Lines with their ``\\`` continuations joined."""
    out: List[str] = []
    pending = ""
    for line in lines:
        if line.endswith("\\"):
            pending += line[:-1] + " "
        else:
            out.append(pending + line)
            pending = ""
    return out


def transcript(lines: List[str]) -> List[Tuple[str, List[str]]]:
    """(command, expected output lines) of a block with ``$`` lines."""
    steps: List[Tuple[str, List[str]]] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise ValueError("output before any command: %r" % lines[i])
        command = [lines[i][2:]]
        i += 1
        while command[-1].endswith("\\") and i < len(lines):
            command.append(lines[i])
            i += 1
        expected = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        steps.append((joined(command)[0], expected))
    return steps


def matches(expected: List[str], actual: List[str]) -> bool:
    """``...`` in ``expected`` stands for any lines."""
    if not expected:
        return not actual
    if expected[0].strip() == "...":
        return any(matches(expected[1:], actual[k:]) for k in range(len(actual) + 1))
    return bool(actual) and expected[0].rstrip() == actual[0].rstrip() and matches(
        expected[1:], actual[1:]
    )


class Runner:
    def __init__(self, clone: str, skip_suite: bool) -> None:
        self.clone = clone
        self.skip_suite = skip_suite
        path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if ".venv" not in p]
        self.env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        self.env["PATH"] = os.pathsep.join(path)
        self.env["TERM"] = "dumb"
        self.background: List[Tuple[subprocess.Popen, str, List[str]]] = []

    def run(self, command: str, where: int, shown: Optional[str] = None) -> List[str]:
        """``command`` in a pseudo-terminal; its output lines (it must exit 0)."""
        if SUITE in command and self.skip_suite:
            print("  (skipped: %s)" % command)
            return []
        started = time.monotonic()
        result = subprocess.run(
            ["script", "-qec", command, "/dev/null"], cwd=self.clone, env=self.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT,
        )
        output = result.stdout.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "")
        lines = output.split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        print("  %5.1f s  %s" % (time.monotonic() - started, shown or command))
        if result.returncode != 0:
            fail(where, "exit status %d: %s\n%s" % (result.returncode, command, output))
        return lines

    def start(self, command: str, ready: str, where: int) -> None:
        output: List[str] = []
        process = subprocess.Popen(
            ["bash", "-c", command], cwd=self.clone, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )

        def read() -> None:
            assert process.stdout is not None
            for raw in process.stdout:
                output.append(raw.decode("utf-8", "replace"))

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + BACKGROUND_WAIT
        while ready not in "".join(output):
            if process.poll() is not None or time.monotonic() > deadline:
                fail(where, "%s: %r never printed\n%s" % (command, ready, "".join(output)))
            time.sleep(0.2)
        print("  started  %s  (until %r)" % (command, ready))
        self.background.append((process, command, output))

    def stop(self, where: int) -> None:
        if not self.background:
            fail(where, "nothing runs in the background to stop")
        process, command, output = self.background.pop()
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the foreground group
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            fail(where, "%s did not stop on Ctrl-C" % command)
        print("  stopped  %s (status %d)" % (command, code))
        if code != 0:
            fail(where, "%s exited with %d after Ctrl-C\n%s" % (command, code, "".join(output)))

    def stop_all(self) -> None:
        for process, _, _ in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


def needed_ports(items: List[object]) -> List[int]:
    """./scripts/node's ports and the 4- and 5-digit numbers of the commands."""
    ports = set(NODE_PORTS)
    for item in items:
        if isinstance(item, Block) and (item.directive or ("",))[0] != "skip":
            ports.update(int(n) for n in re.findall(r"\b(\d{4,5})\b", "\n".join(item.lines))
                         if 1024 <= int(n) < 65536)
    return sorted(ports)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def fail(where: int, message: str) -> None:
    raise SystemExit("README.md line %d: %s" % (where, message))


def check(runner: Runner, items: List[object]) -> Dict[str, int]:
    counts = {"commands": 0, "compared": 0, "skipped blocks": 0}
    for item in items:
        if isinstance(item, tuple):
            runner.stop(item[1])
            continue
        assert isinstance(item, Block)
        kind, argument = item.directive or ("", "")
        if kind == "skip":
            counts["skipped blocks"] += 1
            print("  (block at line %d skipped: %s)" % (item.line, argument))
            continue
        if kind == "background":
            ready = re.fullmatch(r'until "(.*)"', argument)
            commands = [c for c in joined(item.lines) if c.strip()]
            if ready is None or len(commands) != 1:
                fail(item.line, 'background needs one command and until "TEXT"')
            runner.start(commands[0].lstrip("$ "), ready.group(1), item.line)  # type: ignore[union-attr]
            counts["commands"] += 1
            continue
        if any(line.startswith("$ ") for line in item.lines):
            for command, expected in transcript(item.lines):
                actual = runner.run(command, item.line)
                counts["commands"] += 1
                counts["compared"] += 1
                if not matches(expected, actual):
                    fail(item.line, "%s\n--- the README shows:\n%s\n--- it printed:\n%s"
                         % (command, "\n".join(expected), "\n".join(actual)))
            continue
        script = "\n".join(item.lines)
        runner.run("bash -ec %s" % shlex.quote(script), item.line, shown=item.lines[0] + " ...")
        counts["commands"] += sum(
            1 for line in joined(item.lines) if line.strip() and not line.lstrip().startswith("#")
        )
    if runner.background:
        fail(0, "still running at the end: %s" % runner.background[-1][1])
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-suite", action="store_true", help="leave out " + SUITE)
    parser.add_argument("--keep", action="store_true", help="keep the clone")
    parser.add_argument("--clone", help="a clone made before, reused")
    parser.add_argument("--start", type=int, help="only the blocks from this README line")
    parser.add_argument("--until", type=int, help="only the blocks before this README line")
    args = parser.parse_args()
    started = time.monotonic()
    clone = args.clone
    made = clone is None
    if made:
        clone = tempfile.mkdtemp(prefix="dynotwist-readme-")
        subprocess.run(["git", "clone", "-q", ROOT, clone], check=True)
    items = read_blocks(os.path.join(clone, "README.md"))
    first, last = args.start or 0, args.until or 1 << 30
    items = [i for i in items if first <= (i.line if isinstance(i, Block) else i[1]) < last]
    busy = [port for port in needed_ports(items) if listening(port)]
    if busy:
        raise SystemExit("ports the README uses are taken: %s" % ", ".join(map(str, busy)))
    print("README.md of %s" % clone)
    runner = Runner(clone, args.skip_suite)
    try:
        counts = check(runner, items)
    finally:
        runner.stop_all()
        if made and not args.keep:
            shutil.rmtree(clone, ignore_errors=True)
    print("every README command ran as printed: %s, in %.0f s"
          % (", ".join("%d %s" % (n, k) for k, n in counts.items()), time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
