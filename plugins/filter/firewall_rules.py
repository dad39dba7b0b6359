# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: firewall_rules
short_description: The firewall that goes with a host's IPsec policies, as an nft file and iptables-restore texts
version_added: 0.2.0
description:
  - Reads a host's SAs and policies (the result of M(xfrm.ipsec.ipsec_info), or the state the site roll-out planned)
    and returns the rules of the role xfrm.ipsec.ipsec_firewall, for C(nft -f) (a table C(inet xfrm_ipsec) of its own,
    loaded atomically) and for C(iptables-restore --noflush) / C(ip6tables-restore --noflush) (chains
    C(XFRM-IPSEC-INPUT), C(XFRM-IPSEC-FORWARD), C(XFRM-IPSEC-OUTPUT)).
  - ESP and AH are accepted from the peers (the addresses of the SAs), UDP 4500 from O(natt_peers); each C(in)
    (C(fwd)) IPsec policy drops on input (forward) what matches it but did not arrive through IPsec; each C(out) IPsec
    policy drops on postrouting what would leave in clear. Bypass (allow) policies accept their traffic first, in
    the order of the policies' priorities; O(management) is accepted before everything.
  - Holds no key (an SA's addresses and protocol are all it reads).
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
extends_documentation_fragment:
  - xfrm.ipsec.firewall
options:
  _input:
    description: A dict with C(sas) and C(policies), as M(xfrm.ipsec.ipsec_info) returns them.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: This host's SAs and policies
  xfrm.ipsec.ipsec_info:
    managed_only: true
  register: ipsec

- name: The firewall that goes with them, checked by nft before it is written
  ansible.builtin.copy:
    content: "{{ (ipsec | xfrm.ipsec.firewall_rules(management=['192.0.2.250'])).nft }}"
    dest: /etc/xfrm-ipsec/firewall.nft
    mode: "0600"
    validate: nft -c -f %s
"""

RETURN = r"""
_value:
  description: The rules.
  type: dict
  contains:
    nft:
      description: The file for C(nft -f), which replaces the table C(inet xfrm_ipsec) in one transaction.
      type: str
    digest:
      description: The digest of the table's rules, also in the table's comment (C(xfrm.ipsec sha256:...)).
      type: str
    iptables:
      description: The text for C(iptables-restore --noflush).
      type: str
    ip6tables:
      description: The text for C(ip6tables-restore --noflush).
      type: str
    counts:
      description: How many rules each chain has (C(input), C(forward), C(postrouting)), and the peers.
      type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import firewall


def firewall_rules(state, management=(), natt_peers=(), drop_plaintext=True, leak_guard=True, routes=()):
    if not isinstance(state, dict):
        raise AnsibleFilterError("firewall_rules: expects ipsec_info's result (a dict with sas and policies), got %s"
                                 % type(state).__name__)
    try:
        ruleset = firewall.plan(state.get("sas") or [], state.get("policies") or [], management=list(management or ()),
                                natt_peers=list(natt_peers or ()), drop_plaintext=bool(drop_plaintext),
                                leak_guard=bool(leak_guard), routes=list(routes or ()))
    except (KeyError, ValueError, TypeError) as exc:
        raise AnsibleFilterError("firewall_rules: %s" % exc) from None
    nft, digest = firewall.nft_file(ruleset)
    counts = {chain: len(rules) for chain, rules in ruleset.chains.items()}
    counts["peers"] = len(ruleset.peers[4]) + len(ruleset.peers[6])
    return {"nft": nft, "digest": digest, "iptables": firewall.iptables_restore(ruleset, 4, digest),
            "ip6tables": firewall.iptables_restore(ruleset, 6, digest), "counts": counts}


class FilterModule:
    def filters(self):
        return {"firewall_rules": firewall_rules}
