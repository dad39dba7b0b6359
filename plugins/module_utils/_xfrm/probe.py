# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the health check measures on one host: bounded ICMP echo probes toward its peers, the kernel's XFRM
counters (/proc/net/xfrm_stat) and the host's addresses. The caller enters the network namespace first
(netns_entered); nothing here changes any state.

A probe is `count` echo requests from `src` (bound: a gateway's probe must leave from its address inside
its subnets, or no tunnel policy takes it) to `dst`, `interval` seconds apart, every probe of a run in
flight together, then `timeout` seconds for the last replies: a run takes count * interval + timeout
at most, however many peers answer or not.
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def netns_entered(netns):
    """Run the block inside the named network namespace (sockets opened there stay there), or the current one."""
    if netns is None:
        yield
        return
    from pyroute2 import netns as ns  # pylint: disable=import-outside-toplevel
    if netns not in ns.listnetns():
        raise OSError("netns: network namespace %s does not exist" % netns)
    ns.pushns(netns)
    try:
        yield
    finally:
        ns.popns()


def xfrm_stat(path=XFRM_STAT):
    """{counter: value} of the kernel's XFRM MIB (XfrmInNoStates, XfrmInStateProtoError, ...); {} without it."""
    try:
        with open(path, encoding="ascii") as handle:
            return {name: int(value) for name, value in (line.split() for line in handle if line.strip())}
    except FileNotFoundError:
        return {}


def addresses():
    """[{address, prefixlen, interface}] of this host's interfaces (rtnetlink), link-local ones left out."""
    from pyroute2 import IPRoute  # pylint: disable=import-outside-toplevel
    out = []
    with IPRoute() as ipr:
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
    """One probe's socket and figures."""

    def __init__(self, index, spec, count):
        self.spec = spec
        self.family = ipaddress.ip_address(spec["dst"]).version
        self.ident = (os.getpid() * 31 + index) & 0xFFFF
        self.count = count
        self.sent, self.rtts, self.error = 0, [], None
        self.sock = None
        try:
            if self.family == 4:
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            else:
                self.sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            self.sock.setblocking(False)
            if spec.get("src"):
                self.sock.bind((spec["src"], 0))
        except OSError as exc:
            where = " from %s" % spec["src"] if spec.get("src") else ""
            self.fail("cannot open the probe's socket%s: %s" % (where, exc.strerror or exc))

    def fail(self, message):
        self.error = self.error or message
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, seq):
        if self.sock is None:
            return
        body = STAMP.pack(time.monotonic()) + b"xfrm.ipsec probe"
        kind = ECHO[self.family][0]
        checksum = _checksum(HEADER.pack(kind, 0, 0, self.ident, seq) + body) if self.family == 4 else 0
        try:  # ICMPv6: the kernel fills in the checksum of a raw ICMPv6 socket
            self.sock.sendto(HEADER.pack(kind, 0, checksum, self.ident, seq) + body, (self.spec["dst"], 0))
            self.sent += 1
        except OSError as exc:
            # EPERM: a firewall's output rule (the leak guard drops plaintext toward a protected peer)
            self.fail("sending to %s: %s" % (self.spec["dst"], exc.strerror or exc))

    def receive(self):
        try:
            data, sender = self.sock.recvfrom(4096)
        except BlockingIOError:
            return
        if self.family == 4:
            data = data[(data[0] & 0x0F) * 4:]  # a raw IPv4 socket reads the IP header too
        if len(data) < HEADER.size + STAMP.size or ipaddress.ip_address(sender[0]) != ipaddress.ip_address(self.spec["dst"]):
            return
        kind, _code, _sum, ident, _seq = HEADER.unpack_from(data)
        if kind == ECHO[self.family][1] and ident == self.ident:
            self.rtts.append((time.monotonic() - STAMP.unpack_from(data, HEADER.size)[0]) * 1000)

    def result(self):
        if self.sock is not None:
            self.sock.close()
        received = min(len(self.rtts), self.sent)
        out = dict(self.spec, sent=self.sent, received=received,
                   rtt_ms=round(sum(self.rtts) / len(self.rtts), 3) if self.rtts else None)
        if self.error:
            out["error"] = self.error
        return out


def echo(probes, count=3, interval=0.2, timeout=2.0):
    """Send every probe's echo requests together and collect the replies; [probe + sent, received, rtt_ms, error]."""
    runs = [_Probe(index, spec, count) for index, spec in enumerate(probes)]
    deadline = None
    for seq in range(1, count + 1):
        for run in runs:
            run.send(seq)
        _wait(runs, time.monotonic() + (interval if seq < count else 0))
        deadline = time.monotonic() + timeout
    while deadline is not None and time.monotonic() < deadline and any(r.sock and len(r.rtts) < r.sent for r in runs):
        _wait(runs, min(deadline, time.monotonic() + 0.05))
    return [run.result() for run in runs]


def _wait(runs, until):
    """Read replies until `until` (monotonic)."""
    while True:
        socks = {run.sock: run for run in runs if run.sock is not None}
        left = until - time.monotonic()
        if not socks or left <= 0:
            if left > 0:
                time.sleep(left)
            return
        ready, _w, _x = select.select(list(socks), [], [], left)
        for sock in ready:
            socks[sock].receive()
