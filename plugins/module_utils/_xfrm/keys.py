# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keys and SPIs derived on the controller from one master secret (HKDF-SHA256, RFC 5869).

    key = HKDF(ikm=master, info="xfrm.ipsec/v1|<pair>|<src>-><dst>|<proto>|<purpose>|gen<N>")

One key per direction and purpose; the same inputs always give the same keys, so re-runs are
idempotent and rotation is generation + 1. SPIs come from the same derivation (purpose "spi",
then "|<attempt>"), are >= 0x100 and carry the generation's parity in their lowest bit, so
generations N and N+1 never collide at a destination.

SPIs must be unique per destination. A direction's SPI is its attempt-0 SPI unless that one
collides at the destination (about n^2 / 2^32 for n senders to one host: rare); collisions are
resolved over the whole group in one place (`spi_collisions`: colliding directions ordered by
their info string, the later ones re-derived with the next attempt), and what it returns, the
exceptions only, is all a host's planning needs besides its own pairs. SPIs are not secret.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

VERSION = "xfrm.ipsec/v1"
SPI_MIN = 0x100


def hkdf_sha256(ikm, info, length, salt=b""):
    """RFC 5869 extract-and-expand."""
    return Deriver(ikm, salt).expand(info, length)


class Deriver:
    """HKDF-SHA256 for one master secret: Extract once, and each Expand block hashed from copies of
    the HMAC's keyed inner and outer SHA-256 states (the same bytes as hmac.digest, 3x faster)."""

    def __init__(self, master, salt=b""):
        prk = _extract(salt or bytes(32), master).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in prk))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in prk))

    def _hmac(self, message):
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def expand(self, info, length):
        if length <= 32:
            return self._hmac(info + b"\x01")[:length]
        out, block, counter = b"", b"", 1
        while len(out) < length:
            block = self._hmac(block + info + bytes([counter]))
            out += block
            counter += 1
        return out[:length]

    def key(self, pair, src, dst, proto, purpose, generation, length):
        return self.expand(info(pair, src, dst, proto, purpose, generation).encode(), length)

    def spi(self, pair, src, dst, proto, generation, attempt=0):
        label = "%s|%d" % (info(pair, src, dst, proto, "spi", generation), attempt)
        raw = int.from_bytes(self.expand(label.encode(), 4), "big")
        spi = (raw & ~1) | (generation & 1)
        return spi if spi >= SPI_MIN else spi | SPI_MIN


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
    return Deriver(master).key(pair, src, dst, proto, purpose, generation, length)


def spi_collisions(deriver, directions, generation):
    """{(pair, src, dst, proto): spi} for the directions whose SPI is not their attempt-0 SPI.

    directions: (pair, src, dst, proto) of the whole group, addresses as strings. Each is derived
    once; only destinations with a collision are sorted and re-derived, so the cost is one SPI per
    direction. Every host of the group gets the same answer whatever the order.
    """
    first = {}
    by_dst = {}
    for direction in directions:
        spi = deriver.spi(*direction, generation)
        first[direction] = spi
        by_dst.setdefault(direction[2], {}).setdefault(spi, []).append(direction)
    out = {}
    for at_dst in by_dst.values():
        if all(len(same) == 1 for same in at_dst.values()):
            continue
        taken = set()
        for direction in sorted((d for same in at_dst.values() for d in same),
                                key=lambda d: info(d[0], d[1], d[2], d[3], "spi", generation)):
            attempt, spi = 0, first[direction]
            while spi in taken:
                attempt += 1
                spi = deriver.spi(*direction, generation, attempt=attempt)
            taken.add(spi)
            if attempt:
                out[direction] = spi
    return out


def plan_spis(master, directions, generation, proto="esp"):
    """{(pair, src, dst): spi} for (pair, src, dst) directions, unique per dst within the generation."""
    deriver = Deriver(master)
    full = [(pair, src, dst, proto) for pair, src, dst in directions]
    moved = spi_collisions(deriver, full, generation)
    return {d[:3]: moved.get(d) or deriver.spi(*d, generation) for d in full}
