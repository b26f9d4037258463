"""``dynotwist``: a node in the foreground, as ``twistd -n dynomite`` runs it, without a
pid file and logging to the terminal (installed as a console script)::

    dynotwist -c conf/dynomite.yml       # run a node (Ctrl-C stops it)
    dynotwist --test-conf -c yours.yml   # check a configuration and exit
    dynotwist --help                     # the options (twistd dynomite's)

A refused configuration or option is one message and exit status 1 (twistd prints its
whole option list first).
"""

from __future__ import annotations

import sys
from typing import List, Optional

from twisted.python import usage


def main(argv: Optional[List[str]] = None) -> None:
    from twisted.scripts.twistd import ServerOptions, runApp

    options = sys.argv[1:] if argv is None else list(argv)
    config = ServerOptions()
    try:
        config.parseOptions(["--nodaemon", "--pidfile", "", "dynomite", *options])
    except usage.error as error:
        sys.stderr.write("dynotwist: %s\n(dynotwist --help lists the options)\n" % error)
        sys.exit(1)
    runApp(config)


if __name__ == "__main__":
    main()
