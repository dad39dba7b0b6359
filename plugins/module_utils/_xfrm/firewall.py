# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall that goes with a host's IPsec policies: an nftables table of the collection's own (or iptables
chains, where a host has no nft), derived from the SAs and policies the kernel holds (ipsec_info's data).

What it does, per chain (rules in the order of the policies' priorities, as the kernel picks policies):

    input        ESP/AH (and UDP 4500 from NAT-T peers) from the peers accepted; then, per `in` policy: an allow
                 (bypass) policy accepts its traffic, an IPsec policy drops what matches it but did not arrive
                 through IPsec (`meta ipsec missing`: plaintext, spoofed or leaked, is counted and dropped)
    forward      the same for `fwd` policies (gateways)
    postrouting  per `out` policy: an IPsec policy drops what would leave in clear (`rt ipsec missing`: no SA or
                 no policy matched), so that a missing SA drops instead of sending plaintext; ESP/AH/IPComp
                 themselves (the packets after the transform cross this chain too) are accepted first

Route mode (routes through XFRM interfaces): the interface's policies (they carry an if_id) make no rule, as only
what is routed into the interface meets them; per route instead, plaintext from its destination that did not come
through IPsec is dropped on input and forward, and traffic to it that would leave through any other interface (the
XFRM interface gone, its route with it) without IPsec is dropped on postrouting (the packet crosses postrouting
twice: into the interface, then inside the transform with its IPsec route).

The management addresses are accepted before anything else in input and postrouting: the connection Ansible
uses is never dropped. An accept in this table ends only this table's chain: a drop elsewhere still drops
(README: hosts with a default-drop firewall of their own).
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import NamedTuple

TABLE = "xfrm_ipsec"                 # nft: table inet xfrm_ipsec
IPTABLES_PREFIX = "XFRM-IPSEC-"      # iptables: chains XFRM-IPSEC-INPUT, -FORWARD, -OUTPUT in the filter table
COMMENT = "xfrm.ipsec "              # the table's comment: COMMENT + the digest of its rules
PROTOCOL_NUMBERS = {"any": None, "icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "ipv6-icmp": 58, "sctp": 132}
IPSEC_PROTOCOLS = ("esp", "ah")       # accepted from the peers on input; with comp, on postrouting
CHAINS = {"in": "input", "fwd": "forward", "out": "postrouting"}
NATT_PORT = 4500


class Rule(NamedTuple):
    """One rule of a chain: its family (4 or 6), the policy's match, and what it does."""

    family: int
    src: str            # network, or None for any
    dst: str
    proto: int          # None: any
    sport: int          # None: any (for ICMP: the type)
    dport: int          # None: any (for ICMP: the code)
    verdict: str        # "accept" or "drop"
    policy: str         # the policy it comes from, for the rule's comment
    iface: str = None   # postrouting, route mode: the XFRM interface the traffic must leave through (else dropped)


class Ruleset(NamedTuple):
    peers: dict         # {4: [addresses], 6: [...]}
    natt_peers: dict
    management: dict
    chains: dict        # {"input": [Rule], "forward": [...], "postrouting": [...]}


def _family(address):
    return ipaddress.ip_network(address, strict=False).version


def _cidr(text):
    """An address or network as CIDR ("192.0.2.1" and "192.0.2.1/32" are one selector)."""
    return str(ipaddress.ip_network(text, strict=False))


def _order_key(policy):
    proto = PROTOCOL_NUMBERS.get(policy.get("proto", "any"), policy.get("proto"))
    return (policy["dir"], _family(policy["src"]), _cidr(policy["src"]), _cidr(policy["dst"]), str(proto or 0),
            policy.get("sport") or 0, policy.get("dport") or 0)


def _net(text):
    net = ipaddress.ip_network(text, strict=False)
    return None if net.prefixlen == 0 else str(net)


def _by_family(addresses):
    out = {4: set(), 6: set()}
    for address in addresses:
        out[ipaddress.ip_address(address).version].add(address)
    return {family: sorted(found, key=ipaddress.ip_address) for family, found in out.items()}


def plan(sas, policies, management=(), natt_peers=(), drop_plaintext=True, leak_guard=True, routes=()):
    """The Ruleset for a host's SAs and policies (ipsec_info's `sas` and `policies`, the collection's own) and its
    routes through XFRM interfaces ([{dst, dev}], route mode)."""
    peers = {a for sa in sas if sa.get("proto") in IPSEC_PROTOCOLS for a in (sa["src"], sa["dst"])}
    # ESP in UDP: the ends of the SAs with UDP encapsulation send to port 4500 (NAT traversal), and no one else
    natt_peers = set(natt_peers) | {a for sa in sas if sa.get("encap") for a in (sa["src"], sa["dst"])}
    chains = {chain: [] for chain in CHAINS.values()}
    # the kernel's order (priority first); then a fixed one, whatever the source: the roles' planned entries and the
    # kernel's dump of the same policies must make the same rules (a --limit run mixes both)
    ordered = sorted((p for p in policies if not p.get("if_id")), key=lambda p: (p.get("priority", 0), _order_key(p)))
    seen = set()
    for policy in ordered:
        chain = CHAINS.get(policy["dir"])
        templates = policy.get("templates") or []
        if chain is None or (chain == "postrouting" and not leak_guard) or (chain != "postrouting" and not drop_plaintext):
            continue
        if not templates and policy.get("action", "allow") == "allow":
            verdict = "accept"
        elif templates and any(t.get("level", "required") == "required" for t in templates):
            verdict = "drop"
        else:
            continue  # a block policy (the kernel drops it anyway) or templates all optional (level use)
        proto = PROTOCOL_NUMBERS.get(policy.get("proto", "any"), policy.get("proto"))
        src, dst = _cidr(policy["src"]), _cidr(policy["dst"])
        rule = Rule(_family(src), _net(src), _net(dst), None if proto in (None, 0) else int(proto), policy.get("sport"),
                    policy.get("dport"), verdict, "%s %s -> %s" % (policy["dir"], src, dst))
        if rule not in seen:
            seen.add(rule)
            chains[chain].append(rule)
    for route in sorted(routes, key=lambda r: (_family(r["dst"]), _cidr(r["dst"]), r["dev"])):
        dst, label = _cidr(route["dst"]), "route %s dev %s" % (_cidr(route["dst"]), route["dev"])
        if drop_plaintext:
            chains["input"].append(Rule(_family(dst), _net(dst), None, None, None, None, "drop", label))
            chains["forward"].append(Rule(_family(dst), _net(dst), None, None, None, None, "drop", label))
        if leak_guard:
            chains["postrouting"].append(Rule(_family(dst), None, _net(dst), None, None, None, "drop", label, route["dev"]))
    for chain, rules in chains.items():  # accepts that no drop follows are noise
        while rules and rules[-1].verdict == "accept":
            rules.pop()
    return Ruleset(_by_family(peers), _by_family(natt_peers), _by_family(management), chains)


# -- nftables ---------------------------------------------------------------------------

_NFT_FAMILY = {4: "ip", 6: "ip6"}
_NFT_ADDR_TYPE = {4: "ipv4_addr", 6: "ipv6_addr"}
_NFT_ICMP = {1: "icmp", 58: "icmpv6"}
# what did not cross IPsec: on the way in, no secpath (not decrypted); on the way out, no transform on the route
_NFT_MISSING = {"input": "meta ipsec missing", "forward": "meta ipsec missing", "postrouting": "rt ipsec missing"}


def _nft_match(rule):
    family = _NFT_FAMILY[rule.family]
    words = ["meta nfproto %s" % ("ipv4" if rule.family == 4 else "ipv6")]
    if rule.src:
        words.append("%s saddr %s" % (family, rule.src))
    if rule.dst:
        words.append("%s daddr %s" % (family, rule.dst))
    if rule.proto is not None:
        words.append("meta l4proto %d" % rule.proto)
        if rule.proto in _NFT_ICMP:
            icmp = _NFT_ICMP[rule.proto]
            if rule.sport is not None:
                words.append("%s type %d" % (icmp, rule.sport))
            if rule.dport is not None:
                words.append("%s code %d" % (icmp, rule.dport))
        else:
            if rule.sport is not None:
                words.append("th sport %d" % rule.sport)
            if rule.dport is not None:
                words.append("th dport %d" % rule.dport)
    return " ".join(words)


def _set(name, family, addresses):
    lines = ["\tset %s_v%d {" % (name, family), "\t\ttype %s" % _NFT_ADDR_TYPE[family]]
    if addresses:
        lines.append("\t\telements = { %s }" % ", ".join(addresses))
    lines.append("\t}")
    return lines


def nft_table(ruleset):
    """(the table's body, its digest): the sets and chains, and the sha256 the table's comment carries."""
    body = []
    for name, addresses in (("peers", ruleset.peers), ("natt_peers", ruleset.natt_peers),
                            ("management", ruleset.management)):
        for family in (4, 6):
            body += _set(name, family, addresses[family])
    ipsec = "{ %s }" % ", ".join(IPSEC_PROTOCOLS)
    for chain in CHAINS.values():  # each chain is named after its hook
        body.append("\tchain %s {" % chain)
        body.append("\t\ttype filter hook %s priority filter; policy accept;" % chain)
        if chain == "input":
            body += ["\t\tip saddr @management_v4 accept", "\t\tip6 saddr @management_v6 accept",
                     "\t\tip saddr @peers_v4 meta l4proto %s counter accept" % ipsec,
                     "\t\tip6 saddr @peers_v6 meta l4proto %s counter accept" % ipsec,
                     "\t\tip saddr @natt_peers_v4 udp dport %d counter accept" % NATT_PORT,
                     "\t\tip6 saddr @natt_peers_v6 udp dport %d counter accept" % NATT_PORT]
        elif chain == "postrouting":
            body += ["\t\tip daddr @management_v4 accept", "\t\tip6 daddr @management_v6 accept",
                     "\t\tmeta l4proto { esp, ah, comp } accept"]
        for rule in ruleset.chains[chain]:
            if rule.verdict == "accept":
                body.append("\t\t%s accept comment \"%s\"" % (_nft_match(rule), rule.policy))
            else:
                # route mode: the packet going into the XFRM interface, and again (on the way to the WAN) the same
                # packet inside xfrm_output before the transform: it has the IPsec route then (not dropped)
                missing = _NFT_MISSING[chain] if rule.iface is None else "oifname != \"%s\" %s" % (rule.iface, _NFT_MISSING[chain])
                body.append("\t\t%s %s counter drop comment \"%s\"" % (_nft_match(rule), missing, rule.policy))
        body.append("\t}")
    text = "\n".join(body) + "\n"
    return text, "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def nft_file(ruleset):
    """(the file `nft -f` loads atomically: the table created if missing, deleted and made again in one
    transaction, so that no packet ever sees half a table; its digest)."""
    body, digest = nft_table(ruleset)
    text = ("#!/usr/sbin/nft -f\n"
            "# Written by xfrm.ipsec (role ipsec_firewall) from this host's IPsec policies: do not edit, re-run the play.\n"
            "# Loaded atomically: `nft -f` applies the whole file as one transaction.\n"
            "table inet %s\n"
            "delete table inet %s\n"
            "table inet %s {\n"
            "\tcomment \"%s%s\"\n%s}\n") % (TABLE, TABLE, TABLE, COMMENT, digest, body)
    return text, digest


# -- iptables (hosts without nft) -----------------------------------------------------------

def _ipt_match(rule):
    words = []
    if rule.src:
        words += ["-s", rule.src]
    if rule.dst:
        words += ["-d", rule.dst]
    if rule.proto is not None:
        # names iptables knows without /etc/protocols, and the match module each needs
        words += ["-p", _IPT_PROTOCOLS.get(rule.proto, (str(rule.proto),))[0]]
        if rule.proto in _NFT_ICMP and rule.sport is not None:
            option = "-m icmp --icmp-type" if rule.proto == 1 else "-m icmp6 --icmpv6-type"
            words += [option, "%d/%d" % (rule.sport, rule.dport) if rule.dport is not None else str(rule.sport)]
        elif rule.proto in _IPT_PROTOCOLS and (rule.sport is not None or rule.dport is not None):
            words += ["-m", _IPT_PROTOCOLS[rule.proto][1]]
            if rule.sport is not None:
                words += ["--sport", str(rule.sport)]
            if rule.dport is not None:
                words += ["--dport", str(rule.dport)]
    return " ".join(words)


_IPT_PROTOCOLS = {1: ("icmp", "icmp"), 6: ("tcp", "tcp"), 17: ("udp", "udp"), 58: ("ipv6-icmp", "icmp6"),
                  132: ("sctp", "sctp")}


def iptables_restore(ruleset, family, digest=""):
    """The `iptables-restore --noflush` text (ip6tables-restore for family 6) of the collection's chains in the
    filter table. Their "accept" is RETURN: ACCEPT would end the host's own INPUT chain and skip its rules; the
    jumps from INPUT, FORWARD and OUTPUT are the role's to insert."""
    chains = {"input": IPTABLES_PREFIX + "INPUT", "forward": IPTABLES_PREFIX + "FORWARD", "output": IPTABLES_PREFIX + "OUTPUT"}
    lines = ["# Written by xfrm.ipsec (role ipsec_firewall): do not edit, re-run the play.", "*filter"]
    lines += [":%s - [0:0]" % name for name in chains.values()]
    inp, fwd, out = chains["input"], chains["forward"], chains["output"]
    lines.append("-A %s -m comment --comment \"%s%s\"" % (inp, COMMENT, digest))  # no target: a marker that counts
    for address in ruleset.management[family]:
        lines += ["-A %s -s %s -j RETURN" % (inp, address), "-A %s -d %s -j RETURN" % (out, address)]
    for address in ruleset.peers[family]:
        lines += ["-A %s -s %s -p %s -j RETURN" % (inp, address, proto) for proto in IPSEC_PROTOCOLS]
    for address in ruleset.natt_peers[family]:
        lines.append("-A %s -s %s -p udp --dport %d -j RETURN" % (inp, address, NATT_PORT))
    lines += ["-A %s -p %s -j RETURN" % (out, proto) for proto in IPSEC_PROTOCOLS + ("108",)]  # 108: IPComp
    lines += ["-A %s -p %s -j RETURN" % (fwd, proto) for proto in IPSEC_PROTOCOLS + ("108",)]
    for chain, target, direction in (("input", inp, "in"), ("forward", fwd, "in"), ("postrouting", out, "out"),
                                     ("postrouting", fwd, "out")):
        for rule in ruleset.chains[chain]:
            if rule.family != family:
                continue
            match = _ipt_match(rule)
            if rule.verdict == "accept":
                lines.append("-A %s %s -j RETURN" % (target, match))
            else:
                if rule.iface is not None:
                    match += " ! -o %s" % rule.iface
                lines.append("-A %s %s -m policy --dir %s --pol none -m comment --comment \"%s\" -j DROP"
                             % (target, match, direction, rule.policy))
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"
