# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which key generation a pair is on in one host's kernel, against the one the inventory states. Pure, no I/O.

A rotation from generation N to N+1 moves each pair through these states on each of its two hosts
(docs/rotation.md); a host's outbound policies pin the SPIs they send with, so the state can be read
from the kernel alone:

    absent    no SA of the pair: never keyed here (or flushed)
    due       SAs of another generation only: the target's are not added yet
    adding    both generations' SAs, the outbound policies still pin the previous one's SPIs
    switched  both, the outbound policies pin the target's SPIs: the previous ones wait to be retired
    stable    the target's SAs only, the outbound policies pinning them: the rotation is over
    partial   the target's SAs or policies incomplete without another generation: site_vpn.yml repairs it
"""

from __future__ import annotations

import ipaddress

from . import site

MOVING = frozenset(("due", "adding", "switched"))
SEARCH = 4  # generations around the target tried when naming the one an SPI belongs to


def _address(text):
    return str(ipaddress.ip_address(str(text).split("/")[0]))


def pair_status(deriver, pairs, generation, collisions, sas, policies):
    """{pair name: {peer, generation, in_force, state, previous_spis}} for one host.

    sas, policies: what ipsec_info returns (managed entries). generation: a number or a function pair name ->
    number; collisions: the scan stage's {(pair, src, dst, proto): spi}."""
    gen = site.generation_of(generation)
    spi_of = site.direction_spi(deriver, generation, collisions)
    held = {}  # (src, dst, proto) -> SPIs of managed SAs in the kernel
    for sa in sas:
        if sa.get("managed", True) and sa["proto"] in site.PROTOCOLS:
            held.setdefault((_address(sa["src"]), _address(sa["dst"]), sa["proto"]), set()).add(sa["spi"])
    pinned = {(t["proto"], t["spi"]) for p in policies if p.get("dir") == "out" and p.get("managed", True)
              for t in p.get("templates") or () if t.get("spi")}
    report = {}
    for pair in pairs:
        target = gen(pair.name)
        directions = pair.directions()
        outbound = [d for d in directions if (d[1], d[2]) in pair.links()]
        want = {d: spi_of(d) for d in directions}
        present = all(want[d] in held.get(d[1:], ()) for d in directions)
        others = {d: sorted(held.get(d[1:], set()) - {want[d]}) for d in directions}
        previous = sorted({spi for spis in others.values() for spi in spis})
        pins_target = all((d[3], want[d]) in pinned for d in outbound)
        pins_other = [(d, spi) for d in outbound for spi in others[d] if (d[3], spi) in pinned]
        if not previous and not any(held.get(d[1:]) for d in directions):
            state = "absent"
        elif not previous:
            state = "stable" if present and pins_target else "partial"
        elif not present:
            state = "due"
        elif pins_target and not pins_other:
            state = "switched"
        elif pins_other:
            state = "adding"
        else:
            state = "partial"
        if state in ("stable", "switched"):
            in_force = target
        elif pins_other:
            in_force = _generation_of_spi(deriver, pins_other[0][0], pins_other[0][1], target)
        else:
            in_force = None
        report[pair.name] = {"peer": pair.peer.name, "generation": target, "in_force": in_force, "state": state,
                             "previous_spis": ["0x%08x" % spi for spi in previous]}
    return report


def _generation_of_spi(deriver, direction, spi, target):
    """The generation near target whose first-choice SPI for direction is spi, or None (another master secret)."""
    for delta in range(1, SEARCH + 1):
        for candidate in (target - delta, target + delta):
            if candidate >= 0 and deriver.spi(*direction, candidate) == spi:
                return candidate
    return None
