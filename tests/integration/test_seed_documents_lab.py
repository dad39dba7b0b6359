"""The seed documents' setkey configurations, applied with the modules, with real traffic through them.

Proof on the wire for each: the SA byte counters grow, a capture on the receiving side shows
ESP/AH with the expected SPIs, and the plaintext never crosses the link.
"""

import pytest

from ansible_run import run_module
from traffic import Capture, flush_xfrm as reset, lan_to_lan_is_esp_only_on_the_wan, ping, sa_counters

# LARTC chapter 7, keys and SPIs exactly as printed there (weak algorithms: opt-in)
LARTC_AH = {"algorithm": "hmac-md5", "key": '"1234567890123456"'}
LARTC_ESP = {"algorithm": "3des-cbc", "key": '"123456789012123456789012"'}


def lartc_sas(h216, h11):
    return {"allow_weak_algorithms": True, "sas": [
        {"src": h11, "dst": h216, "proto": "ah", "spi": 15700, "auth": LARTC_AH},
        {"src": h216, "dst": h11, "proto": "ah", "spi": 24500, "auth": LARTC_AH},
        {"src": h11, "dst": h216, "proto": "esp", "spi": 15701, "enc": LARTC_ESP},
        {"src": h216, "dst": h11, "proto": "esp", "spi": 24501, "enc": LARTC_ESP},
    ]}


def lartc_policies(me, peer):
    both = [{"proto": "esp"}, {"proto": "ah"}]
    return {"policies": [{"src": me, "dst": peer, "dir": "out", "templates": both},
                         {"src": peer, "dst": me, "dir": "in", "templates": both}]}


@pytest.mark.lab("pair")
def test_lartc_esp_and_ah_transport_with_in_and_out_policies(lab):
    reset(lab, "h1", "h2")
    h216, h11 = lab.hosts["h1"]["lab_addr"], lab.hosts["h2"]["lab_addr"]
    inv = lab.inventory
    assert ping(lab, "h1", h11) == 5, "the link works in clear before IPsec"

    for node in ("h1", "h2"):
        assert run_module("ipsec_sa", lartc_sas(h216, h11), hosts=node, inventory=inv).only["changed"] is True
    run_module("ipsec_policy", lartc_policies(h11, h216), hosts="h2", inventory=inv)
    assert ping(lab, "h1", h11, count=3) == 0, "h2's in policy drops plaintext from h1 (no spoofed clear text)"

    run_module("ipsec_policy", lartc_policies(h216, h11), hosts="h1", inventory=inv)
    before = sa_counters(lab, "h2")
    with Capture(lab, "h2", lab.hosts["h2"]["lab_iface"]) as cap:
        assert ping(lab, "h1", h11) == 5
    after = sa_counters(lab, "h2")
    assert cap.count(r"AH\(spi=0x00005fb4.*ESP\(spi=0x00005fb5") >= 5, cap.lines
    assert cap.count(r"AH\(spi=0x00003d54.*ESP\(spi=0x00003d55") >= 5, cap.lines
    assert cap.count("ICMP echo") == 0, "no plaintext ICMP on the wire"
    assert after[("esp", 24501)][1] >= before.get(("esp", 24501), (0, 0))[1] + 5
    assert after[("ah", 24500)][1] >= before.get(("ah", 24500), (0, 0))[1] + 5
    reset(lab, "h1", "h2")


@pytest.mark.lab("pair")
def test_kame_host_to_host_transport_esp_with_use_level(lab):
    reset(lab, "h1", "h2")
    a, b = lab.hosts["h1"]["lab_addr"], lab.hosts["h2"]["lab_addr"]
    inv = lab.inventory
    hoge = {"algorithm": "des-cbc", "key": "hogehoge"}
    sas = {"allow_weak_algorithms": True, "sas": [{"src": a, "dst": b, "spi": 9998, "enc": hoge},
                                                  {"src": b, "dst": a, "spi": 9999, "enc": hoge}]}
    for node, me, peer in (("h1", a, b), ("h2", b, a)):
        run_module("ipsec_sa", sas, hosts=node, inventory=inv)
        run_module("ipsec_policy", {"src": me, "dst": peer, "dir": "out", "templates": [{"proto": "esp", "level": "use"}]},
                   hosts=node, inventory=inv)
    with Capture(lab, "h2", lab.hosts["h2"]["lab_iface"]) as cap:
        assert ping(lab, "h1", b) == 5
    assert cap.count(r"%s > %s: ESP\(spi=0x0000270e" % (a, b)) >= 5, cap.lines
    assert cap.count(r"%s > %s: ESP\(spi=0x0000270f" % (b, a)) >= 5, cap.lines
    assert cap.count("ICMP echo") == 0
    reset(lab, "h1", "h2")


@pytest.mark.lab("sites2")
def test_kame_site_to_site_tunnel_between_gateways(lab):
    reset(lab, "gw1", "gw2")
    gw1, gw2 = lab.hosts["gw1"], lab.hosts["gw2"]
    inv = lab.inventory
    keys = {"enc": {"algorithm": "aes-cbc", "key": "0x" + "5a" * 32}, "auth": {"algorithm": "hmac-sha256", "key": "0x" + "c3" * 32}}
    sas = {"sas": [dict(keys, src=gw1["lab_addr"], dst=gw2["lab_addr"], spi=9998, mode="tunnel", reqid=0x70000001),
                   dict(keys, src=gw2["lab_addr"], dst=gw1["lab_addr"], spi=9999, mode="tunnel", reqid=0x70000001)]}
    for me, peer in ((gw1, gw2), (gw2, gw1)):
        out = [{"proto": "esp", "mode": "tunnel", "src": me["lab_addr"], "dst": peer["lab_addr"], "reqid": 0x70000001}]
        back = [{"proto": "esp", "mode": "tunnel", "src": peer["lab_addr"], "dst": me["lab_addr"], "reqid": 0x70000001}]
        policies = {"policies": [{"src": me["lab_lan"], "dst": peer["lab_lan"], "dir": "out", "templates": out},
                                 {"src": peer["lab_lan"], "dst": me["lab_lan"], "dir": "in", "templates": back},
                                 {"src": peer["lab_lan"], "dst": me["lab_lan"], "dir": "fwd", "templates": back}]}
        node = "gw1" if me is gw1 else "gw2"
        lab.ssh(node, "sysctl -qw net.ipv4.ip_forward=1")
        run_module("ipsec_sa", sas, hosts=node, inventory=inv)
        run_module("ipsec_policy", policies, hosts=node, inventory=inv)

    lan_to_lan_is_esp_only_on_the_wan(lab, 0x270E, 0x270F)
    assert sa_counters(lab, "gw2")[("esp", 9998)][1] >= 5
    reset(lab, "gw1", "gw2")
    for node in ("gw1", "gw2"):
        lab.ssh(node, "sysctl -qw net.ipv4.ip_forward=0")
