#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_policy
short_description: Manage IPsec security policies (the kernel's SPD) over netlink
version_added: 0.1.0
description:
  - Adds, updates and removes IPsec policies in the Linux kernel's XFRM policy table, the job of C(setkey)'s
    C(spdadd)/C(spddelete) lines, idempotently.
  - Takes one policy through the top-level options, or a list in O(policies). The whole request is validated before
    the kernel is touched; if any change fails, every change already made is undone.
  - A policy is identified the way the kernel looks it up, by selector (O(src), O(dst), O(proto), O(sport), O(dport)),
    O(dir), O(mark), O(if_id) and O(ptype). O(priority) is not part of it; a policy that differs in priority, action
    or templates is updated in place.
  - "Fleet safety: add policies only after the SAs of both peers exist (M(xfrm.ipsec.ipsec_sa)); always pair an C(out)
    policy with the peer's C(in) policy: without a C(dir=in) policy the host accepts spoofed plaintext."
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
extends_documentation_fragment:
  - xfrm.ipsec.common
options:
  src: &src
    description:
      - Source address or network of the traffic (setkey's first address), or C(any).
      - Required in each policy, also with O(state=absent). A policy left without O(src) and O(dst) would be
        C(any -> any) with IPsec required, cutting every connection (Ansible's too); write C(any) to mean it.
    type: str
  dst: &dst
    description:
      - Destination address or network of the traffic, or C(any). Required, like O(src).
    type: str
  proto: &proto
    description:
      - Upper-layer protocol (setkey's upperspec), a name (C(any), C(tcp), C(udp), C(icmp), C(ipv6-icmp), C(sctp), C(gre))
        or a number.
    type: str
    default: any
  sport: &sport
    description: Source port (TCP, UDP, SCTP) or ICMP type.
    type: int
  dport: &dport
    description: Destination port (TCP, UDP, SCTP) or ICMP code.
    type: int
  dir: &dir
    description:
      - C(out) for traffic this host sends, C(in) for traffic it receives, C(fwd) for traffic it forwards (gateways need
        C(fwd) policies for decrypted tunnel traffic).
      - Required with the single-policy options.
    type: str
    choices: [in, out, fwd]
  action: &action
    description:
      - C(allow) with O(templates) is setkey's C(ipsec), without templates setkey's C(none) (bypass);
        C(block) is setkey's C(discard).
    type: str
    choices: [allow, block]
    default: allow
  priority: &priority
    description: Lower numbers win when several policies match.
    type: int
    default: 0
  templates: &templates
    description:
      - The transforms the traffic must pass, in order (setkey's C(esp/transport//require ah/transport//require)).
    type: list
    elements: dict
    suboptions:
      proto:
        description: IPsec protocol.
        type: str
        choices: [esp, ah, comp]
        default: esp
      mode:
        description: C(transport), or C(tunnel) with O(policies[].templates[].src) and O(policies[].templates[].dst) as tunnel endpoints.
        type: str
        choices: [transport, tunnel, beet]
        default: transport
      src:
        description: Tunnel source (required for C(tunnel) and C(beet); refused for C(transport), which uses the packet's own).
        type: str
      dst:
        description: Tunnel destination (required for C(tunnel) and C(beet); refused for C(transport)).
        type: str
      spi:
        description: Use only the SA with this SPI (0, the default, means any). Pinning it makes key rotation explicit.
        type: raw
      reqid:
        description:
          - The reqid of the SAs this template takes. On output the kernel takes only an SA whose reqid equals it
            (0 is no wildcard there), so it must match the SAs' reqid; both default to 0x70000000, the collection's
            managed reqid (M(xfrm.ipsec.ipsec_sa) O(xfrm.ipsec.ipsec_sa#module:reqid)).
          - On input, 0 accepts an SA of any reqid.
        type: raw
      level:
        description:
          - C(required) (setkey C(require)) drops traffic without a matching SA; C(use) sends it in clear then.
          - The kernel refuses C(use) for tunnel-mode templates of C(out) policies.
        type: str
        choices: [required, use]
        default: required
  mark: &mark
    description: Firewall mark the policy applies to (mark & mask == value). Part of the policy's identity.
    type: dict
    suboptions:
      value:
        description: Mark value, number or C(0x) hex.
        type: raw
        required: true
      mask:
        description: Mask, number or C(0x) hex. Defaults to 0xffffffff.
        type: raw
  if_id: &if_id
    description: XFRM interface id. Part of the policy's identity.
    type: int
  ptype: &ptype
    description: Policy type (C(sub) is for Mobile IPv6). Part of the policy's identity.
    type: str
    choices: [main, sub]
    default: main
  flags: &flags
    description: Policy flags.
    type: list
    elements: str
    choices: [localok, icmp]
  lifetime: &lifetime
    description: Limits after which the kernel expires the policy. Unset limits are unlimited.
    type: dict
    suboptions:
      soft_byte_limit: {description: Bytes before the soft expiry., type: int}
      hard_byte_limit: {description: Bytes before the policy is removed., type: int}
      soft_packet_limit: {description: Packets before the soft expiry., type: int}
      hard_packet_limit: {description: Packets before the policy is removed., type: int}
      soft_add_expires_seconds: {description: Seconds after adding before the soft expiry., type: int}
      hard_add_expires_seconds: {description: Seconds after adding before the policy is removed., type: int}
      soft_use_expires_seconds: {description: Seconds after first use before the soft expiry., type: int}
      hard_use_expires_seconds: {description: Seconds after first use before the policy is removed., type: int}
  state: &state
    description: C(present) adds or corrects the policy, C(absent) removes it (the identity options are enough).
    type: str
    choices: [present, absent]
    default: present
  policies:
    description:
      - A list of policies, each with the options above, applied together (one request, batched, all or nothing).
      - Mutually exclusive with the single-policy options.
    type: list
    elements: dict
    suboptions:
      src: *src
      dst: *dst
      proto: *proto
      sport: *sport
      dport: *dport
      dir: *dir
      action: *action
      priority: *priority
      templates: *templates
      mark: *mark
      if_id: *if_id
      ptype: *ptype
      flags: *flags
      lifetime: *lifetime
      state: *state
  exclusive:
    description:
      - Also remove every managed policy (see the notes) that the request does not list. Policies of other tools are
        never removed.
      - Refused with an empty request (no entries at all), which would remove them all (a C(default([])) away from
        unkeying a host). Use M(xfrm.ipsec.ipsec_flush) with O(xfrm.ipsec.ipsec_flush#module:scope=managed) for that.
    type: bool
    default: false
seealso:
  - module: xfrm.ipsec.ipsec_sa
  - module: xfrm.ipsec.ipsec_flush
  - module: xfrm.ipsec.ipsec_info
"""

EXAMPLES = r"""
# LARTC, on 10.0.0.216 (10.0.0.11 mirrors it):
#   spdadd 10.0.0.216 10.0.0.11 any -P out ipsec esp/transport//require ah/transport//require;
#   spdadd 10.0.0.11 10.0.0.216 any -P in ipsec esp/transport//require ah/transport//require;
- name: ESP then AH, transport mode, both directions (LARTC example)
  xfrm.ipsec.ipsec_policy:
    policies:
      - src: 10.0.0.216
        dst: 10.0.0.11
        dir: out
        templates: [{proto: esp}, {proto: ah}]
      - src: 10.0.0.11
        dst: 10.0.0.216
        dir: in
        templates: [{proto: esp}, {proto: ah}]

# KAME host-to-host on 10.1.1.1: spdadd 10.1.1.1 10.2.2.2 any -P out ipsec esp/transport//use;
- name: Encrypt to host B whenever an SA exists
  xfrm.ipsec.ipsec_policy:
    src: 10.1.1.1
    dst: 10.2.2.2
    dir: out
    templates:
      - proto: esp
        level: use

# KAME "Proxy ESPing" on gateway 10.1.1.1 (site A 10.1.1.0/24, site B 10.2.2.0/24):
#   spdadd 10.1.1.0/24 10.2.2.0/24 any -P out ipsec esp/tunnel/10.1.1.1-10.2.2.2/require;
# plus the inbound and forward policies Linux needs for the return traffic.
- name: Site-to-site tunnel on gateway A
  xfrm.ipsec.ipsec_policy:
    policies:
      - {src: 10.1.1.0/24, dst: 10.2.2.0/24, dir: out,
         templates: [{proto: esp, mode: tunnel, src: 10.1.1.1, dst: 10.2.2.2, reqid: 0x70000001}]}
      - {src: 10.2.2.0/24, dst: 10.1.1.0/24, dir: in,
         templates: [{proto: esp, mode: tunnel, src: 10.2.2.2, dst: 10.1.1.1, reqid: 0x70000001}]}
      - {src: 10.2.2.0/24, dst: 10.1.1.0/24, dir: fwd,
         templates: [{proto: esp, mode: tunnel, src: 10.2.2.2, dst: 10.1.1.1, reqid: 0x70000001}]}

- name: Keep the management network in clear, ahead of every IPsec policy
  xfrm.ipsec.ipsec_policy:
    policies:
      - {src: 192.0.2.0/24, dst: 0.0.0.0/0, proto: tcp, sport: 22, dir: out, priority: 1}
      - {src: 0.0.0.0/0, dst: 192.0.2.0/24, proto: tcp, dport: 22, dir: in, priority: 1}

- name: Remove the outbound policy (setkey spddelete 10.1.1.1 10.2.2.2 any -P out;)
  xfrm.ipsec.ipsec_policy:
    src: 10.1.1.1
    dst: 10.2.2.2
    dir: out
    state: absent
"""

RETURN = r"""
actions:
  description: One line per change made (or, in check mode, that would be made), in order.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: C(add), C(update) or C(delete).
      type: str
    entry:
      description: The policy, as direction and selector.
      type: str
  sample: [{action: add, entry: "dir out 10.0.0.216/32 -> 10.0.0.11/32"}]
summary:
  description: Number of changes by action.
  returned: always
  type: dict
  sample: {add: 2, update: 0, replace: 0, delete: 0}
failures:
  description: The entries the kernel refused, with its reason, when the module failed (everything was undone).
  returned: failure
  type: list
  elements: dict
errors:
  description: Every invalid field of the request, when validation failed (nothing was changed).
  returned: failure
  type: list
  elements: str
  sample: ["policies[1].templates[0]: tunnel mode needs src and dst (the tunnel endpoints)"]
"""

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_argspec import policy_module_spec
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.gc_pause import paused_gc
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.tables import POLICY
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_common import XfrmModule, run_entries


def main():
    with paused_gc():  # a list of 10,000 entries: see gc_pause.py
        run_entries(XfrmModule(**policy_module_spec()), POLICY)


if __name__ == "__main__":
    main()
