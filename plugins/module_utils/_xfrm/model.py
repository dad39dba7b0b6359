# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed, normalised values for what the kernel holds: SAs, policies and their parts.

Values are tuples: immutable, hashable, and compared at the speed of tuples, which matters
when a request of 10,000 entries is compared with a dump of 10,000 (frozen dataclasses and
ipaddress objects were most of the time of such a plan). Two values that the kernel would
treat as the same entry have the same `identity`; two values that would behave the same
compare equal. Kernel counters (bytes, packets, add time) and a policy's kernel index travel
along as attributes and never take part in comparisons, so a dumped SA compares equal to
the one the user asked for.
"""

from __future__ import annotations

import functools
import socket
from typing import NamedTuple

from .constants import AF_INET, AF_INET6, MANAGED_MAX, MANAGED_MIN, XFRM_INF, name


class Address(NamedTuple):
    """An IPv4 or IPv6 address as the kernel holds it: (family, packed bytes).

    A tuple underneath, so hashing and comparing cost what a tuple's do: with tens of
    thousands of entries per request, ipaddress objects were most of the modules' CPU time.
    """

    family: int
    packed: bytes

    @classmethod
    @functools.lru_cache(maxsize=65536)
    def parse(cls, text):
        """An Address from its text form; ValueError if it is none. (Cached: hosts recur across a request.)"""
        text = text.strip()
        for family in (AF_INET, AF_INET6):
            try:
                return cls(family, socket.inet_pton(family, text))
            except OSError:
                continue
        raise ValueError("%r is not an IPv4 or IPv6 address" % text)

    def __str__(self):
        return socket.inet_ntop(self.family, self.packed)

    def __repr__(self):
        return "Address(%r)" % str(self)

    @property
    def unspecified(self):
        """0.0.0.0 or ::, which the kernel reads as no address at all (messages.py decodes it to None)."""
        return not any(self.packed)


class Network(NamedTuple):
    """An address with a prefix length, as a selector holds it: (family, packed bytes, prefixlen)."""

    family: int
    packed: bytes
    prefixlen: int

    @classmethod
    @functools.lru_cache(maxsize=65536)
    def parse(cls, text):
        """A Network from "address[/prefix]"; ValueError naming the problem (host bits set, bad prefix)."""
        address_text, _slash, prefix_text = text.strip().partition("/")
        address = Address.parse(address_text)
        bits = len(address.packed) * 8
        try:
            prefixlen = int(prefix_text) if prefix_text else bits
        except ValueError:
            prefixlen = -1
        if not 0 <= prefixlen <= bits:
            raise ValueError("%r has no valid prefix length (0-%d)" % (text, bits))
        value = int.from_bytes(address.packed, "big")
        masked = value & (((1 << bits) - 1) ^ ((1 << (bits - prefixlen)) - 1))
        network = cls(address.family, masked.to_bytes(bits // 8, "big"), prefixlen)
        if masked != value:
            raise HostBitsSet("%s has host bits set; did you mean %s?" % (text.strip(), network))
        return network

    @classmethod
    @functools.lru_cache(maxsize=None)
    def any(cls, family):
        return cls(family, bytes(16 if family == AF_INET6 else 4), 0)

    def __str__(self):
        return "%s/%d" % (socket.inet_ntop(self.family, self.packed), self.prefixlen)

    def __repr__(self):
        return "Network(%r)" % str(self)


class HostBitsSet(ValueError):
    """A network whose address has bits set beyond its prefix (the message suggests the network meant)."""


def is_managed_number(value):
    """True for a reqid or policy index in the range this collection marks its entries with."""
    return MANAGED_MIN <= value <= MANAGED_MAX


class Mark(NamedTuple):
    """struct xfrm_mark: packets match when (skb mark & mask) == value."""

    value: int = 0
    mask: int = 0


NO_MARK = Mark()


class Lifetime(NamedTuple):
    """struct xfrm_lifetime_cfg; XFRM_INF means no limit."""

    soft_byte_limit: int = XFRM_INF
    hard_byte_limit: int = XFRM_INF
    soft_packet_limit: int = XFRM_INF
    hard_packet_limit: int = XFRM_INF
    soft_add_expires_seconds: int = 0
    hard_add_expires_seconds: int = 0
    soft_use_expires_seconds: int = 0
    hard_use_expires_seconds: int = 0


NO_LIFETIME = Lifetime()


class Selector(NamedTuple):
    """struct xfrm_selector. family 0 with no addresses is the empty selector (ip xfrm's default for SAs)."""

    family: int = 0
    src: object = None  # Network
    dst: object = None
    proto: int = 0
    sport: int = 0
    sport_mask: int = 0
    dport: int = 0
    dport_mask: int = 0
    ifindex: int = 0
    user: int = 0

    @property
    def empty(self):
        return self.family == 0 and self.src is None and self.dst is None

    def __str__(self):
        if self.empty:
            return "any"
        text = "%s -> %s" % (self.src, self.dst)
        if self.proto:
            text += " proto %s" % name("upper", self.proto)
        if self.sport_mask:
            text += " sport %d" % self.sport
        if self.dport_mask:
            text += " dport %d" % self.dport
        return text

    @property
    def matches_all(self):
        """True when the selector lets every packet through (an SA's any/any is the same as none)."""
        return self.empty or (self.src.prefixlen == 0 and self.dst.prefixlen == 0 and not self.proto
                              and not self.sport_mask and not self.dport_mask and not self.ifindex)


EMPTY_SELECTOR = Selector()


class Algo(NamedTuple):
    """struct xfrm_algo / xfrm_algo_auth / xfrm_algo_aead: kernel name, key, ICV or truncation bits."""

    name: str
    key: bytes = b""
    bits: int = 0

    def __repr__(self):  # never the key: values end up in tracebacks and -vvv output
        return "Algo(name=%r, key=<%d bytes>, bits=%d)" % (self.name, len(self.key), self.bits)


class Encap(NamedTuple):
    """struct xfrm_encap_tmpl: UDP encapsulation (NAT traversal)."""

    type: int
    sport: int
    dport: int
    oa: object = None  # Address or None


class SAId(NamedTuple):
    """What the kernel looks an SA up by: destination, SPI, protocol, mark."""

    dst: object
    spi: int
    proto: int
    mark: Mark = NO_MARK

    @property
    def family(self):
        return self.dst.family

    def __str__(self):
        """The SA as messages and results name it: "esp spi 0x00001000 dst 192.0.2.2"."""
        text = "%s spi 0x%08x dst %s" % (name("proto", self.proto), self.spi, self.dst)
        if self.mark.value or self.mark.mask:
            text += " mark 0x%x/0x%x" % (self.mark.value, self.mark.mask)
        return text


class Template(NamedTuple):
    """struct xfrm_user_tmpl: which SA a policy requires (setkey's proto/mode/src-dst/level)."""

    family: int
    proto: int
    mode: int = 0
    src: object = None  # Address; None: any (transport mode)
    dst: object = None
    spi: int = 0
    reqid: int = 0
    optional: bool = False  # level use
    share: int = 0
    aalgos: int = 0xFFFFFFFF
    ealgos: int = 0xFFFFFFFF
    calgos: int = 0xFFFFFFFF


class PolicyId(NamedTuple):
    """What the kernel looks a policy up by (xfrm_policy_bysel_ctx): selector, dir, mark, if_id, type.

    Priority is not part of it: a second policy that differs only in priority is the same
    policy to the kernel (NEWPOLICY answers EEXIST, UPDPOLICY replaces it).
    """

    selector: Selector
    dir: int
    mark: Mark = NO_MARK
    if_id: int = 0
    ptype: int = 0

    def __str__(self):
        """The policy as messages and results name it: "dir out 10.0.0.1/32 -> 10.0.0.2/32"."""
        text = "dir %s %s" % (name("dir", self.dir), self.selector)
        if self.mark.value or self.mark.mask:
            text += " mark 0x%x/0x%x" % (self.mark.value, self.mark.mask)
        if self.if_id:
            text += " if_id %d" % self.if_id
        if self.ptype:
            text += " ptype %s" % name("ptype", self.ptype)
        return text


class _kept:  # pylint: disable=invalid-name  # a decorator, named like functools.cached_property
    """A value computed from the fields on first use and kept in the instance's __dict__, where later reads find
    it before this (non-data) descriptor. functools.cached_property does the same under a lock (Python 3.11),
    which cost 5 µs per entry of a 10,000-entry request."""

    def __init__(self, make):
        self.make = make
        self.name = make.__name__
        self.__doc__ = make.__doc__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.make(instance)
        return value


class _SAFields(NamedTuple):
    src: Address
    dst: Address
    proto: int
    spi: int
    mode: int = 0
    reqid: int = 0
    enc: Algo = None
    auth: Algo = None
    aead: Algo = None
    comp: Algo = None
    replay_window: int = 0
    flags: int = 0
    lifetime: Lifetime = NO_LIFETIME
    mark: Mark = NO_MARK
    if_id: int = 0
    encap: Encap = None
    selector: Selector = EMPTY_SELECTOR


class SA(_SAFields):
    """struct xfrm_usersa_info with its attributes: one security association.

    The fields are what equality and hashing see (a tuple's: plans of tens of thousands of entries
    compare every one). `identity`, and the kernel's `counters` of a dumped SA, ride along as
    attributes that take no part in comparisons."""

    counters = None

    @_kept
    def identity(self):
        return SAId(self.dst, self.spi, self.proto, self.mark)

    @property
    def family(self):
        return self.dst.family

    @property
    def managed(self):
        return is_managed_number(self.reqid)

    def updatable_from(self, other):
        """True when `other` becomes this SA by XFRM_MSG_UPDSA.

        The kernel's xfrm_state_update() copies only lifetimes and encapsulation ports
        into a live SA; keys, algorithms, mode and reqid need a delete and an add.
        """
        return self.identity == other.identity \
            and self._replace(lifetime=NO_LIFETIME, encap=None) == other._replace(lifetime=NO_LIFETIME, encap=None) \
            and (self.encap is None) == (other.encap is None) and (self.encap is None or self.encap.type == other.encap.type)


class _PolicyFields(NamedTuple):
    selector: Selector
    dir: int
    action: int = 0
    priority: int = 0
    templates: tuple = ()
    mark: Mark = NO_MARK
    if_id: int = 0
    ptype: int = 0
    flags: int = 0
    lifetime: Lifetime = NO_LIFETIME


class Policy(_PolicyFields):
    """struct xfrm_userpolicy_info with its templates: one security policy.

    `identity`, the kernel's `index` (the collection marks its policies by it) and `counters` ride
    along as attributes that take no part in comparisons."""

    index = 0
    counters = None

    @_kept
    def identity(self):
        return PolicyId(self.selector, self.dir, self.mark, self.if_id, self.ptype)

    @property
    def family(self):
        return self.selector.family

    def with_index(self, index):
        """This policy with another kernel index (index takes no part in comparisons)."""
        policy = self._replace()
        policy.__dict__.update(self.__dict__, index=index)
        return policy

    @property
    def managed(self):
        return is_managed_number(self.index)


def with_dump(entry, **extra):
    """entry with what the kernel's dump adds beside the fields (counters, a policy's index)."""
    entry.__dict__.update(extra)
    return entry
