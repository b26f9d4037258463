"""Which peer links are TLS: ``secure_server_option`` per link. Pure logic.

Dynomite decides once per peer, from the two nodes' datacenter and rack
(``dyn_conf.c:is_secure``, reference section 10):

===============  ===================================================================
option           a link is encrypted when the two nodes are in
===============  ===================================================================
``none``         never
``datacenter``   different DCs
``rack``         different racks: another rack name, or the same name in another DC
``all``          always
===============  ===================================================================

The connecting side follows :func:`encrypts`. The accepting side sees only a source
address, so plaintext is let in only from an address that a seed of a plaintext link
names (:class:`LinkPolicy`): under ``datacenter``, a same-DC seed; under ``rack``, a
same-rack seed; under ``all``, none; under ``none``, any address.

The first byte of a connection says which kind it is (:func:`is_tls_record`): a TLS
handshake record starts with 0x16, a dnode frame with a space.
"""

from __future__ import annotations

import ipaddress
from typing import FrozenSet, Iterable, NamedTuple, Optional

__all__ = [
    "OPTIONS",
    "TLS_HANDSHAKE",
    "LinkPolicy",
    "SeedAddress",
    "encrypts",
    "is_tls_record",
    "normal_address",
]

OPTIONS = ("none", "rack", "datacenter", "all")

#: content type of a TLS handshake record, the first byte of every ClientHello
TLS_HANDSHAKE = 0x16


def encrypts(option: str, dc: str, rack: str, peer_dc: str, peer_rack: str) -> bool:
    """True if the link between (dc, rack) and (peer_dc, peer_rack) is TLS."""
    if option == "all":
        return True
    if option == "datacenter":
        return dc != peer_dc
    if option == "rack":
        return dc != peer_dc or rack != peer_rack
    if option == "none":
        return False
    raise ValueError("secure_server_option %r: one of %s" % (option, ", ".join(OPTIONS)))


def is_tls_record(first_byte: int) -> bool:
    """True if a connection whose first byte is ``first_byte`` starts a TLS handshake."""
    return first_byte == TLS_HANDSHAKE


def normal_address(host: str) -> str:
    """An IP address in one spelling: IPv4-mapped IPv6 as IPv4, IPv6 compressed.

    Anything that is not an IP address (a host name) is returned lower-cased.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.lower()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class SeedAddress(NamedTuple):
    """One address of a ``dyn_seeds`` node (its host, or one its name resolves to)."""

    address: str
    dc: str
    rack: str


class LinkPolicy:
    """``secure_server_option`` as one node applies it to its links.

    ``seeds`` are the addresses of the other nodes (host names already resolved by
    the caller) with their DC and rack.
    """

    def __init__(
        self, option: str, dc: str, rack: str, seeds: Iterable[SeedAddress] = ()
    ) -> None:
        if option not in OPTIONS:
            raise ValueError("secure_server_option %r: one of %s" % (option, ", ".join(OPTIONS)))
        self.option = option
        self.dc = dc
        self.rack = rack
        #: addresses plaintext is accepted from (meaningless under none: every one)
        self.plaintext_sources: FrozenSet[str] = frozenset(
            normal_address(seed.address)
            for seed in seeds
            if not encrypts(option, dc, rack, seed.dc, seed.rack)
        )

    def encrypts(self, peer_dc: str, peer_rack: str) -> bool:
        """True if this node connects to a peer of (peer_dc, peer_rack) over TLS."""
        return encrypts(self.option, self.dc, self.rack, peer_dc, peer_rack)

    def refuses_plaintext(self, source: str) -> Optional[str]:
        """Why a plaintext connection from ``source`` is refused; None if it is let in."""
        option = self.option
        if option == "none":
            return None
        if option == "all":
            return "secure_server_option all: every peer link must be TLS"
        if normal_address(source) in self.plaintext_sources:
            return None
        scope = "datacenter %s" % self.dc if option == "datacenter" else "rack %s/%s" % (
            self.dc, self.rack
        )
        return (
            "secure_server_option %s: plaintext only from the seeds of %s, and %s is "
            "not one of their addresses" % (option, scope, source)
        )
