# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which key generation a pair is on in one host's kernel, against the one the inventory states. Pure, no I/O.

A rotation from generation N to N+1 moves each pair through these states on each of its two hosts
(docs/rotation.md); a generation's SAs carry its reqid (site.reqid) and the outbound policies require
the reqid of the generation they send with, so the state can be read from the kernel alone:

    absent    no SA of the pair: never keyed here (or flushed)
    due       SAs of another generation only: the target's are not added yet
    adding    both generations' SAs, the outbound policies still require the previous one's
    switched  both, the outbound policies require the target's: the previous ones wait to be retired
    stable    the target's SAs only, the outbound policies requiring them: the rotation is over
    partial   the target's SAs or policies incomplete without another generation: site_vpn.yml repairs it
"""

from __future__ import annotations

import ipaddress

from . import keys, site

MOVING = frozenset(("due", "adding", "switched"))


def address(text):
    """The address of an address or a one-address prefix as the kernel's dumps show them ("192.0.2.1/32")."""
    return str(ipaddress.ip_address(str(text).split("/", maxsplit=1)[0]))


def _outbound_reqids(policies):
    """{(peer address, proto): {reqids the managed outbound policies toward that peer require}}."""
    out = {}
    for policy in policies:
        if policy.get("dir") != "out" or not policy.get("managed", True) or not policy.get("templates"):
            continue
        for template in policy["templates"]:
            peer = template.get("dst") or policy.get("dst")
            if peer in (None, "any"):
                continue
            out.setdefault((address(peer), template["proto"]), set()).add(template.get("reqid") or 0)
    return out


def pair_status(deriver, pairs, generation, collisions, sas, policies):
    """{pair name: {peer, generation, in_force, state, previous_spis}} for one host.

    sas, policies: what ipsec_info returns (managed entries). generation: a number or a function pair name ->
    number; collisions: the scan stage's {(pair, src, dst, proto): spi}. in_force is the generation whose SAs the
    host sends with toward the peer (read from the reqid its outbound policies require), None when it sends
    with none of the roles' SAs."""
    gen = keys.generation_of(generation)
    spi_of = site.direction_spi(deriver, generation, collisions)
    held = {}  # (src, dst, proto) -> SPIs of managed SAs in the kernel
    for sa in sas:
        if sa.get("managed", True) and sa["proto"] in site.PROTOCOLS:
            held.setdefault((address(sa["src"]), address(sa["dst"]), sa["proto"]), set()).add(sa["spi"])
    required = _outbound_reqids(policies)
    report = {}
    for pair in pairs:
        target = gen(pair.name)
        wanted_reqid = site.reqid(target)
        directions = pair.directions()
        want = {d: spi_of(d) for d in directions}
        seen = pair.address_map()  # the kernel's addresses of the inventory's (a peer behind a NAT: the NAT's)
        at = {d: (seen[d[1]], seen[d[2]], d[3]) for d in directions}
        present = all(want[d] in held.get(at[d], ()) for d in directions)
        previous = sorted({spi for d in directions for spi in held.get(at[d], set()) - {want[d]}})
        outbound = [required.get(at[d][1:], set()) for d in directions if (d[1], d[2]) in pair.links()]
        pins_target = bool(outbound) and all(reqids == {wanted_reqid} for reqids in outbound)
        pins_other = sorted(set().union(*outbound) - {wanted_reqid}) if outbound else []
        if not previous and not any(held.get(at[d]) for d in directions):
            state = "absent"
        elif not previous:
            state = "stable" if present and pins_target else "partial"
        elif not present:
            state = "due"
        elif pins_target:
            state = "switched"
        elif pins_other:
            state = "adding"
        else:
            state = "partial"
        if pins_target:
            in_force = target
        elif pins_other:
            in_force = site.generation_of_reqid(pins_other[0], target)
        else:
            in_force = None
        report[pair.name] = {"peer": pair.peer.name, "generation": target, "in_force": in_force, "state": state,
                             "previous_spis": ["0x%08x" % spi for spi in previous]}
    return report
