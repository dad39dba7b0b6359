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
import operator
import socket
from typing import NamedTuple

from .constants import AF_INET, AF_INET6, MANAGED_MAX, MANAGED_MIN, XFRM_INF


class Address(tuple):
    """An IPv4 or IPv6 address as the kernel holds it: (family, packed bytes).

    A plain tuple underneath, so hashing and comparing cost what a tuple's do: with tens of
    thousands of entries per request, ipaddress objects were most of the modules' CPU time.
    """

    __slots__ = ()

    def __new__(cls, family, packed):
        return tuple.__new__(cls, (family, packed))

    def __getnewargs__(self):  # copy and pickle
        return tuple(self)

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

    def __getnewargs__(self):  # copy and pickle
        return tuple(self)

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
    @functools.lru_cache(maxsize=None)
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
        return family_of(self.dst)


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


class _Entry(tuple):
    """A kernel entry: a tuple of the fields that say how it behaves, plus what rides along.

    The tuple part is what comparisons and hashes see (at the speed of tuples: plans of
    tens of thousands of entries compare every one). `identity`, the kernel's `counters`
    and a policy's `index` are attributes beside it that take no part in equality.
    Treat values as immutable; `replace` makes a changed copy.
    """

    FIELDS = ()

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % pair for pair in zip(self.FIELDS, self)))

    def __reduce__(self):
        return (_rebuild, (type(self), tuple(self), dict(self.__dict__)))

    def replace(self, **changes):
        """A copy with some fields (or counters, index) changed."""
        fields = [changes.pop(name, value) for name, value in zip(self.FIELDS, self)]
        extra = {k: v for k, v in self.__dict__.items() if k != "identity"}
        extra.update(changes)
        return type(self)(*fields, **extra)


def _rebuild(cls, fields, extra):
    value = tuple.__new__(cls, fields)
    value.__dict__.update(extra)
    return value


def _field_properties(cls):
    for i, name in enumerate(cls.FIELDS):
        setattr(cls, name, property(operator.itemgetter(i), doc=name))
    return cls


@_field_properties
class SA(_Entry):
    """struct xfrm_usersa_info with its attributes: one security association."""

    FIELDS = ("src", "dst", "proto", "spi", "mode", "reqid", "enc", "auth", "aead", "comp", "replay_window", "flags",
              "lifetime", "mark", "if_id", "encap", "selector")

    def __new__(cls, src, dst, proto, spi, mode=0, reqid=0, enc=None, auth=None, aead=None, comp=None, replay_window=0,
                flags=0, lifetime=NO_LIFETIME, mark=NO_MARK, if_id=0, encap=None, selector=EMPTY_SELECTOR, counters=None):
        self = tuple.__new__(cls, (src, dst, proto, spi, mode, reqid, enc, auth, aead, comp, replay_window, flags,
                                   lifetime, mark, if_id, encap, selector))
        self.identity = tuple.__new__(SAId, (dst, spi, proto, mark))
        self.counters = counters
        return self

    @property
    def family(self):
        return family_of(self.dst)

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


@_field_properties
class Policy(_Entry):
    """struct xfrm_userpolicy_info with its templates: one security policy.

    `index` is the kernel's (the collection marks its policies by it) and takes no part in comparisons."""

    FIELDS = ("selector", "dir", "action", "priority", "templates", "mark", "if_id", "ptype", "flags", "lifetime")

    def __new__(cls, selector, dir, action=0, priority=0, templates=(), mark=NO_MARK, if_id=0, ptype=0, flags=0,
                lifetime=NO_LIFETIME, index=0, counters=None):  # pylint: disable=redefined-builtin
        self = tuple.__new__(cls, (selector, dir, action, priority, templates, mark, if_id, ptype, flags, lifetime))
        self.identity = tuple.__new__(PolicyId, (selector, dir, mark, if_id, ptype))
        self.index = index
        self.counters = counters
        return self

    @property
    def family(self):
        return self.selector.family

    def with_index(self, index):
        """This policy with another kernel index (index takes no part in comparisons)."""
        return _rebuild(Policy, self, dict(self.__dict__, index=index))

    @property
    def managed(self):
        return is_managed_number(self.index)


def _without(value, *names):
    return tuple(v for f, v in zip(value.FIELDS, value) if f not in names)
