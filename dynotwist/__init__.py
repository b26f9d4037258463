"""dynotwist: a Dynamo-style replication layer for Redis and Memcached, on Twisted."""

__version__ = "0.1.0"
