#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_interface
short_description: XFRM interfaces and the routes through them (route-based IPsec)
version_added: 0.2.0
description:
  - Manages XFRM interfaces (C(ip link add NAME type xfrm if_id N)) and the routes that send traffic into them, over
    rtnetlink through pyroute2. What is routed into an interface meets only the policies and SAs of its C(if_id) (give
    them the same O(interfaces[].if_id) with M(xfrm.ipsec.ipsec_policy) and M(xfrm.ipsec.ipsec_sa)); what those SAs
    decrypt arrives on the interface.
  - The whole request is validated before the kernel is read; interfaces are added (and brought up) before the routes
    into them, routes removed before the interfaces they used.
  - The interfaces it makes carry the alias C(xfrm.ipsec) (C(xfrm.ipsec pair NAME) with O(interfaces[].pair)), its
    routes the protocol C(0x9a) in the main table; O(exclusive) removes only those. An interface or a route of someone
    else's is never changed; a request that needs its name or destination fails, naming it.
  - The role M(xfrm.ipsec.ipsec_gateway) uses this module in route mode (C(ipsec_gateway_mode=route)).
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
extends_documentation_fragment:
  - xfrm.ipsec.common
options:
  interfaces:
    description: The XFRM interfaces.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Interface name (at most 15 characters).
        type: str
        required: true
      if_id:
        description: The interface's C(if_id) (1-4294967295), which its SAs and policies carry. A change replaces the interface.
        type: int
        required: true
      mtu:
        description:
          - MTU, for the ESP/AH overhead on the path below (the role computes it from the pair's algorithms); unset,
            the kernel's (1500). At least 1280.
        type: int
      pair:
        description: A label kept in the interface's alias (C(xfrm.ipsec pair LABEL)), for people reading C(ip -d link).
        type: str
  routes:
    description: Routes in the main table through the listed interfaces.
    type: list
    elements: dict
    default: []
    suboptions:
      dst:
        description: The destination network (a remote subnet).
        type: str
        required: true
      dev:
        description: One of O(interfaces[].name).
        type: str
        required: true
      src_from:
        description:
          - Networks (the local subnets) in which to look for this host's own address, used as the route's preferred
            source, so that the gateway's own packets into the tunnel leave from its LAN address (the peer routes its
            replies back through the tunnel); none found, no preferred source.
        type: list
        elements: str
        default: []
      metric:
        description: The route's metric; unset, the kernel's default (0 for IPv4, 1024 for IPv6).
        type: int
  exclusive:
    description:
      - Remove the interfaces and routes this collection made that the request does not list (O(interfaces=[]) with
        O(exclusive=true) removes them all, as C(playbooks/flush.yml) does).
    type: bool
    default: false
  keep_routes_of:
    description:
      - With O(exclusive), interfaces whose routes are left as they are (the role names the pairs whose peer is not in this
        run, so that a partial run neither adds nor removes routes toward them).
    type: list
    elements: str
    default: []
notes:
  - Needs C(pyroute2) on the managed host and a kernel with XFRM interfaces (C(CONFIG_XFRM_INTERFACE), module
    C(xfrm_interface), loaded by the kernel on first use).
  - A route to the same destination and metric that another tool added (a static route via the WAN, for example) is
    a conflict the module reports instead of replacing; remove it, or give a metric.
seealso:
  - module: xfrm.ipsec.ipsec_policy
  - module: xfrm.ipsec.ipsec_sa
"""

EXAMPLES = r"""
- name: A route-based tunnel to site B (SAs and the wide policy pair carry if_id 77, see ipsec_policy)
  xfrm.ipsec.ipsec_interface:
    interfaces:
      - name: ipsec-siteb
        if_id: 77
        mtu: 1438          # 1500 - IPv4 20 - ESP 8 - IV 16 - ICV 16, rounded down to whole blocks, - 2
    routes:
      - dst: 203.0.113.0/24
        dev: ipsec-siteb
        src_from: [198.51.100.0/24]
      - dst: 2001:db8:2::/64
        dev: ipsec-siteb
        src_from: [2001:db8:1::/64]

- name: Exactly these, removing this collection's other interfaces and routes
  xfrm.ipsec.ipsec_interface:
    interfaces: [{name: ipsec-siteb, if_id: 77}]
    routes: [{dst: 203.0.113.0/24, dev: ipsec-siteb}]
    exclusive: true

- name: Remove every interface and route this collection made
  xfrm.ipsec.ipsec_interface:
    interfaces: []
    exclusive: true
"""

RETURN = r"""
actions:
  description: What changed (in check mode, what would), in the order made.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: C(add), C(update) (MTU or alias in place), C(replace) (the if_id changed; routes follow) or C(delete).
      type: str
    entry:
      description: The interface or route, as C(interface NAME if_id 0xN mtu M) or C(route DST dev NAME src ADDRESS).
      type: str
  sample: [{action: add, entry: interface ipsec-gw2 if_id 0x4d1c2 mtu 1438}, {action: add, entry: route 203.0.113.0/24 dev ipsec-gw2 src 198.51.100.1}]
interfaces:
  description: The interfaces requested.
  returned: always
  type: list
  elements: str
routes:
  description: The routes requested, with the preferred source found for each.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_argspec import interface_module_spec
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_common import XfrmModule, run_interfaces


def main():
    run_interfaces(XfrmModule(**interface_module_spec()))


if __name__ == "__main__":
    main()
