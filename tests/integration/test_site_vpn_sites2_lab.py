"""playbooks/site_vpn.yml on two sites (lab topology sites2): gateways gw1 and gw2, a LAN behind each.

The tests run in order on the same guests, as an operator would: check mode on a fresh site, the real
run (LAN to LAN traffic over IPv4 and IPv6, only ESP on the WAN), the firewall on the gateways (leak guard
on postrouting, plaintext dropped on forward where a policy went missing, a run repairs both), the second
run (changed=0, no key in the -vvv output), hand-made changes undone, the health check (check_vpn.yml: up, then
down with the cause and the fix for each of four breaks, one at a time, the picture checked in a browser), then
flush.yml (the roles' entries and firewall gone, a hand-made entry kept, forwarding back).
"""

import json
import pathlib
import re

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.render import fingerprint

from ansible_run import Site, changed_hosts, task_results
from traffic import (Capture, allow_esp, drop_esp_from, nft_counter, ping, secrets_at_rest, send_plaintext_udp, xfrm_entries,
                     xfrm_tables as xfrm)

MASTER = "sites2 lab master secret: a test vector, not a real secret"
GATEWAYS = ("gw1", "gw2")
FOREIGN = ("ip xfrm state add src 192.0.2.1 dst 192.0.2.99 proto esp spi 0x999 reqid 5 mode transport "
           "enc 'cbc(aes)' 0x%s auth-trunc 'hmac(sha256)' 0x%s 128; "
           "ip xfrm policy add src 192.0.2.1 dst 192.0.2.99 dir out tmpl proto esp reqid 5 mode transport" % ("ab" * 16, "cd" * 32))
# echo requests/replies, IPv4 and IPv6 (not neighbour discovery, which stays in clear), and ESP/AH
BPF = "esp or ah or icmp or (icmp6 and ip6[40] >= 128 and ip6[40] <= 129)"
STATE = {}


@pytest.mark.lab("sites2")
def test_check_mode_on_a_fresh_site_predicts_every_change_and_changes_nothing(lab, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    for node in GATEWAYS:
        lab.ssh(node, "ip xfrm state flush; ip xfrm policy flush; rm -rf /var/lib/xfrm-ipsec /etc/sysctl.d/90-xfrm-ipsec.conf "
                      "/etc/xfrm-ipsec; nft delete table inet xfrm_ipsec 2>/dev/null; "
                      "sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0")
    lab.ssh("gw1", FOREIGN)
    before = {node: xfrm(lab, node) for node in GATEWAYS}
    checked = runner.run("site_vpn.yml", "--check", "--diff")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    assert {node: xfrm(lab, node) for node in GATEWAYS} == before, "check mode changed the kernel"
    assert lab.ssh("gw1", "cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"
    predicted = task_results(checked.doc)
    sas = [result[2] for result in predicted["gw1"] if "Tunnel SAs" in result[0]][0]
    assert sorted(a["action"] for a in sas) == ["add"] * 4, sas  # both directions, IPv4 and IPv6 tunnels
    STATE["predicted"] = predicted


@pytest.mark.lab("sites2")
def test_site_vpn_keys_both_sites_and_only_esp_crosses_the_wan(lab, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    real = runner.run("site_vpn.yml", "--diff")
    assert real.returncode == 0, real.stdout[-3000:] + real.stderr[-3000:]
    assert task_results(real.doc) == STATE["predicted"], "check mode did not predict the real run"
    gw2 = lab.hosts["gw2"]
    with Capture(lab, "gw1", "eth1", BPF, direction="out") as c1, Capture(lab, "gw2", "eth1", BPF, direction="out") as c2:
        assert ping(lab, "gw1", gw2["lab_lan_host"], count=5, netns="lan") == 5
        assert ping(lab, "gw1", gw2["lab_lan_host6"], count=5, netns="lan") == 5
    for node, cap in (("gw1", c1), ("gw2", c2)):
        assert cap.count(r"ESP\(spi=") >= 10, (node, cap.lines)
        assert cap.count(r"IP6 .*ESP\(spi=") >= 5, (node, cap.lines)
        assert cap.count("ICMP") == 0, (node, cap.lines)
    assert "192.0.2.99" in xfrm(lab, "gw1"), "the hand-made SA and policy are still there"


@pytest.mark.lab("sites2")
def test_gateways_drop_what_would_cross_the_wan_in_clear_and_a_run_repairs_a_missing_policy(lab, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    gw1, gw2 = lab.hosts["gw1"], lab.hosts["gw2"]
    out_rule = "out %s -> %s" % (gw2["lab_lan"], gw1["lab_lan"])
    fwd_rule = "fwd %s -> %s" % (gw2["lab_lan"], gw1["lab_lan"])
    # a LAN host's datagrams that no IPsec policy of gw2 takes: gw2's leak guard drops them on postrouting
    leaked = nft_counter(lab, "gw2", "postrouting", out_rule)
    send_plaintext_udp(lab, "gw2", gw2["lab_lan_host"], gw1["lab_lan_host"], netns="lan")
    assert nft_counter(lab, "gw2", "postrouting", out_rule) == leaked + 5
    # let out by a hand-made exception, toward a gw1 whose fwd policy was deleted by hand: gw1's forward chain drops
    # them (with the fwd policy in place, the kernel's own check drops them first, before the forward hook)
    lab.ssh("gw2", "nft insert rule inet xfrm_ipsec postrouting udp dport 9999 accept")
    lab.ssh("gw1", "ip xfrm policy delete src %s dst %s dir fwd" % (gw2["lab_lan"], gw1["lab_lan"]))
    dropped = nft_counter(lab, "gw1", "forward", fwd_rule)
    with Capture(lab, "gw1", "veth0", "udp port 9999", direction="out") as lan1:
        send_plaintext_udp(lab, "gw2", gw2["lab_lan_host"], gw1["lab_lan_host"], netns="lan")
    assert nft_counter(lab, "gw1", "forward", fwd_rule) == dropped + 5
    assert lan1.count("UDP") == 0, "nothing reached the LAN: %s" % lan1.lines
    repaired = runner.run("site_vpn.yml")
    assert repaired.returncode == 0 and changed_hosts(repaired.doc)["gw1"] >= 1, repaired.stdout[-2000:]
    assert "udp dport 9999" not in lab.ssh("gw2", "nft list chain inet xfrm_ipsec postrouting").stdout
    assert ping(lab, "gw2", gw1["lab_lan_host"], count=3, netns="lan") == 3


def held_keys(lab):
    """The hex keys of the roles' SAs on both gateways (the hand-made SA's left out)."""
    keys = set()
    for node in GATEWAYS:
        keys |= set(re.findall(r"0x([0-9a-f]{32,})", lab.ssh(node, "ip xfrm state").stdout))
    keys -= {"ab" * 16, "cd" * 32}
    assert len(keys) >= 8, keys  # enc and auth of 4 SAs
    return keys


@pytest.mark.lab("sites2")
def test_a_second_run_changes_nothing_and_no_key_reaches_the_output_or_a_file_even_with_ansible_debug(lab, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    again = runner.run("site_vpn.yml", "--diff", as_json=False, verbosity=3, env={"ANSIBLE_DEBUG": "1"})
    assert again.returncode == 0, again.stdout[-3000:]
    recap = dict(re.findall(r"^(gw\d)\s+: ok=\d+\s+changed=(\d+)", again.stdout, re.M))
    assert recap == {"gw1": "0", "gw2": "0"}, again.stdout[-2000:]
    keys = held_keys(lab)
    output = again.stdout + again.stderr
    assert "done with _execute_module (" in output, "ANSIBLE_DEBUG was not on"
    assert MASTER not in output
    for key in keys:
        assert key not in output and key[:16] not in output and key.upper() not in output
    # the guests: no file but the 0600 root state file holds a key, nor the journal
    for node in GATEWAYS:
        files, journal = secrets_at_rest(lab, node, keys | {k.upper() for k in keys} | {MASTER})
        assert files in ([], ["/etc/xfrm-ipsec/state.ip"]) and journal == 0, (node, files, journal)
        if files:
            assert lab.ssh(node, "stat -c '%a %U' /etc/xfrm-ipsec/state.ip").stdout.split() == ["600", "root"]


@pytest.mark.lab("sites2")
def test_hand_made_changes_are_shown_in_the_diff_and_undone_and_foreign_entries_stay(lab, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    before = xfrm_entries(lab, "gw1")
    wan1, wan2 = lab.hosts["gw1"]["lab_addr"], lab.hosts["gw2"]["lab_addr"]
    held = [re.search(r"src ([0-9a-f.:]+) dst ([0-9a-f.:]+)\W.*proto esp spi (0x[0-9a-f]+) reqid (\d+)", line).groups()
            for line in lab.ssh("gw1", "ip -o xfrm state").stdout.splitlines() if "reqid 18790" in line]
    gone = next(sa for sa in held if sa[0] == wan1)[:3]  # gw1 -> gw2, deleted by hand
    rekeyed = next(sa for sa in held if sa[1] == wan1)  # gw2 -> gw1, the same SPI with another key
    hand_key = "0x" + "77" * 32
    lab.ssh("gw1", "ip xfrm state delete src %s dst %s proto esp spi %s" % gone)
    lab.ssh("gw1", "ip xfrm state delete src {0} dst {1} proto esp spi {2}; ip xfrm state add src {0} dst {1} proto esp "
                   "spi {2} reqid {3} mode tunnel enc 'cbc(aes)' {4} auth-trunc 'hmac(sha256)' {4} 128"
                   .format(*rekeyed, hand_key))
    lab.ssh("gw1", "ip xfrm policy update src %s dst %s dir fwd priority 7 tmpl src %s dst %s proto esp mode tunnel"
            % (lab.hosts["gw2"]["lab_lan"], lab.hosts["gw1"]["lab_lan"], wan2, wan1))
    repaired = runner.run("site_vpn.yml", "--diff")
    assert repaired.returncode == 0, repaired.stdout[-3000:] + repaired.stderr[-3000:]
    (sas,) = [t for play in repaired.doc["plays"] for t in play["tasks"] if "Tunnel SAs" in t["task"]["name"]]
    gw1 = sas["hosts"]["gw1"]
    assert sorted(a["action"] for a in gw1["actions"]) == ["add", "replace"], gw1["actions"]
    diff = json.dumps(gw1["diff"])
    assert fingerprint(bytes.fromhex(hand_key[2:])) in json.dumps(gw1["diff"]["before"]), "the diff shows the hand key"
    assert hand_key[2:] not in repaired.stdout and "77" * 16 not in diff
    assert xfrm_entries(lab, "gw1") == before, "the run put back exactly what the roles made, foreign entries included"
    assert ping(lab, "gw1", lab.hosts["gw2"]["lab_lan_host"], count=3, netns="lan") == 3
    assert changed_hosts(runner.run("site_vpn.yml").doc) == {"gw1": 0, "gw2": 0}


def held_spi(lab, node, src, dst):
    line = next(line for line in lab.ssh(node, "ip -o xfrm state").stdout.splitlines()
                if line.startswith("src %s dst %s" % (src, dst)) and "reqid 18790" in line)
    return re.search(r"spi (0x[0-9a-f]+) reqid (\d+)", line).groups()


@pytest.mark.lab("sites2")
def test_check_vpn_finds_the_site_up_in_check_mode_changes_nothing_and_draws_the_pair_green(lab, workdir):
    runner, report = Site(lab.inventory, MASTER, workdir), pathlib.Path(workdir) / "report"
    before = {node: xfrm_entries(lab, node) for node in GATEWAYS}
    rc, result, drawn = runner.check_vpn(report, "--check")
    assert rc == 0, result["lines"]
    entry = result["report"]["pairs"]["gw1~gw2"]
    assert (entry["state"], entry["reasons"], result["down"]) == ("up", [], []), result["lines"]
    # 3 echo requests each way over IPv4 and IPv6, from each gateway's LAN address, all answered through the tunnels
    assert entry["probe"]["sent"] == entry["probe"]["received"] == 12, entry["probe"]
    assert sorted(p["src"] for p in entry["probe"]["probes"]) == sorted(
        lab.hosts[g]["lab_lan_" + k] for g in GATEWAYS for k in ("gw", "gw6"))
    assert len(entry["sas"]) == 4 and all(sa["sent"] >= 3 and sa["received"] == sa["sent"] for sa in entry["sas"]), entry["sas"]
    assert all(0 < sa["seq_headroom"] < 2 ** 32 for sa in entry["sas"])
    assert entry["in_force"] == {"gw1": 0, "gw2": 0} and entry["evidence"] == []
    assert {node: xfrm_entries(lab, node) for node in GATEWAYS} == before, "the check changed a kernel's tables"
    assert drawn == {"gw1~gw2": "up"}


@pytest.mark.lab("sites2")
def test_check_vpn_names_the_pair_and_cause_of_each_break_one_at_a_time_and_its_fix_repairs_it(lab, workdir):
    """Broken one at a time, each found with its cause and the fix the report gives, which the test then runs."""
    runner, report = Site(lab.inventory, MASTER, workdir), pathlib.Path(workdir) / "report"
    wan1, wan2 = lab.hosts["gw1"]["lab_addr"], lab.hosts["gw2"]["lab_addr"]
    lan1, lan2 = lab.hosts["gw1"]["lab_lan_gw"], lab.hosts["gw2"]["lab_lan_gw"]
    to_gw2 = held_spi(lab, "gw1", wan1, wan2)[0]
    to_gw1, reqid = held_spi(lab, "gw1", wan2, wan1)

    def spi(text):
        return "0x%08x" % int(text, 16)
    breaks = [
        ("one SA deleted on one side",
         lambda: lab.ssh("gw2", "ip xfrm state delete src %s dst %s proto esp spi %s" % (wan1, wan2, to_gw2)),
         "SA %s->%s esp %s is missing on gw2" % (wan1, wan2, spi(to_gw2)), "re-run site_vpn.yml --limit gw2",
         "gw2: XfrmInNoStates +"),
        ("a key changed on one side, same SPI",
         lambda: lab.ssh("gw1", "ip xfrm state delete src {0} dst {1} proto esp spi {2}; ip xfrm state add src {0} dst {1} "
                                "proto esp spi {2} reqid {3} mode tunnel enc 'cbc(aes)' 0x{4} auth-trunc "
                                "'hmac(sha256)' 0x{5} 128".format(wan2, wan1, to_gw1, reqid, "5a" * 32, "a5" * 32)),
         "keys differ for SA %s->%s esp %s: gw2 holds" % (wan2, wan1, spi(to_gw1)), "re-run site_vpn.yml --limit gw1",
         "gw1: XfrmInStateProtoError +"),
        ("a policy removed",
         lambda: lab.ssh("gw1", "ip xfrm policy delete src %s dst %s dir out" % (lab.hosts["gw1"]["lab_lan"],
                                                                                 lab.hosts["gw2"]["lab_lan"])),
         "policy out %s->%s is missing on gw1: its traffic is dropped or leaves in clear"
         % (lab.hosts["gw1"]["lab_lan"], lab.hosts["gw2"]["lab_lan"]), "re-run site_vpn.yml --limit gw1,gw2", None),
        ("ESP dropped by a firewall rule",
         lambda: drop_esp_from(lab, "gw2", wan1),
         "ESP from gw1 does not reach gw2: gw1 sent 6 packets on SA esp %s->%s %s, gw2's SA received none and its "
         "kernel counted no XFRM error (dropped on the way or by a firewall before decryption)" % (wan1, wan2, spi(to_gw2)),
         "check the firewalls on the path and on gw2 (nft list ruleset)", None),
    ]
    for what, damage, cause, fix, evidence in breaks:
        damage()
        rc, result, drawn = runner.check_vpn(report)
        entry = result["report"]["pairs"]["gw1~gw2"]
        assert rc == 2 and result["down"] == ["gw1~gw2"], (what, rc, result["lines"])
        assert cause in entry["reasons"] or entry["reasons"][0].startswith(cause), (what, entry["reasons"])
        assert entry["fixes"][0].startswith(fix), (what, entry["fixes"])
        # only this cause: every other reason is a probe of the family it broke (IPv4), or says where the probe's
        # packets went; the IPv6 tunnel still answers
        others = [r for r in entry["reasons"] if not r.startswith(cause)]
        assert all(r.startswith("probe %s -> %s" % (lan1, lan2)) or r.startswith("probe %s -> %s" % (lan2, lan1))
                   or "during the probe" in r for r in others), (what, others)
        assert not any(r.startswith("probe %s" % lab.hosts[g]["lab_lan_gw6"]) for g in GATEWAYS for r in others), others
        if evidence:
            assert any(e.startswith(evidence) for e in entry["evidence"]), (what, entry["evidence"])
        assert drawn == {"gw1~gw2": "down"}, what
        # the fix the report gives
        if fix.startswith("re-run site_vpn.yml --limit "):
            repaired = runner.run("site_vpn.yml", "--limit", fix.split()[-1])
            assert repaired.returncode == 0, repaired.stdout[-3000:]
        else:
            allow_esp(lab, "gw2")
    metrics = "/run/xfrm-check-metrics"
    for node in GATEWAYS:
        lab.ssh(node, "mkdir -p " + metrics)
    rc, result, drawn = runner.check_vpn(report, "-e", "ipsec_check_textfile_dir=" + metrics)
    assert rc == 0 and result["report"]["pairs"]["gw1~gw2"]["state"] == "up", result["lines"]
    assert drawn == {"gw1~gw2": "up"}
    text = lab.ssh("gw1", "cat %s/xfrm_ipsec.prom" % metrics).stdout
    assert 'xfrm_ipsec_pair_state{pair="gw1~gw2",state="up"} 1' in text
    assert re.search(r'^xfrm_ipsec_pair_probe_received\{pair="gw1~gw2"\} 12$', text, re.M), text


@pytest.mark.lab("sites2")
def test_flush_removes_what_the_roles_made_and_keeps_foreign_entries(lab, workdir):
    runner = Site(lab.inventory, MASTER, workdir)
    flushed = runner.run("flush.yml")
    assert flushed.returncode == 0, flushed.stdout[-3000:] + flushed.stderr[-3000:]
    for node in GATEWAYS:
        left = xfrm(lab, node)
        assert "reqid 1879048448" not in left and "2001:db8" not in left and "198.51.100" not in left, (node, left)
        assert lab.ssh(node, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding").stdout.split() == ["0", "0"]
        lab.ssh(node, "test ! -e /var/lib/xfrm-ipsec/forwarding.json && test ! -e /etc/sysctl.d/90-xfrm-ipsec.conf "
                      "&& test ! -e /etc/xfrm-ipsec && ! nft list table inet xfrm_ipsec 2>/dev/null")
    assert "spi 0x00000999" in xfrm(lab, "gw1") and "dst 192.0.2.99/32" in xfrm(lab, "gw1"), "foreign entries survive"
    again = runner.run("flush.yml")
    assert changed_hosts(again.doc) == {"gw1": 0, "gw2": 0}
