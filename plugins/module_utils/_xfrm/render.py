# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Model values as plain data: the dicts of module options and results, and one-line descriptions.

Keys leave this module only as a fingerprint ("sha256:" and 8 hex digits of the key's
SHA-256) unless the caller asks for them: diffs, results and logs never carry a key.
The setkey text of entries is in setkey.py, their `ip -batch` lines in ipbatch.py.
"""

from __future__ import annotations

import hashlib

from . import constants as C
from .constants import name
from .model import SA, Policy


def fingerprint(key):
    return "sha256:" + hashlib.sha256(key).hexdigest()[:8] if key else ""


def flag_names(table, flags):
    return [n for n, bit in table.items() if flags & bit]


def describe(value):
    """One line naming an SA, a policy or their identities ("esp spi 0x00001000 dst 192.0.2.2")."""
    return str(getattr(value, "identity", value))


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
    out = {"src": str(sel.src), "dst": str(sel.dst), "proto": name("upper", sel.proto)}
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


def superseded_dict(sa):
    """An SA a listed one supersedes, as an ipsec_sa entry that would delete it (no key)."""
    out = {"src": str(sa.src), "dst": str(sa.dst), "proto": name("proto", sa.proto), "spi": sa.spi,
           "entry": describe(sa)}
    if sa.mark.value or sa.mark.mask:
        out["mark"] = {"value": sa.mark.value, "mask": sa.mark.mask}
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
        out["flags"] = flag_names(C.XFRM_STATE_FLAGS, sa.flags)
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
        out["flags"] = flag_names(C.XFRM_POLICY_FLAGS, policy.flags)
    return _common(out, policy)


def entry_dict(value):
    """Any SA, policy or identity as a dict for results and diffs, never with keys."""
    if isinstance(value, SA):
        return sa_dict(value)
    if isinstance(value, Policy):
        return policy_dict(value)
    return {"id": describe(value)}
