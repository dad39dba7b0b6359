#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_natt
short_description: The UDP 4500 socket that ESP in UDP (NAT traversal) needs, and NAT keepalives, as a systemd unit
version_added: 0.2.0
description:
  - The kernel decapsulates ESP in UDP (SAs with C(encap espinudp), RFC 3948) only on a bound UDP socket marked
    C(UDP_ENCAP_ESPINUDP); with manual keys no IKE daemon holds one. This module installs a small socket holder
    (O(program), Python, no key and no IKE in it) with its configuration (O(config), JSON) and the unit
    C(xfrm-ipsec-natt.service), enables it and starts it (restarts it when the program or its configuration
    changed); C(state=absent) stops, disables and removes them.
  - Behind a NAT the holder also sends a NAT keepalive (one 0xFF byte, RFC 3948) to each of O(keepalive_peers) on
    UDP 4500 every O(keepalive) seconds, from its own socket, so that the NAT keeps its mapping while the pair is idle.
  - The role xfrm.ipsec.ipsec_gateway runs it on the gateways whose pairs cross a NAT (C(ipsec_gateway_nat)), and
    with C(state=absent) on the others and in playbooks/flush.yml (docs/nat-traversal.md).
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
attributes:
  check_mode:
    support: full
    description: Reports what it would write, enable, start or remove, and does none of it.
  diff_mode:
    support: full
    description: The configuration before and after.
  platform:
    support: full
    platforms: linux
    description: The unit needs systemd (C(state=present) fails clearly where systemd does not run the host).
options:
  state:
    description: C(present) installs, enables and starts the holder; C(absent) removes it where it is installed.
    type: str
    choices: [present, absent]
    default: present
  keepalive_peers:
    description: The IPv4 addresses to send NAT keepalives to (the peers of a gateway behind a NAT); empty, none.
    type: list
    elements: str
    default: []
  keepalive:
    description: Seconds between two rounds of keepalives (keep it under the NAT's UDP timeout, often 30 s).
    type: int
    default: 20
  program:
    description: Where the holder is installed (0755).
    type: path
    default: /usr/local/sbin/xfrm-ipsec-natt
  config:
    description: Where its configuration is written (0644; it holds no secret).
    type: path
    default: /etc/xfrm-ipsec-natt.json
  python:
    description: The Python 3 the unit runs the holder with; unset, the one that runs this module.
    type: path
"""

EXAMPLES = r"""
- name: A gateway behind a NAT - the socket, and keepalives to its peer every 20 s
  xfrm.ipsec.ipsec_natt:
    keepalive_peers: [192.0.2.1]

- name: The peer with a public address - the socket only
  xfrm.ipsec.ipsec_natt:

- name: Removed (no pair crosses a NAT any more)
  xfrm.ipsec.ipsec_natt:
    state: absent
"""

RETURN = r"""
actions:
  description: What the run changed (or would change, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [wrote /usr/local/sbin/xfrm-ipsec-natt, wrote /etc/xfrm-ipsec-natt.json, enabled xfrm-ipsec-natt.service,
           started xfrm-ipsec-natt.service]
unit:
  description: The unit's name.
  returned: always
  type: str
  sample: xfrm-ipsec-natt.service
"""

import ipaddress
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xfrm.ipsec.plugins.module_utils import ipsec_natt as natt
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_system import read_text


def main():
    module = AnsibleModule(argument_spec=dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        keepalive_peers=dict(type="list", elements="str", default=[]),
        keepalive=dict(type="int", default=20),
        program=dict(type="path", default="/usr/local/sbin/xfrm-ipsec-natt"),
        config=dict(type="path", default="/etc/xfrm-ipsec-natt.json"),
        python=dict(type="path"),
    ), supports_check_mode=True)
    params = module.params
    peers = []
    for index, peer in enumerate(params["keepalive_peers"]):
        try:
            address = ipaddress.ip_address(peer.strip())
        except ValueError:
            module.fail_json(msg="keepalive_peers[%d]: %r is not an IP address" % (index, peer))
        if address.version != 4:
            module.fail_json(msg="keepalive_peers[%d]: %s; NAT traversal is for IPv4" % (index, address))
        peers.append(str(address))
    if params["keepalive"] < 0:
        module.fail_json(msg="keepalive: %d; seconds between keepalives, 0 for none" % params["keepalive"])
    config = natt.config_text(peers, params["keepalive"])
    before = read_text(params["config"])
    if params["state"] == "present":
        files = [(params["program"], natt.PROGRAM, 0o755), (params["config"], config, 0o644),
                 (natt.UNIT_PATH, natt.unit_text(params["python"] or sys.executable, params["program"], params["config"]),
                  0o644)]
        actions = natt.present(module, files)
        after = config
    else:
        actions = natt.absent(module, [natt.UNIT_PATH, params["program"], params["config"]])
        after = None
    result = dict(changed=bool(actions), actions=actions, unit=natt.UNIT)
    if module._diff and before != after:
        result["diff"] = {"before": before or "", "after": after or "", "before_header": params["config"],
                          "after_header": params["config"]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
