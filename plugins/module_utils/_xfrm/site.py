# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A site's pairs, and one host's share of them: what the roles plan on the controller (pure, no I/O).

A site is two kinds of groups of the inventory:

- a mesh of end hosts (role ipsec_host): transport mode between the hosts' addresses, every pair
  of the group or the pairs listed;
- gateways (role ipsec_gateway): tunnel mode between the gateways' addresses for the subnets
  behind them, every pair of gateways or the pairs listed.

A host's plan holds the SAs of its own pairs only (both directions, keys derived from the master
secret, see keys.py) and its policies: out and in for every pair, fwd too for gateways. Keys and
SPIs depend on the pair's names, addresses, protocol and generation only, never on which hosts a
play runs on, so a --limit run or one slice of a sliced job plans exactly what a full run does.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import NamedTuple

from . import keys, links
from .constants import ALGORITHM_NAMES
from .firewall import NATT_PORT  # ESP in UDP (RFC 3948): the port each gateway's socket holder binds

REQID = 0x70000100          # the roles' SAs and outbound templates of generation 0 (inside the managed range)
REQID_SPAN = 0x10000        # generation N's: REQID + N % REQID_SPAN (see reqid())
PRIORITY = 1000             # the roles' IPsec policies
BYPASS_PRIORITY = 100       # the roles' bypass policies (management path, IPv6 neighbour discovery): they win
ND_TYPES = (133, 134, 135, 136, 137)   # router/neighbour solicitation and advertisement, redirect
KINDS = ("host", "gateway")
PROTOCOLS = ("esp", "ah")
MODES = ("policy", "route")  # a gateway's: policies per subnet pair, or XFRM interfaces and routes (route_entries)
IF_ID_BASE = 0x10000        # the roles' if_ids (route mode): IF_ID_BASE + a number derived from the pair's name
IF_ID_SPAN = 0x7fff0000
INTERFACE_PREFIX = "ipsec-"  # the roles' XFRM interfaces: ipsec-<peer>, or ipsec-<if_id hex> for longer names
# bytes that a tunnel-mode ESP/AH packet adds beyond its payload, by outer family (before the cipher's block padding)
OUTER_HEADER = {4: 20, 6: 40}
ESP_HEADER, ESP_TRAILER = 8, 2      # SPI + sequence number; pad length + next header
CBC_BLOCK = 16                      # the roles' ciphers are 128-bit block ciphers in CBC mode: the IV is one block
UDP_HEADER = 8                      # ESP in UDP across a NAT
AH_HEADER = 12                      # before the ICV; AH is padded to 4 (IPv4) or 8 (IPv6) bytes
DEFAULT_LINK_MTU = 1500
STATIC_KEY_UNSAFE = ("rfc3686(ctr(aes))",)   # the aead ones are not offered at all


class SiteError(ValueError):
    """Input the site cannot be planned from; the message names the variable and the host."""


class Settings(NamedTuple):
    """A pair's protocols and algorithms (both peers must agree on them)."""

    protocols: tuple = ("esp",)
    enc_algorithm: str = "cbc(aes)"
    enc_key_bits: int = 256
    auth_algorithm: str = "hmac(sha256)"
    auth_trunc_len: int = 128


FIELDS = Settings._fields


def settings(raw, where):
    """Settings from a role's variables (dict with the FIELDS), checked; SiteError names `where`."""
    raw = dict(raw or {})
    unknown = set(raw) - set(FIELDS)
    if unknown:
        raise SiteError("%s: unknown setting(s) %s (known: %s)" % (where, ", ".join(sorted(unknown)), ", ".join(FIELDS)))
    try:
        value = Settings(**dict(Settings._field_defaults, **raw))
        value = value._replace(protocols=tuple(value.protocols), enc_key_bits=int(value.enc_key_bits),
                               auth_trunc_len=int(value.auth_trunc_len))
    except (TypeError, ValueError) as exc:
        raise SiteError("%s: %s" % (where, exc)) from None
    protocols = value.protocols
    if not protocols or any(p not in PROTOCOLS for p in protocols) or len(set(protocols)) != len(protocols):
        raise SiteError("%s.protocols: %r; give esp, ah or both (esp, ah: ESP inside AH, as in the LARTC document)"
                        % (where, list(protocols)))
    canonical = {}
    for kind, name, bits in (("enc", value.enc_algorithm, value.enc_key_bits), ("auth", value.auth_algorithm, None)):
        algorithm = ALGORITHM_NAMES.get((kind, name))
        if algorithm is None:
            raise SiteError("%s.%s_algorithm: unknown %s algorithm %r" % (where, kind, kind, name))
        if algorithm.weak:
            raise SiteError("%s.%s_algorithm: %s is weak; the roles do not deploy it" % (where, kind, name))
        if algorithm.name in STATIC_KEY_UNSAFE:
            raise SiteError("%s.%s_algorithm: %s is a counter mode: with manual keys its nonce repeats after every "
                            "reboot; the roles do not deploy it" % (where, kind, name))
        if bits is not None and bits not in algorithm.key_bits:
            raise SiteError("%s.enc_key_bits: %s takes %s bits" % (where, name, " or ".join(map(str, algorithm.key_bits))))
        canonical[kind + "_algorithm"] = algorithm.name
    return value._replace(**canonical)


def _key_bytes(kind, name):
    return ALGORITHM_NAMES[(kind, name)].key_bits[0] // 8


class Member(NamedTuple):
    """A host of a site group: its name, the addresses it speaks IPsec from and, for gateways, its subnets; for a
    gateway behind a NAT (ipsec_gateway_nat), (the NAT's public IPv4 address, the UDP port it maps 4500 to)."""

    name: str
    addresses: tuple
    subnets: tuple = ()
    nat: tuple = None


def addresses(value, where):
    """An address or a list of them (at most one per family) -> tuple of normalised strings."""
    items = value if isinstance(value, (list, tuple)) else [value]
    out, families = [], set()
    for item in items:
        try:
            address = ipaddress.ip_address(str(item).strip())
        except ValueError:
            raise SiteError("%s: %r is not an IP address" % (where, item)) from None
        if address.version in families:
            raise SiteError("%s: more than one IPv%d address; give at most one per family" % (where, address.version))
        families.add(address.version)
        out.append(str(address))
    if not out:
        raise SiteError("%s: no address given" % where)
    return tuple(out)


def subnets(value, where):
    if not isinstance(value, (list, tuple)) or not value:
        raise SiteError("%s: give the list of subnets behind the gateway (e.g. [198.51.100.0/24])" % where)
    out = []
    for item in value:
        try:
            out.append(str(ipaddress.ip_network(str(item).strip(), strict=True)))
        except ValueError as exc:
            raise SiteError("%s: %r: %s" % (where, item, exc)) from None
    return tuple(out)


def nat(value, where):
    """ipsec_gateway_nat ({address, port}: what the gateway's NAT router maps its IPv4 address and UDP 4500 to, as
    its peers reach it) -> (address, port), or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or "address" not in value or set(value) - {"address", "port"}:
        raise SiteError("%s: %r; give {address: <the NAT's public IPv4 address>, port: <the UDP port it maps 4500 to, "
                        "default 4500>}" % (where, value))
    try:
        public = ipaddress.ip_address(str(value["address"]).strip())
    except ValueError:
        raise SiteError("%s.address: %r is not an IP address" % (where, value["address"])) from None
    if public.version != 4:
        raise SiteError("%s.address: %s; NAT traversal is for IPv4 (IPv6 has no NAT to cross)" % (where, public))
    port = value.get("port", NATT_PORT)
    if isinstance(port, bool) or not str(port).strip().isdigit() or not 1 <= int(str(port).strip()) <= 0xFFFF:
        raise SiteError("%s.port: %r is not a UDP port (1-65535)" % (where, port))
    return str(public), int(str(port).strip())


def pairs_of(group, explicit, where, group_name):
    """[(a, b)] of a group: every pair, or the explicit ones (each must name two hosts of the group)."""
    names = sorted(group)
    if explicit is None:
        return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    out = set()
    for index, pair in enumerate(explicit):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or pair[0] == pair[1]:
            raise SiteError("%s[%d]: %r; a pair is two different host names, e.g. [h1, h2]" % (where, index, pair))
        for name in pair:
            if name not in group:
                raise SiteError("%s[%d]: %s is not in the group %s (%s)" % (where, index, name, group_name, ", ".join(names)))
        out.add(tuple(sorted(pair)))
    return sorted(out)


def _family(address):
    """4 or 6 for an address or network already normalised by addresses() / subnets()."""
    return 6 if ":" in address else 4


class Pair(NamedTuple):
    """One pair of the site as one of its hosts sees it: kind, its own Member, the peer's, the settings."""

    kind: str
    local: Member
    peer: Member
    settings: Settings
    mode: str = "policy"   # the local gateway's: "route" puts the pair on an XFRM interface (route_entries)
    peer_mode: str = "policy"

    def reversed(self):
        """The pair as the peer sees it."""
        return Pair(self.kind, self.peer, self.local, self.settings, self.peer_mode, self.mode)

    @property
    def name(self):
        return keys.pair_name(self.local.name, self.peer.name)

    def links(self):
        """[(local address, peer address)] of each family both ends have (as the inventory states them: keys and SPIs
        are derived from these, the same on both peers; seen() has the addresses the local kernel uses)."""
        return [(a, b) for a in self.local.addresses for b in self.peer.addresses if _family(a) == _family(b)]

    def seen(self):
        """The pair with the addresses the local kernel uses: a peer behind a NAT (ipsec_gateway_nat) by the NAT's
        public address; a gateway behind one uses its own (private) address, and its NAT rewrites it."""
        if self.peer.nat is None:
            return self
        public = tuple(self.peer.nat[0] if _family(a) == 4 else a for a in self.peer.addresses)
        return self._replace(peer=self.peer._replace(addresses=public))

    def address_map(self):
        """{the inventory's address: the local kernel's} of both ends (they differ only for a peer behind a NAT)."""
        seen = self.seen()
        return dict(zip(self.local.addresses + self.peer.addresses, seen.local.addresses + seen.peer.addresses))

    def natted(self, a, b):
        """True when the link between the inventory's addresses a and b crosses a NAT: ESP goes in UDP over it."""
        return self.kind == "gateway" and _family(a) == 4 and (self.local.nat or self.peer.nat) is not None

    def encap(self, src, dst):
        """The UDP encapsulation of the SA src -> dst (the inventory's addresses), or None: both ends' sockets bind
        4500; the NATed end is reached at the port its NAT maps 4500 to."""
        if not self.natted(src, dst):
            return None
        # as the local kernel sees the packets: its own end is 4500 (behind a NAT too: the NAT rewrites it), a peer
        # behind a NAT is at the port its NAT maps 4500 to
        peer_port = self.peer.nat[1] if self.peer.nat else NATT_PORT
        if src in self.local.addresses:
            return {"type": "espinudp", "sport": NATT_PORT, "dport": peer_port}
        return {"type": "espinudp", "sport": peer_port, "dport": NATT_PORT}

    def outer(self, family):
        """The link (local, peer) that carries inner traffic of `family` in tunnel mode: the link of the same family
        where both ends have one, else the other family's (IPv6 in IPv4, IPv4 in IPv6), or None."""
        links = self.links()
        same = [link for link in links if _family(link[0]) == family]
        return (same or links or [None])[0]

    def carried(self, a, b):
        """The inner families the link between addresses a and b (either way) carries."""
        return {f for f in self.inner_families() if self.outer(f) in ((a, b), (b, a))}

    def inner_families(self):
        """The families of subnets that both gateways of the pair have (each is tunnelled to the peer's of its own)."""
        return sorted({_family(n) for n in self.local.subnets} & {_family(n) for n in self.peer.subnets})

    @property
    def if_id(self):
        """The if_id of the pair's XFRM interface, SAs and policies in route mode (the same on both peers)."""
        return if_id(self.name)

    @property
    def interface(self):
        """The name of the pair's XFRM interface on the local gateway (route mode)."""
        name = INTERFACE_PREFIX + self.peer.name
        if len(name) <= links.IFNAMSIZ and all(c.isalnum() or c in "-_." for c in self.peer.name):
            return name
        return "%s%08x" % (INTERFACE_PREFIX, self.if_id)

    def directions(self):
        """(pair, src, dst, proto) of every SA of the pair, both ways."""
        name, out = self.name, []
        for a, b in self.links():
            for proto in self.settings.protocols:
                out += [(name, a, b, proto), (name, b, a, proto)]
        return out


def if_id(pair_name):
    """The if_id of a pair in route mode: derived from its name, so that both peers and every run agree on it."""
    digest = hashlib.sha256(("xfrm.ipsec if_id " + pair_name).encode()).digest()
    return IF_ID_BASE + int.from_bytes(digest[:4], "big") % IF_ID_SPAN


def all_directions(pairs):
    """Every SA direction of the given pairs (each pair once), for keys.spi_collisions."""
    seen, out = set(), []
    for pair in pairs:
        if (pair.kind, pair.name) not in seen:
            seen.add((pair.kind, pair.name))
            out += pair.directions()
    return out


def pair_generations(default, overrides, where):
    """pair name -> generation: `default` (ipsec_generation) unless `overrides` ({pair: N}) names the pair."""
    def number(value, field):
        text = str(value).strip()
        if isinstance(value, bool) or not (isinstance(value, int) or text.isdigit()) or int(text) < 0:
            raise SiteError("%s: %r is not a generation (a whole number >= 0)" % (field, value))
        return int(text)
    base = number(default if default is not None else 0, "ipsec_generation")
    if overrides is None:
        return lambda _pair: base
    if not isinstance(overrides, dict):
        raise SiteError("%s: a dict of pair name (the two hosts sorted, joined with ~) -> generation" % where)
    table = {str(k): number(v, "%s[%s]" % (where, k)) for k, v in overrides.items()}
    return lambda pair: table.get(pair, base)


def direction_spi(deriver, generation, collisions):
    """A function (pair, src, dst, proto) -> the direction's SPI in its pair's generation."""
    gen = keys.generation_of(generation)
    return lambda direction: collisions.get(direction) or deriver.spi(*direction, gen(direction[0]))


def reqid(generation):
    """The reqid of a generation's SAs, which its outbound templates require (setkey's unique:N). Two generations of a
    direction are in the kernel together during a rotation: the outbound policy sends with exactly the SAs of the
    generation its templates name, and the rotation switches a pair by updating them. Inbound templates require any
    reqid (0): both generations are accepted while the peer switches."""
    return REQID + generation % REQID_SPAN


def generation_of_reqid(value, target):
    """The generation at or below target whose reqid is value, or None (not one of the roles' reqids)."""
    offset = value - REQID
    if not 0 <= offset < REQID_SPAN:
        return None
    out = target - (target - offset) % REQID_SPAN
    return out if out >= 0 else None


def sa_entries(deriver, pair, generation, collisions):
    """The ipsec_sa entries of a pair, both directions; keys as 0x hex (no_log options only)."""
    s = pair.settings
    enc_hex, auth_bytes = s.enc_key_bits // 4, _key_bytes("auth", s.auth_algorithm)
    mode = "transport" if pair.kind == "host" else "tunnel"
    generation = keys.generation_of(generation)(pair.name)
    spi_of = direction_spi(deriver, generation, collisions)
    out = []
    seen = pair.address_map()
    for direction in pair.directions():
        name, src, dst, proto = direction
        spi = spi_of(direction)
        # oseq-may-wrap: the receiver checks no replay window (manual keys), so the SA goes on past 2^32 packets
        # instead of going silent (docs/rotation.md); the rotation renews keys, not sequence numbers
        sa = {"src": seen[src], "dst": seen[dst], "proto": proto, "spi": spi, "mode": mode, "reqid": reqid(generation),
              "flags": ["oseq-may-wrap"]}
        encap = pair.encap(src, dst)
        if encap is not None:
            sa["encap"] = encap  # ESP in UDP across the NAT (check_nat refused AH there)
        if pair.kind == "gateway" and any(f != _family(src) for f in pair.carried(src, dst)):
            # the kernel gives an SA its own family's selector unless told not to: IPv6 in IPv4 (or the reverse) needs
            # a selector of no family
            sa["flags"].append("af-unspec")
        if pair.mode == "route":
            sa["if_id"] = pair.if_id  # sent only by the interface's policies, received only through the interface
        if proto == "esp":
            material = deriver.keys(name, src, dst, proto, generation, enc_hex // 2 + auth_bytes).hex()
            sa["enc"] = {"algorithm": s.enc_algorithm, "key": "0x" + material[:enc_hex]}
            auth_key = material[enc_hex:]
        else:
            auth_key = deriver.keys(name, src, dst, proto, generation, auth_bytes).hex()
        sa["auth"] = {"algorithm": s.auth_algorithm, "trunc_len": s.auth_trunc_len, "key": "0x" + auth_key}
        out.append(sa)
    return out


def _templates(pair, src, dst, required=0):
    """The templates of a policy toward src -> dst, requiring SAs of reqid `required` (0: any)."""
    out = []
    for proto in pair.settings.protocols:
        template = {"proto": proto, "mode": "transport", "reqid": required}
        if pair.kind == "gateway":
            template.update(mode="tunnel", src=src, dst=dst)
        out.append(template)
    return out


def _any(family):
    return "0.0.0.0/0" if family == 4 else "::/0"


def policy_entries(pair, generation=0):
    """The ipsec_policy entries of a pair on its local host: out and in (and fwd on gateways).

    Gateways pair each local subnet with the peer's subnets of its family, tunnelled over the link of that family, or
    over the other family's where one end has no address of it (IPv6 in IPv4, IPv4 in IPv6). In route mode a wide pair
    any -> any per family carries the pair's if_id instead: only what the routes send into the pair's XFRM interface
    meets it, and only what arrives through the pair's SAs passes it.

    The outbound templates require the reqid of the pair's generation (reqid()): the kernel sends with exactly that
    generation's SAs even while another generation's SAs of the same direction are in place."""
    out = []
    pair = pair.seen()  # the templates name the ends as the local kernel sees them
    if pair.kind == "host":
        for local, peer in pair.links():
            out += _directions(pair, local, peer, [(local, peer)], generation)
        return out
    for family in pair.inner_families():
        link = pair.outer(family)
        if link is None:
            continue
        if pair.mode == "route":
            selectors = [(_any(family), _any(family))]
        else:
            selectors = [(l, r) for l in pair.local.subnets for r in pair.peer.subnets if _family(l) == _family(r) == family]
        out += _directions(pair, link[0], link[1], selectors, generation)
    return out


def _directions(pair, local, peer, selectors, generation):
    to_peer, from_peer = _templates(pair, local, peer, reqid(generation)), _templates(pair, peer, local)
    extra = {"if_id": pair.if_id} if pair.kind == "gateway" and pair.mode == "route" else {}
    out = []
    for l, r in selectors:
        out.append(dict(src=l, dst=r, dir="out", priority=PRIORITY, templates=to_peer, **extra))
        out.append(dict(src=r, dst=l, dir="in", priority=PRIORITY, templates=from_peer, **extra))
        if pair.kind == "gateway":
            out.append(dict(src=r, dst=l, dir="fwd", priority=PRIORITY, templates=from_peer, **extra))
    return out


def check_nat(pair):
    """SiteError when the pair cannot cross its NAT: AH authenticates the addresses a NAT rewrites, and two NATed ends
    could only reach each other through mappings neither can open first (no IKE here to punch them)."""
    if pair.local.nat is None and pair.peer.nat is None:
        return
    behind = [m.name for m in (pair.local, pair.peer) if m.nat is not None]
    if pair.kind != "gateway":
        raise SiteError("pair %s: ipsec_gateway_nat is for gateways" % pair.name)
    if len(behind) == 2:
        raise SiteError("pair %s: both %s and %s are behind a NAT (ipsec_gateway_nat); with manual keys one end of a "
                        "pair must be reachable without one (pair both with a gateway that has a public address)"
                        % ((pair.name,) + tuple(behind)))
    if "ah" in pair.settings.protocols and any(_family(a) == 4 for a, _b in pair.links()):
        raise SiteError("pair %s: %s is behind a NAT (ipsec_gateway_nat) and the pair uses AH, which authenticates the "
                        "addresses the NAT rewrites; use ESP alone for this pair (ipsec_gateway_pair_overrides: "
                        "{%s: {protocols: [esp]}})" % (pair.name, behind[0], pair.name))


def natt(pairs):
    """What a gateway needs for ESP in UDP: {"socket": the UDP 4500 socket holder must run, "keepalive_peers": the
    peers it sends NAT keepalives to (from behind its own NAT, so that the mapping stays while the pair is idle)}."""
    crossing = [p for p in pairs if any(p.natted(a, b) for a, b in p.links())]
    # behind its own NAT (the peer is not: check_nat), the peer's address is the one its kernel uses
    peers = sorted({b for p in crossing if p.local.nat is not None for a, b in p.links() if p.natted(a, b)})
    return {"socket": bool(crossing), "keepalive_peers": peers}


def tunnel_mtu(pair, link_mtu=DEFAULT_LINK_MTU):
    """The largest inner packet that leaves as one outer packet of link_mtu: the outer header (and UDP's across a
    NAT), ESP's header, IV, block padding, trailer and ICV, AH's header and ICV; over the worst outer family the pair
    uses."""
    s = pair.settings
    icv = s.auth_trunc_len // 8
    block = iv = CBC_BLOCK
    best = None
    for family in pair.inner_families():
        link = pair.outer(family)
        if link is None:
            continue
        outer = _family(link[0])
        room = link_mtu - OUTER_HEADER[outer] - (UDP_HEADER if pair.natted(*link) else 0)
        if "ah" in s.protocols:
            align = 4 if outer == 4 else 8
            room -= -(-(AH_HEADER + icv) // align) * align
        if "esp" in s.protocols:
            room -= ESP_HEADER + iv + icv
            room = room // block * block - ESP_TRAILER  # payload + trailer fill whole blocks
        best = room if best is None else min(best, room)
    return best


def interface_entries(pairs, link_mtu=DEFAULT_LINK_MTU):
    """The ipsec_interface entries of a gateway's route-mode pairs: one XFRM interface per pair (name, if_id, mtu)."""
    return [{"name": p.interface, "if_id": p.if_id, "mtu": tunnel_mtu(p, link_mtu), "pair": p.name}
            for p in pairs if p.kind == "gateway" and p.mode == "route"]


def route_entries(pairs):
    """The routes of a gateway's route-mode pairs: each peer subnet (of a family the local gateway has subnets of)
    through the pair's interface, with the gateway's own address in its local subnets as the source (src_from)."""
    out = []
    for pair in pairs:
        if pair.kind != "gateway" or pair.mode != "route":
            continue
        families = pair.inner_families()
        for net in pair.peer.subnets:
            if _family(net) in families:
                out.append({"dst": net, "dev": pair.interface,
                            "src_from": [n for n in pair.local.subnets if _family(n) == _family(net)]})
    return out


def bypass_entries(policies, management):
    """Allow policies that keep the management path and IPv6 neighbour discovery out of the IPsec policies.

    management: networks (strings) that must keep talking to this host in clear (the controller).
    A bypass is added only where a policy would cover such traffic, for the overlap only.
    """
    out, seen = [], set()
    nets = [ipaddress.ip_network(m, strict=False) for m in management]
    policies = [p for p in policies if not p.get("if_id")]  # an interface's: only the traffic routed into it meets them
    for policy in policies:
        remote_field = "dst" if policy["dir"] == "out" else "src"
        remote = ipaddress.ip_network(policy[remote_field], strict=False)
        for net in nets:
            if net.version != remote.version or not net.overlaps(remote):
                continue
            narrow = str(net if net.prefixlen >= remote.prefixlen else remote)
            entry = dict(policy, priority=BYPASS_PRIORITY, templates=[])
            entry[remote_field] = narrow
            key = (entry["src"], entry["dst"], entry["dir"])
            if key not in seen:
                seen.add(key)
                out.append(entry)
    if any(_family(p["src"]) == 6 for p in policies):
        for icmp_type in ND_TYPES:
            for direction in ("out", "in"):
                out.append({"src": "::/0", "dst": "::/0", "proto": "ipv6-icmp", "sport": icmp_type, "dir": direction,
                            "priority": BYPASS_PRIORITY, "templates": []})
    return out


def with_bypasses(policies, management):
    """(the bypass policies then the IPsec policies, the IPsec policies left out). Where the management path is a
    peer's address itself (the controller is one of the pair), the bypass and the IPsec policy would have the same
    selector, which the kernel holds once: the bypass wins, the management path stays in clear."""
    bypasses = bypass_entries(policies, management)
    taken = {_selector_key(b) for b in bypasses}
    kept, left_out = [], []
    for policy in policies:
        (left_out if _selector_key(policy) in taken else kept).append(policy)
    return bypasses + kept, left_out


def established_entries(pairs, deferred, kept):
    """The planned policies of the deferred pairs that the kernel still holds part of (pairs keyed before): what the
    firewall keeps guarding while a partial run leaves those pairs alone. A deferred pair with nothing in the kernel
    (a peer never keyed yet) gets no rule: nothing may drop its traffic before both ends are ready."""
    def ends(policy):
        return (ipaddress.ip_network(policy["src"], strict=False), ipaddress.ip_network(policy["dst"], strict=False),
                policy["dir"])
    held = {ends(policy) for policy in kept}
    out = []
    for pair in pairs:
        if pair.peer.name in deferred:
            entries = policy_entries(pair)
            if any(ends(entry) in held for entry in entries):
                out += entries
    return out


def _selector_key(policy):
    return (ipaddress.ip_network(policy["src"], strict=False), ipaddress.ip_network(policy["dst"], strict=False),
            policy["dir"], policy.get("proto"), policy.get("sport"), policy.get("dport"))


def plan_host(deriver, pairs, generation, collisions, ready=None):
    """One host's share: {"sas": [...], "policies": [...], "deferred": [peer names], "deferred_policies": [...]}.

    pairs: the host's Pairs. generation: one for the site, or a function pair name -> generation
    (pair_generations). ready: names of the peers whose SAs are known to be in place, or None
    for all of them. The policies of the other pairs go to deferred_policies: the caller keeps those
    the kernel already has, so that a partial run neither adds nor removes anything toward them.
    Bypass policies (bypass_entries) are the caller's to add once the list is final.
    """
    sas, policies, deferred, deferred_policies = [], [], set(), []
    gen = keys.generation_of(generation)
    for pair in pairs:
        sas += sa_entries(deriver, pair, generation, collisions)
        if ready is None or pair.peer.name in ready:
            policies += policy_entries(pair, gen(pair.name))
        else:
            deferred.add(pair.peer.name)
            deferred_policies += policy_entries(pair, gen(pair.name))
    return {"sas": sas, "policies": policies, "deferred": sorted(deferred), "deferred_policies": deferred_policies}
