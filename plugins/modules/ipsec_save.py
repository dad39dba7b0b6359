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
  - O(format=ip) writes C(ip -batch) lines, SAs before policies, then the collection's XFRM interfaces and the
    routes through them (route mode; their preferred source is left to the next run, as the LAN address may not be
    up at boot), which C(ip -force -batch FILE) puts back at boot without Ansible (the role xfrm.ipsec.ipsec_persist
    does); O(format=setkey) writes what
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
  platform:
    description: The restore unit needs systemd; the file alone does not.
options:
  path:
    description:
      - The file to write, made 0600 and owned by root (its directory, if missing, 0700).
      - With O(restore_at_boot), the restore also loads the firewall files M(xfrm.ipsec.ipsec_firewall) wrote in the
        same directory.
    type: path
    default: /etc/xfrm-ipsec/state.ip
  format:
    description: C(ip) (C(ip -batch) lines) or C(setkey) (a setkey file).
    type: str
    choices: [ip, setkey]
    default: ip
  managed_only:
    description: Only the collection's entries (the default); C(false) saves every SA and policy.
    type: bool
    default: true
  restore_at_boot:
    description:
      - C(systemd) also installs C(/usr/local/sbin/xfrm-ipsec-restore) and the unit C(xfrm-ipsec-restore.service),
        ordered before C(network-pre.target), and enables it. At boot, before the network comes up, the firewall
        files of the directory are loaded, then the SAs and policies (C(ip -force -batch) on O(path), which reads the
        keys from the file, never from argv). Fails where systemd does not run the host.
      - C(auto) does the same where systemd runs the host, and warns elsewhere; C(none) writes the file only.
      - The unit is enabled, not started (the state it restores is in place already).
    type: str
    choices: [none, systemd, auto]
    default: none
  state:
    description: C(absent) removes the file and, where installed, the unit (disabled first) and its script, and the
      directory if it is left empty.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Save this host's IPsec state and restore it at boot where systemd runs the host (as the role ipsec_persist does)
  xfrm.ipsec.ipsec_save:
    path: /etc/xfrm-ipsec/state.ip
    restore_at_boot: auto

- name: A setkey-language backup of everything the kernel holds, on the host itself
  xfrm.ipsec.ipsec_save:
    path: /root/ipsec-backup.setkey
    format: setkey
    managed_only: false

- name: Remove the saved state, the unit and its script
  xfrm.ipsec.ipsec_save:
    path: /etc/xfrm-ipsec/state.ip
    state: absent
"""

RETURN = r"""
path:
  description: The file.
  returned: always
  type: str
sas:
  description: How many SAs the file holds.
  returned: when O(state=present)
  type: int
policies:
  description: How many policies the file holds.
  returned: when O(state=present)
  type: int
interfaces:
  description: How many XFRM interfaces of the collection (route mode, M(xfrm.ipsec.ipsec_interface)) the file holds.
  returned: when O(state=present)
  type: int
routes:
  description: How many routes of the collection through them the file holds.
  returned: when O(state=present)
  type: int
changed_files:
  description: What this run wrote or enabled (the file, the directory, the script, the unit).
  returned: when O(state=present)
  type: list
  elements: str
restore_at_boot:
  description: The unit that restores the state at boot.
  returned: when the unit is installed
  type: str
  sample: xfrm-ipsec-restore.service
removed:
  description: What O(state=absent) removed (or would remove, in check mode).
  returned: when O(state=absent)
  type: list
  elements: str
"""

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_argspec import save_module_spec
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_common import XfrmModule, save


def main():
    save(XfrmModule(**save_module_spec()))


if __name__ == "__main__":
    main()
