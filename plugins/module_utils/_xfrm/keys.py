# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keys and SPIs derived on the controller from one master secret (HKDF-SHA256, RFC 5869).

    key = HKDF(ikm=master, info="xfrm.ipsec/v1|<pair>|<src>-><dst>|<proto>|<purpose>|gen<N>")

One key per direction and purpose; the same inputs always give the same keys, so re-runs are
idempotent and rotation is generation + 1. SPIs come from the same derivation (purpose "spi"),
are >= 0x100, carry the generation's parity in their lowest bit (so generations N and N+1 can
never collide at a destination), and are made unique per destination within a generation:
colliding SAs are ordered by their info string and the later ones re-derived with a counter.
Every host computes the whole group the same way, whatever the host order.
"""

from __future__ import annotations

import functools
import hmac

from .constants import MANAGED_MIN

VERSION = "xfrm.ipsec/v1"
ENC_ALGORITHM, ENC_BYTES = "cbc(aes)", 32
AUTH_ALGORITHM, AUTH_BYTES, AUTH_TRUNC = "hmac(sha256)", 32, 128


def hkdf_sha256(ikm, info, length, salt=b""):
    """RFC 5869 extract-and-expand."""
    prk = _extract(salt or bytes(32), ikm)
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        out += block
        counter += 1
    return out[:length]


@functools.lru_cache(maxsize=16)
def _extract(salt, ikm):
    """HKDF-Extract: the same for every key of a group (one master secret), so computed once."""
    return hmac.digest(salt, ikm, "sha256")


def pair_name(a, b):
    """A pair's name, the same from both ends."""
    return "~".join(sorted((a, b)))


def info(pair, src, dst, proto, purpose, generation):
    return "%s|%s|%s->%s|%s|%s|gen%d" % (VERSION, pair, src, dst, proto, purpose, generation)


def derive_key(master, pair, src, dst, proto, purpose, generation, length):
    return hkdf_sha256(master, info(pair, src, dst, proto, purpose, generation).encode(), length)


def _spi(master, label, generation, attempt):
    raw = int.from_bytes(hkdf_sha256(master, ("%s|%d" % (label, attempt)).encode(), 4), "big")
    spi = (raw & ~1) | (generation & 1)
    return spi if spi >= 0x100 else spi | 0x100


def plan_spis(master, directions, generation):
    """{(pair, src, dst): spi} for (pair, src, dst) directions, unique per dst within the generation."""
    by_dst = {}
    for pair, src, dst in directions:
        by_dst.setdefault(dst, []).append((info(pair, src, dst, "esp", "spi", generation), (pair, src, dst)))
    out = {}
    for entries in by_dst.values():
        taken = set()
        for label, direction in sorted(entries):
            attempt = 0
            spi = _spi(master, label, generation, attempt)
            while spi in taken:
                attempt += 1
                spi = _spi(master, label, generation, attempt)
            taken.add(spi)
            out[direction] = spi
    return out


def plan_mesh(master, hosts, generation=0, pairs=None, reqid=MANAGED_MIN):
    """ipsec_sa / ipsec_policy entries for every host of a transport-mode ESP mesh.

    hosts: {name: address}; pairs: iterable of (name, name), all pairs by default.
    Returns {name: {"sas": [...], "policies": [...]}} with keys as 0x hex (give them to no_log options only).
    """
    names = sorted(hosts)
    if pairs is None:
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    directions = []
    for a, b in pairs:
        pair = pair_name(a, b)
        directions += [(pair, a, b), (pair, b, a)]
    spis = plan_spis(master, [(p, hosts[s], hosts[d]) for p, s, d in directions], generation)
    plan = {name: {"sas": [], "policies": []} for name in names}
    for pair, src, dst in directions:
        s_addr, d_addr = hosts[src], hosts[dst]
        sa = {"src": s_addr, "dst": d_addr, "proto": "esp", "mode": "transport", "reqid": reqid,
              "spi": spis[(pair, s_addr, d_addr)],
              "enc": {"algorithm": ENC_ALGORITHM,
                      "key": "0x" + derive_key(master, pair, s_addr, d_addr, "esp", "enc", generation, ENC_BYTES).hex()},
              "auth": {"algorithm": AUTH_ALGORITHM, "trunc_len": AUTH_TRUNC,
                       "key": "0x" + derive_key(master, pair, s_addr, d_addr, "esp", "auth", generation, AUTH_BYTES).hex()}}
        template = [{"proto": "esp", "reqid": reqid}]
        for name, direction in ((src, "out"), (dst, "in")):
            plan[name]["sas"].append(sa)
            plan[name]["policies"].append({"src": s_addr, "dst": d_addr, "dir": direction, "templates": template})
    return plan
