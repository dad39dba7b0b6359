#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_flush
short_description: Remove IPsec SAs and policies, only this collection's or all (setkey -F / -FP)
version_added: 0.1.0
description:
  - Removes SAs and/or policies from the Linux kernel's XFRM tables and reports what it removed.
  - With O(scope=managed) (the default) only the entries this collection created are removed (see the notes), one by
    one, all or nothing; with O(scope=all) the kernel's own flush removes every entry, like C(setkey -F) and C(setkey -FP).
  - Policies go before SAs, so no policy is left requiring an SA that is gone.
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
extends_documentation_fragment:
  - xfrm.ipsec.common
options:
  scope:
    description:
      - C(managed) removes only SAs whose reqid and policies whose index lie in the collection's range;
        C(all) removes every SA and policy, including those of other tools (an IKE daemon's, for example).
    type: str
    choices: [managed, all]
    default: managed
  sas:
    description: Remove SAs.
    type: bool
    default: true
  policies:
    description: Remove policies.
    type: bool
    default: true
  proto:
    description: Remove only SAs of this protocol (setkey C(flush esp;)).
    type: str
    choices: [any, esp, ah, comp]
    default: any
seealso:
  - module: xfrm.ipsec.ipsec_sa
  - module: xfrm.ipsec.ipsec_policy
"""

EXAMPLES = r"""
- name: Remove everything this collection installed (policies first, then SAs)
  xfrm.ipsec.ipsec_flush:

- name: The seed documents' "flush; spdflush;" (every SA and policy, whoever made them)
  xfrm.ipsec.ipsec_flush:
    scope: all

- name: Remove the managed ESP SAs only, keep policies
  xfrm.ipsec.ipsec_flush:
    policies: false
    proto: esp

- name: Preview what a flush would remove
  xfrm.ipsec.ipsec_flush:
    scope: all
  check_mode: true
  register: would_remove
"""

RETURN = r"""
removed:
  description: What was removed (in check mode, what would be), keys replaced by fingerprints.
  returned: always
  type: dict
  contains:
    sas:
      description: The SAs, as M(xfrm.ipsec.ipsec_info) describes them.
      type: list
      elements: dict
    policies:
      description: The policies, as M(xfrm.ipsec.ipsec_info) describes them.
      type: list
      elements: dict
  sample: {sas: [{src: 10.0.0.216, dst: 10.0.0.11, proto: esp, spi: 24501, mode: transport, reqid: 1879048192}], policies: []}
"""

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_argspec import flush_module_spec
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.gc_pause import paused_gc
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_common import XfrmModule, flush


def main():
    with paused_gc():  # dumps of 10,000 entries: see gc_pause.py
        flush(XfrmModule(**flush_module_spec()))


if __name__ == "__main__":
    main()
