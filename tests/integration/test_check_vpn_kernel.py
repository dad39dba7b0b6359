"""playbooks/check_vpn.yml through ansible-playbook on this host's kernel: a simulated site of network namespaces
joined by veth pairs (two end hosts, two gateways with a LAN address each). This kernel has no esp4, so the site
cannot be keyed: every pair is down for its missing SAs, while the probes cross in clear. What this proves is the
plumbing on a real kernel: the observations and probes inside each namespace (raw ICMP sockets, the namespace's own
/proc/net/xfrm_stat, its addresses), gateways probing from their LAN address, the verdicts naming each missing SA,
the run failing, the picture written, and nothing changed. The lab proves the verdicts of keyed sites
(test_check_vpn in test_site_vpn_sites2_lab.py and test_site_vpn_mesh3_lab.py).
"""

import os
import subprocess
import sys

import pytest
import yaml

from ansible_run import Site

MASTER = "check_vpn kernel-tier master secret"
# host -> (namespace suffix, pair address v4, v6, LAN address or None)
HOSTS = {"h1": ("192.0.2.31", "2001:db8::31", None), "h2": ("192.0.2.32", "2001:db8::32", None),
         "gw1": ("192.0.2.41", "2001:db8::41", "198.51.100.1"), "gw2": ("192.0.2.42", "2001:db8::42", "203.0.113.1")}
LINKS = (("h1", "h2"), ("gw1", "gw2"))


def sh(*commands):
    for command in commands:
        subprocess.run(command, shell=True, check=True, capture_output=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    work = tmp_path_factory.mktemp("check")
    tag = os.getpid() % 100000
    names = {h: "xfrm-chk-%s-%d" % (h, tag) for h in HOSTS}
    try:
        for host, ns in names.items():
            sh("ip netns add %s" % ns, "ip -n %s link set lo up" % ns)
        for index, (a, b) in enumerate(LINKS):
            va, vb = "xc%d-%d-a" % (tag, index), "xc%d-%d-b" % (tag, index)
            sh("ip link add %s type veth peer name %s" % (va, vb))
            for host, dev in ((a, va), (b, vb)):
                v4, v6, lan = HOSTS[host]
                sh("ip link set %s netns %s" % (dev, names[host]),
                   "ip -n %s addr add %s/24 dev %s" % (names[host], v4, dev),
                   "ip -n %s addr add %s/64 dev %s nodad" % (names[host], v6, dev),
                   "ip -n %s link set %s up" % (names[host], dev))
                if lan:
                    sh("ip -n %s link add lan0 type veth peer name lan1" % names[host], "ip -n %s link set lan1 up" % names[host],
                       "ip -n %s addr add %s/24 dev lan0" % (names[host], lan),
                       "ip -n %s link set lan0 up" % names[host])
            for host, peer in ((a, b), (b, a)):
                if HOSTS[peer][2]:
                    sh("ip -n %s route add %s.0/24 via %s" % (names[host], HOSTS[peer][2].rsplit(".", 1)[0], HOSTS[peer][0]))
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        inventory = {"all": {"children": {
            "ipsec_mesh": {"hosts": {h: dict(ipsec_host_address=[HOSTS[h][0], HOSTS[h][1]], ipsec_netns=names[h], **local)
                                     for h in ("h1", "h2")}},
            "ipsec_gateways": {"hosts": {h: dict(ipsec_gateway_address=[HOSTS[h][0], HOSTS[h][1]], ipsec_netns=names[h],
                                                 ipsec_gateway_subnets=[HOSTS[h][2].rsplit(".", 1)[0] + ".0/24"], **local)
                                         for h in ("gw1", "gw2")}}}}}
        (work / "hosts.yml").write_text(yaml.safe_dump(inventory))
        yield Site(work / "hosts.yml", MASTER, work), work, names
    finally:
        for ns in names.values():
            subprocess.run(["ip", "netns", "del", ns], check=False)


def xfrm_tables(names):
    return {ns: subprocess.run(["ip", "-n", ns, "xfrm", "state"], capture_output=True, text=True, check=True).stdout
            + subprocess.run(["ip", "-n", ns, "xfrm", "policy"], capture_output=True, text=True, check=True).stdout
            for ns in names.values()}


@pytest.mark.parametrize("mode", [(), ("--check",)], ids=["real", "check_mode"])
def test_an_unkeyed_site_is_down_pair_by_pair_for_each_missing_sa_while_the_probes_cross_in_clear(site, mode):
    runner, work, names = site
    before = xfrm_tables(names)
    rc, result, drawn = runner.check_vpn(work / "report", *mode)
    assert rc == 2, result["lines"]  # a pair is down: the run fails
    pairs = result["report"]["pairs"]
    assert sorted(pairs) == ["gw1~gw2", "h1~h2"] and result["down"] == ["gw1~gw2", "h1~h2"]
    mesh = pairs["h1~h2"]
    assert mesh["reasons"] == ["h1 and h2 hold no SA and no policy of the pair (never keyed, or flushed)"]
    assert mesh["fixes"] == ["re-run site_vpn.yml --limit h1,h2"]
    # the probes ran inside the namespaces, over IPv4 and IPv6, and were answered (in clear: no policy here)
    assert mesh["probe"]["sent"] == mesh["probe"]["received"] == 12, mesh["probe"]
    assert sorted((p["src"], p["dst"]) for p in mesh["probe"]["probes"]) == sorted(
        [("192.0.2.31", "192.0.2.32"), ("192.0.2.32", "192.0.2.31"), ("2001:db8::31", "2001:db8::32"),
         ("2001:db8::32", "2001:db8::31")])
    gateways = pairs["gw1~gw2"]
    assert sorted((p["src"], p["dst"]) for p in gateways["probe"]["probes"]) == [("198.51.100.1", "203.0.113.1"),
                                                                                 ("203.0.113.1", "198.51.100.1")]
    assert gateways["probe"]["received"] == 6
    # the gateways have IPv4 subnets only: nothing to carry over IPv6, so no IPv6 probe and no note of one missing
    assert not [e for e in gateways["evidence"] if "not probed" in e], gateways["evidence"]
    assert xfrm_tables(names) == before, "the check changed a kernel's tables"
    for name in ("check_vpn.html", "check_vpn.png"):
        path = work / "report" / name
        assert path.stat().st_size > 1000 and oct(path.stat().st_mode & 0o777) == "0o644", name
    assert drawn == {"gw1~gw2": "down", "h1~h2": "down"}
