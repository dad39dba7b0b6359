"""playbooks/site_vpn.yml on a mesh of three end hosts (lab topology mesh3): fleet safety, on real kernels.

In order, on the same guests: a host lost mid-run cuts no one and a re-run completes the mesh; every pair
then talks ESP both ways over IPv4 and IPv6; a --limit run neither adds nor removes anything toward the
peers outside it; a host taken out of the inventory loses its pairs on every peer; AWX's sliced
two-phase workflow (each slice an inventory of its own hosts plus the roster) keys the whole mesh; and the health
check (check_vpn.yml) finds every pair up, then only the pair whose ESP a firewall rule drops down, in its report
and in its picture as a browser shows it.
"""

import json
import pathlib
import re
import subprocess

import pytest

from ansible_run import Site, changed_hosts, run_playbook
from conftest import LAB
from traffic import Capture, allow_esp, drop_esp_from, ping

MASTER = "mesh3 lab master secret: a test vector, not a real secret"
NODES = ("h1", "h2", "h3")
BPF = "esp or ah or icmp or (icmp6 and ip6[40] >= 128 and ip6[40] <= 129)"


def addresses(lab, node):
    return lab.hosts[node]["lab_addr"], lab.hosts[node]["lab_addr6"]


def policies(lab, node):
    return lab.ssh(node, "ip xfrm policy").stdout


def inventory_copy(lab, tmp, name, hosts, roster=False):
    """The lab's inventory with only `hosts` in it (an AWX slice) or in the mesh group, optionally with the roster."""
    inventory = json.loads(pathlib.Path(lab.inventory).read_text())
    everyone = inventory["all"]["children"]["ipsec_mesh"]["hosts"]
    if roster:
        inventory["all"]["vars"]["ipsec_host_members"] = {n: {"address": v["ipsec_host_address"]} for n, v in everyone.items()}
        inventory["all"]["vars"]["ipsec_host_pair_overrides"] = {"h1~h2": {"protocols": ["esp", "ah"]}}  # LARTC's bundle
        inventory["all"]["hosts"] = {n: v for n, v in inventory["all"]["hosts"].items() if n in hosts}
        inventory["all"]["children"] = {"ipsec_mesh": {"hosts": {n: {} for n in hosts}}}
    else:
        inventory["all"]["children"]["ipsec_mesh"]["hosts"] = {n: v for n, v in everyone.items() if n in hosts}
    path = pathlib.Path(tmp) / (name + ".yml")
    path.write_text(json.dumps(inventory))
    return path


def assert_pairs_talk_esp(lab, pairs):
    """Every (src, dst) pings over IPv4 and IPv6, and what each host transmits is ESP, never a plaintext echo.
    Returns the captures by host."""
    involved = sorted({n for pair in pairs for n in pair})
    captures = {node: Capture(lab, node, "eth1", BPF, direction="out") for node in involved}
    for cap in captures.values():
        cap.__enter__()
    try:
        for src, dst in pairs:
            for address in addresses(lab, dst):
                assert ping(lab, src, address, count=2) == 2, (src, dst, address)
    finally:
        for cap in captures.values():
            cap.__exit__(None, None, None)
    for node, cap in captures.items():
        assert cap.count(r"ESP\(spi=") >= 4 * sum(1 for pair in pairs if node in pair), (node, cap.lines)
        assert cap.count(r"IP6 .*ESP\(spi=") >= 2, (node, cap.lines)
        assert cap.count("ICMP") == 0, (node, cap.lines)
    return captures


@pytest.mark.lab("mesh3")
def test_a_host_lost_mid_run_cuts_no_one_and_a_rerun_completes(lab, workdir):
    site = Site(lab.inventory, MASTER, workdir)
    for node in NODES:
        lab.ssh(node, "ip xfrm state flush; ip xfrm policy flush")
    run = site.popen("site_vpn.yml")
    output = []
    for line in run.stdout:
        output.append(line)
        if line.startswith("TASK [xfrm.ipsec.ipsec_host : Resolve SPI collisions"):
            subprocess.run([str(LAB), "stop", "h3"], check=True, timeout=60)  # before anyone reached it
    run.wait(timeout=600)
    text = "".join(output)
    assert run.returncode != 0 and re.search(r"^h3\s+: ok=\d+\s+changed=\d+\s+unreachable=1", text, re.M), text[-3000:]
    for node in ("h1", "h2"):
        assert not set(addresses(lab, "h3")) & set(re.findall(r"(?:src|dst) ([0-9a-f.:]+)/", policies(lab, node))), \
            "%s got policies toward h3, whose SAs never went in" % node
    assert_pairs_talk_esp(lab, [("h1", "h2"), ("h2", "h1")])

    subprocess.run([str(LAB), "start", "h3"], check=True, timeout=300)
    rerun = site.run("site_vpn.yml")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert changed_hosts(rerun.doc)["h3"] > 0


@pytest.mark.lab("mesh3")
def test_every_pair_of_the_mesh_talks_only_esp_both_ways_over_ipv4_and_ipv6(lab, workdir):
    assert_pairs_talk_esp(lab, [(a, b) for a in NODES for b in NODES if a != b])


@pytest.mark.lab("mesh3")
def test_the_roles_state_round_trips_through_ipsec_info_setkey(lab, workdir):
    """Each host's setkey text (ipsec_info format=setkey), applied back in check mode with every entry flushable,
    changes nothing: it says exactly what the kernel holds (in policies without fwd, the roles' reqids, IPv6)."""
    playbook = pathlib.Path(workdir) / "round_trip.yml"
    playbook.write_text(json.dumps([{"hosts": "ipsec_mesh", "gather_facts": False, "tasks": [
        {"xfrm.ipsec.ipsec_info": {"format": "setkey", "show_keys": True}, "register": "backup", "no_log": True},
        {"xfrm.ipsec.ipsec_apply": {"setkey": "{{ backup.setkey }}", "setkey_flush": "all"}, "check_mode": True,
         "register": "again", "no_log": True},
        {"ansible.builtin.assert": {"that": [
            "backup.setkey.count('\\nadd ') == 8 and backup.setkey.count('\\nspdadd ') >= 8",
            "'not expressible' not in backup.setkey", "backup.warnings | default([]) == []",
            "not again.changed and again.summary.add == 0"]}}]}]))
    proc = run_playbook(playbook, lab.inventory)
    assert proc.returncode == 0 and "ok=3 " in proc.stdout and "failed=0" in proc.stdout, proc.stdout + proc.stderr
    assert proc.stdout.count("ok=3 ") == 3


@pytest.mark.lab("mesh3")
def test_a_limited_run_neither_adds_nor_removes_anything_toward_peers_outside_it(lab, workdir):
    site = Site(lab.inventory, MASTER, workdir)
    h1, h3 = lab.hosts["h1"]["lab_addr"], lab.hosts["h3"]["lab_addr"]
    lab.ssh("h1", "ip xfrm policy delete src %s/32 dst %s/32 dir out" % (h1, h3))  # as if h1~h3 were half done
    before = policies(lab, "h1")
    limited = site.run("site_vpn.yml", "--limit", "h1")
    assert limited.returncode == 0, limited.stdout[-3000:]
    assert changed_hosts(limited.doc) == {"h1": 0}
    results = [r for name, r in ((t["task"]["name"], t["hosts"].get("h1", {})) for p in limited.doc["plays"] for t in p["tasks"])
               if "Policies in and out" in name]
    assert results[0]["deferred"] == ["h2", "h3"]
    assert policies(lab, "h1") == before, "the out policy toward h3 was neither added back nor anything removed"
    assert_pairs_talk_esp(lab, [("h1", "h2"), ("h2", "h1")])


@pytest.mark.lab("mesh3")
def test_a_host_taken_out_of_the_inventory_loses_its_pairs_on_every_peer(lab, workdir):
    site = Site(lab.inventory, MASTER, workdir)
    without_h3 = inventory_copy(lab, workdir, "without-h3", ("h1", "h2"))
    run = site.run("site_vpn.yml", inventory=without_h3)
    assert run.returncode == 0, run.stdout[-3000:]
    for node in ("h1", "h2"):
        tables = lab.ssh(node, "ip xfrm state; ip xfrm policy").stdout
        for address in addresses(lab, "h3"):
            assert address + " " not in tables and address + "/" not in tables, (node, address, tables)
    assert_pairs_talk_esp(lab, [("h1", "h2"), ("h2", "h1")])


@pytest.mark.lab("mesh3")
def test_awx_slices_with_a_roster_in_two_phases_key_the_whole_mesh(lab, workdir):
    """Each slice's inventory holds its own hosts and the roster; h1~h2 is overridden to ESP inside AH."""
    site = Site(lab.inventory, MASTER, workdir)
    for node in NODES:
        lab.ssh(node, "ip xfrm state flush; ip xfrm policy flush")
    slices = [inventory_copy(lab, workdir, "slice1", ("h1", "h2"), roster=True),
              inventory_copy(lab, workdir, "slice2", ("h3",), roster=True)]
    for phase in ("sas", "policies"):
        for inventory in slices:
            run = site.run("site_vpn.yml", "-e", "ipsec_phase=" + phase, inventory=inventory)
            assert run.returncode == 0, (phase, inventory.name, run.stdout[-3000:])
        if phase == "sas":
            for node in NODES:
                # 2 peers x 2 ways x 2 families, and the AH SAs of h1~h2
                assert lab.ssh(node, "ip xfrm state | grep -c '^src'").stdout.strip() == ("8" if node == "h3" else "12"), node
                assert "tmpl" not in policies(lab, node), "no policy before the policies phase"
    captures = assert_pairs_talk_esp(lab, [(a, b) for a in NODES for b in NODES if a != b])
    to_h2 = [line for line in captures["h1"].lines if "> %s:" % lab.hosts["h2"]["lab_addr"] in line]
    assert to_h2 and all(re.search(r"AH\(spi=0x[0-9a-f]+,seq=0x[0-9a-f]+[^)]*\): ESP\(spi=", line) for line in to_h2), to_h2
    to_h3 = [line for line in captures["h1"].lines if "> %s:" % lab.hosts["h3"]["lab_addr"] in line]
    assert to_h3 and not any("AH(" in line for line in to_h3), to_h3


@pytest.mark.lab("mesh3")
def test_check_vpn_finds_every_pair_up_then_only_the_pair_whose_esp_is_dropped_down(lab, workdir):
    """The mesh as the slices keyed it (h1~h2 with ESP inside AH): every pair up; then ESP from h1 dropped at h3."""
    site, report = Site(lab.inventory, MASTER, workdir), pathlib.Path(workdir) / "report"
    whole = inventory_copy(lab, workdir, "whole", NODES, roster=True)
    rc, result, drawn = site.check_vpn(report, inventory=whole)
    assert rc == 0 and result["down"] == [], result["lines"]
    pairs = result["report"]["pairs"]
    assert {name: entry["state"] for name, entry in pairs.items()} == {"h1~h2": "up", "h1~h3": "up", "h2~h3": "up"}
    assert all(entry["probe"]["sent"] == entry["probe"]["received"] == 12 for entry in pairs.values()), result["lines"]
    assert sorted(sa["proto"] for sa in pairs["h1~h2"]["sas"]) == ["ah"] * 4 + ["esp"] * 4  # the bundle, both ways, v4+v6
    assert all(sa["received"] == sa["sent"] > 0 for entry in pairs.values() for sa in entry["sas"])
    assert drawn == {"h1~h2": "up", "h1~h3": "up", "h2~h3": "up"}
    drop_esp_from(lab, "h3", lab.hosts["h1"]["lab_addr"])
    try:
        rc, result, drawn = site.check_vpn(report, inventory=whole)
    finally:
        allow_esp(lab, "h3")
    assert rc == 2 and result["down"] == ["h1~h3"], result["lines"]
    entry = result["report"]["pairs"]["h1~h3"]
    assert any(r.startswith("ESP from h1 does not reach h3: h1 sent 6 packets on SA esp 192.0.2.1->192.0.2.3 ")
               for r in entry["reasons"]), entry["reasons"]
    assert not any("missing" in r or "differ" in r for r in entry["reasons"]), entry["reasons"]
    assert drawn == {"h1~h2": "up", "h1~h3": "down", "h2~h3": "up"}
