"""The NAT traversal socket holder (the program module ipsec_natt installs: module_utils/ipsec_natt.py) on this host's kernel, in a namespace
of the test's own: it sends NAT keepalives (one 0xFF byte) from UDP 4500 at its interval, and ESP in UDP that reaches
its port goes to the kernel's ESP input, not to the program (where esp4 is loaded, XFRM counts it: no SA has its SPI;
this host has no esp4, so the kernel answers "protocol unreachable" instead; a socket without UDP_ENCAP would simply
receive the datagram and neither counter would move). The lab proves it across a NAT between two gateways
(tests/integration/test_nat_traversal_lab.py)."""

import os
import socket
import struct
import subprocess
import sys
import time

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.transport import netns_entered
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_natt import PROGRAM, config_text
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def counters(netns):
    """The namespace's XFRM counters and its ICMP ones ("Icmp OutDestUnreachs", ...)."""
    def read(path):
        return subprocess.run(["ip", "netns", "exec", netns, "cat", path], capture_output=True, text=True,
                              check=True).stdout.splitlines()
    out = {line.split()[0]: int(line.split()[1]) for line in read("/proc/net/xfrm_stat")}
    icmp = [line.split()[1:] for line in read("/proc/net/snmp") if line.startswith("Icmp:")]
    out.update({"Icmp " + k: int(v) for k, v in zip(icmp[0], icmp[1])})
    return out


@pytest.fixture
def holder(netns, tmp_path):
    """The socket holder running in the namespace (loopback up), keepalives every 0.5 s to 127.0.0.3."""
    subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
    config, program = tmp_path / "natt.json", tmp_path / "xfrm-ipsec-natt"
    config.write_text(config_text(["127.0.0.3"], 0.5))
    program.write_text(PROGRAM)
    with netns_entered(netns):
        listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the "peer": bound before the holder starts
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.3", 4500))
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, str(program), str(config)],
                            stderr=subprocess.PIPE, text=True)
    try:
        yield proc, listener
    finally:
        proc.terminate()  # the one we started, by its PID
        proc.wait(timeout=10)
        listener.close()


def test_keepalives_leave_from_udp_4500_at_the_interval(holder):
    _proc, listener = holder
    listener.settimeout(5)
    arrivals = []
    for _round in range(3):
        data, (_address, port) = listener.recvfrom(64)
        arrivals.append(time.monotonic())
        assert (data, port) == (b"\xff", 4500)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert all(0.3 < gap < 1.5 for gap in gaps), gaps


def test_esp_in_udp_reaching_port_4500_goes_to_the_kernels_xfrm_input(holder, netns):
    proc, _listener = holder
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the holder's socket is bound once its first line is logged
        if "open for ESP in UDP" in proc.stderr.readline():
            break
    before = counters(netns)
    with netns_entered(netns):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for seq in range(1, 4):  # SPI 0x00001234 (non-zero: ESP, RFC 3948), sequence number, a payload
                sender.sendto(struct.pack("!II", 0x1234, seq) + b"\x00" * 32, ("127.0.0.1", 4500))
    time.sleep(0.2)
    after = counters(netns)
    moved = {k: after[k] - before[k] for k in ("XfrmInNoStates", "Icmp OutDestUnreachs")}
    assert sum(moved.values()) == 3, moved
