# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keys and SPIs derived on the controller from one master secret.

    K    = HKDF-Extract-SHA256(salt=0, ikm=master)                       (RFC 5869; once per master)
    keys = BLAKE2b-512(key=K, data=info || 0x01) || BLAKE2b-512(key=K, data=info || 0x02) ...
           info = "xfrm.ipsec/v2|<pair>|<src>-><dst>|<proto>|gen<N>"; the encryption key's bytes
           first, then the authentication key's
    SPI  = BLAKE2b-32(key=K, data=info || "|spi|<attempt>")

Keyed BLAKE2b is a PRF (RFC 7693, its keyed mode; libsodium's crypto_kdf is the same construction),
used in counter mode as in NIST SP 800-108: one call gives the 64 bytes of a direction's keys
(AES-256 and HMAC-SHA256), where HKDF-Expand-SHA256 takes two HMACs, each two hashes. One
derivation per direction; the same inputs always give the same keys, so re-runs are idempotent and
rotation is generation + 1. SPIs are >= 0x100 and carry the generation's parity in their lowest
bit, so generations N and N+1 never collide at a destination.

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

VERSION = "xfrm.ipsec/v2"
SPI_MIN = 0x100
BLOCK = 64  # bytes of one BLAKE2b-512 output


class Deriver:
    """The derivation for one master secret: Extract once; each call hashes from a copy of the keyed state."""

    def __init__(self, master):
        key = extract(master)
        self._block = hashlib.blake2b(key=key, digest_size=BLOCK)
        self._spi = hashlib.blake2b(key=key, digest_size=4)

    def keys(self, pair, src, dst, proto, generation, length):
        """A direction's key material, `length` bytes: the encryption key, then the authentication key."""
        label = info(pair, src, dst, proto, generation).encode()
        block = self._block.copy()
        block.update(label + b"\x01")
        out = block.digest()
        for counter in range(2, 2 + (length - 1) // BLOCK):  # beyond 64 bytes (an HMAC-SHA384/512 key)
            block = self._block.copy()
            block.update(label + bytes((counter,)))
            out += block.digest()
        return out[:length]

    def spi(self, pair, src, dst, proto, generation, attempt=0):
        block = self._spi.copy()
        block.update(("%s|%s|%s->%s|%s|gen%d|spi|%d" % (VERSION, pair, src, dst, proto, generation, attempt)).encode())
        value = (int.from_bytes(block.digest(), "big") & ~1) | (generation & 1)
        return value if value >= SPI_MIN else value | SPI_MIN


@functools.lru_cache(maxsize=16)
def extract(master, salt=b""):
    """HKDF-Extract (RFC 5869, SHA-256): the master secret, of any length, as a 32-byte key. Once per master."""
    return hmac.digest(salt or bytes(32), master, "sha256")


def pair_name(a, b):
    """A pair's name, the same from both ends."""
    return "~".join(sorted((a, b)))


def info(pair, src, dst, proto, generation):
    """The info of one direction's keys; its SPI's appends "|spi|<attempt>"."""
    return "%s|%s|%s->%s|%s|gen%d" % (VERSION, pair, src, dst, proto, generation)


def generation_of(generation):
    """A function pair name -> generation, from one generation for the whole site or such a function."""
    return generation if callable(generation) else lambda _pair: generation


def spi_collisions(deriver, directions, generation):
    """{(pair, src, dst, proto): spi} for the directions whose SPI is not their attempt-0 SPI.

    directions: (pair, src, dst, proto) of the whole group, addresses as strings; generation: one number, or a
    function pair name -> generation (pairs rotated on their own). Each is derived
    once; only destinations with a collision are sorted and re-derived, so the cost is one SPI per
    direction. Every host of the group gets the same answer whatever the order.
    """
    gen = generation_of(generation)
    spi = deriver.spi
    first, taken_at = {}, {}
    clashing = set()  # destinations where two directions drew the same attempt-0 SPI
    for direction in directions:
        first[direction] = value = spi(*direction, gen(direction[0]))
        at = (direction[2], value)
        if at in taken_at:
            clashing.add(direction[2])
        taken_at[at] = direction
    at_clashing = {dst: [] for dst in clashing}
    for direction in first:
        if direction[2] in at_clashing:
            at_clashing[direction[2]].append(direction)
    out = {}
    for at_dst in at_clashing.values():
        taken = set()
        for direction in sorted(at_dst, key=lambda d: info(d[0], d[1], d[2], d[3], gen(d[0]))):
            attempt, value = 0, first[direction]
            while value in taken:
                attempt += 1
                value = spi(*direction, gen(direction[0]), attempt=attempt)
            taken.add(value)
            if attempt:
                out[direction] = value
    return out


def plan_spis(master, directions, generation, proto="esp"):
    """{(pair, src, dst): spi} for (pair, src, dst) directions, unique per dst within the generation."""
    deriver = Deriver(master)
    full = [(pair, src, dst, proto) for pair, src, dst in directions]
    moved = spi_collisions(deriver, full, generation)
    return {d[:3]: moved.get(d) or deriver.spi(*d, generation) for d in full}
