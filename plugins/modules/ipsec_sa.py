#!/usr/bin/python
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ipsec_sa
short_description: Manage IPsec security associations (the kernel's SAD) over netlink
version_added: 0.1.0
description:
  - Adds, updates and removes manually keyed IPsec SAs (ESP, AH, IPComp) in the Linux kernel's XFRM state table,
    the job of C(setkey)'s C(add)/C(delete) lines, idempotently.
  - Takes one SA through the top-level options, or a list in O(sas). The whole request is validated before the kernel
    is touched; if any change fails, every change already made is undone.
  - An SA is identified by destination, SPI, protocol and mark, as the kernel looks it up. An SA that exists with other
    keys, algorithms, mode or reqid is replaced (deleted and added again, because the kernel's update message changes
    only lifetimes and encapsulation); a change of lifetimes or encapsulation ports alone is applied in place.
  - SAs are harmless without policies; add policies with M(xfrm.ipsec.ipsec_policy) after the SAs of both peers exist.
author:
  - xfrm.ipsec contributors (@xfrm-ipsec)
extends_documentation_fragment:
  - xfrm.ipsec.common
  - xfrm.ipsec.common.algorithms
options:
  src: &src
    description:
      - Source address of the SA (setkey's first address). Required for O(state=present).
    type: str
  dst: &dst
    description:
      - Destination address of the SA. With O(spi), O(proto) and O(mark) it identifies the SA.
    type: str
  proto: &proto
    description:
      - IPsec protocol.
    type: str
    choices: [esp, ah, comp]
    default: esp
  spi: &spi
    description:
      - Security Parameter Index, 256-4294967295 (0-255 are reserved), as a number or C(0x) hex text.
      - For O(proto=comp) the 16-bit CPI.
    type: raw
  mode: &mode
    description:
      - C(transport) between end hosts, C(tunnel) between gateways (O(src) and O(dst) are the tunnel endpoints),
        C(beet) (ESP only).
    type: str
    choices: [transport, tunnel, beet]
    default: transport
  reqid: &reqid
    description:
      - Request id that binds policy templates to this SA.
      - Defaults to 0x70000000. Values in 0x70000000-0x7fffffff mark the SA as managed by this collection; an SA with
        a reqid outside that range is applied, with a warning, but O(exclusive) and M(xfrm.ipsec.ipsec_flush) leave it alone.
    type: raw
  enc: &enc
    description:
      - Encryption (ESP). Kernel names (C(cbc(aes))) and setkey names (C(aes-cbc), C(rijndael-cbc), C(3des-cbc),
        C(des-cbc), C(blowfish-cbc), C(cast128-cbc), C(twofish-cbc), C(camellia-cbc), C(aes-ctr), C(null)) are accepted.
    type: dict
    suboptions:
      algorithm:
        description: Algorithm name.
        type: str
        required: true
      key:
        description:
          - The key, as C(0x) followed by hex digits, or as ASCII text in double quotes as setkey writes it
            (in YAML C('"hogehoge"')). Unquoted ASCII text is taken too, unless it is made of 8 or more hex
            digits only (C(1234567890123456)); that is refused, as it is almost always a hex key missing its C(0x).
          - Quote a hex key in YAML (C("0x5a...")). Unquoted, YAML reads C(0x5a...) as an integer, which is refused.
          - Its length must match the algorithm, for example 16, 24 or 32 bytes for C(cbc(aes)).
        type: raw
        required: true
  auth: &auth
    description:
      - Authentication (AH, or ESP with O(enc)). C(hmac-sha256) (C(hmac(sha256))), C(hmac-sha384), C(hmac-sha512),
        C(hmac-sha1), C(hmac-ripemd160), C(aes-xcbc-mac), C(aes-cmac), C(hmac-md5), C(null).
    type: dict
    suboptions:
      algorithm:
        description: Algorithm name.
        type: str
        required: true
      key:
        description: The key, C(0x) hex or ASCII text; its length must match the algorithm (32 bytes for C(hmac-sha256)).
        type: raw
        required: true
      trunc_len:
        description: ICV truncation in bits. Defaults to the RFC value (128 for C(hmac-sha256), 96 for C(hmac-sha1) and C(hmac-md5)).
        type: int
  aead: &aead
    description:
      - Combined encryption and authentication (ESP only, instead of O(enc) and O(auth)), one of
        C(rfc4106(gcm(aes))) (C(aes-gcm)), C(rfc4309(ccm(aes))) (C(aes-ccm)), C(rfc7539esp(chacha20,poly1305)).
      - Refused with manual keys unless O(allow_static_counter_mode=true), see there.
    type: dict
    suboptions:
      algorithm:
        description: Algorithm name.
        type: str
        required: true
      key:
        description: Key followed by its salt, C(0x) hex or ASCII (20, 28 or 36 bytes for AES-GCM).
        type: raw
        required: true
      icv_len:
        description: ICV length in bits (64, 96 or 128; default 128).
        type: int
  comp: &comp
    description:
      - Compression algorithm of an IPComp SA (O(proto=comp)).
    type: dict
    suboptions:
      algorithm:
        description: C(deflate), C(lzs) or C(lzjh).
        type: str
        required: true
  replay_window: &replay_window
    description:
      - Anti-replay window in packets, 0-32. The default 0 turns replay checks off, as setkey did, because with manual keys the
        sender's sequence numbers restart at every reboot and a window would drop its packets until it overtakes.
    type: int
    default: 0
  flags: &flags
    description:
      - XFRM state flags (C(ip xfrm state ... flag)), and the extra flags C(dont-encap-dscp) and C(oseq-may-wrap) (C(ip
        xfrm state ... extra-flag)).
      - "C(oseq-may-wrap): once its 32-bit sequence number is spent (2^32 packets, half a day at 100,000 packets per
        second), the SA goes on sending from 0 instead of stopping (C(XfrmOutStateSeqError)). Safe where the receiver
        checks no replay window (O(sas[].replay_window=0), as manual keying does): the roles set it. See
        docs/rotation.md."
    type: list
    elements: str
    choices: [noecn, decap-dscp, nopmtudisc, wildrecv, icmp, af-unspec, align4, dont-encap-dscp, oseq-may-wrap]
  lifetime: &lifetime
    description:
      - Limits after which the kernel expires the SA (soft limits only signal). Unset limits are unlimited.
    type: dict
    suboptions: &lifetime_options
      soft_byte_limit: {description: Bytes before the soft expiry., type: int}
      hard_byte_limit: {description: Bytes before the SA is removed., type: int}
      soft_packet_limit: {description: Packets before the soft expiry., type: int}
      hard_packet_limit: {description: Packets before the SA is removed., type: int}
      soft_add_expires_seconds: {description: Seconds after adding before the soft expiry., type: int}
      hard_add_expires_seconds: {description: Seconds after adding before the SA is removed (setkey C(-lh))., type: int}
      soft_use_expires_seconds: {description: Seconds after first use before the soft expiry., type: int}
      hard_use_expires_seconds: {description: Seconds after first use before the SA is removed., type: int}
  mark: &mark
    description:
      - Firewall mark the SA applies to (packets match when mark & mask == value). Part of the SA's identity.
    type: dict
    suboptions: &mark_options
      value:
        description: Mark value, number or C(0x) hex.
        type: raw
        required: true
      mask:
        description: Mask, number or C(0x) hex. Defaults to 0xffffffff.
        type: raw
  if_id: &if_id
    description: XFRM interface id (for C(xfrm) interfaces).
    type: int
  encap: &encap
    description: UDP encapsulation of ESP (NAT traversal).
    type: dict
    suboptions:
      type:
        description: Encapsulation type.
        type: str
        choices: [espinudp, espinudp-nonike]
        default: espinudp
      sport:
        description: UDP source port.
        type: int
        default: 4500
      dport:
        description: UDP destination port.
        type: int
        default: 4500
      oa:
        description: Original address (before NAT).
        type: str
  selector: &selector
    description:
      - Traffic the SA may carry. Omitted, the SA takes any traffic its policies send it (ip xfrm's default).
    type: dict
    suboptions:
      src:
        description: Source address or network, or C(any).
        type: str
        default: any
      dst:
        description: Destination address or network, or C(any).
        type: str
        default: any
      proto:
        description: Upper-layer protocol, a name (C(tcp), C(udp), C(icmp), C(any)) or number.
        type: str
        default: any
      sport:
        description: Source port (TCP, UDP, SCTP) or ICMP type.
        type: int
      dport:
        description: Destination port (TCP, UDP, SCTP) or ICMP code.
        type: int
  state: &state
    description:
      - C(present) adds or corrects the SA, C(absent) removes it (only O(dst), O(spi), O(proto) and O(mark) are needed).
    type: str
    choices: [present, absent]
    default: present
  sas:
    description:
      - A list of SAs, each with the options above, applied together (one request, batched, all or nothing).
      - Mutually exclusive with the single-SA options.
    type: list
    elements: dict
    suboptions:
      src: *src
      dst: *dst
      proto: *proto
      spi: *spi
      mode: *mode
      reqid: *reqid
      enc: *enc
      auth: *auth
      aead: *aead
      comp: *comp
      replay_window: *replay_window
      flags: *flags
      lifetime: *lifetime
      mark: *mark
      if_id: *if_id
      encap: *encap
      selector: *selector
      state: *state
  exclusive:
    description:
      - Also remove every managed SA (see the notes) that the request does not list, so the kernel holds exactly the
        managed SAs given. SAs of other tools are never removed.
      - Refused with an empty request (no entries at all), which would remove them all (a C(default([])) away from
        unkeying a host). Use M(xfrm.ipsec.ipsec_flush) with O(xfrm.ipsec.ipsec_flush#module:scope=managed) for that.
    type: bool
    default: false
seealso:
  - module: xfrm.ipsec.ipsec_policy
  - module: xfrm.ipsec.ipsec_flush
  - module: xfrm.ipsec.ipsec_info
"""

EXAMPLES = r"""
# LARTC "IPSEC: secure IP over the Internet", on both hosts (10.0.0.216 and 10.0.0.11):
#   add 10.0.0.11 10.0.0.216 ah 15700 -A hmac-md5 "1234567890123456";
#   add 10.0.0.216 10.0.0.11 ah 24500 -A hmac-md5 "1234567890123456";
#   add 10.0.0.11 10.0.0.216 esp 15701 -E 3des-cbc "123456789012123456789012";
#   add 10.0.0.216 10.0.0.11 esp 24501 -E 3des-cbc "123456789012123456789012";
# The same SAs with the collection. The seed document's algorithms are weak: they need the opt-in
# and raise a warning; keep keys in a vault, never in clear as here.
- name: ESP and AH transport SAs both ways (LARTC example)
  xfrm.ipsec.ipsec_sa:
    allow_weak_algorithms: true
    sas:
      - {src: 10.0.0.11, dst: 10.0.0.216, proto: ah, spi: 15700, auth: {algorithm: hmac-md5, key: '"1234567890123456"'}}
      - {src: 10.0.0.216, dst: 10.0.0.11, proto: ah, spi: 24500, auth: {algorithm: hmac-md5, key: '"1234567890123456"'}}
      - {src: 10.0.0.11, dst: 10.0.0.216, proto: esp, spi: 15701, enc: {algorithm: 3des-cbc, key: '"123456789012123456789012"'}}
      - {src: 10.0.0.216, dst: 10.0.0.11, proto: esp, spi: 24501, enc: {algorithm: 3des-cbc, key: '"123456789012123456789012"'}}

# KAME "host-to-host" with modern algorithms: one SA per direction, keys from the vault.
- name: Transport-mode ESP from host A to host B
  xfrm.ipsec.ipsec_sa:
    src: 10.1.1.1
    dst: 10.2.2.2
    spi: 9998
    enc:
      algorithm: aes-cbc
      key: "{{ vault_ab_enc_key }}"   # 0x followed by 64 hex digits
    auth:
      algorithm: hmac-sha256
      key: "{{ vault_ab_auth_key }}"  # 0x followed by 64 hex digits

# KAME "Proxy ESPing": tunnel-mode SAs between gateways 10.1.1.1 and 10.2.2.2
# (setkey: add 10.1.1.1 10.2.2.2 esp 9998 -m tunnel -E ...).
- name: Tunnel-mode ESP between the site gateways
  xfrm.ipsec.ipsec_sa:
    sas:
      - src: 10.1.1.1
        dst: 10.2.2.2
        spi: 9998
        mode: tunnel
        reqid: 0x70000001
        enc: {algorithm: aes-cbc, key: "{{ vault_gw_ab_enc }}"}
        auth: {algorithm: hmac-sha256, key: "{{ vault_gw_ab_auth }}"}
      - src: 10.2.2.2
        dst: 10.1.1.1
        spi: 9999
        mode: tunnel
        reqid: 0x70000001
        enc: {algorithm: aes-cbc, key: "{{ vault_gw_ba_enc }}"}
        auth: {algorithm: hmac-sha256, key: "{{ vault_gw_ba_auth }}"}

- name: Keep exactly these managed SAs in a test namespace, remove any other managed SA
  xfrm.ipsec.ipsec_sa:
    netns: lab
    exclusive: true
    sas: "{{ host_sas }}"

- name: Remove one SA (setkey delete 10.0.0.216 10.0.0.11 esp 24501;)
  xfrm.ipsec.ipsec_sa:
    dst: 10.0.0.11
    spi: 24501
    proto: esp
    state: absent
"""

RETURN = r"""
actions:
  description: One line per change made (or, in check mode, that would be made), in order.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: C(add), C(update) (lifetimes or encapsulation in place), C(replace) (delete and add) or C(delete).
      type: str
    entry:
      description: The SA, as protocol, SPI, destination and mark.
      type: str
  sample: [{action: add, entry: "esp spi 0x00005fb5 dst 10.0.0.11"}]
summary:
  description: Number of changes by action.
  returned: always
  type: dict
  sample: {add: 4, update: 0, replace: 0, delete: 0}
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
  sample: ["sas[3].enc.key: 24 bytes given, cbc(aes) takes 16, 24 or 32 bytes"]
"""

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_argspec import sa_module_spec
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.gc_pause import paused_gc
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.tables import SA
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_common import XfrmModule, run_entries


def main():
    with paused_gc():  # a list of 10,000 entries: see gc_pause.py
        run_entries(XfrmModule(**sa_module_spec()), SA)


if __name__ == "__main__":
    main()
