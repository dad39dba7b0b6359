# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed, normalised values for what the kernel holds: SAs, policies and their parts.

Values are frozen and hashable. Two values that the kernel would treat as the same entry
have the same `identity`; two values that would behave the same compare equal. Kernel
counters (bytes, packets, add time) travel along in `counters` and never take part in
comparisons, so a dumped SA compares equal to the one the user asked for.
"""

from __future__ import annotations

import copy
import functools
import socket
from dataclasses import dataclass, field

from .constants import AF_INET, AF_INET6, MANAGED_MAX, MANAGED_MIN, XFRM_INF


class Address(tuple):
    """An IPv4 or IPv6 address as the kernel holds it: (family, packed bytes).

    A plain tuple underneath, so hashing and comparing cost what a tuple's do: with tens of
    thousands of entries per request, ipaddress objects were most of the modules' CPU time.
    """

    __slots__ = ()

    def __new__(cls, family, packed):
        return tuple.__new__(cls, (family, packed))

    family = property(lambda self: self[0])
    packed = property(lambda self: self[1])

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
        return socket.inet_ntop(self[0], self[1])

    def __repr__(self):
        return "Address(%r)" % str(self)


class Network(tuple):
    """An address with a prefix length, as a selector holds it: (family, packed bytes, prefixlen)."""

    __slots__ = ()

    def __new__(cls, family, packed, prefixlen):
        return tuple.__new__(cls, (family, packed, prefixlen))

    family = property(lambda self: self[0])
    packed = property(lambda self: self[1])
    prefixlen = property(lambda self: self[2])

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
            raise ValueError("%s has host bits set; did you mean %s?" % (text.strip(), network))
        return network

    @classmethod
    def any(cls, family):
        return cls(family, bytes(16 if family == AF_INET6 else 4), 0)

    def __str__(self):
        return "%s/%d" % (socket.inet_ntop(self[0], self[1]), self[2])

    def __repr__(self):
        return "Network(%r)" % str(self)


def family_of(address):
    """AF_INET or AF_INET6 of an Address or Network."""
    return address.family


def is_managed_number(value):
    """True for a reqid or policy index in the range this collection marks its entries with."""
    return MANAGED_MIN <= value <= MANAGED_MAX


@dataclass(frozen=True)
class Mark:
    """struct xfrm_mark: packets match when (skb mark & mask) == value."""

    value: int = 0
    mask: int = 0


NO_MARK = Mark()


@dataclass(frozen=True)
class Lifetime:
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


@dataclass(frozen=True)
class Selector:
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

    @property
    def matches_all(self):
        """True when the selector lets every packet through (an SA's any/any is the same as none)."""
        return self.empty or (self.src.prefixlen == 0 and self.dst.prefixlen == 0 and not self.proto
                              and not self.sport_mask and not self.dport_mask and not self.ifindex)


EMPTY_SELECTOR = Selector()


@dataclass(frozen=True)
class Algo:
    """struct xfrm_algo / xfrm_algo_auth / xfrm_algo_aead: kernel name, key, ICV or truncation bits."""

    name: str
    key: bytes = field(default=b"", repr=False)
    bits: int = 0


@dataclass(frozen=True)
class Encap:
    """struct xfrm_encap_tmpl: UDP encapsulation (NAT traversal)."""

    type: int
    sport: int
    dport: int
    oa: object = None  # Address or None


@dataclass(frozen=True)
class SAId:
    """What the kernel looks an SA up by: destination, SPI, protocol, mark."""

    dst: object
    spi: int
    proto: int
    mark: Mark = NO_MARK

    @property
    def family(self):
        return family_of(self.dst)


@dataclass(frozen=True)
class SA:
    """struct xfrm_usersa_info with its attributes: one security association."""

    src: object
    dst: object
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
    counters: dict = field(default=None, compare=False, hash=False, repr=False)

    @property
    def family(self):
        return family_of(self.dst)

    @functools.cached_property
    def identity(self):
        return SAId(self.dst, self.spi, self.proto, self.mark)

    @property
    def managed(self):
        return is_managed_number(self.reqid)

    def updatable_from(self, other):
        """True when `other` becomes this SA by XFRM_MSG_UPDSA.

        The kernel's xfrm_state_update() copies only lifetimes and encapsulation ports
        into a live SA; keys, algorithms, mode and reqid need a delete and an add.
        """
        return self.identity == other.identity and _without(self, "lifetime", "encap") == _without(other, "lifetime", "encap") \
            and (self.encap is None) == (other.encap is None) and (self.encap is None or self.encap.type == other.encap.type)


@dataclass(frozen=True)
class Template:
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


@dataclass(frozen=True)
class PolicyId:
    """What the kernel looks a policy up by (xfrm_policy_bysel_ctx): selector, dir, mark, if_id, type.

    Priority is not part of it: a second policy that differs only in priority is the same
    policy to the kernel (NEWPOLICY answers EEXIST, UPDPOLICY replaces it).
    """

    selector: Selector
    dir: int
    mark: Mark = NO_MARK
    if_id: int = 0
    ptype: int = 0


@dataclass(frozen=True)
class Policy:
    """struct xfrm_userpolicy_info with its templates: one security policy."""

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
    index: int = field(default=0, compare=False)
    counters: dict = field(default=None, compare=False, hash=False, repr=False)

    @property
    def family(self):
        return self.selector.family

    @functools.cached_property
    def identity(self):
        return PolicyId(self.selector, self.dir, self.mark, self.if_id, self.ptype)

    def with_index(self, index):
        """This policy with another kernel index (index takes no part in comparisons).

        A copy with one attribute set: dataclasses.replace() re-runs every field's __init__
        and costs ten times as much, which showed in plans of 10,000 policies."""
        policy = copy.copy(self)
        policy.__dict__.pop("identity", None)
        object.__setattr__(policy, "index", index)
        return policy

    @property
    def managed(self):
        return is_managed_number(self.index)


def _without(value, *names):
    return tuple(getattr(value, f) for f in value.__dataclass_fields__ if f not in names and f != "counters")
