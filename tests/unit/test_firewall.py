"""The firewall that goes with a host's policies (module_utils/_xfrm/firewall.py, filter firewall_rules): which
rules each policy makes, in which order, and the files nft and iptables-restore read. Loaded and proved with real
packets in the lab (tests/integration/test_firewall_persist_lab.py)."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.xfrm.ipsec.plugins.filter.firewall_rules import firewall_rules
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import firewall

SAS = [{"src": "192.0.2.1", "dst": "192.0.2.2", "proto": "esp"}, {"src": "192.0.2.2", "dst": "192.0.2.1", "proto": "esp"},
       {"src": "2001:db8::1", "dst": "2001:db8::2", "proto": "esp"}]
TEMPLATE = [{"proto": "esp", "mode": "transport"}]
HOST = [  # a mesh host's policies as the roles plan them: the ND bypasses first, then the pair's
    {"src": "::/0", "dst": "::/0", "proto": "ipv6-icmp", "sport": 135, "dir": "in", "priority": 1000, "templates": []},
    {"src": "192.0.2.1/32", "dst": "192.0.2.2/32", "dir": "out", "priority": 2000, "templates": TEMPLATE},
    {"src": "192.0.2.2/32", "dst": "192.0.2.1/32", "dir": "in", "priority": 2000, "templates": TEMPLATE},
    {"src": "2001:db8::2/128", "dst": "2001:db8::1/128", "dir": "in", "priority": 2000, "templates": TEMPLATE},
]
GATEWAY = [
    {"src": "198.51.100.0/24", "dst": "203.0.113.0/24", "dir": "out", "templates": [dict(TEMPLATE[0], mode="tunnel")]},
    {"src": "203.0.113.0/24", "dst": "198.51.100.0/24", "dir": "in", "templates": [dict(TEMPLATE[0], mode="tunnel")]},
    {"src": "203.0.113.0/24", "dst": "198.51.100.0/24", "dir": "fwd", "templates": [dict(TEMPLATE[0], mode="tunnel")]},
]


def test_each_ipsec_policy_drops_what_did_not_cross_ipsec_on_its_chain_and_bypasses_come_first():
    ruleset = firewall.plan(SAS, HOST)
    assert ruleset.peers == {4: ["192.0.2.1", "192.0.2.2"], 6: ["2001:db8::1", "2001:db8::2"]}
    inp = ruleset.chains["input"]
    assert [(r.verdict, r.src, r.dst, r.proto, r.sport) for r in inp] == [
        ("accept", None, None, 58, 135), ("drop", "192.0.2.2/32", "192.0.2.1/32", None, None),
        ("drop", "2001:db8::2/128", "2001:db8::1/128", None, None)]
    assert [(r.verdict, r.dst) for r in ruleset.chains["postrouting"]] == [("drop", "192.0.2.2/32")]
    assert ruleset.chains["forward"] == []


def test_gateways_drop_plaintext_on_forward_and_leaks_on_postrouting():
    ruleset = firewall.plan([], GATEWAY)
    assert [(r.verdict, r.src, r.dst) for r in ruleset.chains["forward"]] == [
        ("drop", "203.0.113.0/24", "198.51.100.0/24")]
    assert [(r.verdict, r.src, r.dst) for r in ruleset.chains["postrouting"]] == [
        ("drop", "198.51.100.0/24", "203.0.113.0/24")]


def test_switches_block_policies_and_optional_templates_make_no_drop():
    assert firewall.plan(SAS, HOST, drop_plaintext=False).chains["input"] == []
    assert firewall.plan(SAS, HOST, leak_guard=False).chains["postrouting"] == []
    quiet = [dict(HOST[1], templates=[dict(TEMPLATE[0], level="use")]), dict(HOST[2], templates=[], action="block")]
    assert firewall.plan(SAS, quiet).chains == {"input": [], "forward": [], "postrouting": []}


def test_rules_follow_the_priorities_the_kernel_picks_policies_by():
    late_bypass = dict(HOST[0], priority=5000, src="192.0.2.2/32", dst="192.0.2.1/32", proto="tcp", sport=None,
                       dport=22)
    verdicts = [r.verdict for r in firewall.plan(SAS, [late_bypass, HOST[2]]).chains["input"]]
    assert verdicts == ["drop"], "an accept after the last drop is dropped as noise; the kernel's order is kept"
    early = dict(late_bypass, priority=10)
    assert [r.verdict for r in firewall.plan(SAS, [HOST[2], early]).chains["input"]] == ["accept", "drop"]


def test_nft_file_replaces_the_table_in_one_transaction_with_esp_accepted_before_the_drops():
    rules = firewall_rules({"sas": SAS, "policies": HOST}, management=["198.18.0.2"], natt_peers=["192.0.2.2"])
    text = rules["nft"]
    assert text.index("table inet xfrm_ipsec\n") < text.index("delete table inet xfrm_ipsec\n") \
        < text.index("table inet xfrm_ipsec {")
    assert 'comment "xfrm.ipsec %s"' % rules["digest"] in text
    inp = text[text.index("chain input"):text.index("chain forward")]
    order = ["ip saddr @management_v4 accept", "ip saddr @peers_v4 meta l4proto { esp, ah } counter accept",
             "ip saddr @natt_peers_v4 udp dport 4500 counter accept",
             "meta nfproto ipv6 meta l4proto 58 icmpv6 type 135 accept",
             "meta nfproto ipv4 ip saddr 192.0.2.2/32 ip daddr 192.0.2.1/32 meta ipsec missing counter drop"]
    assert [inp.index(line) for line in order] == sorted(inp.index(line) for line in order)
    post = text[text.index("chain postrouting"):]
    assert post.index("meta l4proto { esp, ah, comp } accept") < post.index("rt ipsec missing counter drop")
    assert "elements = { 198.18.0.2 }" in text and "set management_v6 {\n\t\ttype ipv6_addr\n\t}" in text
    assert rules["counts"] == {"input": 3, "forward": 0, "postrouting": 1, "peers": 4}


def test_digest_follows_the_rules_and_only_them():
    one = firewall_rules({"sas": SAS, "policies": HOST})
    assert firewall_rules({"sas": list(reversed(SAS)), "policies": HOST})["digest"] == one["digest"]
    assert firewall_rules({"sas": SAS, "policies": HOST[:2]})["digest"] != one["digest"]


def test_iptables_fallback_returns_instead_of_accepting_and_uses_the_policy_match():
    rules = firewall_rules({"sas": SAS, "policies": HOST + GATEWAY}, management=["198.18.0.2"])
    v4 = rules["iptables"].splitlines()
    assert v4[1:5] == ["*filter", ":XFRM-IPSEC-INPUT - [0:0]", ":XFRM-IPSEC-FORWARD - [0:0]", ":XFRM-IPSEC-OUTPUT - [0:0]"]
    assert '-A XFRM-IPSEC-INPUT -m comment --comment "xfrm.ipsec %s"' % rules["digest"] in v4
    assert "-A XFRM-IPSEC-INPUT -s 198.18.0.2 -j RETURN" in v4 and "-A XFRM-IPSEC-INPUT -s 192.0.2.2 -p esp -j RETURN" in v4
    assert not [line for line in v4 if "ACCEPT" in line], "ACCEPT would skip the host's own INPUT rules"
    assert '-A XFRM-IPSEC-INPUT -s 192.0.2.2/32 -d 192.0.2.1/32 -m policy --dir in --pol none -m comment --comment ' \
           '"in 192.0.2.2/32 -> 192.0.2.1/32" -j DROP' in v4
    assert '-A XFRM-IPSEC-FORWARD -s 203.0.113.0/24 -d 198.51.100.0/24 -m policy --dir in --pol none -m comment ' \
           '--comment "fwd 203.0.113.0/24 -> 198.51.100.0/24" -j DROP' in v4
    assert any(line.startswith("-A XFRM-IPSEC-FORWARD -s 198.51.100.0/24 -d 203.0.113.0/24 -m policy --dir out")
               for line in v4), "forwarded traffic is guarded against leaks on FORWARD"
    assert v4[-1] == "COMMIT" and "192.0.2" not in rules["ip6tables"].replace("198.18.0.2", "")
    assert "-A XFRM-IPSEC-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j RETURN" in rules["ip6tables"]


def test_bad_input_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="expects ipsec_info's result"):
        firewall_rules(["not", "a", "dict"])
    with pytest.raises(AnsibleFilterError, match="firewall_rules: "):
        firewall_rules({"sas": [], "policies": [{"src": "nonsense", "dst": "192.0.2.1", "dir": "in"}]})
