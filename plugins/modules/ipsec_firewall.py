#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_firewall
short_description: The firewall that goes with a host's IPsec policies, in a table of its own
version_added: 0.2.0
description:
  - Makes the rules that go with this host's IPsec state and puts them in place in one step, where the kernel's
    differ. The state is O(sas) and O(policies) (the role xfrm.ipsec.ipsec_firewall passes what the site roll-out
    planned), or else the collection's SAs and policies read from the kernel.
  - "With nftables, a table C(inet xfrm_ipsec) of its own (other tables and the host's ruleset are never touched),
    written to C(firewall.nft) in O(dir), checked with C(nft -c) and loaded with C(nft -f) as one transaction. Sets:
    C(peers_v4)/C(peers_v6) (the SAs' addresses: ESP and AH accepted from them), C(natt_peers_v4)/C(natt_peers_v6)
    (UDP 4500 accepted from them), C(management_v4)/C(management_v6) (never dropped). Chains: C(input) (per C(in)
    policy, what did not arrive through IPsec is dropped and counted: C(meta ipsec missing)), C(forward) (the same
    for C(fwd) policies, on gateways), C(postrouting) (per C(out) policy, what would leave without IPsec is dropped
    and counted: C(rt ipsec missing)). ESP and AH from the peers are accepted before the drops, since the ESP packet
    itself crosses input before it is decrypted; bypass policies accept their traffic in the order of the policies'
    priorities. The table's comment carries the digest of its rules."
  - With iptables (hosts without nft), chains C(XFRM-IPSEC-INPUT), C(XFRM-IPSEC-FORWARD) and C(XFRM-IPSEC-OUTPUT) in
    the filter table of both families (C(iptables-restore --noflush), so the host's other chains stay), matched with
    C(-m policy --pol none), jumped to first from C(INPUT), C(FORWARD) and C(OUTPUT); where nft accepts, they C(RETURN)
    (an C(ACCEPT) would skip the host's own rules).
  - An accept here ends only this table's chain; a host with a default-drop firewall of its own must let ESP and AH
    from the peers through it too (see the role's README).
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
extends_documentation_fragment:
  - xfrm.ipsec.firewall
attributes:
  check_mode:
    support: full
    description: Reports whether the rules would be written or loaded, and changes nothing.
  diff_mode:
    support: full
    description: The rules file before and after (it holds no secret).
  platform:
    support: full
    platforms: linux
    description: Runs C(nft), or C(iptables-restore) and C(iptables), as the tools they are; reads XFRM over netlink.
options:
  state:
    description: C(absent) removes the table or chains (the jumps first) and the rules files.
    type: str
    choices: [present, absent]
    default: present
  sas:
    description:
      - The host's SAs (their C(src), C(dst) and C(proto); no key is read). Unset, the collection's SAs in the kernel.
    type: list
    elements: dict
  policies:
    description:
      - The host's policies, as M(xfrm.ipsec.ipsec_policy) options. Unset, the collection's policies in the kernel.
    type: list
    elements: dict
  backend:
    description: C(nftables), C(iptables), or C(auto) (nftables where the host has C(nft)).
    type: str
    choices: [auto, nftables, iptables]
    default: auto
  dir:
    description: Where the rules files are written (0700 directory, 0600 files).
    type: path
    default: /etc/xfrm-ipsec
  netns:
    description:
      - Read the SAs and policies of this network namespace (when O(sas) or O(policies) is unset). The rules are
        loaded in the host's own namespace.
    type: str
requirements:
  - C(nft) (nftables), or C(iptables) and C(ip6tables) with their C(-restore) and the C(policy) match.
"""

EXAMPLES = r"""
- name: The firewall that goes with the IPsec state this host holds (after ipsec_apply, a setkey file, ...)
  xfrm.ipsec.ipsec_firewall:
    management: [192.0.2.250]

- name: Only the accepts and the inbound drops, no leak guard, on a host with iptables only
  xfrm.ipsec.ipsec_firewall:
    leak_guard: false
    backend: iptables

- name: Remove it
  xfrm.ipsec.ipsec_firewall:
    state: absent
"""

RETURN = r"""
backend:
  description: The firewall used.
  returned: when O(state=present)
  type: str
  sample: nftables
digest:
  description: The digest of the rules, in the table's comment (nftables) or the first rule's (iptables).
  returned: when O(state=present)
  type: str
  sample: sha256:5f0e4c2b9a1d7e36
counts:
  description: The rules of each chain (C(input), C(forward), C(postrouting)).
  returned: when O(state=present)
  type: dict
  sample: {input: 5, forward: 0, postrouting: 2}
path:
  description: The rules file (for iptables, the IPv4 one; C(firewall.ip6tables) is beside it).
  returned: when O(state=present)
  type: str
reloaded:
  description: Whether the rules were loaded (or would be, in check mode) because the kernel's differed.
  returned: when O(state=present)
  type: bool
removed:
  description: What O(state=absent) removed.
  returned: when O(state=absent)
  type: list
  elements: str
"""

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_argspec import firewall_module_spec
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_common import XfrmModule, run_firewall


def main():
    run_firewall(XfrmModule(**firewall_module_spec()))


if __name__ == "__main__":
    main()
