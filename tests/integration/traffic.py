"""Traffic and captures inside lab guests: the proof that packets really were ESP/AH on the wire.

Everything here runs in guests the lab booted, against the lab's own addresses
(documentation ranges): nothing leaves the guests but qemu's loopback socket.
"""

from __future__ import annotations

import json
import re
import time


class Capture:
    """tcpdump in a guest, from start() to stop(); the guest process is ended by its own PID."""

    def __init__(self, lab, node, iface, bpf="esp or ah or icmp", direction="inout", netns=None):
        """direction "out" sees only what the guest transmits: on input, Linux shows tunnel-mode packets
        a second time, decrypted, on the interface they arrived on. netns: capture in that namespace of the guest."""
        self.lab, self.node, self.iface, self.bpf, self.direction = lab, node, iface, bpf, direction
        self.prefix = "ip netns exec %s " % netns if netns else ""
        self.path = "/tmp/xfrm-capture-%d" % int(time.time() * 1000)
        self.lines = []

    def __enter__(self):
        self.lab.ssh(self.node, "%stcpdump -n -l -Q %s -i %s '%s' > %s.txt 2> %s.err & echo $! > %s.pid; sleep 2"
                     % (self.prefix, self.direction, self.iface, self.bpf, self.path, self.path, self.path))
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


def drop_esp_from(lab, node, source):
    """A firewall rule of the test's own on node that drops every ESP packet from source (IPv4): a broken path."""
    lab.ssh(node, "nft add table inet test_drop; nft add chain inet test_drop input '{ type filter hook input priority -10; }'; "
                  "nft add rule inet test_drop input ip saddr %s meta l4proto esp drop" % source)


def allow_esp(lab, node):
    """drop_esp_from undone."""
    lab.ssh(node, "nft delete table inet test_drop")


def xfrm_tables(lab, node):
    """The node's SAs and policies as iproute2 prints them (to compare before and after)."""
    return lab.ssh(node, "ip xfrm state; ip xfrm policy").stdout


def xfrm_entries(lab, node):
    """The node's SAs and policies as iproute2 prints them, entry by entry and sorted (a re-added SA moves in the
    kernel's dump order), without the sequence counters traffic moves ("anti-replay context" lines)."""
    out = re.sub(r"\n\tanti-replay context: .*", "", xfrm_tables(lab, node))
    return sorted("\n".join(line.rstrip() for line in block.splitlines()) for block in re.split(r"\n(?=src )", out.strip()))


def secrets_at_rest(lab, node, secrets):
    """(files, journal lines) of a guest that hold any of `secrets`: every file under /tmp /var/tmp /root /var/log
    /run /etc, binary ones too, and the journal of this boot where systemd runs. The patterns go on stdin, never
    in a command line."""
    patterns = "\n".join(sorted(secrets)) + "\n"
    files = lab.ssh(node, "grep -rlaF -D skip -f - /tmp /var/tmp /root /var/log /run /etc 2>/dev/null; true",
                    input=patterns).stdout.split()
    journal = lab.ssh(node, "if command -v journalctl >/dev/null && [ -d /run/systemd/system ]; then journalctl -b "
                            "--no-pager -o export 2>/dev/null | grep -caF -f -; fi; true", input=patterns).stdout.strip()
    return files, int(journal or 0)


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


def lan_pings(lab, families=(4, 6), count=5):
    """Pings from gw1's LAN host to gw2's, and back, in each family: {(family, the pinging gateway): replies}."""
    got = {}
    for family in families:
        suffix = "" if family == 4 else "6"
        got[(family, "gw1")] = ping(lab, "gw1", lab.hosts["gw2"]["lab_lan_host" + suffix], count=count, netns="lan")
        got[(family, "gw2")] = ping(lab, "gw2", lab.hosts["gw1"]["lab_lan_host" + suffix], count=count, netns="lan")
    return got


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


SENDER = r"""
import json, os, socket, sys, time
family, src, dst, port, count, rate, out = sys.argv[1:8]
s = socket.socket(socket.AF_INET6 if family == "6" else socket.AF_INET, socket.SOCK_DGRAM)
if src != "-":
    s.bind((src, 0))
count, rate, errors, sent = int(count), float(rate), 0, 0
start = time.monotonic()
for i in range(count):
    if i % 100 == 0 and os.path.exists(out + ".stop"):
        break
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    sent = i + 1
    try:
        s.sendto(b"%d" % i, (dst, int(port)))
    except OSError:
        errors += 1
json.dump({"sent": sent, "send_errors": errors, "seconds": time.monotonic() - start}, open(out, "w"))
"""

RECEIVER = r"""
import json, socket, sys, time
family, addr, port, limit, out = sys.argv[1:6]
s = socket.socket(socket.AF_INET6 if family == "6" else socket.AF_INET, socket.SOCK_DGRAM)
# 16 MiB (SO_RCVBUFFORCE, root): a TCG guest busy with a module run can leave this process unscheduled for seconds;
# what is measured is IPsec's loss, not this socket's overruns (Stream.drops counts both apart)
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)
s.bind((addr, int(port)))
s.settimeout(0.5)
seen, last, deadline = set(), None, time.monotonic() + float(limit)
open(out + ".ready", "w").close()
while time.monotonic() < deadline:
    try:
        data = s.recv(64)
    except socket.timeout:
        if last is not None and time.monotonic() - last > 3:
            break
        continue
    seen.add(int(data))
    last = time.monotonic()
json.dump(sorted(seen), open(out, "w"))
"""


class Stream:
    """A bounded, counted stream of sequenced UDP datagrams at a fixed rate, from a guest (or a namespace in it) to an
    address of another: start() before what is measured, result() after. The receiver notes every sequence number; the
    loss is what was sent and never arrived, reported with the gaps (first, last) where it happened. The sender runs
    for `seconds` at most, or until stop()."""

    def __init__(self, lab, sender, receiver, dst, rate=500, seconds=60, port=5555, src=None, sender_netns=None,
                 receiver_netns=None):
        self.lab, self.sender, self.receiver, self.dst = lab, sender, receiver, dst
        self.count, self.rate, self.port, self.src = int(rate * seconds), rate, port, src
        self.seconds = seconds
        self.family = "6" if ":" in dst else "4"
        self.sender_ns = "ip netns exec %s " % sender_netns if sender_netns else ""
        self.receiver_ns = "ip netns exec %s " % receiver_netns if receiver_netns else ""
        self.path = "/tmp/xfrm-stream-%d-%d" % (port, int(time.time() * 1000))

    def drops(self):
        """What the kernels counted as dropped so far: the receiver's UDP buffer overruns (in its namespace) and the
        XFRM errors of both guests (/proc/net/xfrm_stat), to tell a starved receiver from a keying fault."""
        snmp = self.lab.ssh(self.receiver, "%scat /proc/net/snmp /proc/net/snmp6" % self.receiver_ns).stdout
        udp = dict(zip(*[line.split()[1:] for line in snmp.splitlines() if line.startswith("Udp:")][:2]))
        udp6 = dict(re.findall(r"^(Udp6\w+)\s+(\d+)", snmp, re.M))
        out = {"rcvbuf_errors": int(udp.get("RcvbufErrors", 0)) + int(udp6.get("Udp6RcvbufErrors", 0))}
        for node in dict.fromkeys((self.sender, self.receiver)):
            for name, value in xfrm_stat(self.lab, node).items():
                out["%s:%s" % (node, name)] = value
        return out

    def start(self):
        self.before = self.drops()
        self.lab.ssh(self.receiver, "cat > %s.rx.py <<'EOF'\n%s\nEOF\n%snohup python3 %s.rx.py %s %s %d %d %s.rx "
                     "> /dev/null 2>&1 & for i in $(seq 50); do [ -e %s.rx.ready ] && break; sleep 0.2; done"
                     % (self.path, RECEIVER, self.receiver_ns, self.path, self.family, self.dst, self.port,
                        self.seconds + 120, self.path, self.path))
        self.lab.ssh(self.sender, "cat > %s.tx.py <<'EOF'\n%s\nEOF\n%snohup python3 %s.tx.py %s %s %s %d %d %f %s.tx "
                     "> /dev/null 2>&1 &" % (self.path, SENDER, self.sender_ns, self.path, self.family, self.src or "-",
                                             self.dst, self.port, self.count, self.rate, self.path))
        return self

    def stop(self):
        """The sender ends at its next hundredth datagram (the receiver 3 s after the last one arrives)."""
        self.lab.ssh(self.sender, "touch %s.tx.stop" % self.path)

    def result(self):
        """{sent, received, lost, send_errors, gaps: [(first, last)], seconds} once both ends are done."""
        deadline = time.time() + self.seconds + 180
        sent = received = None
        while time.time() < deadline and (sent is None or received is None):
            if sent is None:
                out = self.lab.ssh(self.sender, "cat %s.tx 2>/dev/null" % self.path, check=False).stdout
                sent = json.loads(out) if out.strip() else None
            if received is None:
                out = self.lab.ssh(self.receiver, "cat %s.rx 2>/dev/null" % self.path, check=False).stdout
                received = json.loads(out) if out.strip() else None
            if sent is None or received is None:
                time.sleep(2)
        assert sent is not None and received is not None, "the stream %s -> %s did not finish" % (self.sender, self.dst)
        for node in dict.fromkeys((self.sender, self.receiver)):
            self.lab.ssh(node, "rm -f %s.*" % self.path, check=False)
        got = set(received)
        gaps, start = [], None
        for i in range(sent["sent"]):
            if i not in got and start is None:
                start = i
            elif i in got and start is not None:
                gaps.append((start, i - 1))
                start = None
        if start is not None:
            gaps.append((start, sent["sent"] - 1))
        after = self.drops()
        dropped = {k: v - self.before.get(k, 0) for k, v in after.items() if v != self.before.get(k, 0)}
        return dict(sent=sent["sent"], received=len(got), lost=sent["sent"] - len(got), gaps=gaps,
                    send_errors=sent["send_errors"], seconds=round(sent["seconds"], 1), dropped=dropped)


NEWAE = r"""
import socket, struct, sys
dst, spi, oseq = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3], 0)
family = socket.AF_INET6 if ":" in dst else socket.AF_INET
daddr = socket.inet_pton(family, dst).ljust(16, b"\0")
# struct xfrm_aevent_id: xfrm_usersa_id (daddr, spi, family, proto), saddr, flags, reqid
body = daddr + struct.pack("!I", spi) + struct.pack("=HBx", family, 50) + bytes(16) + struct.pack("=II", 0, 0)
rattr = struct.pack("=HH", 4 + 12, 10) + struct.pack("=III", oseq, 0, 0)  # XFRMA_REPLAY_VAL: oseq, seq, bitmap
msg = body + rattr
# XFRM_MSG_NEWAE (30), NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE: the kernel asks for REPLACE here
header = struct.pack("=IHHII", 16 + len(msg), 30, 0x1 | 0x4 | 0x100, 1, 0)
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 6)
s.send(header + msg)
answer = s.recv(4096)
error = struct.unpack_from("=i", answer, 16)[0]
sys.exit("XFRM_MSG_NEWAE: errno %d" % -error if error else 0)
"""


def set_oseq(lab, node, dst, spi, oseq):
    """Move an SA's outbound sequence number (XFRM_MSG_NEWAE, as a daemon restoring counters would): the way to an SA
    near the end of its 2^32 sequence numbers without sending them. Test harness only, in the lab's guests."""
    lab.ssh(node, "python3 - %s 0x%x 0x%x <<'EOF'\n%s\nEOF" % (dst, spi, oseq, NEWAE))


def sa_oseq(lab, node, spi):
    """The SA's outbound sequence number as iproute2 shows it."""
    out = lab.ssh(node, "ip -s xfrm state").stdout
    block = re.search(r"spi 0x%08x.*?oseq (0x[0-9a-f]+)" % spi, out, re.S)
    return int(block.group(1), 16)
