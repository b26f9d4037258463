"""Registers ``twistd dynomite``."""

from twisted.application.service import ServiceMaker

dynomite = ServiceMaker(
    "dynotwist",
    "dynotwist.tap",
    "A Dynamo-style replication layer for Redis and Memcached (Dynomite-compatible)",
    "dynomite",
)
