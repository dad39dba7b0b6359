"""The seed documents' setkey files, applied as written (xfrm.ipsec.ipsec_apply setkey:), with real traffic through them.

The files are the documents' own text; only the documents' addresses are replaced by the lab's. What Linux cannot do
as printed (KAME's tunnel example: no direction, and `use` on a tunnel out policy) is refused with its line, then
applied with the fix the error names; it also needs `-m tunnel` on its SAs (KAME's default mode "any" matched a
tunnel request, Linux's PF_KEY made it transport) and an in policy (Linux drops decrypted tunnel traffic that no
in/fwd policy matches), which no error can name: the lint's job.
"""

import re

import pytest

from ansible_run import run_module
from traffic import Capture, flush_xfrm as reset, lan_to_lan_is_esp_only_on_the_wan, ping, sa_counters

from ansible_collections.xfrm.ipsec.tests.unit.seed_setkey import KAME_A, KAME_B, KAME_TUNNEL, KAME_TUNNEL_B, LARTC_11, LARTC_216


def addresses(text, mapping):
    for old, new in mapping.items():
        text = text.replace(old, new)
    return text


def apply(lab, node, text, check=False):
    return run_module("ipsec_apply", {"setkey": text, "allow_weak_algorithms": True}, hosts=node,
                      inventory=lab.inventory, check=check).only


@pytest.mark.lab("pair")
def test_lartc_files_as_printed_check_mode_then_esp_inside_ah_on_the_wire_then_no_change_then_round_trip(lab):
    reset(lab, "h1", "h2")
    h216, h11 = lab.hosts["h1"]["lab_addr"], lab.hosts["h2"]["lab_addr"]
    files = {"h1": addresses(LARTC_216, {"10.0.0.216": h216, "10.0.0.11": h11}),
             "h2": addresses(LARTC_11, {"10.0.0.216": h216, "10.0.0.11": h11})}
    checked = {node: apply(lab, node, text, check=True) for node, text in files.items()}
    for node, result in checked.items():
        assert result["changed"] and result["summary"]["add"] == 7, result  # 4 SAs; out, in and in's fwd copy
        assert lab.ssh(node, "ip xfrm state; ip xfrm policy").stdout.strip() == "", "check mode changed the kernel"
    for node, text in files.items():
        done = apply(lab, node, text)
        assert done["changed"] and done["actions"] == checked[node]["actions"], "check mode predicted the run"
        assert "1234567890123456" not in str(done), "keys never in results"
    before = sa_counters(lab, "h2")
    with Capture(lab, "h2", lab.hosts["h2"]["lab_iface"]) as cap:
        assert ping(lab, "h1", h11) == 5
    assert cap.count(r"AH\(spi=0x00005fb4.*ESP\(spi=0x00005fb5") >= 5, cap.lines
    assert cap.count(r"AH\(spi=0x00003d54.*ESP\(spi=0x00003d55") >= 5, cap.lines
    assert cap.count("ICMP echo") == 0, "no plaintext ICMP on the wire"
    assert sa_counters(lab, "h2")[("esp", 24501)][1] >= before.get(("esp", 24501), (0, 0))[1] + 5
    for node, text in files.items():
        assert apply(lab, node, text)["changed"] is False, "the same file again changes nothing"
    kernel_state_round_trips_through_ipsec_info_setkey(lab, "h1")
    flushed = apply(lab, "h1", "flush;\nspdflush;\n")
    assert flushed["summary"]["delete"] == 7 and lab.ssh("h1", "ip xfrm state; ip xfrm policy").stdout.strip() == ""
    reset(lab, "h1", "h2")


def kernel_state_round_trips_through_ipsec_info_setkey(lab, node):
    """ipsec_info format=setkey of the real kernel, applied back after a flush, gives the same SAs and policies."""
    def dump():
        out = lab.ssh(node, "ip xfrm state; ip xfrm policy").stdout
        out = re.sub(r"\n\tanti-replay context: .*", "", out)  # sequence numbers: traffic moved them, a re-add resets them
        return sorted(re.sub(r"index \d+ ", "", block) for block in re.split(r"\n(?=src )", out.strip()))
    before = dump()
    backup = run_module("ipsec_info", {"format": "setkey", "show_keys": True}, hosts=node, inventory=lab.inventory,
                        no_log=True).only
    assert backup["setkey"].count("\nadd ") == 4 and backup["setkey"].count("\nspdadd ") == 3
    assert run_module("ipsec_flush", {"scope": "all"}, hosts=node, inventory=lab.inventory).only["changed"]
    assert apply(lab, node, backup["setkey"])["summary"]["add"] == 7
    assert dump() == before


@pytest.mark.lab("pair")
def test_kame_host_files_as_printed_carry_esp_both_ways_and_lint_as_a_reviewer_would(lab):
    reset(lab, "h1", "h2")
    a, b = lab.hosts["h1"]["lab_addr"], lab.hosts["h2"]["lab_addr"]
    for node, text in (("h1", KAME_A), ("h2", KAME_B)):
        assert apply(lab, node, addresses(text, {"10.1.1.1": a, "10.2.2.2": b}))["changed"]
    with Capture(lab, "h2", lab.hosts["h2"]["lab_iface"]) as cap:
        assert ping(lab, "h1", b) == 5
    assert cap.count(r"%s > %s: ESP\(spi=0x0000270e" % (a, b)) >= 5, cap.lines
    assert cap.count(r"%s > %s: ESP\(spi=0x0000270f" % (b, a)) >= 5, cap.lines
    assert cap.count("ICMP echo") == 0
    lint = run_module("ipsec_lint", {}, hosts="h1", inventory=lab.inventory).only
    assert lint["failed"] and sorted(f["id"] for f in lint["findings"]) == [
        "out-without-in", "use-level", "weak-algorithm", "weak-algorithm"], lint["findings"]
    assert "hogehoge" not in str(lint) and "686f6765" not in str(lint)
    reset(lab, "h1", "h2")


@pytest.mark.lab("sites2")
def test_kame_tunnel_file_refused_by_line_then_applied_with_the_fixes_linux_needs(lab):
    reset(lab, "gw1", "gw2")
    gw1, gw2 = lab.hosts["gw1"], lab.hosts["gw2"]
    ends = {"10.1.1.1": gw1["lab_addr"], "10.2.2.2": gw2["lab_addr"],
            "10.1.1.0/24": gw1["lab_lan"], "10.2.2.0/24": gw2["lab_lan"]}
    as_printed = addresses(KAME_TUNNEL, ends)
    refused = apply(lab, "gw1", as_printed)
    assert refused["failed"] and "line 3, column" in refused["msg"] and "write -P out or -P in" in refused["msg"]
    with_direction = apply(lab, "gw1", as_printed.replace("-P ipsec", "-P out ipsec"))
    assert with_direction["failed"] and "line 3: templates[0].level: use (optional) is not allowed" in with_direction["msg"]
    assert lab.ssh("gw1", "ip xfrm state; ip xfrm policy").stdout.strip() == "", "refused files change nothing"
    inbound = {"gw1": "spdadd 10.2.2.0/24 10.1.1.0/24 any -P in ipsec esp/tunnel/10.2.2.2-10.1.1.1/require;\n",
               "gw2": "spdadd 10.1.1.0/24 10.2.2.0/24 any -P in ipsec esp/tunnel/10.1.1.1-10.2.2.2/require;\n"}
    for node, text in (("gw1", KAME_TUNNEL), ("gw2", KAME_TUNNEL_B)):
        # two fixes no error can name (the lint's job): -m tunnel, since KAME's SA mode "any" matched a tunnel
        # request and Linux made it transport; and an in policy (setkey adds its fwd copy), since Linux drops
        # decrypted tunnel traffic that no in/fwd policy matches (XfrmInNoPols), where KAME let it through
        fixed = addresses(text + inbound[node], ends).replace("-P ipsec", "-P out ipsec").replace("/use;", "/require;") \
            .replace(" -E des-cbc", " -m tunnel -E des-cbc")
        lab.ssh(node, "sysctl -qw net.ipv4.ip_forward=1")
        assert apply(lab, node, fixed)["changed"]
    lan_to_lan_is_esp_only_on_the_wan(lab, 0x270E, 0x270F)
    reset(lab, "gw1", "gw2")
    for node in ("gw1", "gw2"):
        lab.ssh(node, "sysctl -qw net.ipv4.ip_forward=0")
