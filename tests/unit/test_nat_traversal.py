"""NAT traversal with manual keys: the plan of a pair whose gateway is behind a NAT (site.py), the firewall that
follows it, the status and health that find its SAs under each kernel's addresses, and the input refused (the lab
proves it on the wire: tests/integration/test_nat_traversal_lab.py)."""

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import firewall, health, keys, rotation, site
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.plan import plan_sas
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import validate_policies, validate_sas

DERIVER = keys.Deriver(b"nat traversal unit test")
HUB = site.Member("gw1", ("192.0.2.1",), ("198.51.100.0/24", "2001:db8:1::/64"))
BRANCH = site.Member("gw2", ("10.0.0.2",), ("203.0.113.0/24", "2001:db8:2::/64"), ("192.0.2.2", 4500))


def pair(local=HUB, peer=BRANCH, settings=site.Settings(), mode="policy"):
    return site.Pair("gateway", local, peer, settings, mode, mode)


def by_direction(sas):
    return {(sa["src"], sa["dst"]): sa for sa in sas}


def test_each_kernel_names_the_natted_gateway_by_the_address_it_sees_with_the_same_keys_and_spis():
    hub = by_direction(site.sa_entries(DERIVER, pair(), 0, {}))
    branch = by_direction(site.sa_entries(DERIVER, pair(BRANCH, HUB), 0, {}))
    assert sorted(hub) == [("192.0.2.1", "192.0.2.2"), ("192.0.2.2", "192.0.2.1")]      # the NAT's public address
    assert sorted(branch) == [("10.0.0.2", "192.0.2.1"), ("192.0.2.1", "10.0.0.2")]     # its own, the NAT rewrites it
    for (h_src, h_dst), (b_src, b_dst) in ((("192.0.2.1", "192.0.2.2"), ("192.0.2.1", "10.0.0.2")),
                                           (("192.0.2.2", "192.0.2.1"), ("10.0.0.2", "192.0.2.1"))):
        assert hub[(h_src, h_dst)]["spi"] == branch[(b_src, b_dst)]["spi"]
        assert hub[(h_src, h_dst)]["enc"] == branch[(b_src, b_dst)]["enc"]
    validate_sas({"sas": list(hub.values())})
    validate_sas({"sas": list(branch.values())})


def test_the_sas_carry_esp_in_udp_from_4500_to_the_port_the_nat_maps():
    mapped = BRANCH._replace(nat=("192.0.2.2", 4501))
    hub = by_direction(site.sa_entries(DERIVER, pair(peer=mapped), 0, {}))
    branch = by_direction(site.sa_entries(DERIVER, pair(mapped, HUB), 0, {}))
    assert hub[("192.0.2.1", "192.0.2.2")]["encap"] == {"type": "espinudp", "sport": 4500, "dport": 4501}
    assert hub[("192.0.2.2", "192.0.2.1")]["encap"] == {"type": "espinudp", "sport": 4501, "dport": 4500}
    assert branch[("10.0.0.2", "192.0.2.1")]["encap"] == {"type": "espinudp", "sport": 4500, "dport": 4500}
    assert branch[("192.0.2.1", "10.0.0.2")]["encap"] == {"type": "espinudp", "sport": 4500, "dport": 4500}


def test_a_new_public_port_is_an_update_in_place_of_the_live_sas():
    before = validate_sas({"sas": site.sa_entries(DERIVER, pair(), 0, {})})[0]
    after = validate_sas({"sas": site.sa_entries(DERIVER, pair(peer=BRANCH._replace(nat=("192.0.2.2", 4501))), 0, {})})[0]
    changes = plan_sas(after, [], before, exclusive=True)
    assert sorted(c.action for c in changes) == ["update", "update"]


def test_the_templates_name_the_ends_as_each_kernel_sees_them_and_ipv6_subnets_ride_the_udp_tunnel():
    hub = site.policy_entries(pair())
    out4 = [p for p in hub if p["dir"] == "out" and p["src"] == "198.51.100.0/24"][0]
    out6 = [p for p in hub if p["dir"] == "out" and p["src"] == "2001:db8:1::/64"][0]
    assert out4["templates"][0]["dst"] == out6["templates"][0]["dst"] == "192.0.2.2"
    branch = site.policy_entries(pair(BRANCH, HUB))
    assert {p["templates"][0]["src"] for p in branch if p["dir"] == "out"} == {"10.0.0.2"}
    validate_policies({"policies": hub + branch})
    assert all("af-unspec" in sa["flags"] for sa in site.sa_entries(DERIVER, pair(), 0, {}))


def test_only_the_gateway_behind_the_nat_sends_keepalives_and_both_ends_hold_the_socket():
    assert site.natt([pair()]) == {"socket": True, "keepalive_peers": []}
    assert site.natt([pair(BRANCH, HUB)]) == {"socket": True, "keepalive_peers": ["192.0.2.1"]}
    plain = HUB._replace(name="gw3", addresses=("192.0.2.3",))
    assert site.natt([pair(HUB, plain)]) == {"socket": False, "keepalive_peers": []}
    assert all("encap" not in sa for sa in site.sa_entries(DERIVER, pair(HUB, plain), 0, {}))


def test_an_ipv6_link_of_a_natted_gateway_is_direct_esp():
    dual = BRANCH._replace(addresses=("10.0.0.2", "2001:db8::2"))
    hub = HUB._replace(addresses=("192.0.2.1", "2001:db8::1"))
    sas = by_direction(site.sa_entries(DERIVER, pair(hub, dual), 0, {}))
    assert "encap" not in sas[("2001:db8::1", "2001:db8::2")] and "encap" in sas[("192.0.2.1", "192.0.2.2")]


def test_the_tunnel_mtu_leaves_room_for_the_udp_header():
    # 1500 - 20 (IP) - 8 (UDP) - 8 (ESP) - 16 (IV) - 16 (ICV) = 1432, to whole 16-byte blocks 1424, less the trailer
    assert site.tunnel_mtu(pair()) == 1422
    assert site.tunnel_mtu(pair(peer=BRANCH._replace(nat=None))) == 1438


def test_ah_across_a_nat_and_two_natted_ends_are_refused_with_the_reason():
    with pytest.raises(site.SiteError, match="AH.*ESP alone"):
        site.check_nat(pair(settings=site.Settings(protocols=("esp", "ah"))))
    with pytest.raises(site.SiteError, match="both gw1 and gw2 are behind a NAT"):
        site.check_nat(pair(HUB._replace(nat=("192.0.2.9", 4500))))
    site.check_nat(pair())


@pytest.mark.parametrize("value, message", [
    ("192.0.2.2", "give {address"), ({"address": "nat-box"}, r"\.address: 'nat-box' is not an IP address"),
    ({"address": "2001:db8::9"}, "NAT traversal is for IPv4"), ({"address": "192.0.2.2", "port": 0}, r"\.port: 0"),
    ({"address": "192.0.2.2", "prot": 4500}, "give {address")])
def test_bad_nat_input_is_refused_naming_the_field(value, message):
    with pytest.raises(site.SiteError, match=message):
        site.nat(value, "gw2: ipsec_gateway_nat")


def test_udp_4500_is_accepted_from_the_ends_of_the_sas_with_encap_only():
    sas = site.sa_entries(DERIVER, pair(), 0, {})
    ruleset = firewall.plan(sas, site.policy_entries(pair()))
    assert ruleset.natt_peers[4] == ["192.0.2.1", "192.0.2.2"] and ruleset.natt_peers[6] == []
    text, _digest = firewall.nft_table(ruleset)
    assert "elements = { 192.0.2.1, 192.0.2.2 }" in text and "udp dport 4500 counter accept" in text
    assert firewall.plan(site.sa_entries(DERIVER, pair(peer=BRANCH._replace(nat=None)), 0, {}), []).natt_peers[4] == []


def kernel_view(sas):
    """What ipsec_info would show of the planned SAs (keys as fingerprints)."""
    out = []
    for sa in sas:
        entry = dict(sa, managed=True)
        for field in ("enc", "auth"):
            if field in sa:
                entry[field] = {"key_fingerprint": health.fingerprint(bytes.fromhex(sa[field]["key"][2:]))}
        out.append(entry)
    return out


def test_status_and_health_find_each_ends_sas_under_its_own_addresses():
    hub_sas, branch_sas = (site.sa_entries(DERIVER, p, 0, {}) for p in (pair(), pair(BRANCH, HUB)))
    hub_pol, branch_pol = site.policy_entries(pair()), site.policy_entries(pair(BRANCH, HUB))
    assert rotation.pair_status(DERIVER, [pair()], 0, {}, hub_sas, hub_pol)["gw1~gw2"]["state"] == "stable"
    assert rotation.pair_status(DERIVER, [pair(BRANCH, HUB)], 0, {}, branch_sas, branch_pol)["gw1~gw2"]["state"] == "stable"
    observed = {"gw1": health.Observation({"sas": kernel_view(hub_sas), "policies": hub_pol}),
                "gw2": health.Observation({"sas": kernel_view(branch_sas), "policies": branch_pol})}
    verdict = health.assess(DERIVER, pair(), observed, {}, 0, 0)
    assert verdict["state"] == "up", verdict["reasons"]
    assert len(verdict["sas"]) == 2
    # the branch's SA missing: found missing under the address its kernel uses
    observed["gw2"] = health.Observation({"sas": kernel_view(branch_sas[1:]), "policies": branch_pol})
    assert health.assess(DERIVER, pair(), observed, {}, 0, 0)["state"] == "down"


def test_esp_in_udp_that_never_arrives_points_at_the_nats_mapping_and_udp_4500():
    hub_sas, branch_sas = kernel_view(site.sa_entries(DERIVER, pair(), 0, {})), kernel_view(site.sa_entries(
        DERIVER, pair(BRANCH, HUB), 0, {}))

    def counted(sas, moved):  # the SAs as ipsec_probe shows them, the given (src, dst) having carried 3 packets
        return [dict(sa, counters={"packets": 3 if (sa["src"], sa["dst"]) in moved else 0}) for sa in sas]
    policies = {"gw1": site.policy_entries(pair()), "gw2": site.policy_entries(pair(BRANCH, HUB))}
    probe = {"name": "gw1~gw2", "src": "198.51.100.1", "dst": "203.0.113.1", "sent": 3, "received": 0}
    observed = {
        "gw1": health.Observation({"sas": counted(hub_sas, ()), "policies": policies["gw1"]},
                                  {"sas": counted(hub_sas, {("192.0.2.1", "192.0.2.2")})}, [probe]),
        "gw2": health.Observation({"sas": counted(branch_sas, ()), "policies": policies["gw2"]},
                                  {"sas": counted(branch_sas, ())})}
    verdict = health.assess(DERIVER, pair(), observed, {}, 0, 0)
    assert verdict["state"] == "down"
    reason = [r for r in verdict["reasons"] if r.startswith("ESP in UDP from gw1 does not reach gw2")]
    assert reason and "SA esp 192.0.2.1->192.0.2.2" in reason[0], verdict["reasons"]
    assert any("ipsec_gateway_nat" in fix and "UDP 4500 from gw1" in fix for fix in verdict["fixes"]), verdict["fixes"]
