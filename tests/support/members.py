"""Blocking calls on a cluster's running members (``dynotwist.testing.cluster``):
through a node, straight to its datastore, and its log."""

from __future__ import annotations

from dynotwist.testing.blocking import RespClient
from dynotwist.testing.cluster import ClusterNode


def through(member: ClusterNode, *args: bytes) -> bytes:
    """One request through ``member``'s client port; the reply's bytes."""
    with RespClient(member.client_port, member.host) as client:
        return client.call(*args)


def stored(member: ClusterNode, key: bytes) -> bytes:
    """GET ``key`` from ``member``'s own datastore."""
    with RespClient(member.redis.port) as client:
        return client.call(b"GET", key)


def log_of(member: ClusterNode) -> str:
    with open(member.log_path, encoding="utf-8", errors="replace") as f:
        return f.read()
