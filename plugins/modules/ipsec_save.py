#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_save
short_description: Save the kernel's IPsec SAs and policies to a root-only file, for restoring them at boot
version_added: 0.2.0
description:
  - Like C(iptables-save) for XFRM. Reads this host's SAs and policies (the collection's own by default) over
    netlink and writes them, keys included, to O(path) with mode 0600, owned by root, replacing the file in one
    rename; a file that already holds exactly this state is not rewritten (changed is false).
  - The keys never leave the host (the module reads the kernel and writes the file itself) and never appear in the
    result, the diff or a log.
  - O(format=ip) writes C(ip -batch) lines, SAs before policies, which C(ip -force -batch FILE) puts back at boot
    without Ansible (the role xfrm.ipsec.ipsec_persist does); O(format=setkey) writes what
    M(xfrm.ipsec.ipsec_info) C(format=setkey) returns (for M(xfrm.ipsec.ipsec_apply) O(xfrm.ipsec.ipsec_apply#module:setkey)).
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
extends_documentation_fragment:
  - xfrm.ipsec.common
attributes:
  check_mode:
    support: full
    description: Reports whether the file would change and writes nothing.
  diff_mode:
    support: full
    description: The file before and after, each key replaced by its fingerprint.
options:
  path:
    description: The file to write. Its directory must exist; the file is made 0600, owned by root.
    type: path
    required: true
  format:
    description: C(ip) (C(ip -batch) lines) or C(setkey) (a setkey file).
    type: str
    choices: [ip, setkey]
    default: ip
  managed_only:
    description: Only the collection's entries (the default); C(false) saves every SA and policy.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Save this host's IPsec state for the boot-time restore (the role xfrm.ipsec.ipsec_persist does this)
  xfrm.ipsec.ipsec_save:
    path: /etc/xfrm-ipsec/state.ip

- name: A setkey-language backup of everything the kernel holds, on the host itself
  xfrm.ipsec.ipsec_save:
    path: /root/ipsec-backup.setkey
    format: setkey
    managed_only: false
"""

RETURN = r"""
path:
  description: The file.
  returned: always
  type: str
sas:
  description: How many SAs the file holds.
  returned: always
  type: int
policies:
  description: How many policies the file holds.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_argspec import save_module_spec
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_common import save


def main():
    save(AnsibleModule(**save_module_spec()))


if __name__ == "__main__":
    main()
