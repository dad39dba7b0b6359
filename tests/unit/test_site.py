"""The site planner and the ipsec_site action: each host's share, derived from the inventory alone.

The action runs with a fake inventory (groups, hostvars) and a stand-in for _execute_module that
captures the arguments each host's module call would receive: what crosses to the host.
"""

import json
from types import SimpleNamespace

import pytest

from ansible.errors import AnsibleActionFail

from ansible_collections.xfrm.ipsec.plugins.action.ipsec_site import READY_FACT, ActionModule
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import keys, site
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import validate_policies, validate_sas

MASTER = "site master secret, from the vault"
MESH = {"h%d" % i: {"ipsec_host_address": ["192.0.2.%d" % i, "2001:db8::%d" % i]} for i in range(1, 5)}
GATEWAYS = {"gw1": {"ipsec_gateway_address": "192.0.2.101", "ipsec_gateway_subnets": ["198.51.100.0/24"]},
            "gw2": {"ipsec_gateway_address": "192.0.2.102", "ipsec_gateway_subnets": ["203.0.113.0/24", "233.252.0.0/24"]}}


class Templar:
    @staticmethod
    def template(value):
        return value


def inventory(mesh=None, gateways=None, common=None):
    mesh = MESH if mesh is None else mesh
    gateways = GATEWAYS if gateways is None else gateways
    hostvars = {}
    for name, own in list(mesh.items()) + list(gateways.items()):
        hostvars[name] = dict(common or {}, ipsec_master_secret=MASTER, **own)
    groups = {"all": sorted(hostvars), "ipsec_mesh": sorted(mesh), "ipsec_gateways": sorted(gateways)}
    return groups, hostvars


def run(host, stage, groups, hostvars, play=None, check=False, pending=(), held=(), **args):
    """Run the action for host; returns (result, [(module, module_args)] it sent to the host).
    pending: what ipsec_apply answers the sas stage about the policies (compared only); held: the policies
    ipsec_info finds in the kernel."""
    pending = list(pending)
    sent = []
    task = SimpleNamespace(args=dict(args, stage=stage), async_val=0, check_mode=check, action="xfrm.ipsec.ipsec_site")
    action = ActionModule(task, SimpleNamespace(_shell=SimpleNamespace(tmpdir="/tmp")), SimpleNamespace(), None,
                          Templar(), None)

    def execute(module_name, module_args, task_vars):
        sent.append((module_name, json.loads(json.dumps(module_args))))
        if module_name.endswith("ipsec_info"):
            return {"policies": list(held)}
        return dict({"changed": True}, **({"pending": pending} if module_name.endswith("ipsec_apply") else {}))

    action._execute_module = execute  # pylint: disable=protected-access
    task_vars = dict(hostvars[host], inventory_hostname=host, groups=groups, hostvars=hostvars,
                     ansible_play_hosts=play if play is not None else groups["all"], ansible_connection="local")
    return action.run(task_vars=task_vars), sent


def sent_by(*args, **kwargs):
    """What run() sent to the host: [(module, module_args)]."""
    return run(*args, **kwargs)[1]


def scan(groups, hostvars):
    result, sent = run(sorted(hostvars)[0], "scan", groups, hostvars)
    assert not sent, "the scan stays on the controller"
    return result["spi_collisions"]


def sas_sent(host, groups, hostvars, **args):
    sent = sent_by(host, "sas", groups, hostvars, spi_collisions=scan(groups, hostvars), **args)
    ((module, module_args),) = sent
    assert module == "xfrm.ipsec.ipsec_apply" and module_args["exclusive"] is True
    assert module_args["compare_only"] == ["policies"], "the sas stage changes no policy"
    return module_args["sas"]


def test_each_host_receives_only_the_sas_of_its_own_pairs_and_never_the_master_secret():
    groups, hostvars = inventory()
    received = {host: sas_sent(host, groups, hostvars) for host in hostvars}
    for host, sas in received.items():
        text = json.dumps(sas)
        assert MASTER not in text
        mine = set(hostvars[host].get("ipsec_host_address") or [hostvars[host].get("ipsec_gateway_address")])
        assert all(sa["src"] in mine or sa["dst"] in mine for sa in sas), host
        validate_sas({"sas": sas})
    # h1 pairs with h2..h4: both directions, both families; none of h2~h3's keys reach h1
    assert len(received["h1"]) == 3 * 2 * 2
    h2_h3_keys = {sa["enc"]["key"] for sa in received["h2"] if sa["dst"] in ("192.0.2.3", "2001:db8::3")}
    assert h2_h3_keys and not h2_h3_keys & {sa["enc"]["key"] for sa in received["h1"]}
    assert len(received["gw1"]) == 2, "gateways pair with gateways only (IPv4 tunnel)"


def test_both_peers_of_a_pair_hold_the_same_sa_each_way():
    groups, hostvars = inventory()
    h1, h2 = sas_sent("h1", groups, hostvars), sas_sent("h2", groups, hostvars)

    def between(sas):
        return sorted(json.dumps(sa, sort_keys=True) for sa in sas
                      if {sa["src"], sa["dst"]} <= {"192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"})
    assert between(h1) == between(h2) and len(between(h1)) == 4


def test_a_limited_play_derives_the_same_keys_and_spis_as_a_full_one():
    groups, hostvars = inventory()
    full = sas_sent("h3", groups, hostvars)
    sent = sent_by("h3", "sas", groups, hostvars, play=["h3"], spi_collisions=scan(groups, hostvars))
    assert sent[0][1]["sas"] == full


def test_adding_a_host_changes_no_existing_pair():
    groups, hostvars = inventory()
    before = sas_sent("h1", groups, hostvars)
    groups, hostvars = inventory(dict(MESH, h9={"ipsec_host_address": ["192.0.2.9", "2001:db8::9"]}))
    after = sas_sent("h1", groups, hostvars)
    assert [sa for sa in after if sa["dst"] not in ("192.0.2.9", "2001:db8::9") and sa["src"] not in ("192.0.2.9", "2001:db8::9")] == before
    assert len(after) == len(before) + 4


def test_a_new_pair_that_collides_moves_an_spi_and_the_scan_reports_it(monkeypatch):
    real = keys.Deriver.spi

    def colliding(self, pair, src, dst, proto, generation, attempt=0):
        if attempt == 0 and dst == "192.0.2.1" and proto == "esp":
            return 0x4000  # every sender to h1 wants the same SPI
        return real(self, pair, src, dst, proto, generation, attempt=attempt)

    monkeypatch.setattr(keys.Deriver, "spi", colliding)
    groups, hostvars = inventory({"h1": MESH["h1"], "h2": MESH["h2"]})
    assert scan(groups, hostvars) == []
    groups, hostvars = inventory({"h1": MESH["h1"], "h2": MESH["h2"], "h3": MESH["h3"]})
    result = run("h1", "scan", groups, hostvars)[0]
    (moved,) = result["spi_collisions"]
    assert moved[:4] == ["h1~h3", "192.0.2.3", "192.0.2.1", "esp"] and moved[4] != 0x4000
    assert "SPI collision resolved at 192.0.2.1" in result["warnings"][0]
    to_h1 = {sa["src"]: sa["spi"] for sa in sas_sent("h1", groups, hostvars) if sa["dst"] == "192.0.2.1"}
    assert to_h1 == {"192.0.2.2": 0x4000, "192.0.2.3": moved[4]}


def test_policies_go_only_toward_ready_peers_and_the_others_are_deferred():
    groups, hostvars = inventory()
    hostvars["h2"]["ansible_facts"] = {READY_FACT: True}
    result, sent = run("h1", "policies", groups, hostvars, play=["h1", "h2", "h3"])
    modules = [module for module, _args in sent]
    assert modules == ["xfrm.ipsec.ipsec_info", "xfrm.ipsec.ipsec_policy"], "existing policies read only when a peer is deferred"
    assert result["deferred"] == ["h3", "h4"]
    policies = sent[1][1]["policies"]
    peers = {p["dst"] for p in policies if p["dir"] == "out" and p["templates"]}
    assert peers == {"192.0.2.2/32", "2001:db8::2/128"} or peers == {"192.0.2.2", "2001:db8::2"}
    validate_policies({"policies": policies})


def test_the_firewall_follows_ready_pairs_and_deferred_pairs_keyed_before_but_not_new_ones():
    groups, hostvars = inventory()
    hostvars["h2"]["ansible_facts"] = {READY_FACT: True}
    held = [{"src": "192.0.2.3/32", "dst": "192.0.2.1/32", "proto": "any", "dir": "in", "action": "allow",
             "priority": 0, "templates": [{"proto": "esp", "mode": "transport", "level": "required",
                                           "reqid": site.REQID}]}]  # h1~h3 was keyed before; its out policy is gone
    result, _sent = run("h1", "policies", groups, hostvars, play=["h1", "h2", "h3"], held=held)
    planned = result["ansible_facts"]["__ipsec_site_planned"]
    guarded = {(p["dir"], p["src"], p["dst"]) for p in planned["policies"] if p["templates"]}
    assert ("out", "192.0.2.1", "192.0.2.3") in guarded, "the leak guard of a pair keyed before stays"
    assert not [g for g in guarded if "192.0.2.4" in g[1:]], "a pair never keyed (h4) gets no rule"
    assert {("out", "192.0.2.1", "192.0.2.2"), ("in", "192.0.2.2", "192.0.2.1")} <= guarded
    assert all("key" not in json.dumps(sa) for sa in planned["sas"]) and planned["sas"][0].keys() == {"src", "dst", "proto"}


def test_phase_policies_treats_every_peer_as_ready():
    groups, hostvars = inventory()
    result, sent = run("h1", "policies", groups, hostvars, play=["h1"], phase="policies")
    assert result["deferred"] == [] and [module for module, _args in sent] == ["xfrm.ipsec.ipsec_policy"]
    assert sum(1 for p in sent[0][1]["policies"] if p["templates"]) == 3 * 2 * 2


def test_gateway_policies_pair_subnets_of_one_family_with_out_in_and_fwd():
    groups, hostvars = inventory()
    result, sent = run("gw1", "policies", groups, hostvars, phase="policies")
    policies = [p for p in sent[0][1]["policies"] if p["templates"]]
    assert sorted((p["dir"], p["src"], p["dst"]) for p in policies) == sorted(
        [("out", "198.51.100.0/24", r) for r in ("203.0.113.0/24", "233.252.0.0/24")]
        + [(d, r, "198.51.100.0/24") for d in ("in", "fwd") for r in ("203.0.113.0/24", "233.252.0.0/24")])
    assert all(p["templates"][0]["mode"] == "tunnel" for p in policies)
    assert result["pairs"] == ["gw1~gw2"]


def test_the_management_path_gets_bypass_policies_where_a_policy_would_cover_it():
    groups, hostvars = inventory()
    sent = sent_by("gw1", "policies", groups, hostvars, phase="policies", management=["203.0.113.7"])
    bypass = [(p["dir"], p["src"], p["dst"], p["priority"]) for p in sent[0][1]["policies"] if not p["templates"]]
    assert sorted(bypass) == sorted([("out", "198.51.100.0/24", "203.0.113.7/32", site.BYPASS_PRIORITY),
                                     ("in", "203.0.113.7/32", "198.51.100.0/24", site.BYPASS_PRIORITY),
                                     ("fwd", "203.0.113.7/32", "198.51.100.0/24", site.BYPASS_PRIORITY)])
    assert site.BYPASS_PRIORITY < site.PRIORITY, "lower wins in the kernel"


def test_ipv6_pairs_keep_neighbour_discovery_out_of_the_policies():
    groups, hostvars = inventory()
    sent = sent_by("h1", "policies", groups, hostvars, phase="policies")
    nd = {(p["dir"], p["sport"]) for p in sent[0][1]["policies"] if p.get("proto") == "ipv6-icmp"}
    assert nd == {(d, t) for d in ("in", "out") for t in site.ND_TYPES}


def test_peers_that_state_different_settings_are_refused_naming_both():
    groups, hostvars = inventory()
    hostvars["h2"]["ipsec_host_protocols"] = ["esp", "ah"]
    with pytest.raises(AnsibleActionFail, match=r"pair h1~h2: h1 and h2 state different settings"):
        run("h1", "sas", groups, hostvars)


def test_a_pair_override_stated_by_both_gives_esp_inside_ah():
    groups, hostvars = inventory(common={"ipsec_host_pair_overrides": {"h1~h2": {"protocols": ["esp", "ah"]}}})
    sas = sas_sent("h1", groups, hostvars)
    assert sorted(sa["proto"] for sa in sas if sa["dst"] == "192.0.2.2") == ["ah", "esp"]
    sent = sent_by("h1", "policies", groups, hostvars, phase="policies")
    out = [p for p in sent[0][1]["policies"] if p["dir"] == "out" and p["dst"] == "192.0.2.2"]
    assert [t["proto"] for t in out[0]["templates"]] == ["esp", "ah"]


@pytest.mark.parametrize("change, message", [
    ({"h2": {"ipsec_host_address": "192.0.2.300"}}, r"h2: ipsec_host_address: '192.0.2.300' is not an IP address"),
    ({"h2": {}}, r"h2: ipsec_host_address is not set"),
    ({"common": {"ipsec_host_enc_algorithm": "des-cbc"}}, r"enc_algorithm: des-cbc is weak"),
    ({"common": {"ipsec_host_pairs": [["h1", "h7"]]}}, r"ipsec_host_pairs\[0\]: h7 is not in the group"),
    ({"common": {"ipsec_host_protocols": ["esp", "comp"]}}, r"protocols: \['esp', 'comp'\]"),
    ({"gw2": {"ipsec_gateway_address": "192.0.2.102", "ipsec_gateway_subnets": ["203.0.113.1/24"]}}, r"host bits set"),
])
def test_bad_site_input_is_refused_naming_the_variable_and_host(change, message):
    mesh = {k: dict(v) for k, v in MESH.items()}
    gateways = {k: dict(v) for k, v in GATEWAYS.items()}
    for host, own in change.items():
        if host in mesh:
            mesh[host] = own
        elif host in gateways:
            gateways[host] = own
    groups, hostvars = inventory(mesh, gateways, change.get("common"))
    with pytest.raises(AnsibleActionFail, match=message):
        run("h1" if "gw" not in "".join(change) else "gw1", "sas", groups, hostvars)


def test_without_a_master_secret_nothing_is_planned():
    groups, hostvars = inventory()
    hostvars["h1"]["ipsec_master_secret"] = ""
    with pytest.raises(AnsibleActionFail, match="master_secret is empty"):
        run("h1", "sas", groups, hostvars)


def test_settings_are_compared_by_kernel_name_and_counter_mode_is_refused():
    assert site.settings({"auth_algorithm": "hmac-sha256", "enc_algorithm": "aes-cbc"}, "x") == site.settings({}, "x")
    with pytest.raises(site.SiteError, match="counter mode"):
        site.settings({"enc_algorithm": "aes-ctr", "enc_key_bits": 160}, "x")


def test_a_slice_with_a_pared_inventory_and_a_roster_plans_what_the_full_inventory_does():
    groups, hostvars = inventory(gateways={})
    full = sas_sent("h2", groups, hostvars)
    roster = {name: {"address": own["ipsec_host_address"]} for name, own in MESH.items()}
    # AWX's slice 2 of 2: its inventory holds h2 and h4 only, the roster (group_vars) names every member
    sliced_vars = {h: dict(hostvars[h], ipsec_host_members=roster) for h in ("h2", "h4")}
    sliced_groups = {"all": ["h2", "h4"], "ipsec_mesh": ["h2", "h4"], "ipsec_gateways": []}
    collisions = run("h2", "scan", sliced_groups, sliced_vars)[0]["spi_collisions"]
    sent = sent_by("h2", "sas", sliced_groups, sliced_vars, spi_collisions=collisions)
    assert sent[0][1]["sas"] == full and len(full) == 3 * 2 * 2


def test_explicit_pairs_are_read_as_the_groups_members_state_them_whichever_play_scans():
    groups, hostvars = inventory()
    for host in MESH:
        hostvars[host]["ipsec_host_pairs"] = [["h1", "h2"]]  # group_vars of ipsec_mesh: the gateways do not see it
    from_mesh = run("h1", "scan", groups, hostvars)[0]
    from_gateway = run("gw1", "scan", groups, hostvars)[0]
    assert from_mesh["pairs"] == from_gateway["pairs"] == 2 and from_mesh["directions"] == from_gateway["directions"]


def test_the_policies_stage_runs_no_module_when_the_sas_stage_found_every_policy_in_place():
    groups, hostvars = inventory()
    collisions = scan(groups, hostvars)
    differ = run("h1", "sas", groups, hostvars, spi_collisions=collisions, pending=[{"action": "add", "entry": "x"}])[0]
    same = run("h1", "sas", groups, hostvars, spi_collisions=collisions)[0]
    assert differ["ansible_facts"]["__ipsec_site_policies_in_place"] is False
    assert same["ansible_facts"]["__ipsec_site_policies_in_place"] is True and "pending" not in same
    planned = sent_by("h1", "policies", groups, hostvars, spi_collisions=collisions, phase="policies")[0][1]["policies"]
    compared = sent_by("h1", "sas", groups, hostvars, spi_collisions=collisions)[0][1]["policies"]
    assert compared == planned, "the sas stage compares exactly what the policies stage would put in place"
    hostvars["h1"]["ansible_facts"] = same["ansible_facts"]
    result, sent = run("h1", "policies", groups, hostvars, spi_collisions=collisions)
    assert sent == [] and result["changed"] is False
    assert sent_by("h1", "policies", groups, hostvars, spi_collisions=collisions, phase="policies"), \
        "a policies-only run (no sas stage in it) never trusts a fact of an earlier run"


def test_the_plan_stage_lints_the_planned_state(monkeypatch):
    groups, hostvars = inventory()
    collisions = scan(groups, hostvars)
    for host in ("h1", "gw1"):
        result, sent = run(host, "plan", groups, hostvars, spi_collisions=collisions)
        assert sent == [] and result["findings"] == [], result["findings"]
    managed_from_the_mesh = run("h1", "plan", groups, hostvars, spi_collisions=collisions, management=["192.0.2.0/24"])[0]
    assert managed_from_the_mesh["findings"] == [], "the bypass policies the plan adds win over the IPsec ones"
    monkeypatch.setattr(site, "bypass_entries", lambda policies, management: [])
    unprotected = run("h1", "plan", groups, hostvars, spi_collisions=collisions, management=["192.0.2.0/24"])[0]
    assert {f["id"] for f in unprotected["findings"]} == {"covers-management"}


def test_when_the_controller_is_a_peer_its_path_stays_in_clear_with_a_warning_not_a_clash():
    groups, hostvars = inventory()
    collisions = scan(groups, hostvars)
    result, sent = run("h1", "policies", groups, hostvars, spi_collisions=collisions, phase="policies",
                       management=["192.0.2.2"])
    ((_module, args),) = sent
    to_h2 = [p for p in args["policies"] if "192.0.2.2" in (p["src"].split("/")[0], p["dst"].split("/")[0])
             and not p.get("proto")]
    assert to_h2 and all(p["templates"] == [] for p in to_h2), "only the bypass remains for h1 <-> h2 over IPv4"
    validate_policies({"policies": args["policies"]})  # no two policies with one selector
    assert any("is the management path: left in clear" in w for w in result["warnings"])
    assert any(p["templates"] for p in args["policies"] if "2001:db8::2" in (p["src"], p["dst"])), \
        "the pair's IPv6 path is still protected"


def test_a_host_left_without_pairs_has_the_collections_entries_flushed_stage_by_stage():
    groups, hostvars = inventory(gateways={})
    for host in MESH:
        hostvars[host]["ipsec_host_pairs"] = [["h1", "h2"]]  # h3 and h4 lost their last peer
    collisions = scan(groups, hostvars)
    (sas_stage,) = sent_by("h3", "sas", groups, hostvars, spi_collisions=collisions)
    (policies_stage,) = sent_by("h3", "policies", groups, hostvars, spi_collisions=collisions)
    # the modules refuse `exclusive: true` without entries (it would delete everything by accident)
    assert sas_stage == ("xfrm.ipsec.ipsec_flush", {"scope": "managed", "sas": True, "policies": False})
    assert policies_stage == ("xfrm.ipsec.ipsec_flush", {"scope": "managed", "sas": False, "policies": True})
    assert sent_by("h1", "sas", groups, hostvars, spi_collisions=collisions)[0][0] == "xfrm.ipsec.ipsec_apply"


def test_a_host_of_the_group_that_the_roster_leaves_out_is_removed_from_the_site_not_refused():
    groups, hostvars = inventory(gateways={})
    roster = {name: {"address": own["ipsec_host_address"]} for name, own in MESH.items() if name != "h4"}
    for host in MESH:
        hostvars[host]["ipsec_host_members"] = roster
    collisions = scan(groups, hostvars)
    assert sent_by("h4", "sas", groups, hostvars, spi_collisions=collisions)[0][0] == "xfrm.ipsec.ipsec_flush"
    groups["ipsec_mesh"].remove("h4")  # now in neither the group nor the roster: in no site at all
    with pytest.raises(AnsibleActionFail, match="h4 is in neither group ipsec_mesh nor ipsec_gateways"):
        run("h4", "sas", groups, hostvars, spi_collisions=collisions)
