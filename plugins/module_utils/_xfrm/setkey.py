# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""setkey's language: entries as `setkey -D` / `-DP` print them (ipsec_info format=setkey).

The parser of setkey's configuration files (add, spdadd, ...) belongs beside this printer.
"""

from __future__ import annotations

from . import constants as C
from .constants import name
from .render import fingerprint

_SETKEY_ALGO = {a.name: a.aliases[0] if a.aliases else a.name for a in C.ALGORITHMS}


def _hex_groups(key):
    text = key.hex()
    return " ".join(text[i:i + 8] for i in range(0, len(text), 8))


def sa_text(sa, show_keys=False):
    """An SA the way `setkey -D` prints it."""
    head = "\t%s mode=%s spi=%d(0x%08x) reqid=%d(0x%08x)" % (
        name("proto", sa.proto), name("mode", sa.mode), sa.spi, sa.spi, sa.reqid, sa.reqid)
    lines = ["%s %s" % (sa.src, sa.dst), head]
    for letter, algo in (("E", sa.enc), ("A", sa.auth), ("AE", sa.aead), ("C", sa.comp)):
        if algo is not None:
            shown = _hex_groups(algo.key) if show_keys else fingerprint(algo.key)
            lines.append(("\t%s: %s  %s" % (letter, _SETKEY_ALGO.get(algo.name, algo.name), shown)).rstrip())
    counters = sa.counters or {}
    lines.append("\tseq=0x00000000 replay=%d flags=0x%08x state=mature" % (sa.replay_window, sa.flags))
    lines.append("\tcurrent: %d(bytes)\thard: %d(bytes)\tsoft: %d(bytes)" % (
        counters.get("bytes", 0), _limit(sa.lifetime.hard_byte_limit), _limit(sa.lifetime.soft_byte_limit)))
    lines.append("\tallocated: %d\thard: %d\tsoft: %d" % (
        counters.get("packets", 0), _limit(sa.lifetime.hard_packet_limit), _limit(sa.lifetime.soft_packet_limit)))
    return "\n".join(lines)


def _limit(value):
    return 0 if value == C.XFRM_INF else value


def _port(text_port, mask):
    return "[%d]" % text_port if mask else "[any]"


def policy_text(policy):
    """A policy the way `setkey -DP` prints it."""
    sel = policy.selector
    action = "ipsec" if policy.templates else ("discard" if policy.action == 1 else "none")
    lines = ["%s%s %s%s %s" % (sel.src, _port(sel.sport, sel.sport_mask), sel.dst, _port(sel.dport, sel.dport_mask),
                               name("upper", sel.proto)),
             "\t%s prio %d %s" % (name("dir", policy.dir), policy.priority, action)]
    for t in policy.templates:
        ends = "%s-%s" % (t.src, t.dst) if t.src is not None and t.dst is not None else ""
        level = "use" if t.optional else ("unique#%d" % t.reqid if t.reqid else "require")
        lines.append("\t%s/%s/%s/%s" % (name("proto", t.proto), name("mode", t.mode), ends, level))
    lines.append("\tspid=%d seq=0 pid=0" % policy.index)
    return "\n".join(lines)
