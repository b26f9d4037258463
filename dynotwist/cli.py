"""``dynotwist``: a node in the foreground, as ``twistd -n dynomite`` runs it, without a
pid file and logging to the terminal (installed as a console script)::

    dynotwist -c conf/dynomite.yml       # run a node (Ctrl-C stops it)
    dynotwist --test-conf -c yours.yml   # check a configuration and exit
    dynotwist --help                     # the options (twistd dynomite's)
"""

from __future__ import annotations

import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> None:
    from twisted.scripts.twistd import run

    options = sys.argv[1:] if argv is None else list(argv)
    sys.argv = ["dynotwist", "--nodaemon", "--pidfile", "", "dynomite", *options]
    run()


if __name__ == "__main__":
    main()
