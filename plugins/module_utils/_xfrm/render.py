# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Model values as text and as plain data: module options, setkey -D/-DP text, ip -batch lines.

Keys leave this module only as a fingerprint ("sha256:" and 8 hex digits of the key's
SHA-256) unless the caller asks for them: diffs, results and logs never carry a key.
"""

from __future__ import annotations

import hashlib

from . import constants as C
from .plan import ADD, DELETE, REPLACE, UPDATE

_NAMES = {"dir": {v: k for k, v in C.XFRM_POLICY_DIRS.items()},
          "action": {v: k for k, v in C.XFRM_POLICY_ACTIONS.items()},
          "ptype": {v: k for k, v in C.XFRM_POLICY_TYPES.items()},
          "mode": {v: k for k, v in C.XFRM_MODES.items()},
          "proto": {v: k for k, v in C.XFRM_PROTOS.items()},
          "encap": {v: k for k, v in C.ENCAP_TYPES.items()},
          "upper": {0: "any", 1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 58: "ipv6-icmp", 132: "sctp"}}
_SETKEY_ALGO = {a.name: a.aliases[0] if a.aliases else a.name for a in C.ALGORITHMS}


def name(table, number):
    return _NAMES[table].get(number, str(number))


def fingerprint(key):
    return "sha256:" + hashlib.sha256(key).hexdigest()[:8] if key else ""


def _flag_names(table, flags):
    return [n for n, bit in table.items() if flags & bit]


def _upper(proto):
    return name("upper", proto)


# -- identities (for messages) -----------------------------------------------

def sa_id_text(sa_id):
    text = "%s spi 0x%08x dst %s" % (name("proto", sa_id.proto), sa_id.spi, sa_id.dst)
    if sa_id.mark.value or sa_id.mark.mask:
        text += " mark 0x%x/0x%x" % (sa_id.mark.value, sa_id.mark.mask)
    return text


def _selector_text(sel):
    if sel.empty:
        return "any"
    text = "%s -> %s" % (sel.src, sel.dst)
    if sel.proto:
        text += " proto %s" % _upper(sel.proto)
    if sel.sport_mask:
        text += " sport %d" % sel.sport
    if sel.dport_mask:
        text += " dport %d" % sel.dport
    return text


def policy_id_text(policy_id):
    text = "dir %s %s" % (name("dir", policy_id.dir), _selector_text(policy_id.selector))
    if policy_id.mark.value or policy_id.mark.mask:
        text += " mark 0x%x/0x%x" % (policy_id.mark.value, policy_id.mark.mask)
    if policy_id.if_id:
        text += " if_id %d" % policy_id.if_id
    if policy_id.ptype:
        text += " ptype %s" % name("ptype", policy_id.ptype)
    return text


def describe(value):
    """One line naming an SA, a policy or their identities."""
    identity = getattr(value, "identity", value)
    return sa_id_text(identity) if hasattr(identity, "spi") else policy_id_text(identity)


# -- module-option shaped dicts ----------------------------------------------

def _algo_dict(algo, bits_name, show_keys):
    if algo is None:
        return None
    out = {"algorithm": algo.name}
    if bits_name:
        out[bits_name] = algo.bits
    if show_keys:
        out["key"] = "0x" + algo.key.hex()
    elif algo.key:
        out["key_fingerprint"] = fingerprint(algo.key)
    return out


def _lifetime_dict(lft):
    return {k: getattr(lft, k) for k in lft._fields if getattr(lft, k) not in (0, C.XFRM_INF)}


def _selector_dict(sel):
    if sel.empty:
        return None
    out = {"src": str(sel.src), "dst": str(sel.dst), "proto": _upper(sel.proto)}
    if sel.sport_mask:
        out["sport"] = sel.sport
    if sel.dport_mask:
        out["dport"] = sel.dport
    return out


def _common(out, value):
    if value.mark.value or value.mark.mask:
        out["mark"] = {"value": value.mark.value, "mask": value.mark.mask}
    if value.if_id:
        out["if_id"] = value.if_id
    lifetime = _lifetime_dict(value.lifetime)
    if lifetime:
        out["lifetime"] = lifetime
    if value.counters is not None:
        out["counters"] = dict(value.counters)
    return out


def sa_dict(sa, show_keys=False):
    """An SA as ipsec_sa options (keys as fingerprints unless show_keys)."""
    out = {"src": str(sa.src), "dst": str(sa.dst), "proto": name("proto", sa.proto), "spi": sa.spi,
           "mode": name("mode", sa.mode), "reqid": sa.reqid, "managed": sa.managed}
    for field, bits in (("enc", None), ("auth", "trunc_len"), ("aead", "icv_len"), ("comp", None)):
        algo = _algo_dict(getattr(sa, field), bits, show_keys)
        if algo:
            out[field] = algo
    if sa.replay_window:
        out["replay_window"] = sa.replay_window
    if sa.flags:
        out["flags"] = _flag_names(C.XFRM_STATE_FLAGS, sa.flags)
    if sa.encap is not None:
        out["encap"] = {"type": name("encap", sa.encap.type), "sport": sa.encap.sport, "dport": sa.encap.dport,
                        "oa": str(sa.encap.oa) if sa.encap.oa else None}
    selector = _selector_dict(sa.selector)
    if selector:
        out["selector"] = selector
    return _common(out, sa)


def _template_dict(t):
    out = {"proto": name("proto", t.proto), "mode": name("mode", t.mode), "level": "use" if t.optional else "required"}
    if t.src is not None or t.dst is not None:
        out["src"], out["dst"] = str(t.src) if t.src else None, str(t.dst) if t.dst else None
    if t.spi:
        out["spi"] = t.spi
    out["reqid"] = t.reqid
    return out


def policy_dict(policy):
    """A policy as ipsec_policy options."""
    out = _selector_dict(policy.selector) or {"src": "any", "dst": "any", "proto": "any"}
    out.update({"dir": name("dir", policy.dir), "action": name("action", policy.action), "priority": policy.priority,
                "templates": [_template_dict(t) for t in policy.templates], "index": policy.index,
                "managed": policy.managed})
    if policy.ptype:
        out["ptype"] = name("ptype", policy.ptype)
    if policy.flags:
        out["flags"] = _flag_names(C.XFRM_POLICY_FLAGS, policy.flags)
    return _common(out, policy)


def entry_dict(value):
    """Any SA, policy or identity as a dict for results and diffs, never with keys."""
    if hasattr(value, "spi") and hasattr(value, "src"):
        return sa_dict(value)
    if hasattr(value, "templates"):
        return policy_dict(value)
    return {"id": describe(value)}


# -- setkey -D / -DP ---------------------------------------------------------

def _hex_groups(key):
    text = key.hex()
    return " ".join(text[i:i + 8] for i in range(0, len(text), 8))


def setkey_sa(sa, show_keys=False):
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


def setkey_policy(policy):
    """A policy the way `setkey -DP` prints it."""
    sel = policy.selector
    action = "ipsec" if policy.templates else ("discard" if policy.action == 1 else "none")
    lines = ["%s%s %s%s %s" % (sel.src, _port(sel.sport, sel.sport_mask), sel.dst, _port(sel.dport, sel.dport_mask),
                               _upper(sel.proto)),
             "\t%s prio %d %s" % (name("dir", policy.dir), policy.priority, action)]
    for t in policy.templates:
        ends = "%s-%s" % (t.src, t.dst) if t.src is not None and t.dst is not None else ""
        level = "use" if t.optional else ("unique#%d" % t.reqid if t.reqid else "require")
        lines.append("\t%s/%s/%s/%s" % (name("proto", t.proto), name("mode", t.mode), ends, level))
    lines.append("\tspid=%d seq=0 pid=0" % policy.index)
    return "\n".join(lines)


# -- ip -batch ---------------------------------------------------------------

def ip_sa_line(sa, verb="add"):
    """`ip -batch` line for an SA (holds the key: only for 0600 files, never argv)."""
    words = ["xfrm", "state", verb, "src", str(sa.src), "dst", str(sa.dst), "proto", name("proto", sa.proto),
             "spi", "0x%08x" % sa.spi, "reqid", str(sa.reqid), "mode", name("mode", sa.mode)]
    if sa.replay_window:
        words += ["replay-window", str(sa.replay_window)]
    if sa.flags:
        words += ["flag"] + _flag_names(C.XFRM_STATE_FLAGS, sa.flags)
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
    if sel.sport_mask:
        words += ["sport", str(sel.sport)]
    if sel.dport_mask:
        words += ["dport", str(sel.dport)]
    return words


def ip_policy_line(policy, verb="add"):
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


# -- plans as module results ---------------------------------------------------

def plan_report(changes):
    """The result keys that describe a plan: actions (one line each) and counts by action."""
    summary = {action: 0 for action in (ADD, UPDATE, REPLACE, DELETE)}
    actions = []
    for change in changes:
        summary[change.action] += 1
        actions.append({"action": change.action, "entry": describe(change.entry)})
    return dict(changed=bool(changes), actions=actions, summary=summary)


def plan_diff(changes):
    """before/after of the entries a plan touches, keys as fingerprints."""
    before, after = {}, {}
    for change in changes:
        label = describe(change.entry)
        if change.old is not None:
            before[label] = _without_counters(entry_dict(change.old))
        if change.new is not None:
            after[label] = _without_counters(entry_dict(change.new))
    return {"before": before, "after": after}


def _without_counters(entry):
    entry.pop("counters", None)
    return entry
