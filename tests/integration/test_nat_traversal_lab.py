"""NAT traversal with manual keys, on the wire (topology nat2: sites2 with gw2 behind a NAT router).

gw2's WAN port is in a namespace `nat` of its guest that masquerades gw2's own address 10.0.0.2 as the public
192.0.2.2 (nft); the inventory states gw2's own address and `ipsec_gateway_nat: {address: 192.0.2.2, port: 4500}`.
In order, on the same guests: check mode predicting the first run exactly, the site keyed through the NAT (LAN to
LAN both ways in IPv4 and IPv6, a capture beyond the NAT showing only ESP in UDP 4500 and the keepalives, UDP 4500
accepted from the peer only, a second run changing nothing); the NAT's mapping moved to another public port and the
peer's SAs updated in place; check_vpn.yml finding the pair up; flush.yml removing the socket holder with the SAs.
"""

import json
import pathlib

import pytest

from ansible_run import Site, changed_hosts, check_report, failures, task_results
from traffic import Capture, lan_pings

MASTER = "nat traversal lab master secret: a test vector, not a real secret"
GATEWAYS = ("gw1", "gw2")
KEEPALIVE = 3   # seconds (the role's default is 20): the captures see keepalives without waiting long
WAN = "ip or ip6"
STATE = {}


def inventory(lab, workdir, port=4500):
    """The lab's inventory with the NAT's public port and a short keepalive interval."""
    doc = json.loads(pathlib.Path(lab.inventory).read_text())
    gateways = doc["all"]["children"]["ipsec_gateways"]
    gateways["vars"] = {"ipsec_gateway_natt_keepalive": KEEPALIVE}
    gateways["hosts"]["gw2"]["ipsec_gateway_nat"]["port"] = port
    path = pathlib.Path(workdir) / ("nat-%d.json" % port)
    path.write_text(json.dumps(doc))
    return path


def beyond_the_nat(lab):
    """A capture on the NAT router's WAN port (the far side of the NAT from gw2), every packet."""
    return Capture(lab, "gw2", "eth1", WAN, netns="nat")


def holder(lab, node):
    return lab.ssh(node, "systemctl is-active xfrm-ipsec-natt.service; cat /etc/xfrm-ipsec-natt.json", check=False).stdout


def sas_task(run, host):
    (actions,) = [actions for name, _changed, actions in task_results(run.doc)[host] if "Tunnel SAs" in name]
    return actions


@pytest.mark.lab("nat2")
def test_a_gateway_behind_a_nat_is_keyed_and_both_lan_families_cross_it_only_as_esp_in_udp(lab, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    inv = inventory(lab, workdir)
    checked = runner.run("site_vpn.yml", "--check", "--diff", inventory=inv)
    assert checked.returncode == 0, failures(checked)
    assert lab.ssh("gw1", "ip xfrm state").stdout == "" and "inactive" in holder(lab, "gw1"), "check mode changed gw1"
    real = runner.run("site_vpn.yml", "--diff", inventory=inv)
    assert real.returncode == 0, failures(real)
    assert task_results(real.doc) == task_results(checked.doc), "check mode did not predict the real run"
    # each kernel names gw2 by the address it sees: gw1 by the NAT's, gw2 by its own; ESP in UDP from 4500 to 4500
    gw1, gw2 = (lab.ssh(node, "ip xfrm state").stdout for node in GATEWAYS)
    assert gw1.count("encap type espinudp sport 4500 dport 4500") == 2 and "src 192.0.2.1 dst 192.0.2.2" in gw1, gw1
    assert gw2.count("encap type espinudp sport 4500 dport 4500") == 2 and "src 10.0.0.2 dst 192.0.2.1" in gw2, gw2
    assert "10.0.0.2" not in gw1
    # the socket holder on both ends; keepalives from behind the NAT only
    assert holder(lab, "gw1").startswith("active") and '"peers": []' in holder(lab, "gw1")
    assert holder(lab, "gw2").startswith("active") and '"192.0.2.1"' in holder(lab, "gw2")
    with beyond_the_nat(lab) as cap:
        assert set(lan_pings(lab).values()) == {5}
        lab.ssh("gw1", "sleep %d" % (KEEPALIVE + 1))  # idle: a keepalive round at least
    esp_in_udp = r"IP 192\.0\.2\.(1\.4500 > 192\.0\.2\.2|2\.4500 > 192\.0\.2\.1)\.4500: UDP-encap: ESP\(spi="
    assert cap.count(esp_in_udp) >= 40, cap.lines  # 2 families x 2 ways x 5 x (request + reply)
    assert cap.count(r"IP 192\.0\.2\.2\.4500 > 192\.0\.2\.1\.4500: isakmp-nat-keep-alive") >= 1, cap.lines
    assert cap.count(r"ESP\(spi=") == cap.count(esp_in_udp), cap.lines  # no bare ESP
    assert cap.count("ICMP") == 0 and cap.count("10.0.0.2") == 0 and cap.count("IP6") == 0, cap.lines  # no plaintext
    # UDP 4500 accepted from the peer only (the ends of the SAs with encap)
    assert "elements = { 192.0.2.1, 192.0.2.2 }" in lab.ssh("gw1", "nft list set inet xfrm_ipsec natt_peers_v4").stdout
    assert "elements = { 10.0.0.2, 192.0.2.1 }" in lab.ssh("gw2", "nft list set inet xfrm_ipsec natt_peers_v4").stdout
    again = runner.run("site_vpn.yml", inventory=inv)
    assert again.returncode == 0 and changed_hosts(again.doc) == {"gw1": 0, "gw2": 0}, failures(again)
    STATE["inventory"] = inv


@pytest.mark.lab("nat2")
def test_a_new_public_port_of_the_nat_is_applied_to_the_live_sas_in_place_and_the_run_says_so(lab, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    spis = lab.ssh("gw1", "ip xfrm state | grep -o 'spi 0x[0-9a-f]*' | sort").stdout
    # the NAT maps gw2's 4500 to 4501 from now on (as after its reboot): a rule before the masquerade, its table of
    # connections emptied (pyroute2's flush is lazy: list() runs it)
    lab.ssh("gw2", "ip netns exec nat nft insert rule ip nat postrouting oifname eth1 ip saddr 10.0.0.2 udp sport 4500 "
                   "snat to 192.0.2.2:4501 && ip netns exec nat python3 -c "
                   "'from pyroute2 import Conntrack; list(Conntrack().flush())'")
    inv = inventory(lab, workdir, port=4501)
    run = runner.run("site_vpn.yml", "--diff", inventory=inv)
    assert run.returncode == 0, failures(run)
    assert changed_hosts(run.doc)["gw2"] == 0, task_results(run.doc)["gw2"]  # behind the NAT nothing changes
    updates = [a for a in sas_task(run, "gw1") if a["action"] == "update"]
    assert len(updates) == 2 and len(sas_task(run, "gw1")) == 2, sas_task(run, "gw1")
    assert lab.ssh("gw1", "ip xfrm state | grep -o 'spi 0x[0-9a-f]*' | sort").stdout == spis  # the same SAs
    gw1 = lab.ssh("gw1", "ip xfrm state").stdout
    assert "sport 4500 dport 4501" in gw1 and "sport 4501 dport 4500" in gw1, gw1
    with beyond_the_nat(lab) as cap:
        assert set(lan_pings(lab, count=3).values()) == {3}
    assert cap.count(r"192\.0\.2\.2\.4501 > 192\.0\.2\.1\.4500: UDP-encap: ESP") >= 6, cap.lines
    assert cap.count(r"192\.0\.2\.1\.4500 > 192\.0\.2\.2\.4501: UDP-encap: ESP") >= 6, cap.lines
    STATE["inventory"] = inv


@pytest.mark.lab("nat2")
def test_check_vpn_finds_the_pair_across_the_nat_up(lab, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    run = runner.run("check_vpn.yml", "-e", "ipsec_check_report_dir=", inventory=STATE["inventory"])
    assert run.returncode == 0, failures(run)
    report = check_report(run.doc)["report"]["pairs"]["gw1~gw2"]
    assert report["state"] == "up" and report["reasons"] == [], report
    assert report["probe"]["sent"] == report["probe"]["received"] > 0, report["probe"]
    assert {sa["sender"] for sa in report["sas"]} == {"gw1", "gw2"} and all(sa["received"] for sa in report["sas"]), \
        report["sas"]


@pytest.mark.lab("nat2")
def test_flush_removes_the_socket_holder_with_the_sas(lab, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    run = runner.run("flush.yml", inventory=STATE["inventory"])
    assert run.returncode == 0, failures(run)
    for node in GATEWAYS:
        assert lab.ssh(node, "ip xfrm state; ip xfrm policy").stdout == "", node
        assert holder(lab, node).strip() == "inactive", node
        assert lab.ssh(node, "ls /etc/systemd/system/xfrm-ipsec-natt.service /usr/local/sbin/xfrm-ipsec-natt "
                             "/etc/xfrm-ipsec-natt.json", check=False).returncode != 0, node
        assert lab.ssh(node, "ss -uln 'sport = :4500'").stdout.count("4500") == 0, node
