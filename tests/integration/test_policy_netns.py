"""ipsec_policy, ipsec_flush and ipsec_info against this host's kernel, in throw-away network namespaces.

The host kernel has XFRM netlink (policies work) but no esp4/ah4 (no ESP/AH SA can exist):
SA behaviour on a real kernel is proved in the lab tier. Every effect is checked with
iproute2 (`ip xfrm policy`), an independent reader of the kernel's tables.
"""

import json
import re
import subprocess

from ansible_run import run_module

SITE_A_GW = [
    {"src": "10.1.1.0/24", "dst": "10.2.2.0/24", "dir": "out",
     "templates": [{"proto": "esp", "mode": "tunnel", "src": "10.1.1.1", "dst": "10.2.2.2", "reqid": "0x70000001"}]},
    {"src": "10.2.2.0/24", "dst": "10.1.1.0/24", "dir": "in",
     "templates": [{"proto": "esp", "mode": "tunnel", "src": "10.2.2.2", "dst": "10.1.1.1", "reqid": "0x70000001"}]},
    {"src": "10.2.2.0/24", "dst": "10.1.1.0/24", "dir": "fwd",
     "templates": [{"proto": "esp", "mode": "tunnel", "src": "10.2.2.2", "dst": "10.1.1.1", "reqid": "0x70000001"}]},
]
LARTC_216 = [
    {"src": "10.0.0.216", "dst": "10.0.0.11", "dir": "out", "templates": [{"proto": "esp"}, {"proto": "ah"}]},
    {"src": "10.0.0.11", "dst": "10.0.0.216", "dir": "in", "templates": [{"proto": "esp"}, {"proto": "ah"}]},
]


def ip_policies(ns):
    """The namespace's policies as iproute2 prints them, one block per policy."""
    out = subprocess.run(["ip", "-n", ns, "-s", "xfrm", "policy"], capture_output=True, text=True, check=True).stdout
    return [block for block in re.split(r"\n(?=src )", out.strip()) if block]


def ip_add(ns, *args):
    subprocess.run(["ip", "-n", ns, "xfrm", "policy", "add"] + list(args), check=True)


def test_policies_apply_in_four_runs_check_real_idempotent_idempotent_check(netns):
    args = {"netns": netns, "policies": SITE_A_GW + LARTC_216}

    check = run_module("ipsec_policy", args, check=True).only
    assert check["changed"] is True
    assert check["summary"]["add"] == 5
    assert ip_policies(netns) == [], "check mode must not touch the kernel"

    real = run_module("ipsec_policy", args).only
    assert real["changed"] is True
    assert real["actions"] == check["actions"], "check mode predicts exactly what the real run does"
    blocks = ip_policies(netns)
    assert len(blocks) == 5
    out_block = next(b for b in blocks if "src 10.1.1.0/24 dst 10.2.2.0/24" in b and "dir out" in b)
    assert "tmpl src 10.1.1.1 dst 10.2.2.2" in out_block and "mode tunnel" in out_block
    assert "reqid 1879048193" in out_block
    lartc_in = next(b for b in blocks if "src 10.0.0.11/32 dst 10.0.0.216/32" in b)
    assert lartc_in.index("proto esp") < lartc_in.index("proto ah"), "templates keep their order"
    indexes = [int(i) for b in blocks for i in re.findall(r"index (\d+)", b)]
    assert all(0x70000000 <= i <= 0x7FFFFFFF for i in indexes), "every policy carries the managed marker"

    again = run_module("ipsec_policy", args).only
    assert again["changed"] is False and again["actions"] == []
    again_check = run_module("ipsec_policy", args, check=True).only
    assert again_check["changed"] is False
    assert len(ip_policies(netns)) == 5


def test_policy_priority_change_updates_in_place_and_keeps_its_index(netns):
    policy = dict(SITE_A_GW[0], netns=netns)
    run_module("ipsec_policy", policy)
    (before,) = ip_policies(netns)
    index = re.search(r"index (\d+)", before).group(1)

    changed = run_module("ipsec_policy", dict(policy, priority=100)).only
    assert changed["changed"] is True
    assert [a["action"] for a in changed["actions"]] == ["update"]
    assert changed["diff"]["before"] and changed["diff"]["after"]
    (after,) = ip_policies(netns)
    assert "priority 100" in after
    assert re.search(r"index (\d+)", after).group(1) == index


def test_exclusive_removes_managed_policies_not_listed_and_keeps_foreign_ones(netns):
    ip_add(netns, "src", "192.0.2.0/24", "dst", "0.0.0.0/0", "dir", "out", "priority", "1")  # e.g. an IKE daemon's
    run_module("ipsec_policy", {"netns": netns, "policies": SITE_A_GW})
    assert len(ip_policies(netns)) == 4

    result = run_module("ipsec_policy", {"netns": netns, "policies": SITE_A_GW[:1], "exclusive": True}).only
    assert result["summary"] == {"add": 0, "update": 0, "replace": 0, "delete": 2}
    blocks = ip_policies(netns)
    assert len(blocks) == 2
    assert any("192.0.2.0/24" in b for b in blocks), "a policy the collection did not create is never removed"


def test_policy_state_absent_removes_one_and_is_idempotent(netns):
    run_module("ipsec_policy", {"netns": netns, "policies": LARTC_216})
    gone = dict(LARTC_216[0], netns=netns, state="absent")
    assert run_module("ipsec_policy", gone).only["changed"] is True
    assert len(ip_policies(netns)) == 1
    assert run_module("ipsec_policy", gone).only["changed"] is False


def test_invalid_list_is_rejected_whole_naming_the_field_and_kernel_keeps_its_state(netns):
    run_module("ipsec_policy", {"netns": netns, "policies": LARTC_216})
    before = ip_policies(netns)
    bad = SITE_A_GW[:1] + [{"src": "10.3.3.0/24", "dst": "10.4.4.0/24", "dir": "out",
                            "templates": [{"proto": "esp", "mode": "tunnel", "src": "10.3.3.1"}]}]
    result = run_module("ipsec_policy", {"netns": netns, "policies": bad, "exclusive": True}).only
    assert result["failed"] is True
    assert "policies[1].templates[0]: tunnel mode needs src and dst" in result["msg"]
    assert ip_policies(netns) == before


def test_kernel_refusal_of_tunnel_template_with_level_use_is_caught_before_the_kernel(netns):
    bad = {"netns": netns, "src": "10.1.1.0/24", "dst": "10.2.2.0/24", "dir": "out",
           "templates": [{"proto": "esp", "mode": "tunnel", "src": "10.1.1.1", "dst": "10.2.2.2", "level": "use"}]}
    result = run_module("ipsec_policy", bad).only
    assert result["failed"] is True and "templates[0].level" in result["msg"]
    assert ip_policies(netns) == []


def test_missing_netns_is_an_error_and_is_not_created(netns):
    missing = netns + "-typo"
    result = run_module("ipsec_policy", dict(LARTC_216[0], netns=missing)).only
    assert result["failed"] is True and "does not exist" in result["msg"]
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert missing not in names


def test_flush_managed_removes_only_collection_policies_and_reports_them(netns):
    ip_add(netns, "src", "192.0.2.0/24", "dst", "0.0.0.0/0", "dir", "in")
    run_module("ipsec_policy", {"netns": netns, "policies": LARTC_216})

    preview = run_module("ipsec_flush", {"netns": netns}, check=True).only
    assert preview["changed"] is True and len(preview["removed"]["policies"]) == 2
    assert len(ip_policies(netns)) == 3, "check mode removes nothing"

    flushed = run_module("ipsec_flush", {"netns": netns}).only
    assert flushed["removed"] == preview["removed"]
    (left,) = ip_policies(netns)
    assert "192.0.2.0/24" in left
    assert run_module("ipsec_flush", {"netns": netns}).only["changed"] is False


def test_flush_all_removes_every_policy_like_setkey_fp(netns):
    ip_add(netns, "src", "192.0.2.0/24", "dst", "0.0.0.0/0", "dir", "in")
    ip_add(netns, "src", "192.0.2.0/24", "dst", "0.0.0.0/0", "dir", "out", "ptype", "sub")
    run_module("ipsec_policy", {"netns": netns, "policies": LARTC_216})
    result = run_module("ipsec_flush", {"netns": netns, "scope": "all"}).only
    assert len(result["removed"]["policies"]) == 4
    assert ip_policies(netns) == []


def test_info_returns_policies_as_module_options_and_setkey_text(netns):
    run_module("ipsec_policy", {"netns": netns, "policies": SITE_A_GW})
    ip_add(netns, "src", "192.0.2.0/24", "dst", "0.0.0.0/0", "dir", "in")
    info = run_module("ipsec_info", {"netns": netns, "format": "setkey_dump"}).only
    assert info["changed"] is False
    assert len(info["policies"]) == 4
    assert sum(p["managed"] for p in info["policies"]) == 3
    out = next(p for p in info["policies"] if p["dir"] == "out")
    assert out["templates"] == [{"proto": "esp", "mode": "tunnel", "level": "required", "src": "10.1.1.1",
                                 "dst": "10.2.2.2", "reqid": 0x70000001}]
    assert "10.1.1.0/24[any] 10.2.2.0/24[any] any\n\tout prio 0 ipsec\n\tesp/tunnel/10.1.1.1-10.2.2.2/unique#1879048193" \
        in info["setkey"]
    managed = run_module("ipsec_info", {"netns": netns, "managed_only": True}).only
    assert len(managed["policies"]) == 3


def test_info_output_fed_back_to_ipsec_policy_changes_nothing(netns):
    run_module("ipsec_policy", {"netns": netns, "policies": SITE_A_GW + LARTC_216})
    info = run_module("ipsec_info", {"netns": netns, "sas": False}).only
    fed_back = [{k: v for k, v in p.items() if k not in ("index", "managed", "counters")} for p in info["policies"]]
    assert run_module("ipsec_policy", {"netns": netns, "policies": fed_back}).only["changed"] is False


def test_info_setkey_file_of_a_real_dump_applied_back_gives_the_same_policies(netns):
    run_module("ipsec_policy", {"netns": netns, "policies": SITE_A_GW + LARTC_216 + [
        {"src": "192.0.2.0/24", "dst": "198.51.100.0/24", "proto": "tcp", "dport": 443, "dir": "out", "action": "block",
         "priority": 0xC0000001}]})
    ip_add(netns, "src", "192.0.2.0/24", "dst", "0.0.0.0/0", "dir", "in", "priority", "77")  # a foreign one
    ip_add(netns, "src", "192.0.2.9/32", "dst", "192.0.2.10/32", "dir", "out", "if_id", "5")  # setkey cannot say if_id

    def policies():
        found = run_module("ipsec_info", {"netns": netns, "sas": False}).only["policies"]
        # what ipsec_apply puts in place is the collection's: `managed` (its index mark) is the one difference
        return sorted(json.dumps({k: v for k, v in p.items() if k not in ("counters", "index", "managed")},
                                 sort_keys=True) for p in found)
    before = policies()
    backup = run_module("ipsec_info", {"netns": netns, "sas": False, "format": "setkey"})
    text = backup.only["setkey"]
    assert text.count("\nspdadd ") == 7 and "-P fwd" in text
    assert "\n# not expressible in setkey's language (if_id): spdadd 192.0.2.9/32[any] 192.0.2.10/32[any] any" in text
    assert "policy dir out 192.0.2.9/32 -> 192.0.2.10/32 if_id 5: setkey's language has no if_id" in backup.output
    run_module("ipsec_flush", {"netns": netns, "scope": "all"})
    restored = run_module("ipsec_apply", {"netns": netns, "setkey": text, "setkey_flush": "all"}).only
    assert restored["changed"] and restored["summary"]["add"] == 7, restored
    assert policies() == [p for p in before if '"if_id": 5' not in p], "the same policies, foreign ones included"
    assert run_module("ipsec_apply", {"netns": netns, "setkey": text}).only["changed"] is False


def test_saved_state_file_is_read_back_by_ip_batch_as_the_same_policies(netns, tmp_path):
    """The boot-time restore runs `ip -force -batch` on ipsec_save's file: every policy line must be one ip reads
    (a line ip cannot parse ends the whole batch), and give the same policy, index included."""
    bypasses = [{"src": "::/0", "dst": "::/0", "proto": "ipv6-icmp", "sport": 135, "dir": d, "priority": 100}
                for d in ("in", "out")]
    ported = {"src": "192.0.2.0/24", "dst": "198.51.100.7/32", "proto": "tcp", "sport": 1024, "dport": 443,
              "dir": "out", "action": "block", "priority": 5}
    run_module("ipsec_policy", {"netns": netns, "policies": SITE_A_GW + LARTC_216 + bypasses + [ported]})
    before = run_module("ipsec_info", {"netns": netns, "sas": False}).only["policies"]
    path = tmp_path / "state.ip"
    saved = run_module("ipsec_save", {"netns": netns, "path": str(path)}).only
    assert saved["changed"] and saved["policies"] == 8 and oct(path.stat().st_mode & 0o777) == "0o600"
    run_module("ipsec_flush", {"netns": netns, "scope": "all"})
    restored = subprocess.run(["ip", "-n", netns, "-batch", str(path)], capture_output=True, text=True, check=False)
    assert restored.returncode == 0, restored.stderr
    after = run_module("ipsec_info", {"netns": netns, "sas": False}).only["policies"]
    drop = ("counters",)
    assert sorted(json.dumps({k: v for k, v in p.items() if k not in drop}, sort_keys=True) for p in after) == \
        sorted(json.dumps({k: v for k, v in p.items() if k not in drop}, sort_keys=True) for p in before)
    assert run_module("ipsec_save", {"netns": netns, "path": str(path)}).only["changed"] is False
