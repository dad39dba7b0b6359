#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_apply
short_description: SAs and policies in one request, all or nothing across both tables
version_added: 0.2.0
description:
  - Puts SAs (the kernel's SAD) and policies (its SPD) in place in one request over one NETLINK_XFRM socket, what a
    C(setkey -f) file of C(add) and C(spdadd) lines does, idempotently, in the order that never sends a packet
    without its SA. New and changed SAs first, then the policies, then the SAs to delete; if any change fails,
    every change of the request, in both tables, is undone.
  - The entries take the options of M(xfrm.ipsec.ipsec_sa) and M(xfrm.ipsec.ipsec_policy); the whole request is
    validated before the kernel is touched.
  - O(compare_only) plans a table without changing it, for roll-outs with a barrier between SAs and policies (the
    roles of this collection put SAs in place on every host with O(compare_only=[policies]), and skip the policy
    step of the hosts whose policies are already as planned).
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
extends_documentation_fragment:
  - xfrm.ipsec.common
  - xfrm.ipsec.common.algorithms
options:
  sas:
    description:
      - SAs, each with the options of O(xfrm.ipsec.ipsec_sa#module:sas) (the same names, types and defaults).
    type: list
    elements: dict
    default: []
    suboptions:
      src: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].src).', type: str}
      dst: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].dst).', type: str}
      proto: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].proto).', type: str, choices: [esp, ah, comp], default: esp}
      spi: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].spi).', type: raw}
      mode: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].mode).', type: str, choices: [transport, tunnel, beet], default: transport}
      reqid: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].reqid).', type: raw}
      enc:
        description: As O(xfrm.ipsec.ipsec_sa#module:sas[].enc).
        type: dict
        suboptions:
          algorithm: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].enc.algorithm).', type: str, required: true}
          key: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].enc.key).', type: raw, required: true}
      auth:
        description: As O(xfrm.ipsec.ipsec_sa#module:sas[].auth).
        type: dict
        suboptions:
          algorithm: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].auth.algorithm).', type: str, required: true}
          key: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].auth.key).', type: raw, required: true}
          trunc_len: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].auth.trunc_len).', type: int}
      aead:
        description: As O(xfrm.ipsec.ipsec_sa#module:sas[].aead).
        type: dict
        suboptions:
          algorithm: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].aead.algorithm).', type: str, required: true}
          key: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].aead.key).', type: raw, required: true}
          icv_len: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].aead.icv_len).', type: int}
      comp:
        description: As O(xfrm.ipsec.ipsec_sa#module:sas[].comp).
        type: dict
        suboptions:
          algorithm: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].comp.algorithm).', type: str, required: true}
      replay_window: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].replay_window).', type: int, default: 0}
      flags:
        {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].flags).', type: list, elements: str,
         choices: [noecn, decap-dscp, nopmtudisc, wildrecv, icmp, af-unspec, align4, dont-encap-dscp, oseq-may-wrap]}
      lifetime:
        description: As O(xfrm.ipsec.ipsec_sa#module:sas[].lifetime).
        type: dict
        suboptions:
          soft_byte_limit: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].lifetime.soft_byte_limit).', type: int}
          hard_byte_limit: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].lifetime.hard_byte_limit).', type: int}
          soft_packet_limit: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].lifetime.soft_packet_limit).', type: int}
          hard_packet_limit: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].lifetime.hard_packet_limit).', type: int}
          soft_add_expires_seconds: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].lifetime.soft_add_expires_seconds).', type: int}
          hard_add_expires_seconds: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].lifetime.hard_add_expires_seconds).', type: int}
          soft_use_expires_seconds: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].lifetime.soft_use_expires_seconds).', type: int}
          hard_use_expires_seconds: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].lifetime.hard_use_expires_seconds).', type: int}
      mark:
        description: As O(xfrm.ipsec.ipsec_sa#module:sas[].mark).
        type: dict
        suboptions:
          value: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].mark.value).', type: raw, required: true}
          mask: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].mark.mask).', type: raw}
      if_id: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].if_id).', type: int}
      encap:
        description: As O(xfrm.ipsec.ipsec_sa#module:sas[].encap).
        type: dict
        suboptions:
          type: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].encap.type).', type: str, choices: [espinudp, espinudp-nonike], default: espinudp}
          sport: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].encap.sport).', type: int, default: 4500}
          dport: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].encap.dport).', type: int, default: 4500}
          oa: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].encap.oa).', type: str}
      selector:
        description: As O(xfrm.ipsec.ipsec_sa#module:sas[].selector).
        type: dict
        suboptions:
          src: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].selector.src).', type: str, default: any}
          dst: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].selector.dst).', type: str, default: any}
          proto: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].selector.proto).', type: str, default: any}
          sport: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].selector.sport).', type: int}
          dport: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].selector.dport).', type: int}
      state: {description: 'As O(xfrm.ipsec.ipsec_sa#module:sas[].state).', type: str, choices: [present, absent], default: present}
  policies:
    description:
      - Policies, each with the options of O(xfrm.ipsec.ipsec_policy#module:policies).
    type: list
    elements: dict
    default: []
    suboptions:
      src: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].src).', type: str}
      dst: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].dst).', type: str}
      proto: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].proto).', type: str, default: any}
      sport: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].sport).', type: int}
      dport: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].dport).', type: int}
      dir: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].dir).', type: str, choices: [in, out, fwd]}
      action: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].action).', type: str, choices: [allow, block], default: allow}
      priority: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].priority).', type: int, default: 0}
      templates:
        description: As O(xfrm.ipsec.ipsec_policy#module:policies[].templates).
        type: list
        elements: dict
        suboptions:
          proto: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].templates[].proto).', type: str, choices: [esp, ah, comp], default: esp}
          mode:
            {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].templates[].mode).', type: str,
             choices: [transport, tunnel, beet], default: transport}
          src: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].templates[].src).', type: str}
          dst: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].templates[].dst).', type: str}
          spi: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].templates[].spi).', type: raw}
          reqid: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].templates[].reqid).', type: raw}
          level: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].templates[].level).', type: str, choices: [required, use], default: required}
      mark:
        description: As O(xfrm.ipsec.ipsec_policy#module:policies[].mark).
        type: dict
        suboptions:
          value: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].mark.value).', type: raw, required: true}
          mask: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].mark.mask).', type: raw}
      if_id: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].if_id).', type: int}
      ptype: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].ptype).', type: str, choices: [main, sub], default: main}
      flags: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].flags).', type: list, elements: str, choices: [localok, icmp]}
      lifetime:
        description: As O(xfrm.ipsec.ipsec_policy#module:policies[].lifetime).
        type: dict
        suboptions:
          soft_byte_limit: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].lifetime.soft_byte_limit).', type: int}
          hard_byte_limit: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].lifetime.hard_byte_limit).', type: int}
          soft_packet_limit: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].lifetime.soft_packet_limit).', type: int}
          hard_packet_limit: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].lifetime.hard_packet_limit).', type: int}
          soft_add_expires_seconds: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].lifetime.soft_add_expires_seconds).', type: int}
          hard_add_expires_seconds: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].lifetime.hard_add_expires_seconds).', type: int}
          soft_use_expires_seconds: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].lifetime.soft_use_expires_seconds).', type: int}
          hard_use_expires_seconds: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].lifetime.hard_use_expires_seconds).', type: int}
      state: {description: 'As O(xfrm.ipsec.ipsec_policy#module:policies[].state).', type: str, choices: [present, absent], default: present}
  exclusive:
    description:
      - Also remove every managed SA and managed policy that the request does not list (see the notes), so the kernel
        holds exactly the managed entries given. Entries of other tools are never removed.
      - Refused with an empty request (no entries at all), which would remove them all (a C(default([])) away from
        unkeying a host). Use M(xfrm.ipsec.ipsec_flush) with O(xfrm.ipsec.ipsec_flush#module:scope=managed) for that.
    type: bool
    default: false
  setkey:
    description:
      - "The text of a setkey file (what C(setkey -f) reads: C(add), C(update), C(delete), C(deleteall), C(flush),
        C(spdadd), C(spdupdate), C(spddelete), C(spdflush); C(get) and the dumps change nothing), instead of
        O(sas) and O(policies). Its statements are run in order on what the kernel holds, and the state they leave
        is applied like a list: validated before anything changes (errors give the line, and the column for syntax),
        all or nothing, check and diff mode, and a second run of the same file changes nothing (an C(add) of an SA
        that exists with other keys replaces it where setkey would fail)."
      - Holds keys, so it is never logged; read it with C(lookup('file', ...)) from a file kept in a vault.
      - What Linux XFRM cannot do is refused with the reason, never guessed (TCP-MD5, C(esp-old), C(-f) padding
        options, host names, C(-P) without a direction). See docs/setkey.md.
    type: str
  setkey_flush:
    description:
      - What C(flush;) and C(spdflush;) of O(setkey) remove. C(managed) (the default) removes this collection's
        entries only (see the notes), so that entries of other tools survive; C(all) removes every SA and policy,
        as setkey did.
    type: str
    choices: [managed, all]
    default: managed
  compare_only:
    description:
      - Tables read and compared with the request but left as they are. What they would change is returned in
        RV(pending) and does not make the result changed.
    type: list
    elements: str
    choices: [sas, policies]
    default: []
  superseded:
    description:
      - "What becomes of a managed SA that is not listed but carries the traffic of a listed one (the same C(src),
        C(dst), C(proto) and mark) under another SPI: the previous key generation of that direction. C(delete) (the
        default) treats it like any other SA: O(exclusive) removes it. C(keep) leaves it in place and returns it in
        RV(superseded), the first step of a make-before-break rotation: the new SAs are added next to the old ones,
        the outbound policies are switched to the new SAs on both peers, and only then are the old SAs deleted
        (playbooks/rotate_keys.yml, docs/rotation.md)."
    type: str
    choices: [delete, keep]
    default: delete
seealso:
  - module: xfrm.ipsec.ipsec_sa
  - module: xfrm.ipsec.ipsec_policy
  - module: xfrm.ipsec.ipsec_flush
"""

EXAMPLES = r"""
# KAME "host-to-host" on 10.1.1.1 (setkey -f): add 10.1.1.1 10.2.2.2 esp 9998 ...; add 10.2.2.2 10.1.1.1 esp 9999 ...;
# spdadd 10.1.1.1 10.2.2.2 any -P out ipsec esp/transport//require; spdadd 10.2.2.2 10.1.1.1 any -P in ipsec ...;
- name: Both SAs and both policies of host A, in one request
  xfrm.ipsec.ipsec_apply:
    sas:
      - {src: 10.1.1.1, dst: 10.2.2.2, spi: 9998, enc: {algorithm: aes-cbc, key: "{{ vault_ab_enc }}"},
         auth: {algorithm: hmac-sha256, key: "{{ vault_ab_auth }}"}}
      - {src: 10.2.2.2, dst: 10.1.1.1, spi: 9999, enc: {algorithm: aes-cbc, key: "{{ vault_ba_enc }}"},
         auth: {algorithm: hmac-sha256, key: "{{ vault_ba_auth }}"}}
    policies:
      - {src: 10.1.1.1, dst: 10.2.2.2, dir: out, templates: [{proto: esp}]}
      - {src: 10.2.2.2, dst: 10.1.1.1, dir: in, templates: [{proto: esp}]}

# LARTC's setkey file, as it is (its weak algorithms need the opt-in); keys stay in the vault-encrypted file.
- name: Apply an old setkey file through netlink, all or nothing
  xfrm.ipsec.ipsec_apply:
    setkey: "{{ lookup('ansible.builtin.file', 'ipsec-tools.conf') }}"
    allow_weak_algorithms: true

# A barrier of your own: SAs on every host first, then the policies where they differ.
- name: SAs in place; are the policies already as wanted?
  xfrm.ipsec.ipsec_apply:
    sas: "{{ host_sas }}"
    policies: "{{ host_policies }}"
    exclusive: true
    compare_only: [policies]
  register: sas_step

- name: Policies, on the hosts where they differ (after every host's SAs)
  xfrm.ipsec.ipsec_policy:
    policies: "{{ host_policies }}"
    exclusive: true
  when: sas_step.pending | length > 0
"""

RETURN = r"""
actions:
  description: One line per change made (or, in check mode, that would be made), in the order applied.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: C(add), C(update), C(replace) or C(delete).
      type: str
    entry:
      description: The SA (protocol, SPI, destination, mark) or the policy (direction, selector).
      type: str
  sample: [{action: add, entry: "esp spi 0x0000270e dst 10.2.2.2"}, {action: add, entry: "dir out 10.1.1.1/32 -> 10.2.2.2/32"}]
pending:
  description: The changes the tables in O(compare_only) would need, in the same form as RV(actions); not made.
  returned: always
  type: list
  elements: dict
  sample: []
summary:
  description: Number of changes made by action.
  returned: always
  type: dict
  sample: {add: 4, update: 0, replace: 0, delete: 0}
superseded:
  description:
    - With O(superseded=keep), the managed SAs kept because a listed SA carries their traffic under another SPI, each
      as the C(src), C(dst), C(proto) and C(spi) that delete it (C(state=absent)), and C(entry), its name. No key.
  returned: when O(superseded=keep)
  type: list
  elements: dict
  sample: [{src: 192.0.2.1, dst: 192.0.2.2, proto: esp, spi: 3735928558, entry: "esp spi 0xdeadbeee dst 192.0.2.2"}]
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
  sample: ["policies[1].dir: required"]
"""

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_argspec import apply_module_spec
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.gc_pause import paused_gc
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_common import XfrmModule, run_tables


def main():
    with paused_gc():  # lists of thousands of entries: see gc_pause.py
        run_tables(XfrmModule(**apply_module_spec()))


if __name__ == "__main__":
    main()
