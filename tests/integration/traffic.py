"""Traffic and captures inside lab guests: the proof that packets really were ESP/AH on the wire.

Everything here runs in guests the lab booted, against the lab's own addresses
(documentation ranges): nothing leaves the guests but qemu's loopback socket.
"""

from __future__ import annotations

import re
import time


class Capture:
    """tcpdump in a guest, from start() to stop(); the guest process is ended by its own PID."""

    def __init__(self, lab, node, iface, bpf="esp or ah or icmp", direction="inout"):
        """direction "out" sees only what the guest transmits: on input, Linux shows tunnel-mode packets
        a second time, decrypted, on the interface they arrived on."""
        self.lab, self.node, self.iface, self.bpf, self.direction = lab, node, iface, bpf, direction
        self.path = "/tmp/xfrm-capture-%d" % int(time.time() * 1000)
        self.lines = []

    def __enter__(self):
        self.lab.ssh(self.node, "tcpdump -n -l -Q %s -i %s '%s' > %s.txt 2> %s.err & echo $! > %s.pid; sleep 2"
                     % (self.direction, self.iface, self.bpf, self.path, self.path, self.path))
        return self

    def __exit__(self, *exc):
        self.lab.ssh(self.node, "sleep 1; kill $(cat %s.pid); sleep 1" % self.path, check=False)
        out = self.lab.ssh(self.node, "cat %s.txt; rm -f %s.*" % (self.path, self.path)).stdout
        self.lines = [line for line in out.splitlines() if line.strip()]

    def count(self, pattern):
        return sum(1 for line in self.lines if re.search(pattern, line))


def flush_xfrm(lab, *nodes):
    """Every SA and policy of the guests gone (the kernel's flush: the tests' own clean slate), and the firewall
    site_vpn.yml loads with them (its leak guard would drop what the next test sends in clear)."""
    for node in nodes:
        lab.ssh(node, "ip xfrm state flush; ip xfrm policy flush; nft delete table inet xfrm_ipsec 2>/dev/null; "
                      "rm -f /etc/xfrm-ipsec/firewall.*; true")


def send_plaintext_udp(lab, node, src, dst, port=9999, count=5, netns=None):
    """count UDP datagrams from src to dst:port, sent in clear: a higher-priority allow policy (added, then removed)
    takes them past the node's IPsec policies. What the firewall makes of them is the test's to check."""
    family = "-6 " if ":" in dst else ""
    where = "ip netns exec %s " % netns if netns else ""
    bypass = "src %s dst %s proto 17 dport %d dir out" % (src, dst, port)
    lab.ssh(node, "ip %sxfrm policy add %s priority 1 action allow" % (family, bypass))
    try:
        lab.ssh(node, "%spython3 -c 'import socket; s = socket.socket(socket.%s, socket.SOCK_DGRAM); "
                      "[s.sendto(b\"clear\", (\"%s\", %d)) for _ in range(%d)]'"
                % (where, "AF_INET6" if family else "AF_INET", dst, port, count), check=False)
    finally:
        lab.ssh(node, "ip %sxfrm policy delete %s" % (family, bypass))


def nft_counter(lab, node, chain, comment):
    """The packets counted by the rule of the collection's table whose comment is `comment` (0 if none)."""
    out = lab.ssh(node, "nft list chain inet xfrm_ipsec %s" % chain, check=False).stdout
    for line in out.splitlines():
        if 'comment "%s"' % comment in line:
            found = re.search(r"counter packets (\d+)", line)
            return int(found.group(1)) if found else 0
    return 0


def xfrm_stat(lab, node):
    """/proc/net/xfrm_stat as {name: count}."""
    out = lab.ssh(node, "cat /proc/net/xfrm_stat").stdout
    return {name: int(value) for name, value in re.findall(r"^(\w+)\s+(\d+)", out, re.M)}


def ping(lab, node, address, count=5, netns=None):
    """ICMP echo from a guest (or a namespace inside it); returns the number of replies."""
    prefix = "ip netns exec %s " % netns if netns else ""
    out = lab.ssh(node, "%sping -n -c %d -i 0.3 -W 2 %s" % (prefix, count, address), check=False).stdout
    match = re.search(r"(\d+) (?:packets )?received", out)
    return int(match.group(1)) if match else 0


def sa_counters(lab, node):
    """{(proto, spi): (bytes, packets)} read with iproute2 in the guest, independent of the collection's decoder."""
    out = lab.ssh(node, "ip -s xfrm state").stdout
    counters = {}
    for block in re.split(r"\n(?=src )", out.strip()):
        head = re.search(r"proto (\w+) spi (0x[0-9a-f]+)", block)
        cur = re.search(r"lifetime current:\s*\n\s*(\d+)\(bytes\), (\d+)\(packets\)", block)
        if head and cur:
            counters[(head.group(1), int(head.group(2), 16))] = (int(cur.group(1)), int(cur.group(2)))
    return counters


def lan_to_lan_is_esp_only_on_the_wan(lab, spi_from_gw1, spi_from_gw2):
    """sites2: a LAN host behind gw1 pings one behind gw2; what each gateway transmits on the WAN (inbound, Linux also
    shows the decrypted packets) is ESP with the given SPIs, and no ICMP crosses it in clear."""
    gw1, gw2 = lab.hosts["gw1"], lab.hosts["gw2"]
    with Capture(lab, "gw1", gw1["lab_iface"], "esp or icmp", "out") as sent_a, \
            Capture(lab, "gw2", gw2["lab_iface"], "esp or icmp", "out") as sent_b:
        assert ping(lab, "gw1", gw2["lab_lan_host"], netns="lan") == 5
    assert sent_a.count(r"%s > %s: ESP\(spi=0x%08x" % (gw1["lab_addr"], gw2["lab_addr"], spi_from_gw1)) >= 5, sent_a.lines
    assert sent_b.count(r"%s > %s: ESP\(spi=0x%08x" % (gw2["lab_addr"], gw1["lab_addr"], spi_from_gw2)) >= 5, sent_b.lines
    assert sent_a.count("ICMP") == 0 and sent_b.count("ICMP") == 0, "the LANs' traffic never crosses the WAN in clear"
