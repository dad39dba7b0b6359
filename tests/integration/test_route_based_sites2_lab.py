"""Route-based mode and tunnels of the other address family, on the two sites of the lab (topology sites2).

In order, on the same guests: route mode over IPv4 carrying both LAN families (an XFRM interface per pair, its
counters moving, only ESP over IPv4 on the WAN, check mode predicting the real run, a second run changing nothing,
check_vpn.yml finding the pair up), a third subnet that a run adds as a route and nothing else, IPv4 inside IPv6 in
route mode, flush.yml removing interfaces and routes, then policy mode with IPv6 inside IPv4 and IPv4 inside IPv6
(the interfaces of the earlier route mode removed by the run). The lab's static routes between the LANs (which
policy mode uses) are taken away for route mode and put back after, as is everything else the tests add.
"""

import json
import pathlib
import re

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import site

from ansible_run import Site, changed_hosts, check_report, failures, run_module, task_results
from traffic import Capture, lan_pings, ping

MASTER = "route-based lab master secret: a test vector, not a real secret"
GATEWAYS = ("gw1", "gw2")
BPF = "esp or ah or icmp or (icmp6 and ip6[40] >= 128 and ip6[40] <= 129)"
THIRD = {"net": "198.19.3.0/24", "gw": "198.19.3.1", "host": "198.19.3.10"}   # a subnet added behind gw2
IF_ID = site.if_id("gw1~gw2")
STATE = {}


def inventory(lab, workdir, name, mode, outer=(4,), third=False):
    """The lab's inventory with the gateways in `mode`, tunnel endpoints of the `outer` families only, and gw2's
    third subnet if asked."""
    doc = json.loads(pathlib.Path(lab.inventory).read_text())
    gateways = doc["all"]["children"]["ipsec_gateways"]
    gateways["vars"] = {"ipsec_gateway_mode": mode}
    for host, hostvars in gateways["hosts"].items():
        facts = lab.hosts[host]
        hostvars["ipsec_gateway_address"] = [facts["lab_addr"] if f == 4 else facts["lab_addr6"] for f in outer]
        if third and host == "gw2":
            hostvars["ipsec_gateway_subnets"] = hostvars["ipsec_gateway_subnets"] + [THIRD["net"]]
    path = pathlib.Path(workdir) / ("%s.json" % name)
    path.write_text(json.dumps(doc))
    return path


def lab_routes(lab, present):
    """The lab's static routes from each gateway to the other's LAN through the WAN (policy mode sends by them);
    route mode's own routes take their place."""
    for node in GATEWAYS:
        peer = lab.hosts["gw2" if node == "gw1" else "gw1"]
        verb = "replace" if present else "del"
        via = (" via %s" % peer["lab_addr"], " via %s" % peer["lab_addr6"]) if present else ("", "")
        lab.ssh(node, "ip route %s %s%s; ip -6 route %s %s%s" % (verb, peer["lab_lan"], via[0], verb, peer["lab_lan6"], via[1]),
                check=present)


def interfaces(lab, node):
    """The XFRM interfaces of a guest, as `ip -d -j link` shows them (it shows the other links as {})."""
    return [link for link in json.loads(lab.ssh(node, "ip -d -j link show type xfrm").stdout) if link]


def our_routes(lab, node):
    return lab.ssh(node, "ip route show proto 154; ip -6 route show proto 154").stdout


def counters(lab, node, name):
    out = lab.ssh(node, "cat /sys/class/net/%s/statistics/tx_packets /sys/class/net/%s/statistics/rx_packets" % (name, name))
    return tuple(int(n) for n in out.stdout.split())


@pytest.fixture(scope="module")
def clean_site(lab_session):
    """The gateways without IPsec state, firewall or lab routes between the LANs; put back as the lab had them after
    the module (the next tests of the topology key the site in policy mode)."""
    lab = lab_session
    lab.up("sites2")
    script = ("ip xfrm state flush; ip xfrm policy flush; rm -rf /var/lib/xfrm-ipsec /etc/sysctl.d/90-xfrm-ipsec.conf "
              "/etc/xfrm-ipsec; nft delete table inet xfrm_ipsec 2>/dev/null; "
              "for l in $(ip -j link show type xfrm | python3 -c 'import json,sys; print(*[l[\"ifname\"] for l in json.load(sys.stdin) if l])'); "
              "do ip link del $l; done; sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0")
    for node in GATEWAYS:
        lab.ssh(node, script)
    lab_routes(lab, present=False)
    yield lab
    for node in GATEWAYS:
        lab.ssh(node, script)
    lab.ssh("gw2", "ip netns del lan3 2>/dev/null; ip link del veth3 2>/dev/null", check=False)
    lab_routes(lab, present=True)


@pytest.mark.lab("sites2")
def test_route_mode_carries_both_lan_families_through_xfrm_interfaces_as_esp_over_ipv4(lab, clean_site, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    inv = inventory(lab, workdir, "route4", "route", outer=(4,))
    checked = runner.run("site_vpn.yml", "--check", "--diff", inventory=inv)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    assert interfaces(lab, "gw1") == [] and our_routes(lab, "gw1") == "", "check mode changed the host"
    real = runner.run("site_vpn.yml", "--diff", inventory=inv)
    assert real.returncode == 0, real.stdout[-3000:] + real.stderr[-3000:]
    assert task_results(real.doc) == task_results(checked.doc), "check mode did not predict the real run"
    made = [r for r in task_results(real.doc)["gw1"] if "XFRM interfaces" in r[0]][0][2]
    assert [a["entry"] for a in made] == [
        "interface ipsec-gw2 if_id 0x%x mtu 1438" % IF_ID,  # 1500 - 20 - 8 - 16 (IV) - 16 (ICV), whole blocks, - 2
        "route 203.0.113.0/24 dev ipsec-gw2 src 198.51.100.1",
        "route 2001:db8:2::/64 dev ipsec-gw2 src 2001:db8:1::1 metric 1024"], made
    (link,) = interfaces(lab, "gw1")
    assert (link["ifname"], link["mtu"], link["linkinfo"]["info_kind"], link["linkinfo"]["info_data"]["if_id"]) == \
        ("ipsec-gw2", 1438, "xfrm", "0x%x" % IF_ID) and link["ifalias"] == "xfrm.ipsec pair gw1~gw2", link
    sas = lab.ssh("gw1", "ip xfrm state").stdout
    assert sas.count("if_id 0x%x" % IF_ID) == 2 and sas.count("flag af-unspec") == 2, sas  # IPv6 rides IPv4 SAs
    before = {node: counters(lab, node, "ipsec-" + ("gw2" if node == "gw1" else "gw1")) for node in GATEWAYS}
    with Capture(lab, "gw1", "eth1", BPF, direction="out") as c1, Capture(lab, "gw2", "eth1", BPF, direction="out") as c2:
        assert set(lan_pings(lab).values()) == {5}
    for node, cap in (("gw1", c1), ("gw2", c2)):
        assert cap.count(r"IP 192\.0\.2\.\d+ > 192\.0\.2\.\d+: ESP\(spi=") >= 20, (node, cap.lines)  # 2 x 2 families x 5
        assert cap.count("ICMP") == 0 and cap.count(r"IP6 .*ESP") == 0, (node, cap.lines)
    for node in GATEWAYS:
        after = counters(lab, node, "ipsec-" + ("gw2" if node == "gw1" else "gw1"))
        assert after[0] - before[node][0] >= 20 and after[1] - before[node][1] >= 20, (node, before[node], after)
    again = runner.run("site_vpn.yml", inventory=inv)
    assert again.returncode == 0 and changed_hosts(again.doc) == {"gw1": 0, "gw2": 0}, again.stdout[-2000:]
    STATE["route4"] = inv


@pytest.mark.lab("sites2")
def test_a_third_subnet_behind_gw2_is_reached_after_a_run_that_adds_routes_and_nothing_else(lab, clean_site, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    lab.ssh("gw2", "ip netns add lan3; ip link add veth3 type veth peer name veth4; ip link set veth4 netns lan3; "
                   "ip addr add {gw}/24 dev veth3; ip link set veth3 up; ip -n lan3 link set lo up; "
                   "ip -n lan3 addr add {host}/24 dev veth4; ip -n lan3 link set veth4 up; "
                   "ip -n lan3 route add default via {gw}".format(**THIRD))
    xfrm_before = {node: lab.ssh(node, "ip xfrm state; ip xfrm policy").stdout for node in GATEWAYS}
    inv = inventory(lab, workdir, "route4-third", "route", outer=(4,), third=True)
    run = runner.run("site_vpn.yml", "--diff", inventory=inv)
    assert run.returncode == 0, failures(run)
    changed = {host: [(name, actions) for name, was_changed, actions in results if was_changed]
               for host, results in task_results(run.doc).items()}
    assert [name.split(" : ")[-1].split(" ")[:2] for name, _actions in changed["gw1"]] == [["XFRM", "interfaces"], ["The", "firewall"]], \
        changed
    assert changed["gw1"][0][1] == [{"action": "add", "entry": "route 198.19.3.0/24 dev ipsec-gw2 src 198.51.100.1"}]
    assert changed["gw2"] == [], changed  # its own new subnet: the wide policies already take it
    assert {node: lab.ssh(node, "ip xfrm state; ip xfrm policy").stdout for node in GATEWAYS} == xfrm_before
    with Capture(lab, "gw1", "eth1", BPF, direction="out") as cap:
        assert ping(lab, "gw1", THIRD["host"], count=3, netns="lan") == 3
    assert cap.count("ESP") >= 3 and cap.count("ICMP") == 0, cap.lines
    assert 'ip daddr 198.19.3.0/24 oifname != "ipsec-gw2" rt ipsec missing' in lab.ssh(
        "gw1", "nft list chain inet xfrm_ipsec postrouting").stdout
    STATE["route4"] = inv


@pytest.mark.lab("sites2")
def test_check_vpn_finds_the_route_based_pair_up_probing_both_lan_families(lab, clean_site, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    run = runner.run("check_vpn.yml", "-e", "ipsec_check_report_dir=", inventory=STATE["route4"])
    assert run.returncode == 0, run.stdout[-3000:]
    report = check_report(run.doc)["report"]["pairs"]["gw1~gw2"]
    assert report["state"] == "up" and report["reasons"] == [], report
    assert (report["probe"]["sent"], report["probe"]["received"]) == (12, 12), report["probe"]


@pytest.mark.lab("sites2")
def test_route_mode_carries_ipv4_inside_ipv6(lab, clean_site, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    inv = inventory(lab, workdir, "route6", "route", outer=(6,))
    run = runner.run("site_vpn.yml", inventory=inv)
    assert run.returncode == 0, failures(run)
    (link,) = interfaces(lab, "gw1")
    assert link["mtu"] == 1406, link  # 1500 - 40 - 8 - 16 - 16 = 1420, whole blocks 1408, - 2
    with Capture(lab, "gw1", "eth1", BPF, direction="out") as cap:
        assert set(lan_pings(lab, families=(4,)).values()) == {5}
    assert cap.count(r"IP6 2001:db8::1 > 2001:db8::2: ESP\(spi=") >= 10 and cap.count(r"^\S+ IP ") == 0, cap.lines
    assert cap.count("ICMP") == 0, cap.lines


@pytest.mark.lab("sites2")
def test_the_saved_state_file_puts_the_interface_and_its_routes_back_as_the_boot_time_restore_does(lab, clean_site):
    # what ipsec_persist's unit runs at boot (ip -force -batch of ipsec_save's file), here without the reboot
    saved = run_module("ipsec_save", {"path": "/root/state.ip", "restore_at_boot": "none"}, hosts="gw1",
                       inventory=lab.inventory)
    assert saved.rc == 0 and (saved.only["interfaces"], saved.only["routes"]) == (1, 2), saved.output[-2000:]
    made = (interfaces(lab, "gw1"), our_routes(lab, "gw1"))
    lab.ssh("gw1", "ip xfrm state flush; ip xfrm policy flush; ip link del ipsec-gw2")
    assert interfaces(lab, "gw1") == [] and our_routes(lab, "gw1") == ""
    lab.ssh("gw1", "ip -force -batch /root/state.ip; rm -f /root/state.ip")
    (link,) = interfaces(lab, "gw1")
    assert {k: link[k] for k in ("ifname", "mtu", "linkinfo", "ifalias")} == {k: made[0][0][k] for k in ("ifname", "mtu", "linkinfo", "ifalias")}
    # the routes come back without their preferred source (the LAN address may not be up at boot): the next run sets it
    assert our_routes(lab, "gw1") == made[1].replace(" src 198.51.100.1", "").replace(" src 2001:db8:1::1", "")
    assert set(lan_pings(lab, families=(4,)).values()) == {5}


@pytest.mark.lab("sites2")
def test_flush_removes_the_interfaces_and_their_routes(lab, clean_site, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    assert interfaces(lab, "gw2") != []
    run = runner.run("flush.yml", inventory=STATE["route4"])
    assert run.returncode == 0, run.stdout[-3000:]
    for node in GATEWAYS:
        assert interfaces(lab, node) == [] and our_routes(lab, node) == "", node
        assert lab.ssh(node, "ip xfrm state; ip xfrm policy").stdout == ""


@pytest.mark.lab("sites2")
def test_policy_mode_tunnels_ipv6_inside_ipv4_and_ipv4_inside_ipv6(lab, clean_site, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    # route mode again (flushed above), so that the first run in policy mode has an XFRM interface to remove
    assert runner.run("site_vpn.yml", inventory=STATE["route4"]).returncode == 0
    lab_routes(lab, present=True)
    for outer, inner in ((4, 6), (6, 4)):
        inv = inventory(lab, workdir, "policy%d" % outer, "policy", outer=(outer,))
        run = runner.run("site_vpn.yml", inventory=inv)
        assert run.returncode == 0, failures(run)
        assert interfaces(lab, "gw1") == [] and our_routes(lab, "gw1") == ""
        with Capture(lab, "gw1", "eth1", BPF, direction="out") as cap:
            assert set(lan_pings(lab, families=(inner,)).values()) == {5}
        esp = r"IP6 2001:db8::1 > 2001:db8::2: ESP" if outer == 6 else r"IP 192\.0\.2\.1 > 192\.0\.2\.2: ESP"
        assert cap.count(esp) >= 10 and cap.count("ESP") == cap.count(esp), (outer, cap.lines)
        assert cap.count("ICMP") == 0, cap.lines
        policies = lab.ssh("gw1", "ip xfrm policy").stdout
        assert re.search(r"tmpl src %s dst %s" % ((r"192\.0\.2\.1", r"192\.0\.2\.2") if outer == 4 else ("2001:db8::1", "2001:db8::2")),
                         policies), policies
