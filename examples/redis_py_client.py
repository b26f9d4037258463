"""Talk to a dynotwist node with redis-py, exactly as to Redis.

Start a node first (``./scripts/node``), then: ``python examples/redis_py_client.py``.
"""

from __future__ import annotations

import argparse

import redis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--protocol", type=int, choices=(2, 3), default=3)
    args = parser.parse_args()

    client = redis.Redis(host=args.host, port=args.port, protocol=args.protocol)
    print("ping:", client.ping())
    client.set("greeting", "hello")
    print("get:", client.get("greeting"))
    client.hset("user:1", mapping={"name": "Ada", "lang": "en"})
    print("hgetall:", client.hgetall("user:1"))
    client.rpush("queue", "a", "b", "c")
    print("lrange:", client.lrange("queue", 0, -1))

    # pipelining: many requests in one round trip, replies in order
    with client.pipeline(transaction=False) as pipe:
        for _ in range(5):
            pipe.incr("counter")
        print("pipelined incr:", pipe.execute())

    # a transaction (the default pipeline: MULTI ... EXEC): its keys share one hash
    # tag, so that one node owns them all, and it runs there as a whole
    with client.pipeline() as pipe:
        pipe.set("{user:1}:visits", 1)
        pipe.incr("{user:1}:visits")
        print("transaction:", pipe.execute())

    try:
        client.execute_command("WATCH", "{user:1}:visits")
    except redis.ResponseError as error:
        print("refused with an error, connection still usable:", error)
    print("still there:", client.ping())
    client.delete("greeting", "user:1", "queue", "counter", "{user:1}:visits")


if __name__ == "__main__":
    main()
