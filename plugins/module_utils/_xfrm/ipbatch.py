# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entries as `ip -batch` lines (ip xfrm state/policy add ...): the naive way's files in bench/, the
boot-time restore file of persistence. An SA's line holds its key: only for 0600 files, never argv.
"""

from __future__ import annotations

from . import constants as C
from . import links
from .constants import name
from .render import flag_names


def sa_line(sa, verb="add"):
    """`ip -batch` line for an SA (holds the key: only for 0600 files, never argv)."""
    words = ["xfrm", "state", verb, "src", str(sa.src), "dst", str(sa.dst), "proto", name("proto", sa.proto),
             "spi", "0x%08x" % sa.spi, "reqid", str(sa.reqid), "mode", name("mode", sa.mode)]
    if sa.replay_window:
        words += ["replay-window", str(sa.replay_window)]
    if sa.flags & C.STATE_FLAGS_MASK:
        words += ["flag"] + flag_names(C.XFRM_STATE_FLAGS, sa.flags & C.STATE_FLAGS_MASK)
    for extra in flag_names(C.EXTRA_FLAGS, sa.flags):
        words += ["extra-flag", extra]
    if sa.aead is not None:
        words += ["aead", "'%s'" % sa.aead.name, "0x" + sa.aead.key.hex(), str(sa.aead.bits)]
    if sa.enc is not None:
        words += ["enc", "'%s'" % sa.enc.name, "0x" + (sa.enc.key.hex() or "")]
    if sa.auth is not None:
        words += ["auth-trunc", "'%s'" % sa.auth.name, "0x" + sa.auth.key.hex(), str(sa.auth.bits)]
    if sa.comp is not None:
        words += ["comp", sa.comp.name]
    if sa.encap is not None:
        words += ["encap", name("encap", sa.encap.type), str(sa.encap.sport), str(sa.encap.dport), str(sa.encap.oa or "0.0.0.0")]
    if sa.mark.value or sa.mark.mask:
        words += ["mark", "0x%x" % sa.mark.value, "mask", "0x%x" % sa.mark.mask]
    if sa.if_id:
        words += ["if_id", str(sa.if_id)]
    if not sa.selector.empty:
        words += ["sel"] + _ip_selector(sa.selector)
    return " ".join(words)


def _ip_selector(sel):
    words = ["src", str(sel.src), "dst", str(sel.dst)]
    if sel.proto:
        words += ["proto", str(sel.proto)]
    icmp = sel.proto in (1, 58)  # ICMP's type and code ride in the ports; ip names them type and code
    if sel.sport_mask:
        words += ["type" if icmp else "sport", str(sel.sport)]
    if sel.dport_mask:
        words += ["code" if icmp else "dport", str(sel.dport)]
    return words


def policy_line(policy, verb="add"):
    """`ip -batch` line for a policy."""
    words = ["xfrm", "policy", verb] + _ip_selector(policy.selector) + [
        "dir", name("dir", policy.dir), "action", name("action", policy.action), "priority", str(policy.priority)]
    if policy.index:
        words += ["index", str(policy.index)]
    if policy.ptype:
        words += ["ptype", name("ptype", policy.ptype)]
    if policy.mark.value or policy.mark.mask:
        words += ["mark", "0x%x" % policy.mark.value, "mask", "0x%x" % policy.mark.mask]
    if policy.if_id:
        words += ["if_id", str(policy.if_id)]
    for t in policy.templates:
        words.append("tmpl")
        if t.src is not None:
            words += ["src", str(t.src)]
        if t.dst is not None:
            words += ["dst", str(t.dst)]
        words += ["proto", name("proto", t.proto)]
        if t.spi:
            words += ["spi", "0x%08x" % t.spi]
        words += ["mode", name("mode", t.mode), "reqid", str(t.reqid), "level", "use" if t.optional else "required"]
    return " ".join(words)


def state_file(sas, policies, interfaces=(), routes=()):
    """The `ip -batch` file of a host's state, for `ip -force -batch FILE` at boot: SAs before policies (a policy
    never waits for its SA), each policy with its index (the collection's mark of its own policies); then the XFRM
    interfaces of route mode (links.Interface) and the routes through them (links.Route, without their preferred
    source: the LAN address it names may not be up yet at boot; the next run sets it)."""
    lines = ["# xfrm.ipsec: this host's IPsec SAs and policies, restored at boot by `ip -force -batch` (role",
             "# ipsec_persist). Holds keys: root only, 0600. Written by ipsec_save; do not edit, re-run the play."]
    lines += [sa_line(sa) for sa in sas]
    lines += [policy_line(policy) for policy in policies]
    for interface in interfaces:
        lines += ["link add %s type xfrm if_id %d" % (interface.name, interface.if_id),
                  'link set %s alias "%s"' % (interface.name, interface.alias)]
        lines.append("link set %s%s up" % (interface.name, "" if interface.mtu is None else " mtu %d" % interface.mtu))
    lines += ["route add %s dev %s proto %d metric %d" % (r.dst, r.dev, links.RTPROT, r.metric) for r in routes]
    return "\n".join(lines) + "\n"
