"""``python -m dynotwist.repair``: anti-entropy and warm-up from the command line.

    python -m dynotwist.repair check node1.yml node2.yml node3.yml [--fix]
    python -m dynotwist.repair warm-up --admin 127.0.0.1:22222 [--source host:port]

``check`` compares a token range (``--range low:high``, the whole ring by default)
between the racks of a DC (``--dc``, the first configuration's by default), reading
every node's datastore directly: the configuration files of every node of that DC are
given. It prints a progress bar (``--progress``; on by default on a terminal) and a
summary table; ``--fix`` repairs what differs (``--source-rack`` settles ties). Exit
status: 0 nothing left different, 1 differences left, 2 the command could not run.

``warm-up`` asks a node, on its admin port, to copy its token range from another rack
(see ``dynotwist.repair.warmup``), then follows its progress until it is done. Exit
status: 0 done, 1 failed, 2 the command could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from typing import Any, Generator, List, Optional, Sequence, Tuple

from twisted.internet import defer, task

from dynotwist.config import ConfigError, load_config
from dynotwist.core.ranges import WHOLE_RING, parse_range
from dynotwist.repair.antientropy import Compare, cluster_from_configs

__all__ = ["main"]


class UsageError(Exception):
    """A refusal of the command line: said in one line, exit status 2."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m dynotwist.repair",
        description="Compare and repair replicas of a dynotwist (or Dynomite) cluster.",
    )
    commands = top.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="compare a token range between racks")
    check.add_argument("configs", nargs="+", metavar="CONFIG",
                       help="the YAML configuration of every node of the DC")
    check.add_argument("--dc", help="the datacenter to compare (default: the first config's)")
    check.add_argument("--range", dest="token_range", metavar="LOW:HIGH",
                       help="tokens to compare, both included (default: the whole ring)")
    check.add_argument("--fix", action="store_true", help="repair what differs")
    check.add_argument("--source-rack", metavar="RACK",
                       help="the rack whose value wins where nothing else decides")
    check.add_argument("--rate", type=int, default=5000, metavar="KEYS",
                       help="keys compared a second, at most (0: no limit; default 5000)")
    check.add_argument("--batch", type=int, default=200, metavar="KEYS",
                       help="keys looked up together (default 200)")
    check.add_argument("--show", type=int, default=20, metavar="N",
                       help="differences listed in the summary (default 20)")
    check.add_argument("--progress", action="store_true", default=None,
                       help="show a progress bar (default: on a terminal)")
    warm = commands.add_parser("warm-up", help="have a node copy its range from another rack")
    warm.add_argument("--admin", required=True, metavar="HOST:PORT",
                      help="the node's admin port (stats_listen)")
    warm.add_argument("--source", metavar="HOST:PORT",
                      help="the datastore to copy from (default: found by the node)")
    warm.add_argument("--rate", type=int, metavar="KEYS",
                      help="keys copied a second, at most (0: no limit)")
    warm.add_argument("--token", help="the node's admin_token, if it has one")
    warm.add_argument("--no-wait", action="store_true", help="start it and return")
    return top


@defer.inlineCallbacks
def check(args: argparse.Namespace, out: Any, err: Any
          ) -> Generator[defer.Deferred[Any], Any, int]:
    configs = []
    for path in args.configs:
        try:
            configs.append(load_config(path))
        except ConfigError as error:
            raise UsageError(str(error)) from None
    try:
        cluster = cluster_from_configs(configs)
        ranges = parse_range(args.token_range) if args.token_range else WHOLE_RING
    except ValueError as error:
        raise UsageError(str(error)) from None
    dc = args.dc or configs[0].datacenter
    if dc not in cluster.topology.datacenters():
        raise UsageError("no datacenter %r in the configuration" % dc)
    unknown = cluster.unknown(dc)
    if unknown:
        raise UsageError("no configuration given for %s (where is its datastore?)"
                         % ", ".join(unknown))
    if args.source_rack and args.source_rack not in cluster.racks(dc):
        raise UsageError("no rack %r in %s" % (args.source_rack, dc))
    if args.batch < 1 or args.rate < 0:
        raise UsageError("--batch is at least 1, --rate at least 0")
    progress = args.progress if args.progress is not None else err.isatty()
    compare = Compare(cluster, dc, ranges, fix=args.fix, source_rack=args.source_rack,
                      rate=args.rate, batch=args.batch, out=err, progress=progress)
    yield compare.run()
    out.write(compare.summary(args.show))
    return 0 if compare.clean else 1


@defer.inlineCallbacks
def _get(url: str, token: Optional[str] = None
         ) -> Generator[defer.Deferred[Any], Any, Tuple[int, str]]:
    """GET ``url``: (status code, body as text)."""
    from twisted.internet import reactor
    from twisted.web.client import Agent, readBody
    from twisted.web.http_headers import Headers

    headers = Headers({b"Authorization": [b"Bearer " + token.encode()]} if token else {})
    response = yield Agent(reactor).request(b"GET", url.encode(), headers)
    with warnings.catch_warnings():
        # Twisted warns when the body's connection cannot be aborted (the admin port
        # closes it after answering): nothing for the operator to act on
        warnings.simplefilter("ignore", DeprecationWarning)
        reading = readBody(response)
    body = yield reading
    return response.code, body.decode("utf-8", "replace")


@defer.inlineCallbacks
def warm_up(args: argparse.Namespace, out: Any, err: Any
            ) -> Generator[defer.Deferred[Any], Any, int]:
    from twisted.internet import reactor

    base = "http://%s" % args.admin
    path = "/warm_up/start" + ("/" + args.source if args.source else "")
    if args.rate is not None:
        path += "?rate=%d" % args.rate
    try:
        code, body = yield _get(base + path, args.token)
    except Exception as error:  # a connection refused, a name not found
        raise UsageError("cannot reach %s: %s" % (args.admin, error)) from None
    if code != 200:
        err.write(body)
        return 1 if code == 409 else 2
    out.write(body.replace("\r\n", "\n"))
    if args.no_wait:
        return 0
    while True:
        yield task.deferLater(reactor, 1.0, lambda: None)
        _, body = yield _get(base + "/warm_up/status")
        status = json.loads(body)
        left = status["seconds_left"]
        err.write("\r%s: %d keys copied, %.1f MB, %d keys/s, ETA %s   " % (
            status["state"], status["keys_copied"], status["bytes_copied"] / 1e6,
            status["keys_per_second"], "?" if left is None else "%d s" % left))
        if status["state"] in ("done", "failed"):
            err.write("\n")
            out.write(json.dumps(status, indent=2, sort_keys=True) + "\n")
            return 0 if status["state"] == "done" else 1


def main(argv: Optional[Sequence[str]] = None, out: Any = None, err: Any = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = parser().parse_args(argv)
    command = check if args.command == "check" else warm_up
    status: List[int] = []

    @defer.inlineCallbacks
    def run(reactor: Any) -> Generator[defer.Deferred[Any], Any, None]:
        try:
            status.append((yield command(args, out, err)))
        except UsageError as error:
            err.write("dynotwist.repair: %s\n" % error)
            status.append(2)
        except Exception as error:  # a datastore that went away, a refused command
            err.write("dynotwist.repair: %s: %s\n" % (type(error).__name__, error))
            status.append(2)

    with contextlib.suppress(SystemExit):  # react() exits when run() is done
        task.react(run)
    return status[0] if status else 2


if __name__ == "__main__":
    sys.exit(main())
