# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the health check measures on one host: bounded ICMP echo probes toward its peers, the kernel's XFRM
counters (/proc/net/xfrm_stat) and the host's addresses. The caller enters the network namespace first
(transport.netns_entered); nothing here changes any state.

A probe is `count` echo requests from `src` (a gateway's probe must leave from its address inside its
subnets, or no tunnel policy takes it) to `dst`, `interval` seconds apart, every probe of a run in flight
together, then `timeout` seconds for the last replies: a run takes count * interval + timeout at most,
however many peers answer or not.
"""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import struct
import time

XFRM_STAT = "/proc/self/net/xfrm_stat"  # the network namespace of the reading thread (/proc/net follows the process)
ECHO = {4: (8, 0), 6: (128, 129)}  # family -> (echo request type, echo reply type)
HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
STAMP = struct.Struct("!d")
MAX_PROBES = 1 << 16  # echo identifiers are 16 bits
SO_RCVBUFFORCE = 33  # (Linux) SO_RCVBUF beyond rmem_max, for root
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # (Linux) Python 3.11 does not name it
RECEIVE_BUFFER = 4 << 20  # every reply of a run may wait in the socket while requests go out


def xfrm_stat(path=XFRM_STAT):
    """{counter: value} of the kernel's XFRM MIB (XfrmInNoStates, XfrmInStateProtoError, ...); {} without it."""
    try:
        with open(path, encoding="ascii") as handle:
            return {name: int(value) for name, value in (line.split() for line in handle if line.strip())}
    except FileNotFoundError:
        return {}


def addresses(ipr=None):
    """[{address, prefixlen, interface}] of this host's interfaces (rtnetlink; through ipr, a pyroute2 IPRoute, when
    the caller has one open), link-local ones left out."""
    if ipr is None:
        from pyroute2 import IPRoute  # pylint: disable=import-outside-toplevel
        with IPRoute() as own:
            return addresses(own)
    out = []
    names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    for entry in ipr.get_addr():
        address = entry.get_attr("IFA_ADDRESS")
        if entry["family"] == socket.AF_INET:
            address = entry.get_attr("IFA_LOCAL") or address
        if address is None or ipaddress.ip_address(address).is_link_local:
            continue
        out.append({"address": address, "prefixlen": entry["prefixlen"], "interface": names.get(entry["index"])})
    return out


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


class _Probe:
    """One probe's figures."""

    def __init__(self, ident, spec):
        self.spec, self.ident = spec, ident
        self.family = ipaddress.ip_address(spec["dst"]).version
        self.sent, self.rtts, self.error = 0, [], None

    def result(self):
        received = min(len(self.rtts), self.sent)
        out = dict(self.spec, sent=self.sent, received=received,
                   rtt_ms=round(sum(self.rtts) / len(self.rtts), 3) if self.rtts else None)
        if self.error:
            out["error"] = self.error
        return out


class _Sockets:
    """One raw ICMP socket per family for every probe of a run: each packet's source address is set with
    IP_PKTINFO / IPV6_PKTINFO (the route and the IPsec policy lookups see it as if the socket were bound to it), and
    the replies are told apart by their echo identifier. (A socket per probe would get a copy of every ICMP packet
    the host receives: a host probing hundreds of peers would overflow their buffers.)"""

    def __init__(self):
        self.socks = {}

    def get(self, family):
        if family not in self.socks:
            sock = socket.socket(*((socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) if family == 4 else
                                   (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)))
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            self.socks[family] = sock
        return self.socks[family]

    def send(self, run, seq):
        body = STAMP.pack(time.monotonic()) + b"xfrm.ipsec probe"
        kind = ECHO[run.family][0]
        checksum = _checksum(HEADER.pack(kind, 0, 0, run.ident, seq) + body) if run.family == 4 else 0
        ancillary = []
        if run.spec.get("src"):  # struct in_pktinfo {ifindex, spec_dst, addr}; struct in6_pktinfo {addr, ifindex}
            source = ipaddress.ip_address(run.spec["src"]).packed
            ancillary = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("=i4s4s", 0, source, bytes(4)))
                         if run.family == 4 else (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, source + struct.pack("=i", 0))]
        sock = self.get(run.family)  # no raw socket at all (not root): echo() fails, it is no probe's fault
        try:  # ICMPv6: the kernel fills in the checksum of a raw ICMPv6 socket
            sock.sendmsg([HEADER.pack(kind, 0, checksum, run.ident, seq) + body], ancillary, 0, (run.spec["dst"], 0))
            run.sent += 1
        except OSError as exc:
            # EPERM: a firewall's output rule (the leak guard drops plaintext toward a protected peer); EINVAL or
            # EADDRNOTAVAIL: the source is not one of the host's addresses
            source = "from %s " % run.spec["src"] if run.spec.get("src") else ""
            run.error = run.error or "sending %sto %s: %s" % (source, run.spec["dst"], exc.strerror or exc)

    def receive(self, family, runs):
        """Read what one socket holds; a reply goes to the probe of its identifier and sender."""
        while True:
            try:
                data, sender = self.socks[family].recvfrom(4096)
            except BlockingIOError:
                return
            if family == 4:
                data = data[(data[0] & 0x0F) * 4:]  # a raw IPv4 socket reads the IP header too
            if len(data) < HEADER.size + STAMP.size:
                continue
            kind, _code, _sum, ident, _seq = HEADER.unpack_from(data)
            run = runs.get(ident)
            if kind == ECHO[family][1] and run is not None and run.family == family \
                    and ipaddress.ip_address(sender[0]) == ipaddress.ip_address(run.spec["dst"]):
                run.rtts.append((time.monotonic() - STAMP.unpack_from(data, HEADER.size)[0]) * 1000)

    def close(self):
        for sock in self.socks.values():
            sock.close()


def echo(probes, count=3, interval=0.2, timeout=2.0):
    """Send every probe's echo requests together and collect the replies; [probe + sent, received, rtt_ms, error]."""
    base = (os.getpid() * 31) & 0xFFFF
    runs = [_Probe((base + index) & 0xFFFF, spec) for index, spec in enumerate(probes[:MAX_PROBES])]
    by_ident = {run.ident: run for run in runs}
    sockets = _Sockets()
    try:
        for seq in range(1, count + 1):
            for run in runs:
                if run.error is None:
                    sockets.send(run, seq)
            _wait(sockets, by_ident, time.monotonic() + (interval if seq < count else 0))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(len(r.rtts) < r.sent for r in runs):
            _wait(sockets, by_ident, min(deadline, time.monotonic() + 0.05))
    except OSError as exc:  # no raw socket at all (not root)
        raise OSError("cannot open a raw ICMP socket: %s" % (exc.strerror or exc)) from None
    finally:
        sockets.close()
    return [run.result() for run in runs]


def _wait(sockets, runs, until):
    """Read replies until `until` (monotonic)."""
    while True:
        left = until - time.monotonic()
        if not sockets.socks or left <= 0:
            if left > 0:
                time.sleep(left)
            return
        ready, _w, _x = select.select(list(sockets.socks.values()), [], [], left)
        for family, sock in list(sockets.socks.items()):
            if sock in ready:
                sockets.receive(family, runs)
