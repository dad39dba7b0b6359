# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options and attributes every xfrm.ipsec module shares."""

    DOCUMENTATION = r"""
options:
  netns:
    description:
      - Name of a network namespace (as in C(ip netns list)) whose XFRM tables to manage instead of the host's.
      - The namespace must exist; a misspelt name is an error, never a new empty namespace. An empty string or a path
        is refused too, so that an empty C(default) never keys the host's own kernel; leave the option out for the host.
      - Needs the Python library C(pyroute2) on the managed host.
    type: str
requirements:
  - Linux with XFRM netlink (C(CONFIG_XFRM_USER)); ESP and AH SAs need the C(esp4)/C(esp6)/C(ah4)/C(ah6) modules.
  - Root (C(CAP_NET_ADMIN)); use privilege escalation (C(become=true)).
  - pyroute2 (0.7 or later) on the managed host when O(netns) is used.
attributes:
  check_mode:
    support: full
    description:
      - Check mode reads the kernel and reports exactly the changes a real run would make, and makes none.
  diff_mode:
    support: full
    description: The diff shows the entries that change, before and after, with keys replaced by fingerprints.
  platform:
    support: full
    platforms: linux
    description: Talks NETLINK_XFRM to the Linux kernel; it never runs C(ip) or C(setkey).
notes:
  - Entries this collection creates are marked so that C(exclusive=true) and M(xfrm.ipsec.ipsec_flush) with
    O(xfrm.ipsec.ipsec_flush#module:scope=managed) touch nothing else.
    An SA is managed when its reqid is in 0x70000000-0x7fffffff (the default reqid is 0x70000000);
    a policy is managed when its kernel index is in that range (the modules give each new policy such an index).
  - A request never changes a foreign entry (an IPsec daemon's, or one made by hand). An entry that has the identity of
    a foreign one with other contents is refused, naming it; an equal foreign entry is left as it is.
  - One run at a time changes one kernel's tables (the host's, or one namespace's). A run waits for another one
    (C(/run/xfrm-ipsec/*.lock), an C(flock) that a killed run releases) for up to 120 seconds, or the seconds
    in the environment variable C(XFRM_IPSEC_LOCK_WAIT), then fails naming the holder's pid, having changed nothing.
"""

    ALGORITHMS = r"""
options:
  allow_weak_algorithms:
    description:
      - Accept algorithms that are broken or too weak for new deployments (C(des-cbc), C(3des-cbc), C(blowfish-cbc),
        C(cast128-cbc), C(hmac-md5), C(null)); each use then raises a warning. Meant for migrating old setkey configurations.
    type: bool
    default: false
  allow_static_counter_mode:
    description:
      - Accept counter-mode ciphers (AES-GCM C(rfc4106(gcm(aes))), AES-CCM, ChaCha20-Poly1305, AES-CTR) with manual keys.
      - They take their nonce from the ESP sequence number, which manual keying restarts at 1 after every reboot, so
        the same key and nonce encrypt twice and the key is compromised. Only set this when keys are rotated at every boot.
    type: bool
    default: false
"""
