# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The options of the firewall's rules, shared by the module ipsec_firewall and the filter firewall_rules."""

    DOCUMENTATION = r"""
options:
  management:
    description: Addresses never dropped (the connection Ansible uses).
    type: list
    elements: str
    default: []
  natt_peers:
    description:
      - Peers whose UDP 4500 (ESP in UDP, NAT traversal) is accepted, besides the ends of the SAs that have C(encap)
        (those are always accepted, and only from those addresses).
    type: list
    elements: str
    default: []
  routes:
    description:
      - Routes through XFRM interfaces (route-based mode, M(xfrm.ipsec.ipsec_interface)). For each, plaintext from
        O(routes[].dst) that did not arrive through IPsec is dropped (input, forward), and traffic to it that would leave
        through another interface than O(routes[].dev) is dropped (postrouting), so that a missing interface drops
        instead of sending in clear. Policies that carry an C(if_id) (the interfaces') make no rules of their own.
    type: list
    elements: dict
    default: []
    suboptions:
      dst:
        description: The destination network of the route (a remote subnet).
        type: str
        required: true
      dev:
        description: The XFRM interface it goes through.
        type: str
        required: true
  drop_plaintext:
    description: Drop what matches an C(in) or C(fwd) IPsec policy but did not arrive through IPsec.
    type: bool
    default: true
  leak_guard:
    description: Drop what matches an C(out) IPsec policy but would leave without IPsec (a missing SA or policy
      drops instead of sending plaintext).
    type: bool
    default: true
"""
