"""The health check (ipsec_check's stages, health.py's verdicts) on fake kernels: each cause of a broken pair is
named with that pair, its cause and its fix, and only that pair. The lab proves it on real kernels with real
packets (tests/integration/test_check_vpn_lab.py); here a fake network carries the probes: an echo request crosses
when the sender's outbound policy finds an SA and the receiver holds the same SA with the same keys, and the SAs'
counters and the kernel's XFRM counters move as Linux's would.
"""

import ipaddress
import re
import time

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils import ipsec_common
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import constants as C, health
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.constants import name

from ansible_collections.xfrm.ipsec.tests.unit.fleet import Fleet

STAGES = [("observe", {"snapshot": "before"}), ("probe", {}), ("observe", {"snapshot": "after"})]


class Network:
    """The fake data path between the fleet's kernels, behind ipsec_probe (xfrm_stat, addresses, echo)."""

    def __init__(self, fleet, monkeypatch, addresses):
        self.fleet, self.addresses = fleet, addresses  # host -> [address]
        self.stats = {h: dict.fromkeys(health.XFRM_STAT_MEANING, 0) for h in fleet.kernels}
        self.esp_dropped_at = set()  # hosts whose firewall drops every incoming ESP packet
        monkeypatch.setattr(ipsec_common.xprobe, "xfrm_stat", lambda: dict(self.stats[fleet.current]))
        monkeypatch.setattr(ipsec_common.xprobe, "addresses", lambda: [
            {"address": a, "prefixlen": 24, "interface": "eth0"} for a in self.addresses[fleet.current]])
        monkeypatch.setattr(ipsec_common.xprobe, "echo", self.echo)

    def owner(self, address):
        return next(h for h, mine in self.addresses.items() if address in mine)

    def echo(self, probes, count, interval, timeout):  # pylint: disable=unused-argument
        prober, out = self.fleet.current, []
        for spec in probes:
            peer = self.owner(spec["dst"])
            answered = sum(self.cross(prober, peer, spec["src"], spec["dst"]) and
                           self.cross(peer, prober, spec["dst"], spec["src"]) for _request in range(count))
            out.append(dict(spec, sent=count, received=answered, rtt_ms=1.0 if answered else None))
        return out

    def cross(self, sender, receiver, src, dst):
        """One packet src -> dst: True when it arrives decrypted; counters move as the kernel's would."""
        kernel = self.fleet.kernels[sender]
        policy = next((p for p in sorted(kernel.policies.values(), key=lambda p: p.priority) if name("dir", p.dir) == "out"
                       and ipaddress.ip_address(src) in ipaddress.ip_network(str(p.selector.src))
                       and ipaddress.ip_address(dst) in ipaddress.ip_network(str(p.selector.dst))), None)
        if policy is None or not policy.templates:
            return False  # in clear: the receiver's inbound policy refuses it (XfrmInTmplMismatch)
        for template in policy.templates:
            ends = (str(template.src), str(template.dst)) if name("mode", template.mode) == "tunnel" else (src, dst)
            sa = next((s for s in kernel.sas.values() if (str(s.src), str(s.dst)) == ends and s.proto == template.proto
                       and template.reqid in (0, s.reqid)), None)
            if sa is None:
                self.stats[sender]["XfrmOutNoStates"] += 1
                return False
            _count(sa, "packets")
            if receiver in self.esp_dropped_at:
                return False
            held = self.fleet.kernels[receiver].sas.get(sa.identity)
            if held is None:
                self.stats[receiver]["XfrmInNoStates"] += 1
                return False
            if held != sa:
                _count(held, "integrity_failed")
                self.stats[receiver]["XfrmInStateProtoError"] += 1
                return False
            _count(held, "packets")
        return True


def _count(sa, counter):
    sa.counters = dict({"packets": 0, "integrity_failed": 0, "oseq": 0, "seq_headroom": C.SEQ_SPACE - 1},
                       **(sa.counters or {}))
    sa.counters["add_time"] = sa.counters.get("add_time") or int(time.time()) - 3600  # added an hour ago
    sa.counters[counter] += 1
    if counter == "packets":
        sa.counters.update(oseq=sa.counters["oseq"] + 1, seq_headroom=sa.counters["seq_headroom"] - 1)


def check(fleet, play=None, alive=None, **report_args):
    """check_vpn.yml's stages on every host of the play (the hosts not alive fail before them), then the report."""
    play = list(play or fleet.groups["all"])
    alive = list(alive or play)
    for stage, args in STAGES:
        for host in alive:
            fleet.stage(host, stage, alive, action="xfrm.ipsec.ipsec_check", play_all=play, **args)
    return fleet.stage(alive[0], "report", alive, action="xfrm.ipsec.ipsec_check", play_all=play, **report_args)


@pytest.fixture
def mesh(monkeypatch):
    fleet = Fleet(monkeypatch)
    fleet.run()
    fleet.network = Network(fleet, monkeypatch, {h: [v["ipsec_host_address"]] for h, v in fleet.vars.items()})
    return fleet


def pairs_in(report, state):
    return sorted(n for n, p in report["report"]["pairs"].items() if p["state"] == state)


def the_sa(fleet, host, src, dst):
    return next(sa for sa in fleet.kernels[host].sas.values() if (str(sa.src), str(sa.dst)) == (src, dst))


def test_a_healthy_mesh_has_every_pair_up_with_its_probe_answered_both_ways(mesh):
    report = check(mesh)
    assert pairs_in(report, "up") == ["h1~h2", "h1~h3", "h2~h3"] and report["down"] == []
    for entry in report["report"]["pairs"].values():
        assert entry["probe"]["sent"] == entry["probe"]["received"] == 6  # 3 each way
        assert entry["reasons"] == [] and entry["fixes"] == [] and entry["in_force"] == {h: 0 for h in entry["hosts"]}
        assert all(sa["sent"] == sa["received"] == 6 for sa in entry["sas"]), entry["sas"]
        assert entry["headroom"] == C.SEQ_SPACE - 1 - 6
    # 6 packets in the hour since the SAs were added: a rotation due after 2^32 packets is 2^32 / 6 hours away
    for name, line in zip(("h1~h2", "h1~h3", "h2~h3"), report["lines"]):
        days = re.fullmatch(r"%s up \(probe 6/6 answered, 1\.0 ms; seq headroom 4,294,967,289 packets; rotation due in "
                            r"(\d+) days at the current rate\)" % name, line)
        assert days and abs(int(days.group(1)) - (C.SEQ_SPACE - 6) / 6 / 24) < 30, line


def test_an_sa_deleted_on_one_side_names_that_pair_that_sa_and_the_host_to_rerun(mesh):
    sa = the_sa(mesh, "h2", "192.0.2.1", "192.0.2.2")
    del mesh.kernels["h2"].sas[sa.identity]
    report = check(mesh)
    assert report["down"] == ["h1~h2"] and pairs_in(report, "up") == ["h1~h3", "h2~h3"]
    entry = report["report"]["pairs"]["h1~h2"]
    assert entry["reasons"][0] == "SA 192.0.2.1->192.0.2.2 esp 0x%08x is missing on h2" % sa.spi
    assert entry["fixes"] == ["re-run site_vpn.yml --limit h2"]
    assert "h2: XfrmInNoStates +6 (no SA for an incoming SPI (the SA is missing on the receiver); host-wide)" \
        in entry["evidence"]


def test_a_key_changed_on_one_side_under_the_same_spi_is_found_by_fingerprint_without_showing_a_key(mesh):
    sa = the_sa(mesh, "h3", "192.0.2.2", "192.0.2.3")
    mesh.kernels["h3"].sas[sa.identity] = sa._replace(enc=sa.enc._replace(key=b"\x11" * len(sa.enc.key)))
    report = check(mesh)
    assert report["down"] == ["h2~h3"]
    entry = report["report"]["pairs"]["h2~h3"]
    assert re.match(r"keys differ for SA 192\.0\.2\.2->192\.0\.2\.3 esp 0x%08x: h2 holds sha256:\w{8}/sha256:\w{8}, "
                    r"h3 holds sha256:\w{8}/sha256:\w{8}$" % sa.spi, entry["reasons"][0]), entry["reasons"]
    assert entry["fixes"][0] == "re-run site_vpn.yml --limit h3"  # h3's key is not the inventory's; h2's is
    assert entry["fixes"][1].endswith("rotate pair h2~h3: ipsec_pair_generations {h2~h3: 1} in the inventory, then "
                                      "rotate_keys.yml")
    assert any("integrity" in r for r in entry["reasons"]) or any("XfrmInStateProtoError +3" in e for e in entry["evidence"])
    assert sa.enc.key.hex() not in str(report) and sa.auth.key.hex() not in str(report)


def test_an_outbound_policy_removed_is_down_and_an_inbound_one_in_transport_mode_is_degraded(mesh):
    def drop(host, src, dst, direction):
        (identity,) = [i for i, p in mesh.kernels[host].policies.items() if name("dir", p.dir) == direction
                       and str(p.selector.src).startswith(src + "/") and str(p.selector.dst).startswith(dst + "/")]
        del mesh.kernels[host].policies[identity]
    drop("h1", "192.0.2.1", "192.0.2.3", "out")
    drop("h2", "192.0.2.3", "192.0.2.2", "in")
    report = check(mesh)
    assert report["down"] == ["h1~h3"] and pairs_in(report, "degraded") == ["h2~h3"] and pairs_in(report, "up") == ["h1~h2"]
    down, degraded = report["report"]["pairs"]["h1~h3"], report["report"]["pairs"]["h2~h3"]
    assert down["reasons"][0] == "policy out 192.0.2.1->192.0.2.3 is missing on h1: its traffic is dropped or leaves in clear"
    assert down["fixes"][0] == "re-run site_vpn.yml --limit h1,h3"  # a pair's policies need both peers in the run
    assert degraded["reasons"] == ["policy in 192.0.2.3->192.0.2.2 is missing on h2: its plaintext is accepted"]
    assert degraded["probe"]["received"] == 6  # the ESP still flows


def test_esp_dropped_on_the_way_is_told_from_the_counters_when_every_entry_is_in_place(mesh):
    mesh.network.esp_dropped_at.add("h3")
    report = check(mesh)
    assert report["down"] == ["h1~h3", "h2~h3"] and pairs_in(report, "up") == ["h1~h2"]
    entry = report["report"]["pairs"]["h1~h3"]
    assert "probe 192.0.2.1 -> 192.0.2.3 (from h1): no answer to 3 echo requests" in entry["reasons"]
    assert "ESP from h1 does not reach h3: h1 sent 6 packets on SA esp 192.0.2.1->192.0.2.3 0x%08x, h3's SA received " \
           "none and its kernel counted no XFRM error (dropped on the way or by a firewall before decryption)" \
           % the_sa(mesh, "h1", "192.0.2.1", "192.0.2.3").spi in entry["reasons"], entry["reasons"]
    assert entry["fixes"][0].startswith("check the firewalls on the path and on h3 (nft list ruleset)")


def test_a_rotation_left_half_done_is_degraded_and_says_to_finish_it(mesh):
    mesh.set(ipsec_generation=1)
    collisions = mesh.stage("h1", "scan")["spi_collisions"]
    for host in mesh.kernels:  # the sas stage of a rotation only: both generations held, old one in force
        mesh.stage(host, "sas", spi_collisions=collisions)
    report = check(mesh)
    assert pairs_in(report, "degraded") == ["h1~h2", "h1~h3", "h2~h3"]
    entry = report["report"]["pairs"]["h1~h2"]
    assert entry["reasons"] == ["a rotation to generation 1 is unfinished (h1: adding, h2: adding)"]
    assert entry["fixes"] == ["re-run rotate_keys.yml with both peers of h1~h2 in the run"]
    assert entry["in_force"] == {"h1": 0, "h2": 0} and entry["probe"]["received"] == 6


def test_a_host_that_failed_in_the_run_is_down_for_its_pairs_with_the_fix(mesh):
    report = check(mesh, alive=["h1", "h2"])
    assert report["down"] == ["h1~h3", "h2~h3"] and pairs_in(report, "up") == ["h1~h2"]
    entry = report["report"]["pairs"]["h1~h3"]
    assert entry["reasons"] == ["h3 could not be checked: unreachable, or a task failed on it in this run"]
    assert entry["fixes"] == ["bring h3 back, then re-run site_vpn.yml --limit h3"]


def test_a_host_outside_the_run_leaves_its_pairs_unknown_not_down(mesh):
    report = check(mesh, play=["h1", "h2"])
    assert report["report"]["pairs"]["h1~h2"]["state"] == "up"
    assert pairs_in(report, "unknown") == ["h1~h3", "h2~h3"]
    assert report["report"]["pairs"]["h1~h3"]["reasons"] == ["h3 is not in this run: the pair was not checked"]
    assert report["report"]["nodes"]["h3"]["in_run"] is False and report["down"] == []


def test_a_rotation_is_due_once_an_sa_carried_the_packets_allowed_under_one_key(mesh):
    report = check(mesh, rotate_packets=5)
    assert pairs_in(report, "degraded") == ["h1~h2", "h1~h3", "h2~h3"]
    entry = report["report"]["pairs"]["h1~h2"]
    assert any(r.startswith("rotation due: SA 192.0.2.1->192.0.2.2 esp") and r.endswith("(limit 5)")
               for r in entry["reasons"]), entry["reasons"]
    assert entry["fixes"] == ["rotate pair h1~h2: ipsec_pair_generations {h1~h2: 1} in the inventory, then rotate_keys.yml"]


def test_the_metrics_are_prometheus_text_of_the_hosts_own_pairs(mesh):
    sa = the_sa(mesh, "h2", "192.0.2.1", "192.0.2.2")
    del mesh.kernels["h2"].sas[sa.identity]
    text = check(mesh)["metrics"]["h1"]
    assert 'xfrm_ipsec_pair_state{pair="h1~h2",state="down"} 1' in text
    assert 'xfrm_ipsec_pair_state{pair="h1~h3",state="up"} 1' in text and 'pair="h2~h3"' not in text
    assert re.search(r'^xfrm_ipsec_sa_packets\{pair="h1~h3",src="192.0.2.1",dst="192.0.2.3",proto="esp",spi="0x\w{8}"\} 6$',
                     text, re.M), text
    assert re.search(r"^xfrm_ipsec_check_timestamp_seconds \d+$", text, re.M)
    for line in text.splitlines():  # the exposition format: comments, or name{labels} value
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or re.match(r"^[a-z_]+(\{.*\})? \d+$", line), line


def test_the_check_changes_nothing_in_any_kernel_in_check_mode_or_not(mesh):
    before = {h: (dict(k.sas), dict(k.policies), len(k.requests)) for h, k in mesh.kernels.items()}
    check(mesh)
    assert {h: (dict(k.sas), dict(k.policies), len(k.requests)) for h, k in mesh.kernels.items()} == before


@pytest.fixture
def sites(monkeypatch):
    fleet = Fleet(monkeypatch, hosts=("gw1", "gw2"))
    fleet.groups.update(ipsec_mesh=[], ipsec_gateways=["gw1", "gw2"])
    lans = {"gw1": "198.51.100", "gw2": "203.0.113"}
    for host, own in fleet.vars.items():
        own.update(ipsec_gateway_address=own["ipsec_host_address"], ipsec_gateway_subnets=[lans[host] + ".0/24"])
    for host, stage, args in fleet.steps():  # site_vpn.yml (Fleet.run's invariant knows end hosts only)
        fleet.stage(host, stage, **args)
    fleet.network = Network(fleet, monkeypatch, {h: [v["ipsec_host_address"], lans[h] + ".1"] for h, v in fleet.vars.items()})
    return fleet


def test_gateways_probe_from_their_address_inside_their_subnets_through_the_tunnel(sites):
    report = check(sites)
    entry = report["report"]["pairs"]["gw1~gw2"]
    assert entry["state"] == "up", entry
    probed = sorted((p["src"], p["dst"]) for p in entry["probe"]["probes"])
    assert probed == [("198.51.100.1", "203.0.113.1"), ("203.0.113.1", "198.51.100.1")]
    assert entry["sas"][0]["sent"] == 6


def test_a_gateway_without_an_address_in_its_subnets_is_not_probed_and_says_so(sites):
    sites.network.addresses["gw2"] = ["192.0.2.2"]
    entry = check(sites)["report"]["pairs"]["gw1~gw2"]
    assert entry["state"] == "up" and entry["probe"] is None
    assert "not probed: gw2 has no address inside its subnets of IPv4 to probe from" in entry["evidence"]


def test_a_fwd_policy_removed_on_a_gateway_is_down_although_its_own_probe_is_answered(sites):
    (identity,) = [i for i, p in sites.kernels["gw2"].policies.items() if name("dir", p.dir) == "fwd"]
    del sites.kernels["gw2"].policies[identity]
    entry = check(sites)["report"]["pairs"]["gw1~gw2"]
    assert entry["state"] == "down" and entry["probe"]["received"] == 6
    assert entry["reasons"] == ["policy fwd 198.51.100.0/24->203.0.113.0/24 is missing on gw2: its traffic is dropped "
                                "or leaves in clear"]


def test_a_policy_the_management_paths_bypass_replaced_is_not_reported_missing(mesh):
    (identity,) = [i for i, p in mesh.kernels["h1"].policies.items() if name("dir", p.dir) == "out"
                   and str(p.selector.dst).startswith("192.0.2.2/")]
    policy = mesh.kernels["h1"].policies.pop(identity)
    bypass = policy._replace(priority=100, templates=())  # what site.with_bypasses puts instead (ansible runs from h2)
    mesh.kernels["h1"].policies[bypass.identity] = bypass
    reasons = check(mesh)["report"]["pairs"]["h1~h2"]["reasons"]
    assert not any(r.startswith("policy out 192.0.2.1->192.0.2.2") for r in reasons), reasons
