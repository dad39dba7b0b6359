# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel numbers, each with its C name from include/uapi/linux/xfrm.h and netlink.h."""

from __future__ import annotations

import socket

NETLINK_XFRM = 6
SOL_NETLINK = 270
SO_SNDBUFFORCE = 32  # asm-generic/socket.h: buffer sizes beyond rmem_max/wmem_max (CAP_NET_ADMIN)
SO_RCVBUFFORCE = 33
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

# struct nlmsghdr flags
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSGERR_ATTR_MSG = 1

# enum xfrm message types (XFRM_MSG_BASE = 0x10)
XFRM_MSG_NEWSA = 0x10
XFRM_MSG_DELSA = 0x11
XFRM_MSG_GETSA = 0x12
XFRM_MSG_NEWPOLICY = 0x13
XFRM_MSG_DELPOLICY = 0x14
XFRM_MSG_GETPOLICY = 0x15
XFRM_MSG_UPDPOLICY = 0x19
XFRM_MSG_UPDSA = 0x1A
XFRM_MSG_FLUSHSA = 0x1C
XFRM_MSG_FLUSHPOLICY = 0x1D

# enum xfrm_attr_type_t
XFRMA_ALG_AUTH = 1
XFRMA_ALG_CRYPT = 2
XFRMA_ALG_COMP = 3
XFRMA_ENCAP = 4
XFRMA_TMPL = 5
XFRMA_SA = 6
XFRMA_POLICY = 7
XFRMA_SEC_CTX = 8
XFRMA_LTIME_VAL = 9
XFRMA_REPLAY_VAL = 10
XFRMA_SRCADDR = 13
XFRMA_POLICY_TYPE = 16
XFRMA_ALG_AEAD = 18
XFRMA_ALG_AUTH_TRUNC = 20
XFRMA_MARK = 21
XFRMA_REPLAY_ESN_VAL = 23
XFRMA_SA_EXTRA_FLAGS = 24
XFRMA_IF_ID = 31

# struct xfrm_lifetime_cfg: XFRM_INF means no limit
XFRM_INF = 0xFFFFFFFFFFFFFFFF

# enum { XFRM_POLICY_IN, XFRM_POLICY_OUT, XFRM_POLICY_FWD } (the kernel's socket policies are dir + XFRM_POLICY_MAX)
XFRM_POLICY_DIRS = {"in": 0, "out": 1, "fwd": 2}
XFRM_POLICY_MAX = 3
# a policy's kernel index keeps its direction in the low bits (xfrm_gen_index: index = generator | dir, += 8)
POLICY_INDEX_DIR_BITS = 3
# XFRM_POLICY_ALLOW / XFRM_POLICY_BLOCK
XFRM_POLICY_ACTIONS = {"allow": 0, "block": 1}
# XFRM_POLICY_TYPE_MAIN / XFRM_POLICY_TYPE_SUB
XFRM_POLICY_TYPES = {"main": 0, "sub": 1}
# XFRM_POLICY_LOCALOK / XFRM_POLICY_ICMP
XFRM_POLICY_FLAGS = {"localok": 1, "icmp": 2}
# XFRM_MODE_TRANSPORT / _TUNNEL / _ROUTEOPTIMIZATION / _IN_TRIGGER / _BEET
XFRM_MODES = {"transport": 0, "tunnel": 1, "ro": 2, "in_trigger": 3, "beet": 4}
# XFRM_SA_XFLAG_* of the attribute XFRMA_SA_EXTRA_FLAGS, kept in an SA's flags above the u8 of xfrm_usersa_info
EXTRA_FLAGS_SHIFT = 8
STATE_FLAGS_MASK = (1 << EXTRA_FLAGS_SHIFT) - 1  # the u8 flags of struct xfrm_usersa_info
EXTRA_FLAGS = {"dont-encap-dscp": 1 << EXTRA_FLAGS_SHIFT, "oseq-may-wrap": 2 << EXTRA_FLAGS_SHIFT}
# XFRM_STATE_* flags of struct xfrm_usersa_info, and the extra ones: the names ipsec_sa's flags take
XFRM_STATE_FLAGS = {
    "noecn": 1,
    "decap-dscp": 2,
    "nopmtudisc": 4,
    "wildrecv": 8,
    "icmp": 16,
    "af-unspec": 32,
    "align4": 64,
    **EXTRA_FLAGS,
}
SEQ_SPACE = 1 << 32  # a non-ESN SA's 32-bit sequence numbers
# IPPROTO_ESP / IPPROTO_AH / IPPROTO_COMP
XFRM_PROTOS = {"esp": 50, "ah": 51, "comp": 108}
# UDP_ENCAP_ESPINUDP_NON_IKE / UDP_ENCAP_ESPINUDP
ENCAP_TYPES = {"espinudp-nonike": 1, "espinudp": 2}

AF_INET = int(socket.AF_INET)
AF_INET6 = int(socket.AF_INET6)

# Upper-layer protocols a selector names (setkey's "upperspec")
UPPER_PROTOS = {"any": 0, "icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "ipv6-icmp": 58, "icmp6": 58, "sctp": 132}

# number -> name, for the tables above (the names setkey and ip xfrm print)
NAMES = {
    "dir": {v: k for k, v in XFRM_POLICY_DIRS.items()},
    "action": {v: k for k, v in XFRM_POLICY_ACTIONS.items()},
    "ptype": {v: k for k, v in XFRM_POLICY_TYPES.items()},
    "mode": {v: k for k, v in XFRM_MODES.items()},
    "proto": {v: k for k, v in XFRM_PROTOS.items()},
    "encap": {v: k for k, v in ENCAP_TYPES.items()},
    "upper": {0: "any", 1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 58: "ipv6-icmp", 132: "sctp"},
}


def name(table, number):
    """The name of a kernel number in one of NAMES' tables, or the number as text."""
    return NAMES[table].get(number, str(number))


# Entries this collection creates carry a reqid (SAs) or a policy index in this range:
# `scope: managed` and `exclusive: true` touch nothing outside it. See docs/security.md.
MANAGED_MIN = 0x70000000
MANAGED_MAX = 0x7FFFFFFF


class Algorithm:
    """One kernel crypto algorithm as an SA names it.

    kind: enc, auth, aead or comp; name: the kernel's (crypto API) name; aliases: setkey's
    and RFC names; key_bits: allowed key lengths in bits (for aead and rfc3686 they include
    the salt/nonce); bits: allowed ICV/truncation lengths (auth, aead) with the default
    first; weak: refused unless the user opts in (allow_weak).
    """

    __slots__ = ("kind", "name", "aliases", "key_bits", "bits", "weak")

    def __init__(self, kind, name, aliases, key_bits, bits=(), weak=False):
        self.kind = kind
        self.name = name
        self.aliases = aliases
        self.key_bits = tuple(key_bits)
        self.bits = tuple(bits)
        self.weak = weak


ALGORITHMS = (
    Algorithm("enc", "cbc(aes)", ("aes-cbc", "rijndael-cbc", "aes", "rijndael"), (128, 192, 256)),
    Algorithm("enc", "rfc3686(ctr(aes))", ("aes-ctr",), (160, 224, 288)),
    Algorithm("enc", "cbc(twofish)", ("twofish-cbc", "twofish"), (128, 192, 256)),
    Algorithm("enc", "cbc(camellia)", ("camellia-cbc", "camellia"), (128, 192, 256)),
    Algorithm("enc", "cbc(serpent)", ("serpent-cbc", "serpent"), (128, 192, 256)),
    Algorithm("enc", "cbc(des3_ede)", ("3des-cbc", "des3-cbc", "3des"), (192,), weak=True),
    Algorithm("enc", "cbc(des)", ("des-cbc", "des"), (64,), weak=True),
    Algorithm("enc", "cbc(blowfish)", ("blowfish-cbc", "blowfish"), range(40, 449, 8), weak=True),
    Algorithm("enc", "cbc(cast5)", ("cast128-cbc", "cast5-cbc", "cast128"), range(40, 129, 8), weak=True),
    Algorithm("enc", "ecb(cipher_null)", ("null", "cipher_null"), (0,), weak=True),
    Algorithm("auth", "hmac(sha256)", ("hmac-sha256", "hmac-sha2-256", "sha256"), (256,), (128, 96)),
    Algorithm("auth", "hmac(sha384)", ("hmac-sha384", "hmac-sha2-384", "sha384"), (384,), (192,)),
    Algorithm("auth", "hmac(sha512)", ("hmac-sha512", "hmac-sha2-512", "sha512"), (512,), (256,)),
    Algorithm("auth", "hmac(sha1)", ("hmac-sha1", "sha1"), (160,), (96,)),
    Algorithm("auth", "hmac(rmd160)", ("hmac-ripemd160", "hmac-rmd160", "rmd160"), (160,), (96,)),
    Algorithm("auth", "xcbc(aes)", ("aes-xcbc-mac", "aes-xcbc"), (128,), (96,)),
    Algorithm("auth", "cmac(aes)", ("aes-cmac",), (128,), (96,)),
    Algorithm("auth", "hmac(md5)", ("hmac-md5", "md5"), (128,), (96,), weak=True),
    Algorithm("auth", "digest_null", ("null",), (0,), (0,), weak=True),
    Algorithm("aead", "rfc4106(gcm(aes))", ("aes-gcm", "aes-gcm-16"), (160, 224, 288), (128, 96, 64)),
    Algorithm("aead", "rfc4309(ccm(aes))", ("aes-ccm", "aes-ccm-16"), (152, 216, 280), (128, 96, 64)),
    Algorithm("aead", "rfc7539esp(chacha20,poly1305)", ("chacha20-poly1305",), (288,), (128,)),
    Algorithm("comp", "deflate", ("deflate",), (0,)),
    Algorithm("comp", "lzs", ("lzs",), (0,)),
    Algorithm("comp", "lzjh", ("lzjh",), (0,)),
)

# (kind, any spelling) -> Algorithm
ALGORITHM_NAMES = {}
for _alg in ALGORITHMS:
    for _spelling in (_alg.name,) + _alg.aliases:
        ALGORITHM_NAMES[(_alg.kind, _spelling)] = _alg
del _alg, _spelling
