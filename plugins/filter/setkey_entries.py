# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: setkey_entries
short_description: A setkey file as the SAs and policies of xfrm.ipsec's modules, for migration
version_added: 0.2.0
description:
  - Reads the text of a setkey file (what C(setkey -f) reads) and returns the SAs and policies it leaves on a host
    that held none, as the options of M(xfrm.ipsec.ipsec_apply) (O(xfrm.ipsec.ipsec_apply#module:sas) and
    O(xfrm.ipsec.ipsec_apply#module:policies)), so that a setkey script can become YAML in an inventory.
  - Names are the kernel's (C(3des-cbc) becomes C(cbc(des3_ede))), keys are C(0x) hex (a quoted setkey key is
    ASCII, its bytes become hex), SPIs and reqids are numbers. Statements run in order (C(delete) and C(flush)
    remove what earlier lines added).
  - The result holds the keys. Write it only to a file you encrypt with C(ansible-vault), and mark tasks that
    show it C(no_log).
  - Errors name the line (and the column, for syntax); what Linux XFRM cannot do is refused with the reason.
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
options:
  _input:
    description: The text of the setkey file.
    type: str
    required: true
  allow_weak_algorithms:
    description: Accept weak algorithms (DES, 3DES, MD5, null), as the modules' option of the same name does.
    type: bool
    default: false
  allow_static_counter_mode:
    description: Accept counter-mode ciphers with manual keys, as the modules' option of the same name does.
    type: bool
    default: false
seealso:
  - module: xfrm.ipsec.ipsec_apply
"""

EXAMPLES = r"""
# Turn an old setkey script into host_vars, then encrypt the file: it holds the keys
- name: Convert ipsec-tools.conf
  ansible.builtin.copy:
    content: "{{ lookup('ansible.builtin.file', 'ipsec-tools.conf') | xfrm.ipsec.setkey_entries(allow_weak_algorithms=true)
                 | ansible.builtin.to_nice_yaml }}"
    dest: "host_vars/{{ inventory_hostname }}/ipsec.yml"
    mode: "0600"
  delegate_to: localhost
  no_log: true
"""

RETURN = r"""
_value:
  description: The SAs and policies, as the options of M(xfrm.ipsec.ipsec_apply).
  type: dict
  contains:
    sas:
      description: The SAs, each as an element of O(xfrm.ipsec.ipsec_apply#module:sas).
      type: list
      elements: dict
    policies:
      description: The policies, each as an element of O(xfrm.ipsec.ipsec_apply#module:policies).
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import setkey
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import ValidationError


def setkey_entries(text, allow_weak_algorithms=False, allow_static_counter_mode=False):
    try:
        return setkey.entries(str(text), allow_weak_algorithms=bool(allow_weak_algorithms),
                              allow_static_counter_mode=bool(allow_static_counter_mode))
    except (setkey.SetkeyError, ValidationError) as exc:
        raise AnsibleFilterError("setkey_entries: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"setkey_entries": setkey_entries}
