#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_probe
short_description: Probe IPsec peers with echo requests and read the kernel's XFRM counters
version_added: 0.2.0
description:
  - What the health check (C(playbooks/check_vpn.yml), M(xfrm.ipsec.ipsec_check)) measures on each host, usable on its
    own.
  - With O(snapshot=true), returns this host's SAs (keys as fingerprints, with their counters of packets, bytes,
    integrity failures, output sequence number and its headroom), its policies, the kernel's XFRM counters
    (C(/proc/net/xfrm_stat)) and its interface addresses.
  - With O(probes), sends O(count) ICMP echo requests to each probe's O(probes[].dst) from its O(probes[].src), all
    probes together, O(interval) seconds apart, then waits at most O(timeout) seconds for the replies; a run takes
    O(count) x O(interval) + O(timeout) seconds at most. Where IPsec policies cover the addresses, the requests and
    replies travel as ESP or AH, and the SAs' counters move.
  - Changes no state; reports C(changed=false) always.
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
extends_documentation_fragment:
  - xfrm.ipsec.common
attributes:
  check_mode:
    support: full
    description: Reads and sends echo requests only; it runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing; there is nothing to diff.
options:
  probes:
    description: Where to send echo requests.
    type: list
    elements: dict
    default: []
    suboptions:
      dst:
        description: The address to probe (a peer, or for tunnel mode an address inside the peer's subnets).
        type: str
        required: true
      src:
        description:
          - The address the requests leave from (a gateway's own address inside its subnets, so that the tunnel's
            policy takes them); the kernel's choice when left out.
        type: str
      name:
        description: A label returned with the probe's figures (the health check gives the pair's name).
        type: str
  count:
    description: Echo requests per probe (1-100).
    type: int
    default: 3
  interval:
    description: Seconds between two requests of a probe (0.01-10).
    type: float
    default: 0.2
  timeout:
    description: Seconds to wait for replies after the last request (0-30).
    type: float
    default: 2.0
  snapshot:
    description: Return the SAs, policies, XFRM counters and addresses.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Probe the peer over the tunnel, from this gateway's LAN address, and read the counters
  xfrm.ipsec.ipsec_probe:
    probes:
      - {src: 198.51.100.1, dst: 203.0.113.1, name: gw1~gw2}
  register: probed

- name: Every echo request was answered
  ansible.builtin.assert:
    that: probed.probes[0].received == probed.probes[0].sent

- name: Integrity failures counted by the kernel (a key mismatch shows here)
  ansible.builtin.debug:
    msg: "{{ probed.xfrm_stat.XfrmInStateProtoError }}"
"""

RETURN = r"""
probes:
  description: Each probe with its figures; C(error) says why requests could not be sent (a firewall's output rule
    gives C(Operation not permitted)).
  returned: when O(probes) is given
  type: list
  elements: dict
  sample:
    - {src: 198.51.100.1, dst: 203.0.113.1, name: gw1~gw2, sent: 3, received: 3, rtt_ms: 1.82}
sas:
  description: The SAs, as M(xfrm.ipsec.ipsec_info) returns them (keys as fingerprints, with C(counters)).
  returned: when O(snapshot=true)
  type: list
  elements: dict
policies:
  description: The policies, as M(xfrm.ipsec.ipsec_info) returns them.
  returned: when O(snapshot=true)
  type: list
  elements: dict
xfrm_stat:
  description: The kernel's XFRM counters (C(/proc/net/xfrm_stat)) of the host or namespace; empty on a kernel without.
  returned: when O(snapshot=true)
  type: dict
  sample: {XfrmInNoStates: 0, XfrmInStateProtoError: 3, XfrmInTmplMismatch: 0, XfrmOutNoStates: 0}
time:
  description: The host's clock (Unix time) when the snapshot was taken; the SAs' C(add_time) counters are on this clock.
  returned: when O(snapshot=true)
  type: int
  sample: 1796169600
addresses:
  description: The interface addresses (link-local ones left out).
  returned: when O(snapshot=true)
  type: list
  elements: dict
  sample:
    - {address: 198.51.100.1, prefixlen: 24, interface: veth0}
"""

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_argspec import probe_module_spec
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_common import XfrmModule, probe


def main():
    probe(XfrmModule(**probe_module_spec()))


if __name__ == "__main__":
    main()
