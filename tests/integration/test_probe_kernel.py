"""ipsec_probe's echo probes on this host's kernel (raw ICMP sockets need root): answered over loopback in both
families, bounded in time toward a peer (a namespace of the test's own) that never answers, a source the host
lacks refused, and a thousand probes at once under a low open-files limit (a host with many peers). The lab proves
the probes across IPsec pairs (check_vpn.yml)."""

import os
import resource
import subprocess
import time

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import probe
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.transport import netns_entered

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root")


def test_loopback_answers_every_echo_request_in_both_families():
    results = probe.echo([{"dst": "127.0.0.1", "name": "v4"}, {"dst": "::1", "src": "::1", "name": "v6"}], count=3,
                         interval=0.05, timeout=1.0)
    assert [(r["name"], r["sent"], r["received"]) for r in results] == [("v4", 3, 3), ("v6", 3, 3)]
    assert all(r["rtt_ms"] is not None and "error" not in r for r in results)


@pytest.fixture
def silent_peer():
    """Two namespaces joined by veth; the peer (192.0.2.2 in its namespace) ignores echo requests. Yields the first."""
    tag = os.getpid() % 100000
    here, there = "xfrm-probe-a-%d" % tag, "xfrm-probe-b-%d" % tag
    commands = ["ip netns add " + here, "ip netns add " + there,
                "ip -n %s link add pa type veth peer name pb netns %s" % (here, there),
                "ip -n %s addr add 192.0.2.1/24 dev pa" % here, "ip -n %s link set pa up" % here,
                "ip -n %s addr add 192.0.2.2/24 dev pb" % there, "ip -n %s link set pb up" % there,
                "ip netns exec %s sysctl -qw net.ipv4.icmp_echo_ignore_all=1" % there]
    try:
        for command in commands:
            subprocess.run(command, shell=True, check=True, capture_output=True)
        yield here
    finally:
        for ns in (here, there):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def test_a_probe_toward_a_peer_that_never_answers_ends_after_its_timeout(silent_peer):
    started = time.monotonic()
    with netns_entered(silent_peer):
        (result,) = probe.echo([{"dst": "192.0.2.2", "src": "192.0.2.1"}], count=2, interval=0.05, timeout=0.5)
    assert time.monotonic() - started < 2 and (result["sent"], result["received"]) == (2, 0), result


def test_a_source_address_the_host_lacks_is_an_error_naming_it_and_nothing_is_sent():
    (result,) = probe.echo([{"dst": "127.0.0.1", "src": "192.0.2.254"}], count=2, interval=0.01, timeout=0.1)
    assert result["sent"] == 0 and result["error"].startswith("sending from 192.0.2.254 to 127.0.0.1: "), result


def test_a_thousand_probes_stay_below_a_low_open_files_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        results = probe.echo([{"dst": "127.0.0.1"}] * 1000, count=1, interval=0.01, timeout=0.5)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(results) == 1000 and all(r["received"] == 1 for r in results), [r for r in results if r["received"] != 1][:3]


def test_each_packet_leaves_from_the_probe_source_the_peer_sees_it_so(silent_peer):
    """A gateway's probe must leave from its address inside its subnets, or no tunnel policy takes it. Here the peer
    answers, blocks (an XFRM block policy, no esp4 needed) what comes from 192.0.2.1, and routes 198.51.100.1 back:
    only the probe whose packets carry 198.51.100.1 is answered."""
    there = silent_peer.replace("-a-", "-b-")
    for command in ("ip netns exec %s sysctl -qw net.ipv4.icmp_echo_ignore_all=0" % there,
                    "ip -n %s addr add 198.51.100.1/32 dev lo" % silent_peer,
                    "ip -n %s route add 198.51.100.1/32 via 192.0.2.1" % there,
                    "ip -n %s xfrm policy add src 192.0.2.1/32 dst 192.0.2.2/32 dir in action block" % there):
        subprocess.run(command, shell=True, check=True, capture_output=True)
    with netns_entered(silent_peer):
        results = probe.echo([{"dst": "192.0.2.2", "src": "198.51.100.1"}, {"dst": "192.0.2.2", "src": "192.0.2.1"}],
                             count=2, interval=0.05, timeout=0.5)
    assert [(r["src"], r["received"]) for r in results] == [("198.51.100.1", 2), ("192.0.2.1", 0)], results


def test_no_raw_socket_at_all_fails_the_run_instead_of_blaming_each_probe(monkeypatch):
    def refused(*_args, **_kwargs):
        raise PermissionError(1, "Operation not permitted")  # what a user without CAP_NET_RAW gets
    monkeypatch.setattr(probe.socket, "socket", refused)
    with pytest.raises(OSError, match="^cannot open a raw ICMP socket: Operation not permitted$"):
        probe.echo([{"dst": "127.0.0.1"}], count=1, interval=0.01, timeout=0.1)
