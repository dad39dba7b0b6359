# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's XFRM structs, declared once and compiled to struct.Struct.

Each layout lists its fields in kernel order with explicit padding ('x'), as the C
compiler lays them out on Linux (x86-64 and every 64-bit ABI the kernel supports for
XFRM without compat). Multi-byte fields are host order except the __be16/__be32 ones
(ports, SPI), which are swapped with hton*/ntoh* around a native field. Golden-byte
tests (tests/unit/test_codec_golden.py) pin every layout against bytes iproute2 sent.

encode_*() build message payloads (header struct + attributes) from model values;
decode_*() turn dumped payloads back into model values.
"""

from __future__ import annotations

import functools
import socket
import struct

from . import constants as C
from .model import (
    SA, Address, Algo, Encap, Lifetime, Mark, Network, Policy, PolicyId, SAId, Selector, Template, NO_MARK, EMPTY_SELECTOR,
)


class Layout:
    """A C struct: its declaration (for the reader) and the struct.Struct that packs it."""

    def __init__(self, declaration, fmt, size):
        self.declaration = declaration
        self.struct = struct.Struct("=" + fmt)
        if self.struct.size != size:
            raise AssertionError("%s: %d bytes, kernel has %d" % (declaration.split("{")[0], self.struct.size, size))
        self.size = size
        self.pack = self.struct.pack
        self.pack_into = self.struct.pack_into
        self.unpack_from = self.struct.unpack_from


NLMSGHDR = Layout("struct nlmsghdr { __u32 nlmsg_len; __u16 nlmsg_type; __u16 nlmsg_flags; __u32 nlmsg_seq; __u32 nlmsg_pid; }",
                  "IHHII", 16)
NLATTR = Layout("struct nlattr { __u16 nla_len; __u16 nla_type; }", "HH", 4)
NLMSGERR = Layout("struct nlmsgerr { int error; struct nlmsghdr msg; }", "i16x", 20)

_SELECTOR = "16s16sHHHHHBBB3xiI"
SELECTOR = Layout("""struct xfrm_selector {
    xfrm_address_t daddr; xfrm_address_t saddr;
    __be16 dport; __be16 dport_mask; __be16 sport; __be16 sport_mask;
    __u16 family; __u8 prefixlen_d; __u8 prefixlen_s; __u8 proto;
    /* 3 bytes padding */ int ifindex; __kernel_uid32_t user; }""", _SELECTOR, 56)

_ID = "16sIB3x"
_LFT_CFG = "8Q"
_LFT_CUR = "4Q"
_STATS = "3I"

USERSA_INFO = Layout("""struct xfrm_usersa_info {
    struct xfrm_selector sel; struct xfrm_id id {xfrm_address_t daddr; __be32 spi; __u8 proto;};
    xfrm_address_t saddr; struct xfrm_lifetime_cfg lft; struct xfrm_lifetime_cur curlft;
    struct xfrm_stats stats; __u32 seq; __u32 reqid; __u16 family;
    __u8 mode; __u8 replay_window; __u8 flags; /* 7 bytes padding */ }""",
                     _SELECTOR + _ID + "16s" + _LFT_CFG + _LFT_CUR + _STATS + "IIHBBB7x", 224)

USERSA_ID = Layout("struct xfrm_usersa_id { xfrm_address_t daddr; __be32 spi; __u16 family; __u8 proto; /* 1 pad */ }",
                   "16sIHBx", 24)

USERPOLICY_INFO = Layout("""struct xfrm_userpolicy_info {
    struct xfrm_selector sel; struct xfrm_lifetime_cfg lft; struct xfrm_lifetime_cur curlft;
    __u32 priority; __u32 index; __u8 dir; __u8 action; __u8 flags; __u8 share; /* 4 pad */ }""",
                         _SELECTOR + _LFT_CFG + _LFT_CUR + "IIBBBB4x", 168)

USERPOLICY_ID = Layout("struct xfrm_userpolicy_id { struct xfrm_selector sel; __u32 index; __u8 dir; /* 3 pad */ }",
                       _SELECTOR + "IB3x", 64)

USER_TMPL = Layout("""struct xfrm_user_tmpl {
    struct xfrm_id id; __u16 family; /* 2 pad */ xfrm_address_t saddr; __u32 reqid;
    __u8 mode; __u8 share; __u8 optional; /* 1 pad */ __u32 aalgos; __u32 ealgos; __u32 calgos; }""",
                   _ID + "H2x16sIBBBxIII", 64)

ALGO = Layout("struct xfrm_algo { char alg_name[64]; unsigned int alg_key_len; /* bits */ char alg_key[]; }", "64sI", 68)
ALGO_AUTH = Layout("struct xfrm_algo_auth { char alg_name[64]; unsigned int alg_key_len; unsigned int alg_trunc_len; char alg_key[]; }",
                   "64sII", 72)
ALGO_AEAD = Layout("struct xfrm_algo_aead { char alg_name[64]; unsigned int alg_key_len; unsigned int alg_icv_len; char alg_key[]; }",
                   "64sII", 72)
ENCAP_TMPL = Layout("struct xfrm_encap_tmpl { __u16 encap_type; __be16 encap_sport; __be16 encap_dport; /* 2 pad */ xfrm_address_t encap_oa; }",
                    "HHH2x16s", 24)
MARK = Layout("struct xfrm_mark { __u32 v; __u32 m; }", "II", 8)
USERPOLICY_TYPE = Layout("struct xfrm_userpolicy_type { __u8 type; __u16 reserved1; __u8 reserved2; }", "BxHBx", 6)
U32 = Layout("__u32", "I", 4)
USERSA_FLUSH = Layout("struct xfrm_usersa_flush { __u8 proto; }", "B", 1)

_ZERO_ADDR = bytes(16)
_htons, _ntohs, _htonl, _ntohl = socket.htons, socket.ntohs, socket.htonl, socket.ntohl
_tuple_new = tuple.__new__  # a NamedTuple from its fields in order, without its __new__'s argument handling
# Lists and dumps repeat the same lifetimes, template lists and algorithm headers thousands of times:
# the pure functions that encode or decode them are memoised (functools.lru_cache, the core's one idiom).
memoised = functools.lru_cache(maxsize=4096)


def _addr(address):
    return address.packed.ljust(16, b"\0") if address is not None else _ZERO_ADDR


def _unaddr(raw, family):
    if family == C.AF_INET:
        return Address(family, raw[:4])
    if family == C.AF_INET6:
        return Address(family, bytes(raw))
    return None


def attr(kind, payload):
    """One netlink attribute, padded to 4 bytes."""
    length = 4 + len(payload)
    return NLATTR.pack(length, kind) + payload + bytes(-length % 4)


def iter_attrs(data, offset):
    """(type, payload) for each attribute from offset to the end of data."""
    end = len(data)
    while offset + 4 <= end:
        length, kind = NLATTR.unpack_from(data, offset)
        if length < 4:
            break
        yield kind & 0x3FFF, data[offset + 4:offset + length]
        offset += (length + 3) & ~3


# -- selector, lifetime ------------------------------------------------------

def _selector_fields(sel):
    if sel is EMPTY_SELECTOR:
        return _EMPTY_SELECTOR_FIELDS
    return (_addr(sel.dst), _addr(sel.src),
            _htons(sel.dport), _htons(sel.dport_mask), _htons(sel.sport), _htons(sel.sport_mask),
            sel.family, sel.dst.prefixlen if sel.dst is not None else 0,
            sel.src.prefixlen if sel.src is not None else 0, sel.proto, sel.ifindex, sel.user)


_EMPTY_SELECTOR_FIELDS = (_ZERO_ADDR, _ZERO_ADDR, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def _selector_from(f):
    daddr, saddr, dport, dport_mask, sport, sport_mask, family, plen_d, plen_s, proto, ifindex, user = f
    if family == 0 and daddr == _ZERO_ADDR and saddr == _ZERO_ADDR and not (plen_d or plen_s or proto or dport or sport):
        return EMPTY_SELECTOR
    fam = family or C.AF_INET
    width = 4 if fam == C.AF_INET else 16
    # the kernel's bytes exactly, host bits included: that is the selector it looks entries up by. Positional, in
    # Selector's field order, unlike SA and Policy: it is short, and decoded for every entry of a dump
    return _tuple_new(Selector, (family, _tuple_new(Network, (fam, saddr[:width], plen_s)),
                                 _tuple_new(Network, (fam, daddr[:width], plen_d)), proto, _ntohs(sport),
                                 _ntohs(sport_mask), _ntohs(dport), _ntohs(dport_mask), ifindex, user))


def _mark_attr(mark):
    return attr(C.XFRMA_MARK, MARK.pack(mark.value, mark.mask)) if mark != NO_MARK else b""


def _if_id_attr(if_id):
    return attr(C.XFRMA_IF_ID, U32.pack(if_id)) if if_id else b""


# -- SA ----------------------------------------------------------------------

def _algo_attr(kind, algo):
    length = len(algo.key)
    return _algo_header(kind, algo.name, length, algo.bits) + algo.key + bytes(-length % 4)


@memoised
def _algo_header(kind, name, key_length, bits):
    """The netlink attribute header and the struct before the key: the same for every key of one algorithm."""
    name, key_bits = name.encode("ascii"), key_length * 8
    if kind == C.XFRMA_ALG_AUTH_TRUNC:
        head = ALGO_AUTH.pack(name, key_bits, bits)
    elif kind == C.XFRMA_ALG_AEAD:
        head = ALGO_AEAD.pack(name, key_bits, bits)
    else:
        head = ALGO.pack(name, key_bits)
    return NLATTR.pack(4 + len(head) + key_length, kind) + head


def encode_sa(sa):
    """XFRM_MSG_NEWSA / UPDSA payload: xfrm_usersa_info and the SA's attributes."""
    dst = sa.dst
    out = [USERSA_INFO.pack(
        *_selector_fields(sa.selector),
        _addr(dst), _htonl(sa.spi), sa.proto,
        _addr(sa.src), *sa.lifetime,
        0, 0, 0, 0,  # curlft
        0, 0, 0,  # stats
        0, sa.reqid, dst.family, sa.mode, sa.replay_window, sa.flags & C.STATE_FLAGS_MASK)]
    for kind, algo in ((C.XFRMA_ALG_AEAD, sa.aead), (C.XFRMA_ALG_CRYPT, sa.enc), (C.XFRMA_ALG_AUTH_TRUNC, sa.auth),
                       (C.XFRMA_ALG_COMP, sa.comp)):
        if algo is not None:
            out.append(_algo_attr(kind, algo))
    encap = sa.encap
    if encap is not None:
        out.append(attr(C.XFRMA_ENCAP, ENCAP_TMPL.pack(encap.type, _htons(encap.sport), _htons(encap.dport), _addr(encap.oa))))
    out.append(_mark_attr(sa.mark))
    out.append(_if_id_attr(sa.if_id))
    if sa.flags >> C.EXTRA_FLAGS_SHIFT:
        out.append(attr(C.XFRMA_SA_EXTRA_FLAGS, U32.pack(sa.flags >> C.EXTRA_FLAGS_SHIFT)))
    return b"".join(out)


def encode_sa_id(sa_id, src=None):
    """XFRM_MSG_DELSA / GETSA payload: xfrm_usersa_id, the mark and (optionally) the source."""
    out = USERSA_ID.pack(_addr(sa_id.dst), _htonl(sa_id.spi), sa_id.family, sa_id.proto)
    if src is not None:
        out += attr(C.XFRMA_SRCADDR, _addr(src))
    return out + _mark_attr(sa_id.mark)


def encode_flush_sa(proto=0):
    """XFRM_MSG_FLUSHSA payload: xfrm_usersa_flush (proto 0: every protocol)."""
    return USERSA_FLUSH.pack(proto)


def _decode_algo(kind, payload):
    layout = ALGO_AUTH if kind in (C.XFRMA_ALG_AUTH_TRUNC, C.XFRMA_ALG_AEAD) else ALGO
    size = layout.size
    name, bits, extra = _algo_fields(layout, bytes(payload[:size]))
    return Algo(name, bytes(payload[size:size + (bits + 7) // 8]), extra)


@memoised
def _algo_fields(layout, header):
    """(name, key bits, ICV/truncation bits or 0 for a plain xfrm_algo) of an algorithm attribute: the same for
    every SA of one algorithm."""
    name, bits, *extra = layout.unpack_from(header)
    return name.split(b"\0", 1)[0].decode("ascii"), bits, extra[0] if extra else 0


@memoised
def _lifetime(fields):
    return Lifetime._make(fields)


def decode_sa(payload):
    """An SA from the payload of a dumped XFRM_MSG_NEWSA."""
    f = USERSA_INFO.unpack_from(payload)
    selector = _selector_from(f[0:12])
    daddr, spi, proto, saddr = f[12:16]
    lft = _lifetime(f[16:24])
    cur_bytes, cur_packets, add_time, use_time = f[24:28]
    replay_window_stat, replay, integrity_failed = f[28:31]
    _seq, reqid, family, mode, replay_window, flags = f[31:37]
    algos = {}
    mark, if_id, encap, oseq = NO_MARK, 0, None, None
    for kind, value in iter_attrs(payload, USERSA_INFO.size):
        if kind in (C.XFRMA_ALG_CRYPT, C.XFRMA_ALG_AUTH_TRUNC, C.XFRMA_ALG_AEAD, C.XFRMA_ALG_COMP):
            algos[kind] = _decode_algo(kind, value)
        elif kind == C.XFRMA_ALG_AUTH and C.XFRMA_ALG_AUTH_TRUNC not in algos:
            algos[C.XFRMA_ALG_AUTH] = _decode_algo(kind, value)
        elif kind == C.XFRMA_MARK:
            mark = Mark(*MARK.unpack_from(value))
        elif kind == C.XFRMA_IF_ID:
            if_id = U32.unpack_from(value)[0]
        elif kind == C.XFRMA_SA_EXTRA_FLAGS:
            flags |= U32.unpack_from(value)[0] << C.EXTRA_FLAGS_SHIFT
        elif kind == C.XFRMA_REPLAY_VAL:  # struct xfrm_replay_state: oseq, seq, bitmap
            oseq = U32.unpack_from(value)[0]
        elif kind == C.XFRMA_ENCAP:
            etype, esport, edport, oa = ENCAP_TMPL.unpack_from(value)
            encap = Encap(etype, _ntohs(esport), _ntohs(edport), _unaddr(oa, family) if oa != _ZERO_ADDR else None)
    auth = algos.get(C.XFRMA_ALG_AUTH_TRUNC)
    if auth is None and C.XFRMA_ALG_AUTH in algos:
        # plain xfrm_algo (ip xfrm "auth"): the kernel's default truncation applies
        auth = algos[C.XFRMA_ALG_AUTH]
    sa = SA(src=_unaddr(saddr, family), dst=_unaddr(daddr, family), proto=proto, spi=_ntohl(spi), mode=mode, reqid=reqid,
            enc=algos.get(C.XFRMA_ALG_CRYPT), auth=auth, aead=algos.get(C.XFRMA_ALG_AEAD), comp=algos.get(C.XFRMA_ALG_COMP),
            replay_window=replay_window, flags=flags, lifetime=lft, mark=mark, if_id=if_id, encap=encap,
            selector=EMPTY_SELECTOR if selector.matches_all else selector)
    sa.counters = {"bytes": cur_bytes, "packets": cur_packets, "add_time": add_time, "use_time": use_time,
                   "replay_window": replay_window_stat, "replay": replay, "integrity_failed": integrity_failed}
    if oseq is not None:
        # the last sequence number sent, and how many more this SA can send before its 32-bit counter is spent (the
        # kernel then drops, XfrmOutStateSeqError, unless the SA has oseq-may-wrap)
        sa.counters.update(oseq=oseq, seq_headroom=C.SEQ_SPACE - 1 - oseq)
    return sa


def decode_sa_id(payload):
    """The SAId of an XFRM_MSG_DELSA / GETSA payload (xfrm_usersa_id and the mark)."""
    daddr, spi, family, proto = USERSA_ID.unpack_from(payload)
    return SAId(_unaddr(daddr, family), _ntohl(spi), proto, _mark_of(payload, USERSA_ID.size))


def _mark_of(payload, offset):
    for kind, value in iter_attrs(payload, offset):
        if kind == C.XFRMA_MARK:
            return Mark(*MARK.unpack_from(value))
    return NO_MARK


# -- policy ------------------------------------------------------------------

def _template_bytes(t):
    return USER_TMPL.pack(_addr(t.dst), _htonl(t.spi), t.proto, t.family, _addr(t.src), t.reqid, t.mode, t.share,
                          1 if t.optional else 0, t.aalgos, t.ealgos, t.calgos)


def _policy_type_attr(ptype):
    return attr(C.XFRMA_POLICY_TYPE, USERPOLICY_TYPE.pack(ptype, 0, 0)) if ptype else b""


@memoised
def _templates_attr(templates):
    return attr(C.XFRMA_TMPL, b"".join(_template_bytes(t) for t in templates)) if templates else b""


def encode_policy(policy):
    """XFRM_MSG_NEWPOLICY / UPDPOLICY payload: xfrm_userpolicy_info, templates and attributes."""
    return b"".join((
        USERPOLICY_INFO.pack(*_selector_fields(policy.selector), *policy.lifetime,
                             0, 0, 0, 0, policy.priority, policy.index, policy.dir, policy.action, policy.flags, 0),
        _templates_attr(policy.templates),
        _policy_type_attr(policy.ptype), _mark_attr(policy.mark), _if_id_attr(policy.if_id)))


def encode_policy_id(policy_id):
    """XFRM_MSG_DELPOLICY / GETPOLICY payload: xfrm_userpolicy_id by selector, and the lookup attributes."""
    return (USERPOLICY_ID.pack(*_selector_fields(policy_id.selector), 0, policy_id.dir)
            + _policy_type_attr(policy_id.ptype) + _mark_attr(policy_id.mark) + _if_id_attr(policy_id.if_id))


def encode_flush_policy(ptype=0):
    """XFRM_MSG_FLUSHPOLICY payload: no header, the policy type only when not main."""
    return _policy_type_attr(ptype)


def _decode_template(raw, offset):
    f = USER_TMPL.unpack_from(raw, offset)
    daddr, spi, proto, family, saddr, reqid, mode, share, optional, aalgos, ealgos, calgos = f
    return Template(family=family, proto=proto, mode=mode,
                    src=_unaddr(saddr, family) if saddr != _ZERO_ADDR else None,
                    dst=_unaddr(daddr, family) if daddr != _ZERO_ADDR else None,
                    spi=_ntohl(spi), reqid=reqid, optional=bool(optional), share=share,
                    aalgos=aalgos, ealgos=ealgos, calgos=calgos)


@memoised
def _decode_templates(raw):
    return tuple(_decode_template(raw, o) for o in range(0, len(raw) - USER_TMPL.size + 1, USER_TMPL.size))


def decode_policy(payload):
    """A policy from the payload of a dumped XFRM_MSG_NEWPOLICY."""
    f = USERPOLICY_INFO.unpack_from(payload)
    selector = _selector_from(f[0:12])
    lft = _lifetime(f[12:20])
    cur_bytes, cur_packets, add_time, use_time = f[20:24]
    priority, index, direction, action, flags, _share = f[24:30]
    templates, ptype, mark, if_id = (), 0, NO_MARK, 0
    for kind, value in iter_attrs(payload, USERPOLICY_INFO.size):
        if kind == C.XFRMA_TMPL:
            templates = _decode_templates(bytes(value))
        elif kind == C.XFRMA_POLICY_TYPE:
            ptype = USERPOLICY_TYPE.unpack_from(value)[0]
        elif kind == C.XFRMA_MARK:
            mark = Mark(*MARK.unpack_from(value))
        elif kind == C.XFRMA_IF_ID:
            if_id = U32.unpack_from(value)[0]
    policy = Policy(selector=selector, dir=direction, action=action, priority=priority, templates=templates, mark=mark,
                    if_id=if_id, ptype=ptype, flags=flags, lifetime=lft)
    policy.index = index
    policy.counters = {"bytes": cur_bytes, "packets": cur_packets, "add_time": add_time, "use_time": use_time}
    return policy


def decode_policy_id(payload):
    """The PolicyId of an XFRM_MSG_DELPOLICY / GETPOLICY payload (xfrm_userpolicy_id and the lookup attributes)."""
    fields = USERPOLICY_ID.unpack_from(payload)
    ptype, if_id = 0, 0
    for kind, value in iter_attrs(payload, USERPOLICY_ID.size):
        if kind == C.XFRMA_POLICY_TYPE:
            ptype = USERPOLICY_TYPE.unpack_from(value)[0]
        elif kind == C.XFRMA_IF_ID:
            if_id = U32.unpack_from(value)[0]
    return PolicyId(_selector_from(fields[:12]), fields[13], _mark_of(payload, USERPOLICY_ID.size), if_id, ptype)
