#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_site
short_description: Key this host's share of a site (pairs, keys, SPIs) from the inventory and one master secret
version_added: 0.2.0
description:
  - Runs on the controller (an action plugin). It reads the site from the inventory, derives the keys and SPIs of
    this host's own pairs from one master secret, and applies them through M(xfrm.ipsec.ipsec_apply) and
    M(xfrm.ipsec.ipsec_policy). The roles R(xfrm.ipsec.ipsec_host,ansible_collections.xfrm.ipsec.ipsec_host_role)
    and R(xfrm.ipsec.ipsec_gateway,ansible_collections.xfrm.ipsec.ipsec_gateway_role) call it;
    use them rather than this action directly.
  - "The site: the end hosts of the group C(ipsec_host_group) (default C(ipsec_mesh)) pair in transport mode, every
    pair or those in C(ipsec_host_pairs), each with its C(ipsec_host_address); the gateways of C(ipsec_gateway_group)
    (default C(ipsec_gateways)) pair in tunnel mode between their C(ipsec_gateway_address) for the
    C(ipsec_gateway_subnets) behind them, every pair or those in C(ipsec_gateway_pairs)."
  - "Keys: keyed BLAKE2b of C(\"xfrm.ipsec/v2|<pair>|<src>-><dst>|<proto>|gen<N>\") under HKDF-Extract(master), the
    encryption then the authentication key of each direction; SPIs the same way, unique per destination. They depend
    on the inventory only, never on the hosts of the play, so C(--limit) runs and job slices derive what a full run
    does. The master secret never leaves the controller; each host receives the SAs of its own pairs only."
  - "Stages: C(scan) (once per play, C(run_once)) resolves SPI collisions across the whole site and returns them (SPIs
    are public); C(sas) puts this host's SAs in place (SAs of pairs gone from the inventory are removed) and compares its
    policies with the plan; C(policies)
    puts its policies in place for the pairs whose peer is ready (its C(sas) stage succeeded in this run, or
    O(phase=policies)), keeps the policies the kernel already has toward the other peers as they are, and adds bypass
    policies for the management path and IPv6 neighbour discovery, or, when the C(sas) stage of this run found every
    planned policy in place (a re-run), has nothing to do and runs no module; C(retire) deletes the SAs of another
    key generation that the C(sas) stage kept (O(generation) changed: make-before-break), on the pairs whose two
    peers both switched their outbound policies at the C(policies) stage of this run; C(status) reports each pair's
    key generation as the host's kernel holds it (RV(generations)), and changes nothing; C(plan) reports the plan
    and what the lint finds in it, and changes nothing."
  - "Key generations: generation N's SAs carry the reqid C(0x70000100 + N) and the outbound policies require the reqid
    of the generation the host sends with, so two generations share a direction during a rotation
    (playbooks/rotate_keys.yml, docs/rotation.md). The SAs carry C(oseq-may-wrap)."
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
options:
  stage:
    description: What to do; see the description.
    type: str
    choices: [scan, sas, policies, retire, status, plan]
    default: plan
  master_secret:
    description:
      - The site's master secret. Default the variable C(ipsec_master_secret) (keep it in the vault), read on the
        controller, so that the secret is not even among the task's arguments. It never leaves the controller.
    type: str
  generation:
    description:
      - Key generation of the site's pairs; rotation is generation + 1. Default the variable C(ipsec_generation), else
        0. The variable C(ipsec_pair_generations) (a dict, pair name -> generation) puts pairs on their own.
    type: int
  spi_collisions:
    description: What the C(scan) stage returned (RV(spi_collisions)); needed by C(sas) for exact SPIs.
    type: list
    elements: raw
  management:
    description:
      - Addresses or networks that must keep talking to this host in clear (the controller). Where a policy would cover
        traffic with them, an allow policy of higher priority keeps it out.
      - Default the controller's own address toward the host, as routed (behind NAT, give the address the host sees).
    type: list
    elements: str
  phase:
    description:
      - C(all) treats as ready only the peers whose C(sas) stage succeeded in this run; C(policies) treats every peer as
        ready (the second node of a workflow whose first node, C(sas), ran on the whole site).
    type: str
    choices: [all, sas, policies]
    default: all
  netns:
    description: Apply in this network namespace of the host (simulated fleets).
    type: str
  require_peers:
    description:
      - C(status) only. Fail, naming them, when pairs that are between two generations or due to move have their peer
        outside the run (C(--limit)), since a rotation moves both peers of a pair or neither.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The modules it calls run in check mode and predict exactly.
  diff_mode:
    support: full
    description: The modules' diffs, keys replaced by fingerprints.
  platform:
    support: full
    platforms: linux
    description: Plans on the controller; the modules talk NETLINK_XFRM on the host.
seealso:
  - module: xfrm.ipsec.ipsec_sa
  - module: xfrm.ipsec.ipsec_policy
"""

EXAMPLES = r"""
- name: SPI collisions across the site, once per play
  xfrm.ipsec.ipsec_site:
    stage: scan
  run_once: true
  register: scan

- name: This host's SAs
  xfrm.ipsec.ipsec_site:
    stage: sas
    spi_collisions: "{{ scan.spi_collisions }}"

- name: This host's policies, toward the peers that are ready
  xfrm.ipsec.ipsec_site:
    stage: policies
    spi_collisions: "{{ scan.spi_collisions }}"

- name: The previous key generation's SAs, where both peers switched (after a grace period)
  xfrm.ipsec.ipsec_site:
    stage: retire

- name: Each pair's key generation in this host's kernel
  xfrm.ipsec.ipsec_site:
    stage: status
    spi_collisions: "{{ scan.spi_collisions }}"
  register: status
"""

RETURN = r"""
spi_collisions:
  description: C(scan) only. [pair, src, dst, proto, spi] of every direction whose SPI is not its first choice.
  returned: stage scan
  type: list
  elements: list
pairs:
  description: This host's pairs (names as C(a~b)).
  returned: stage sas, policies, plan
  type: list
  elements: str
deferred:
  description: Peers whose policies were neither added nor removed because they were not ready in this run.
  returned: stage sas, policies, plan
  type: list
  elements: str
findings:
  description: C(plan) only. What M(xfrm.ipsec.ipsec_lint) would report of this host's planned SAs and policies
    (management path included); empty for a sound plan.
  returned: stage plan
  type: list
  elements: dict
actions:
  description: The changes of the module called (M(xfrm.ipsec.ipsec_apply) or M(xfrm.ipsec.ipsec_policy)).
  returned: stage sas, policies, retire
  type: list
  elements: dict
retired:
  description: C(retire) only. The previous generation's SAs deleted (or, in check mode, to be deleted).
  returned: stage retire
  type: list
  elements: str
waiting:
  description: C(retire) only. Pairs whose previous generation's SAs stay, because the peer did not switch in this run.
  returned: stage retire
  type: list
  elements: str
generations:
  description:
    - C(status) only. Per pair of the host, its name -> C(peer), C(generation) (the inventory's), C(in_force) (the
      generation the host sends with, or null), C(state) (C(absent), C(due), C(adding), C(switched), C(stable),
      C(partial), see docs/rotation.md) and C(previous_spis) (SPIs of another generation still held).
  returned: stage status
  type: dict
  sample: {"db1~db2": {peer: db2, generation: 4, in_force: 3, state: adding, previous_spis: ["0x6c1f0a32"]}}
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            stage=dict(type="str", choices=["scan", "sas", "policies", "retire", "status", "plan"], default="plan"),
            master_secret=dict(type="str", no_log=True),
            generation=dict(type="int"),
            spi_collisions=dict(type="list", elements="raw"),
            management=dict(type="list", elements="str"),
            phase=dict(type="str", choices=["all", "sas", "policies"], default="all"),
            netns=dict(type="str"),
            require_peers=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    module.fail_json(msg="xfrm.ipsec.ipsec_site runs on the controller as an action plugin; it was called as a module")


if __name__ == "__main__":
    main()
