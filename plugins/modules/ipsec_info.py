#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_info
short_description: Read IPsec SAs and policies from the kernel (setkey -D / -DP)
version_added: 0.1.0
description:
  - Returns the SAs and policies of the Linux kernel's XFRM tables as data shaped like the options of
    M(xfrm.ipsec.ipsec_sa) and M(xfrm.ipsec.ipsec_policy), with the kernel's counters, and optionally as C(setkey -D) /
    C(setkey -DP) text.
  - Keys are shown as fingerprints (C(sha256:) and 8 hex digits of the key's SHA-256), enough to see whether two hosts
    hold the same key without revealing it.
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
extends_documentation_fragment:
  - xfrm.ipsec.common
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Reads only; there is nothing to diff.
options:
  sas:
    description: Read SAs.
    type: bool
    default: true
  policies:
    description: Read policies.
    type: bool
    default: true
  managed_only:
    description: Only the entries this collection manages (see the notes).
    type: bool
    default: false
  show_keys:
    description:
      - Return the keys themselves (C(0x) hex) instead of fingerprints.
      - Refused unless the task itself has C(no_log=true), so that keys never reach the output or logs.
    type: bool
    default: false
  format:
    description: C(setkey) adds the text C(setkey -D) and C(setkey -DP) would print, in RV(setkey).
    type: str
    choices: [data, setkey]
    default: data
"""

EXAMPLES = r"""
- name: Show the SAD and SPD like setkey -D; setkey -DP
  xfrm.ipsec.ipsec_info:
    format: setkey
  register: ipsec

- name: Print them
  ansible.builtin.debug:
    msg: "{{ ipsec.setkey }}"

- name: Check that this host and its peer hold the same key for SA 9998, without showing it
  ansible.builtin.assert:
    that: >-
      (ipsec.sas | selectattr('spi', 'equalto', 9998) | first).enc.key_fingerprint ==
      (hostvars[peer].ipsec.sas | selectattr('spi', 'equalto', 9998) | first).enc.key_fingerprint

- name: Packets carried by each SA of a test namespace
  xfrm.ipsec.ipsec_info:
    netns: lab
    policies: false
  register: lab_sas
"""

RETURN = r"""
sas:
  description: The SAs, as M(xfrm.ipsec.ipsec_sa) options plus C(managed) and C(counters).
  returned: when O(sas=true)
  type: list
  elements: dict
  sample:
    - src: 10.0.0.216
      dst: 10.0.0.11
      proto: esp
      spi: 24501
      mode: transport
      reqid: 1879048192
      managed: true
      enc: {algorithm: cbc(aes), key_fingerprint: "sha256:1f2e3d4c"}
      auth: {algorithm: hmac(sha256), trunc_len: 128, key_fingerprint: "sha256:5a6b7c8d"}
      counters: {bytes: 1680, packets: 20, add_time: 1795477847, use_time: 1795477850, replay_window: 0, replay: 0,
                 integrity_failed: 0}
policies:
  description: The policies, as M(xfrm.ipsec.ipsec_policy) options plus the kernel C(index), C(managed) and C(counters).
  returned: when O(policies=true)
  type: list
  elements: dict
  sample:
    - {src: 10.0.0.216/32, dst: 10.0.0.11/32, proto: any, dir: out, action: allow, priority: 0, index: 1879048193,
       managed: true, templates: [{proto: esp, mode: transport, level: required}]}
setkey:
  description: The text of C(setkey -D) followed by C(setkey -DP).
  returned: when O(format=setkey)
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_argspec import info_module_spec
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.gc_pause import paused_gc
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_common import info


def main():
    with paused_gc():  # dumps of 10,000 entries: see gc_pause.py
        info(AnsibleModule(**info_module_spec()))


if __name__ == "__main__":
    main()
