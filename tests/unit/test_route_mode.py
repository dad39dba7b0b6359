"""Route-based mode and tunnels of the other address family: the plan (site.py), the interfaces and routes (links.py)
and the firewall that follows them, without a kernel (the lab proves them on the wire:
tests/integration/test_route_based_sites2_lab.py)."""

import ipaddress

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import firewall, keys, links, site
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import ValidationError, validate_policies, validate_sas

DERIVER = keys.Deriver(b"route mode unit test")
GW1 = site.Member("gw1", ("192.0.2.1", "2001:db8::1"), ("198.51.100.0/24", "2001:db8:1::/64"))
GW2 = site.Member("gw2", ("192.0.2.2", "2001:db8::2"), ("203.0.113.0/24", "2001:db8:2::/64"))


def pair(local=GW1, peer=GW2, mode="route", peer_mode="route", settings=site.Settings()):
    return site.Pair("gateway", local, peer, settings, mode, peer_mode)


def only(member, *families):
    return member._replace(addresses=tuple(a for a in member.addresses if (6 if ":" in a else 4) in families))


def test_route_mode_puts_the_pairs_if_id_on_its_sas_and_a_wide_policy_pair_per_family():
    p = pair()
    sas = site.sa_entries(DERIVER, p, 0, {})
    assert {sa["if_id"] for sa in sas} == {site.if_id("gw1~gw2")} and len(sas) == 4
    policies = site.policy_entries(p)
    assert sorted((x["src"], x["dst"], x["dir"]) for x in policies) == sorted(
        (any_, any_, d) for any_ in ("0.0.0.0/0", "::/0") for d in ("out", "in", "fwd"))
    assert {x["if_id"] for x in policies} == {p.if_id}
    out4 = [x for x in policies if x["dir"] == "out" and x["src"] == "0.0.0.0/0"][0]
    assert out4["templates"] == [{"proto": "esp", "mode": "tunnel", "reqid": site.reqid(0), "src": "192.0.2.1",
                                  "dst": "192.0.2.2"}]
    validate_sas({"sas": sas})
    validate_policies({"policies": policies})
    # the interface's policies never meet the management path: no bypass is made for them
    assert site.with_bypasses(policies, ["0.0.0.0/0"]) == (policies, [])


def test_a_route_mode_gateway_and_a_policy_mode_peer_hold_the_same_sas_apart_from_the_if_id():
    mine = site.sa_entries(DERIVER, pair(mode="route"), 0, {})
    theirs = site.sa_entries(DERIVER, pair(local=GW2, peer=GW1, mode="policy", peer_mode="route"), 0, {})

    def essentials(sas):
        return sorted((sa["src"], sa["dst"], sa["spi"], sa["enc"]["key"]) for sa in sas)
    assert essentials(mine) == essentials(theirs)
    assert all("if_id" not in sa for sa in theirs)
    assert all("if_id" not in x for x in site.policy_entries(pair(local=GW2, peer=GW1, mode="policy")))


def test_the_if_id_and_interface_are_the_pairs_from_both_ends_and_long_peer_names_get_the_if_id_in_hex():
    p = pair()
    assert p.if_id == p.reversed().if_id and site.IF_ID_BASE <= p.if_id < site.IF_ID_BASE + site.IF_ID_SPAN
    assert (p.interface, p.reversed().interface) == ("ipsec-gw2", "ipsec-gw1")
    long_peer = GW2._replace(name="branch-office-17")
    named = pair(peer=long_peer)
    assert named.interface == "ipsec-%08x" % named.if_id and len(named.interface) <= 15


def test_interfaces_and_routes_follow_the_route_mode_pairs_only():
    route, policy = pair(), pair(peer=GW2._replace(name="gw3"), mode="policy")
    assert site.interface_entries([route, policy]) == [
        {"name": "ipsec-gw2", "if_id": route.if_id, "mtu": 1406, "pair": "gw1~gw2"}]  # IPv6 rides IPv6
    assert site.route_entries([route, policy]) == [
        {"dst": "203.0.113.0/24", "dev": "ipsec-gw2", "src_from": ["198.51.100.0/24"]},
        {"dst": "2001:db8:2::/64", "dev": "ipsec-gw2", "src_from": ["2001:db8:1::/64"]}]


@pytest.mark.parametrize("outer, protocols, auth, trunc, mtu", [
    ((4,), ("esp",), "hmac(sha256)", 128, 1438),       # 1500-20-8-16-16 = 1440, whole blocks, -2
    ((6,), ("esp",), "hmac(sha256)", 128, 1406),       # 1500-40-8-16-16 = 1420 -> 1408 - 2
    ((4, 6), ("esp",), "hmac(sha256)", 128, 1406),     # the IPv6 link carries IPv6: the worse of the two
    ((4,), ("esp", "ah"), "hmac(sha256)", 128, 1406),  # AH 12 + 16 = 28 more: 1452-40 = 1412 -> 1408 - 2
    ((4,), ("esp",), "hmac(sha512)", 256, 1422),       # 1500-20-8-16-32 = 1424 -> 1424 - 2
])
def test_the_interface_mtu_leaves_room_for_the_outer_header_esp_ah_iv_padding_and_icv(outer, protocols, auth, trunc, mtu):
    settings = site.Settings(protocols=protocols, auth_algorithm=auth, auth_trunc_len=trunc)
    assert site.tunnel_mtu(pair(local=only(GW1, *outer), peer=only(GW2, *outer), settings=settings)) == mtu


def test_a_subnet_family_without_a_link_of_its_own_rides_the_other_familys_sas_with_af_unspec():
    for outer, inner in ((4, 6), (6, 4)):
        p = pair(local=only(GW1, outer), peer=only(GW2, outer), mode="policy", peer_mode="policy")
        sas = site.sa_entries(DERIVER, p, 0, {})
        assert len(sas) == 2 and all("af-unspec" in sa["flags"] for sa in sas), sas
        inner_out = [x for x in site.policy_entries(p) if x["dir"] == "out" and (":" in x["src"]) == (inner == 6)]
        assert len(inner_out) == 1
        assert ipaddress.ip_address(inner_out[0]["templates"][0]["src"]).version == outer
    # both families on both ends: each rides its own, and the SAs stay as they were (no flag added)
    both = site.sa_entries(DERIVER, pair(mode="policy"), 0, {})
    assert all(sa["flags"] == ["oseq-may-wrap"] for sa in both)


def test_inner_families_are_those_both_gateways_have_subnets_of():
    p = pair(peer=GW2._replace(subnets=("203.0.113.0/24",)))
    assert p.inner_families() == [4]
    assert all(":" not in x["src"] for x in site.policy_entries(p))
    assert [r["dst"] for r in site.route_entries([p])] == ["203.0.113.0/24"]


# -- links: the interfaces and routes as the module plans them --------------------------------------

IFACE = links.Interface("ipsec-gw2", 77, 1438, "xfrm.ipsec pair gw1~gw2")
ROUTE = links.Route("203.0.113.0/24", "ipsec-gw2", "198.51.100.1", 0)


def state(interfaces=(), routes=(), foreign=None, others=()):
    found = {i.name: (i, i.alias.startswith(links.MARKER)) for i in interfaces}
    found.update({name: None for name in others})
    return links.State(found, {r.key: r for r in routes}, foreign or {})


def actions(changes):
    return [(c.action, c.entry.text()) for c in changes]


def test_a_new_interface_comes_before_its_routes_and_a_second_plan_is_empty():
    changes = links.plan([IFACE], [ROUTE], state())
    assert actions(changes) == [("add", IFACE.text()), ("add", ROUTE.text())]
    assert links.plan([IFACE], [ROUTE], state([IFACE], [ROUTE])) == []


def test_an_mtu_change_is_made_in_place_and_an_if_id_change_replaces_the_interface_and_its_routes():
    assert actions(links.plan([IFACE._replace(mtu=1400)], [ROUTE], state([IFACE], [ROUTE]))) == [
        ("update", IFACE._replace(mtu=1400).text())]
    assert actions(links.plan([IFACE._replace(if_id=78)], [ROUTE], state([IFACE], [ROUTE]))) == [
        ("replace", IFACE._replace(if_id=78).text()), ("add", ROUTE.text())]


def test_exclusive_removes_only_the_collections_interfaces_and_routes_and_keeps_the_routes_it_is_told_to():
    other = links.Interface("ipsec-gw3", 78, 1438, "xfrm.ipsec pair gw1~gw3")
    foreign = links.Interface("vpn0", 5, 1400, "strongswan")
    stale = links.Route("198.19.3.0/24", "ipsec-gw2", None, 0)
    have = state([IFACE, other, foreign], [ROUTE, stale])
    assert actions(links.plan([IFACE], [ROUTE], have, exclusive=True)) == [("delete", stale.text()), ("delete", other.text())]
    assert actions(links.plan([IFACE], [ROUTE], have, exclusive=True, keep_routes_of=["ipsec-gw2"])) == [
        ("delete", other.text())]
    assert links.plan([IFACE], [ROUTE], have) == []  # not exclusive: nothing removed
    assert actions(links.plan([], [], have, exclusive=True)) == [("delete", IFACE.text()), ("delete", other.text())]


def test_a_name_or_route_of_someone_elses_is_a_conflict_not_a_change():
    with pytest.raises(links.Conflict, match="eth1 exists and is not an XFRM interface"):
        links.plan([IFACE._replace(name="eth1")], [], state(others=["eth1"]))
    with pytest.raises(links.Conflict, match="ipsec-gw2 is an XFRM interface this collection did not make"):
        links.plan([IFACE], [], state([IFACE._replace(alias="mine")]))
    with pytest.raises(links.Conflict, match=r"203.0.113.0/24 \(203.0.113.0/24 via 192.0.2.2 dev eth1 proto 3\)"):
        links.plan([IFACE], [ROUTE], state(foreign={ROUTE.key: "203.0.113.0/24 via 192.0.2.2 dev eth1 proto 3"}))


@pytest.mark.parametrize("interfaces, routes, message", [
    ([{"name": "a-name-far-too-long", "if_id": 1}], [], r"interfaces\[0\].name"),
    ([{"name": "x", "if_id": 0}], [], r"interfaces\[0\].if_id: 0"),
    ([{"name": "x", "if_id": 1}, {"name": "y", "if_id": 1}], [], r"interfaces\[1\].if_id: 1 is x's too"),
    ([{"name": "x", "if_id": 1, "mtu": 500}], [], r"interfaces\[0\].mtu: 500 is outside 1280-65535"),
    ([{"name": "x", "if_id": 1}], [{"dst": "10.0.0.1/8", "dev": "x"}], r"routes\[0\].dst"),
    ([{"name": "x", "if_id": 1}], [{"dst": "10.0.0.0/8", "dev": "y"}], r"routes\[0\].dev: 'y' is none of the interfaces"),
])
def test_bad_interface_input_is_refused_naming_the_field(interfaces, routes, message):
    with pytest.raises(ValidationError, match=message):
        links.validate(interfaces, routes)


def test_ipv6_routes_take_the_kernels_default_metric_and_the_source_stays_when_a_subnet_is_added():
    routes = links.validate([{"name": "x", "if_id": 1}], [
        {"dst": "2001:db8:2::/64", "dev": "x", "src_from": ["2001:db8:1::/64"]},
        {"dst": "203.0.113.0/24", "dev": "x", "src_from": ["198.51.100.0/24", "198.19.3.0/24"]}])[1]
    assert [route.metric for route, _nets in routes] == [1024, 0]
    addresses = [ipaddress.ip_address(a) for a in ("198.19.3.1", "198.51.100.1", "2001:db8:1::1", "192.0.2.1")]
    assert [r.src for r in links.with_sources(routes, addresses)] == ["2001:db8:1::1", "198.51.100.1"]


# -- the firewall in route mode ---------------------------------------------------------------------

def test_the_firewall_makes_no_rule_of_the_interfaces_policies_and_guards_each_route_by_its_interface():
    p = pair()
    policies = site.policy_entries(p)
    sas = [{k: sa[k] for k in ("src", "dst", "proto")} for sa in site.sa_entries(DERIVER, p, 0, {})]
    routes = [{"dst": r["dst"], "dev": r["dev"]} for r in site.route_entries([p])]
    assert firewall.plan(sas, policies).chains == {"input": [], "forward": [], "postrouting": []}
    ruleset = firewall.plan(sas, policies, routes=routes)
    nft = firewall.nft_table(ruleset)[0]
    assert 'ip daddr 203.0.113.0/24 oifname != "ipsec-gw2" rt ipsec missing counter drop' in nft
    assert "ip saddr 203.0.113.0/24 meta ipsec missing counter drop" in nft
    assert "ip6 saddr 2001:db8:2::/64 meta ipsec missing counter drop" in nft
    assert "0.0.0.0/0" not in nft
    ipt = firewall.iptables_restore(ruleset, 4)
    assert "-A XFRM-IPSEC-OUTPUT -d 203.0.113.0/24 ! -o ipsec-gw2 -m policy --dir out --pol none" in ipt
    assert "-A XFRM-IPSEC-INPUT -s 203.0.113.0/24 -m policy --dir in --pol none" in ipt


def test_the_boot_time_restore_file_makes_the_interfaces_after_the_policies_and_routes_without_their_source():
    from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import ipbatch
    text = ipbatch.state_file([], [], [IFACE], [ROUTE, links.Route("2001:db8:2::/64", "ipsec-gw2", "2001:db8:1::1", 1024)])
    assert text.splitlines()[2:] == [
        "link add ipsec-gw2 type xfrm if_id 77",
        'link set ipsec-gw2 alias "xfrm.ipsec pair gw1~gw2"',
        "link set ipsec-gw2 mtu 1438 up",
        "route add 203.0.113.0/24 dev ipsec-gw2 proto 154 metric 0",
        "route add 2001:db8:2::/64 dev ipsec-gw2 proto 154 metric 1024"]
