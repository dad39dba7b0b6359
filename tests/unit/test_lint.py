"""The safety lint (lint.py): each finding from the state a reviewer would flag, and none from sound state."""

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import lint
from ansible_collections.xfrm.ipsec.tests.unit.seed_setkey import KAME_A, KAME_B

AES, SHA = "-E aes-cbc 0x" + "11" * 32, "-A hmac-sha256 0x" + "22" * 32
SOUND_A = """add 192.0.2.1 192.0.2.2 esp 0x1000 %s %s;
add 192.0.2.2 192.0.2.1 esp 0x1001 %s %s;
spdadd 192.0.2.1 192.0.2.2 any -P out ipsec esp/transport//require;
spdadd 192.0.2.2 192.0.2.1 any -P in ipsec esp/transport//require;
""" % (AES, SHA, AES, SHA)
SOUND_B = SOUND_A.replace("192.0.2.1 192.0.2.2 any -P out", "X") \
    .replace("192.0.2.2 192.0.2.1 any -P in", "192.0.2.1 192.0.2.2 any -P in") \
    .replace("X", "192.0.2.2 192.0.2.1 any -P out")


def ids(findings, host=None):
    return sorted(f.id for f in findings if host is None or f.host == host)


def test_sound_pair_has_no_finding():
    assert lint.lint_setkey({"a": SOUND_A, "b": SOUND_B}, management=["198.18.0.0/24"]) == []


def test_kame_host_example_missing_inbound_policy_weak_des_and_use_level():
    findings = lint.lint_setkey({"A": KAME_A, "B": KAME_B})
    assert ids(findings, "A") == ["out-without-in", "use-level", "weak-algorithm", "weak-algorithm"]
    (hole,) = [f for f in findings if f.host == "A" and f.id == "out-without-in"]
    assert hole.severity == "error" and hole.entry == "dir out 10.1.1.1/32 -> 10.2.2.2/32"
    assert "10.2.2.2/32 -> 10.1.1.1/32, dir in" in hole.hint


def test_kame_tunnel_example_on_linux_has_no_sa_for_its_tunnel_request():
    tunnel = KAME_A.replace("spdadd 10.1.1.1 10.2.2.2 any -P out ipsec esp/transport//use;",
                            "spdadd 10.1.1.0/24 10.2.2.0/24 any -P out ipsec esp/tunnel/10.1.1.1-10.2.2.2/require;")
    findings = lint.lint_setkey({"gw": tunnel})
    assert "policy-without-sa" in ids(findings) and "out-without-in" in ids(findings)
    assert "no esp tunnel SA toward 10.2.2.2" in next(f.message for f in findings if f.id == "policy-without-sa")
    assert "policy-without-sa" not in ids(lint.lint_setkey({"gw": tunnel.replace(" -E des", " -m tunnel -E des")}))


def test_peers_that_disagree_or_miss_an_sa_are_named():
    other_key = SOUND_B.replace("0x1000 -E aes-cbc 0x" + "11" * 32, "0x1000 -E aes-cbc 0x" + "33" * 32)
    assert ids(lint.lint_setkey({"a": SOUND_A, "b": other_key}), "a") == ["keys-differ"]
    missing = "\n".join(line for line in SOUND_B.splitlines() if "0x1001" not in line)
    found = lint.lint_setkey({"a": SOUND_A, "b": missing})
    assert ids(found, "a") == ["sa-missing-on-peer"]
    assert ids(found, "b") == ["asymmetric-pair", "policy-without-sa"], "b's out policy has no SA left to use"


def test_replay_window_counter_mode_and_spi_reused():
    text = SOUND_A.replace("esp 0x1000", "esp 0x1000 -r 32") + \
        "add 192.0.2.1 192.0.2.2 ah 0x1000 %s;\nadd 192.0.2.1 192.0.2.2 esp 0x2000 -E aes-ctr 0x%s;\n" % (SHA, "44" * 20) + \
        "add 192.0.2.2 192.0.2.1 ah 0x1002 %s;\nadd 192.0.2.2 192.0.2.1 esp 0x2002 %s %s;\n" % (SHA, AES, SHA)
    assert ids(lint.lint_setkey({"a": text})) == ["counter-mode-static-key", "replay-window-manual-keys", "spi-reused"]


def test_management_path_covered_unless_a_bypass_wins():
    assert ids(lint.lint_setkey({"a": SOUND_A}, management=["192.0.2.0/24"])) == ["covers-management"] * 3, \
        "out, in and in's fwd copy"
    bypass = SOUND_A + ("spdadd 192.0.2.1 192.0.2.2 any -P out prio high none;\n"
                        "spdadd 192.0.2.2 192.0.2.1 any -P in prio high none;\n")
    assert ids(lint.lint_setkey({"a": bypass}, management=["192.0.2.2/32"])) == []


def test_command_line_exit_status_and_output(tmp_path, capsys):
    (tmp_path / "hostA.conf").write_text(KAME_A)
    (tmp_path / "hostB.conf").write_text(KAME_B)
    assert lint.main([str(tmp_path / "hostA.conf"), str(tmp_path / "hostB.conf")]) == 1
    out = capsys.readouterr().out
    assert "hostA: error [out-without-in] dir out 10.1.1.1/32 -> 10.2.2.2/32" in out and "hogehoge" not in out
    (tmp_path / "ok.conf").write_text(SOUND_A)
    assert lint.main([str(tmp_path / "ok.conf")]) == 0
    (tmp_path / "bad.conf").write_text("spdadd 10.0.0.1 10.0.0.2 any -P ipsec esp/transport//use;")
    assert lint.main([str(tmp_path / "bad.conf")]) == 2 and "line 1, column 33" in capsys.readouterr().err
