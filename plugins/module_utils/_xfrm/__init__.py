# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private XFRM netlink core of the xfrm.ipsec collection.

Not a public API: names and signatures may change in any release. The collection's
modules and action plugin, its benchmarks (bench/, also inside the lab's guests) and its
tests import it. Nothing in here imports Ansible. Its layout: docs/design-notes.md.
"""
