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
    description:
      - C(setkey) adds, in RV(setkey), the SAs and policies as a setkey file (C(flush;), C(spdflush;), then C(add ...;)
        and C(spdadd ...;)) that parses back to the same state (M(xfrm.ipsec.ipsec_apply) with
        O(xfrm.ipsec.ipsec_apply#module:setkey) puts it in place again); with O(show_keys=true), a backup and a way to
        move a host's state to another. Its first line,
        C(#@xfrm.ipsec as-dumped), a comment to setkey itself, says that every C(fwd) policy is listed (no C(fwd) copy of
        the C(in) policies, as setkey made) and that reqids and replay windows are the kernel's. An entry setkey's
        language cannot express (an AEAD cipher, a mark, an interface id, UDP encapsulation, ...) is written as a comment
        naming what it lacks, and the module warns.
      - Without O(show_keys), keys are written as their fingerprints (readable, and refused when parsed).
      - C(setkey_dump) adds instead the text C(setkey -D) and C(setkey -DP) would print (for reading, not parsing).
    type: str
    choices: [data, setkey, setkey_dump]
    default: data
"""

EXAMPLES = r"""
- name: Show the SAD and SPD like setkey -D; setkey -DP
  xfrm.ipsec.ipsec_info:
    format: setkey_dump
  register: ipsec

- name: Print them
  ansible.builtin.debug:
    msg: "{{ ipsec.setkey }}"

- name: Back up this host's state as a setkey file (keys included, so the task hides its result)
  xfrm.ipsec.ipsec_info:
    format: setkey
    show_keys: true
  register: backup
  no_log: true

- name: Later, put exactly that state back (ipsec_save keeps such a file on the host itself)
  xfrm.ipsec.ipsec_apply:
    setkey: "{{ backup.setkey }}"
    setkey_flush: all
    allow_weak_algorithms: true    # a restore puts back what was there, weak or not (it still warns)

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
  description: The setkey file of the SAs and policies (O(format=setkey)), or the text of C(setkey -D) followed by
    C(setkey -DP) (O(format=setkey_dump)).
  returned: when O(format=setkey) or O(format=setkey_dump)
  type: str
  sample: |
    #@xfrm.ipsec as-dumped  (a comment to setkey: fwd policies are listed, reqids are the kernel's)
    flush;
    spdflush;
    add 192.0.2.1 192.0.2.2 esp 0x00001000 -m transport -u 1879048192 -E aes-cbc sha256:1f2e3d4c -A hmac-sha256 sha256:5a6b7c8d;
    spdadd 192.0.2.1/32[any] 192.0.2.2/32[any] any -P out prio high + 1073741824 ipsec esp/transport//unique:1879048192;
"""

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_argspec import info_module_spec
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.gc_pause import paused_gc
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_common import XfrmModule, info


def main():
    with paused_gc():  # dumps of 10,000 entries: see gc_pause.py
        info(XfrmModule(**info_module_spec()))


if __name__ == "__main__":
    main()
