#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_lint
short_description: Flag dangerous IPsec state, in the kernel or in a setkey file
version_added: 0.2.0
description:
  - Reads this host's SAs and policies (or, with O(setkey), the state a setkey file would leave on a host that held
    none) and reports what a reviewer would flag, each finding with an id, a severity, the entry and a fix.
  - "Findings: C(out-without-in) (an outbound IPsec policy without the inbound one: spoofed plaintext is accepted, the
    hole the LARTC document warns about), C(policy-without-sa) (an outbound template no SA can serve: the traffic is
    dropped), C(asymmetric-pair) (an SA one way only), C(spi-reused) (one SPI for two protocols at a destination),
    C(weak-algorithm) (DES, 3DES, MD5, null, Blowfish, CAST), C(counter-mode-static-key) (GCM, CCM, ChaCha20, CTR
    with manual keys), C(replay-window-manual-keys), C(use-level) (level use where require was meant),
    C(covers-management) (a policy over the network the controller manages the host from, with no bypass that
    wins)."
  - Changes nothing. Fails when a finding is at least as severe as O(fail_on).
  - Checks between the two peers of a pair (C(sa-missing-on-peer), C(keys-differ)) need both hosts' state; the command
    line form lints several setkey files together, see docs/setkey.md.
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
extends_documentation_fragment:
  - xfrm.ipsec.common
attributes:
  check_mode:
    support: full
    description: The module never changes anything; check mode runs it the same.
  diff_mode:
    support: none
options:
  setkey:
    description:
      - The text of a setkey file to lint instead of the kernel's state. Holds keys, so it is never logged.
    type: str
  management:
    description:
      - Networks the hosts are managed from (the controller's address), for C(covers-management).
    type: list
    elements: str
    default: []
  fail_on:
    description: The least severe finding that fails the task; C(never) only reports.
    type: str
    choices: [error, warning, never]
    default: error
seealso:
  - module: xfrm.ipsec.ipsec_apply
  - module: xfrm.ipsec.ipsec_info
"""

EXAMPLES = r"""
- name: Lint what the kernel holds; the controller manages the host from 198.18.0.0/24
  xfrm.ipsec.ipsec_lint:
    management: [198.18.0.0/24]

- name: Lint an old setkey file before applying it (it holds keys, keep it in a vault)
  xfrm.ipsec.ipsec_lint:
    setkey: "{{ lookup('ansible.builtin.file', 'ipsec-tools.conf') }}"
    fail_on: never
  register: lint

- name: Show the findings
  ansible.builtin.debug:
    msg: "{{ lint.findings | map(attribute='message') | list }}"
"""

RETURN = r"""
findings:
  description: What was found, most severe first.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The check, e.g. C(out-without-in).
      type: str
    severity:
      description: C(error) or C(warning).
      type: str
    entry:
      description: The SA (protocol, SPI, destination) or policy (direction, selector) it is about.
      type: str
    message:
      description: What is wrong, in words.
      type: str
    hint:
      description: How to fix it.
      type: str
  sample: [{id: out-without-in, severity: error, entry: "dir out 10.1.1.1/32 -> 10.2.2.2/32",
            message: "outbound traffic is protected but nothing requires the peer's traffic to be ...",
            hint: "add the in policy (10.2.2.2/32 -> 10.1.1.1/32, dir in, the same templates reversed)"}]
summary:
  description: Number of findings by severity.
  returned: always
  type: dict
  sample: {error: 2, warning: 1}
"""

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_argspec import lint_module_spec
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.gc_pause import paused_gc
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_common import XfrmModule, run_lint


def main():
    with paused_gc():  # dumps of 10,000 entries: see gc_pause.py
        run_lint(XfrmModule(**lint_module_spec()))


if __name__ == "__main__":
    main()
