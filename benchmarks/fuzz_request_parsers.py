"""Differential fuzzing of the RESP request parsers: the hiredis accelerator against
the pure-Python parser (the reference), and the compiled ``one_request`` (a peer
frame's request) against the pure one, on seeded random inputs (see
``tests/unit/resp_fuzz.py`` for what they hold and what is compared).

    .venv/bin/python benchmarks/fuzz_request_parsers.py [--count 1000000] [--seed 0]

Prints the number of inputs tried, the number of differences found, the first few
differences and the time taken; exits with status 1 if any difference was found.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dynotwist.proto.resp import one_request
from dynotwist.proto.resp_compiled import one_request as compiled_one_request
from dynotwist.proto.resp_hiredis import AcceleratedRequestParser
from tests.unit.resp_fuzz import difference, inputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100000, help="inputs to try")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator")
    parser.add_argument("--show", type=int, default=5, help="differences to print")
    args = parser.parse_args()
    started = time.perf_counter()
    found = []
    count = 0
    for case in itertools.islice(inputs(args.seed), args.count):
        count += 1
        described = difference(case, AcceleratedRequestParser)
        if described is not None:
            found.append(described)
        payload = b"".join(case.chunks)
        compiled = compiled_one_request(payload, case.max_bulk_len)
        if compiled != one_request(payload, case.max_bulk_len):
            found.append("one_request of %r: compiled %r" % (payload[:200], compiled))
    elapsed = time.perf_counter() - started
    print("inputs tried: %d (seed %d)" % (count, args.seed))
    print("differences found: %d" % len(found))
    for described in found[: args.show]:
        print("  " + described[:2000])
    print("time: %.1f s" % elapsed)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
