#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_check
short_description: Is every IPsec pair of the site up, and if not why (the health check's stages)
version_added: 0.2.0
description:
  - Runs on the controller (an action plugin); C(playbooks/check_vpn.yml) runs its stages in order on every host of
    the site. Use the playbook rather than this action directly (docs/health-check.md).
  - "Stages: C(observe) (with O(snapshot=before), then again with O(snapshot=after)) reads the host's SAs (keys as
    fingerprints), policies, XFRM counters (C(/proc/net/xfrm_stat)) and addresses through M(xfrm.ipsec.ipsec_probe);
    C(probe) sends a bounded echo probe toward each peer of the host that is in the run, one per address family of the
    pair (end hosts from their pair address; gateways from their own address inside their subnets to the peer's
    inside its subnets, so that the tunnel carries it); C(report), once (C(run_once)), judges every pair of the site
    from both peers' observations."
  - "For every pair: the SAs of each direction as the inventory derives them for the generation the sender sends with
    (same SPI and same key fingerprint on the two peers; the keys are derived on the controller and compared as
    fingerprints, never shown), the policies of each side, the key generation in force on each side, the probe's
    figures with the SAs' packet and integrity-failure counters and the kernel's XFRM error counters before and
    after, each outbound SA's sequence-number headroom and when a rotation is due."
  - "Verdicts: C(down) (traffic cannot flow: an SA or a policy missing, keys that differ, a probe unanswered, a peer
    unreachable), C(degraded) (it flows with a flaw: a rotation half done, a missing inbound policy in transport
    mode, probe loss, a rotation due), C(unknown) (a peer not in the run), C(up). Each with the reasons in words and
    the fixes (C(re-run site_vpn.yml --limit gw2), C(rotate pair gw1~gw2 ...), where to look for a firewall)."
  - Changes no state on any host. C(report) writes the picture of the site (HTML and PNG) on the controller when
    O(report_dir) is set, in check mode too (a report, not a change).
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
options:
  stage:
    description: What to do; see the description.
    type: str
    choices: [observe, probe, report]
    required: true
  snapshot:
    description: C(observe) only. Whether this is the snapshot taken before the probes or after them.
    type: str
    choices: [before, after]
    default: before
  netns:
    description: Observe and probe in this network namespace of the host (simulated fleets).
    type: str
  count:
    description: C(probe) only. Echo requests per probe (M(xfrm.ipsec.ipsec_probe)'s O(xfrm.ipsec.ipsec_probe#module:count)).
    type: int
    default: 3
  interval:
    description: C(probe) only. Seconds between two requests.
    type: float
    default: 0.2
  timeout:
    description: C(probe) only. Seconds to wait for the last replies.
    type: float
    default: 2.0
  report_dir:
    description:
      - C(report) only. Directory on the controller where C(check_vpn.html) (self-contained, the site's picture with
        every pair coloured by its state, the figures beside each edge and on hover, and the table of verdicts) and
        C(check_vpn.png) are written, 0644 (they hold no secret). No picture when left out.
      - The picture needs graphviz's C(dot) on the controller; without it the check warns and reports in text.
    type: path
  master_secret:
    description:
      - C(report) only. The site's master secret; default the variable C(ipsec_master_secret). Keys are derived on the
        controller to compare their fingerprints with the hosts'; no key is returned or shown.
    type: str
  rotate_packets:
    description: C(report) only. A rotation is due once an SA carried this many packets under one key.
    type: int
    default: 4294967296
attributes:
  check_mode:
    support: full
    description: Reads and probes in check mode too; it changes no state either way.
  diff_mode:
    support: none
    description: Changes nothing; there is nothing to diff.
  platform:
    support: full
    platforms: linux
    description: Judges on the controller; M(xfrm.ipsec.ipsec_probe) reads NETLINK_XFRM and probes on the hosts.
seealso:
  - module: xfrm.ipsec.ipsec_probe
  - module: xfrm.ipsec.ipsec_site
"""

EXAMPLES = r"""
# playbooks/check_vpn.yml, in short: four stages on every host of the site, the linear strategy's barrier between them
- name: Before the probes
  xfrm.ipsec.ipsec_check:
    stage: observe
    snapshot: before

- name: Probe every peer
  xfrm.ipsec.ipsec_check:
    stage: probe

- name: After the probes
  xfrm.ipsec.ipsec_check:
    stage: observe
    snapshot: after

- name: Every pair's verdict, the picture in ./check_vpn-report
  xfrm.ipsec.ipsec_check:
    stage: report
    report_dir: check_vpn-report
  run_once: true
  register: check

- name: Fail when a pair is down
  ansible.builtin.assert:
    that: check.down | length == 0
    fail_msg: "{{ check.lines }}"
  run_once: true
"""

RETURN = r"""
report:
  description:
    - C(report) only. C(checked_at), C(summary) (how many pairs in each state), C(nodes) (each host's kind, addresses,
      subnets, and whether it was in the run) and C(pairs), per pair name -> C(kind), C(hosts), C(state), C(reasons),
      C(fixes), C(generation) (the inventory's), C(in_force) (per host, the generation it sends with), C(probe)
      (C(sent), C(received), C(rtt_ms) of both ways, and each probe), C(headroom) (the smallest sequence-number headroom of
      its SAs), C(rotation_due_in_s) (seconds until a rotation is due at the busiest SA's rate so far), C(sas) (per
      direction C(spi), the sender's C(packets) and C(seq_headroom), what the probe moved,
      C(sent), C(received), C(integrity_failed), and C(rotation_due_in_s) at the current rate) and C(evidence) (the
      kernel's XFRM error counters that moved during the probe, host-wide).
  returned: stage report
  type: dict
  sample:
    checked_at: "2026-12-01T22:40:00Z"
    summary: {up: 0, degraded: 0, down: 1, unknown: 0}
    pairs:
      gw1~gw2:
        kind: gateway
        hosts: [gw1, gw2]
        state: down
        reasons: ["keys differ for SA 192.0.2.1->192.0.2.2 esp 0x1c2a9f10: gw1 holds sha256:1f2e3d4c/sha256:5a6b7c8d,
                   gw2 holds sha256:0b1c2d3e/sha256:5a6b7c8d"]
        fixes: ["re-run site_vpn.yml --limit gw2"]
lines:
  description: C(report) only. One line per pair, worst first, like C(gw1~gw2 down) then the reasons and the fixes.
  returned: stage report
  type: list
  elements: str
down:
  description: C(report) only. The pairs that are down.
  returned: stage report
  type: list
  elements: str
metrics:
  description: C(report) only. Per host of the run, the Prometheus text of its pairs (node_exporter textfile collector).
  returned: stage report
  type: dict
picture:
  description: C(report) only. The paths of C(html) and C(png) written in O(report_dir).
  returned: stage report, with O(report_dir)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            stage=dict(type="str", choices=["observe", "probe", "report"], required=True),
            snapshot=dict(type="str", choices=["before", "after"], default="before"),
            netns=dict(type="str"),
            count=dict(type="int", default=3),
            interval=dict(type="float", default=0.2),
            timeout=dict(type="float", default=2.0),
            report_dir=dict(type="path"),
            master_secret=dict(type="str", no_log=True),
            rotate_packets=dict(type="int", default=4294967296),
        ),
        supports_check_mode=True,
    )
    module.fail_json(msg="xfrm.ipsec.ipsec_check runs on the controller as an action plugin; it was called as a module")


if __name__ == "__main__":
    main()
